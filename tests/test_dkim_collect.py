"""collect_dkim against the loopback DNS server: CNAMEs, revoked and split keys, timeouts, guesses vs named selectors."""

from __future__ import annotations

import asyncio
import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from auditor.facts.base import Unknown
from auditor.facts.dkim import collect_dkim

DOMAIN = "example.org"
FAST = 0.3  # resolver timeout for tests that drop answers


def key_b64(bits: int) -> str:
    public = rsa.RSAPublicNumbers(65537, (1 << (bits - 1)) | 0xF1).public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def txt(*strings: str) -> str:
    """TXT presentation form; a string longer than 255 octets is cut into 255-octet character-strings."""
    chunks = [s[i : i + 255] for s in strings for i in range(0, max(len(s), 1), 255)]
    return " ".join(f'"{c}"' for c in chunks)


def collect(resolver, selectors):
    return asyncio.run(collect_dkim(resolver, DOMAIN, selectors))


def test_cname_to_a_provider_target_is_followed_and_recorded(dns_server, make_resolver):
    token = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
    dns_server.add_record(f"{token}._domainkey.{DOMAIN}", "CNAME", f"{token}.dkim.amazonses.com.")
    dns_server.add_record(f"{token}.dkim.amazonses.com", "TXT", txt("p=" + key_b64(1024)))
    facts = collect(make_resolver(), [(token, "user"), ("default", "common")])
    assert facts.exists is True and facts.status == "ok"
    [found] = facts.found
    assert found.selector == token and found.origin == "user"
    assert found.cname_target == f"{token}.dkim.amazonses.com."
    assert found.key_type == "rsa" and found.bits == 1024
    assert facts.weak == [token] and facts.insecure == [] and facts.min_rsa_bits == 1024
    assert facts.selectors_checked == [token, "default"] and facts.unknown == []


def test_dangling_provider_cname_counts_as_missing(dns_server, make_resolver):
    dns_server.add_record(f"s1._domainkey.{DOMAIN}", "CNAME", "s1.domainkey.u1.wl1.sendgrid.net.")
    dns_server.add_record(f"s2._domainkey.{DOMAIN}", "TXT", txt("v=DKIM1; k=rsa; p=" + key_b64(2048)))
    facts = collect(make_resolver(), [("s1", "provider"), ("s2", "provider")])
    s1 = facts.results[0]
    assert s1.absent and s1.outcome == "nxdomain" and s1.cname_target == "s1.domainkey.u1.wl1.sendgrid.net."
    assert facts.provider_selectors_missing == ["s1"] and facts.provider_selectors_found == ["s2"]
    assert facts.exists is True and facts.min_rsa_bits == 2048 and facts.weak == []


def test_revoked_key(dns_server, make_resolver):
    dns_server.add_record(f"google._domainkey.{DOMAIN}", "TXT", txt("v=DKIM1; k=rsa; p="))
    facts = collect(make_resolver(), [("google", "provider")])
    assert facts.exists is True and facts.revoked == ["google"]
    assert facts.syntax_errors == [] and facts.min_rsa_bits is None


def test_2048_bit_key_split_in_two_strings(dns_server, make_resolver):
    record = "v=DKIM1; k=rsa; t=y; p=" + key_b64(2048)
    assert len(record) > 255
    dns_server.add_record(f"mail._domainkey.{DOMAIN}", "TXT", txt(record[:255], record[255:]))
    facts = collect(make_resolver(), [("mail", "user")])
    [found] = facts.found
    assert found.record == record  # the strings are joined without a separator
    assert found.bits == 2048 and found.errors == []
    assert facts.testing == ["mail"] and facts.min_rsa_bits == 2048


def test_several_records_at_one_selector_are_an_error(dns_server, make_resolver):
    dns_server.add_record(f"s1._domainkey.{DOMAIN}", "TXT", txt("v=DKIM1; p=" + key_b64(2048)))
    dns_server.add_record(f"s1._domainkey.{DOMAIN}", "TXT", txt("v=DKIM1; p=" + key_b64(1024)))
    facts = collect(make_resolver(), [("s1", "provider")])
    assert facts.exists is True
    assert len(facts.syntax_errors) == 1 and "2 TXT records" in facts.syntax_errors[0]
    assert facts.syntax_errors[0].startswith("s1: ")


def test_insecure_key_and_syntax_errors_are_listed(dns_server, make_resolver):
    dns_server.add_record(f"old._domainkey.{DOMAIN}", "TXT", txt("v=DKIM1; p=" + key_b64(512)))
    dns_server.add_record(f"bad._domainkey.{DOMAIN}", "TXT", txt("k=rsa; v=DKIM1; p=" + key_b64(2048)))
    facts = collect(make_resolver(), [("old", "user"), ("bad", "user")])
    assert facts.insecure == ["old"] and facts.min_rsa_bits == 512  # the invalid record does not count
    assert facts.syntax_errors == ["bad: v=DKIM1 must be the first tag"]


def test_timeout_on_a_named_selector_is_unknown_not_missing(dns_server, make_resolver):
    dns_server.drop(f"s1._domainkey.{DOMAIN}")
    facts = collect(make_resolver(timeout=FAST), [("s1", "provider"), ("default", "common")])
    assert isinstance(facts.exists, Unknown) and "timeout" in facts.exists.reason
    assert facts.status == "unknown" and isinstance(facts.min_rsa_bits, Unknown)
    assert facts.unknown == ["s1"] and facts.provider_selectors_missing == []
    assert facts.results[0].failed and not facts.results[0].absent


def test_failed_guesses_do_not_hide_a_missing_named_selector(dns_server, make_resolver):
    """The relay's selector answered "no record": DKIM for this relay is not set up, whatever the guesses say."""
    dns_server.add_record(f"{DOMAIN}", "TXT", txt("v=spf1 -all"))
    dns_server.drop(f"default._domainkey.{DOMAIN}")
    facts = collect(make_resolver(timeout=FAST), [("google", "provider"), ("default", "common")])
    assert facts.exists is False and facts.status == "ok"
    assert facts.provider_selectors_missing == ["google"] and facts.unknown == ["default"]
    assert not facts.only_guessed


def test_guesses_only(dns_server, make_resolver):
    dns_server.add_record(f"{DOMAIN}", "TXT", txt("v=spf1 -all"))
    facts = collect(make_resolver(), [("default", "common"), ("mail", "common")])
    assert facts.exists is False and facts.only_guessed
    dns_server.drop(f"mail._domainkey.{DOMAIN}")
    facts = collect(make_resolver(timeout=FAST), [("default", "common"), ("mail", "common")])
    assert isinstance(facts.exists, Unknown) and "mail" in facts.exists.reason  # the key may be exactly there
    dns_server.add_record(f"default._domainkey.{DOMAIN}", "TXT", txt("v=DKIM1; p=" + key_b64(2048)))
    facts = collect(make_resolver(timeout=FAST), [("default", "common"), ("mail", "common")])
    assert facts.exists is True and facts.found[0].origin == "common"


def test_wildcard_txt_is_not_a_broken_key_at_a_guess(dns_server, make_resolver):
    dns_server.add_record(f"*.{DOMAIN}", "TXT", txt("v=spf1 -all"))
    facts = collect(make_resolver(), [("default", "common"), ("mine", "user")])
    guess, named = facts.results
    assert guess.outcome == "not-dkim" and guess.absent and guess.record is None
    assert named.record == "v=spf1 -all" and named.errors  # the user's own selector must hold a key
    assert "mine: p= (the public key) is missing" in facts.syntax_errors
    assert all(e.startswith("mine: ") for e in facts.syntax_errors)


def test_selectors_are_probed_concurrently(dns_server, make_resolver):
    names = [f"sel{i}" for i in range(8)]
    for name in names:
        dns_server.delay(f"{name}._domainkey.{DOMAIN}", 0.2)
    resolver = make_resolver()
    asyncio.run(collect_dkim(resolver, DOMAIN, [(n, "common") for n in names]))
    # Concurrency, not speed: every query reached the server before the first (delayed) answer came back.
    times = sorted(e.time for e in dns_server.queries(rdtype="TXT"))
    assert len(times) >= len(names) and times[len(names) - 1] - times[0] < 0.2
