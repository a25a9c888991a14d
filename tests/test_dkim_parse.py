"""parse_dkim_key: dkimpy's public key records (standards.md §5.2) and hand-made records for each rule."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from auditor.errors import AuditorError
from auditor.facts.dkim import COMMON_SELECTORS, normalise_selector, parse_dkim_key, selectors_to_probe
from auditor.providers import get_provider

KEYRECORDS = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "dkimpy-keyrecords"

# file → (key type, bits, expected error fragment or None); from standards.md §5.2, written out by hand.
EXPECTED = {
    "1024_testkey_wo_markers.pub.txt": ("rsa", 1024, None),  # SPKI
    "1024_testkey_wo_markers.pub.rsa.txt": ("rsa", 1024, None),  # PKCS#1
    "2048_testkey_wo_markers.pub.txt": ("rsa", 2048, None),
    "2048_testkey_PKCS8.key.pub.txt": ("rsa", 2048, None),
    "2048_testkey_wo_markers.pub.rsa.txt": ("rsa", 2048, None),
    "test.txt": ("rsa", 1024, None),
    "test2.txt": ("rsa", 1024, None),  # no k=: rsa by default
    "test_bad.txt": ("rsa", None, "p= is not an RSA public key"),
    "badversion.txt": ("rsa", 1024, "is not DKIM1"),
    "badk.txt": ("ed25519-sha256", None, "k=ed25519-sha256 is not a known key type"),
    "test_tlsrpt.txt": ("rsa", 1024, "not for e-mail"),
    "ed25519test.dns": ("ed25519", 256, None),
    "eximtest.dns": ("ed25519", 256, None),
}


def test_every_testdata_file_has_an_expectation():
    files = {p.name for p in KEYRECORDS.iterdir() if p.name != "LICENSE"}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dkimpy_key_records(name):
    key_type, bits, error = EXPECTED[name]
    key = parse_dkim_key((KEYRECORDS / name).read_text(encoding="ascii").strip())
    assert key.key_type == key_type
    assert key.bits == bits
    assert not key.revoked and not key.testing
    if error is None:
        assert key.errors == [] and key.valid and key.usable
    else:
        assert len(key.errors) == 1 and error in key.errors[0], key.errors
        assert not key.valid and not key.usable


def test_spki_and_pkcs1_forms_agree():
    spki = parse_dkim_key((KEYRECORDS / "2048_testkey_wo_markers.pub.txt").read_text())
    pkcs1 = parse_dkim_key((KEYRECORDS / "2048_testkey_wo_markers.pub.rsa.txt").read_text())
    assert spki.bits == pkcs1.bits == 2048
    assert spki.tags["g"] == "*" and spki.version_ok


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def rsa_der(n_bits: int, fmt=serialization.PublicFormat.SubjectPublicKeyInfo) -> bytes:
    # A public key needs only a modulus of the right size; primes do not matter for parsing.
    public = rsa.RSAPublicNumbers(65537, (1 << (n_bits - 1)) | 0xF1).public_key()
    return public.public_bytes(serialization.Encoding.DER, fmt)


def test_small_and_large_rsa_keys():
    assert parse_dkim_key("v=DKIM1; k=rsa; p=" + b64(rsa_der(512))).bits == 512
    assert parse_dkim_key("p=" + b64(rsa_der(4096, serialization.PublicFormat.PKCS1))).bits == 4096


def test_revoked_key():
    key = parse_dkim_key("v=DKIM1; k=rsa; p=")
    assert key.revoked and key.valid and not key.usable and key.bits is None


def test_flags_hashes_services():
    key = parse_dkim_key("v=DKIM1; h=sha256:SHA1; s=email:tlsrpt; t=y:s; p=" + b64(rsa_der(2048)))
    assert key.testing and key.strict
    assert key.hashes == ["sha256", "sha1"] and key.services == ["email", "tlsrpt"]
    assert key.valid and key.bits == 2048


def test_whitespace_inside_p_is_tolerated():
    """DNS panels split long values at 255 octets and some insert a space there; DKIM allows folding."""
    p = b64(rsa_der(2048))
    key = parse_dkim_key(f"v=DKIM1; k=rsa; p={p[:200]} {p[200:]} ")
    assert key.valid and key.bits == 2048


def test_missing_padding_is_tolerated():
    p = b64(rsa_der(1024)).rstrip("=")
    assert parse_dkim_key("p=" + p).bits == 1024


@pytest.mark.parametrize(
    ("record", "error"),
    [
        ("k=rsa; v=DKIM1; p=" + b64(rsa_der(2048)), "v=DKIM1 must be the first tag"),
        ("v=DKIM2; p=" + b64(rsa_der(2048)), "v=DKIM2 is not DKIM1"),
        ("v=DKIM1; k=foo; p=" + b64(rsa_der(2048)), "k=foo is not a known key type"),
        ("v=DKIM1; k=rsa", "p= (the public key) is missing"),
        ("v=DKIM1; p=not*base64!", "p= is not valid base64"),
        ("v=DKIM1; p=" + b64(b"\x30\x03\x02\x01\x05"), "p= is not an RSA public key"),
        ("v=DKIM1; p=" + b64(rsa_der(2048)) + "; p=", "p= appears more than once"),
        ("v=DKIM1; garbage; p=" + b64(rsa_der(2048)), "'garbage' is not a tag=value pair"),
        ("v=DKIM1; h=sha1; p=" + b64(rsa_der(2048)), "does not allow sha256"),
        ("v=DKIM1; k=ed25519; p=" + b64(bytes(31)), "expected 32 bytes, found 31"),
    ],
)
def test_errors_in_plain_english(record, error):
    key = parse_dkim_key(record)
    assert any(error in e for e in key.errors), key.errors
    assert not key.valid


def test_non_rsa_spki_with_rsa_type_is_rejected():
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert "p= is not an RSA public key" in parse_dkim_key("k=rsa; p=" + b64(der)).errors[0]
    # The same key published as SPKI under k=ed25519 is wrong too: RFC 8463 wants the raw 32 bytes.
    assert "expected 32 bytes" in parse_dkim_key("k=ed25519; p=" + b64(der)).errors[0]
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert parse_dkim_key("v=DKIM1; k=ed25519; p=" + b64(raw)).bits == 256


def test_unknown_tags_are_ignored():
    key = parse_dkim_key("v=DKIM1; n=rotated in 2024; x_custom=1; p=" + b64(rsa_der(2048)))
    assert key.valid and key.tags["n"] == "rotated in 2024"


def test_common_selectors_are_a_short_list():
    assert 8 <= len(COMMON_SELECTORS) <= 20 and len(set(COMMON_SELECTORS)) == len(COMMON_SELECTORS)
    assert {"google", "selector1", "selector2", "s1", "s2", "k1", "default"} <= set(COMMON_SELECTORS)


def test_normalise_selector():
    assert normalise_selector(" S1 ") == "s1"
    assert normalise_selector("20240101pm._domainkey.example.org.") == "20240101pm"
    assert normalise_selector("mail.2024") == "mail.2024"
    for bad in ("", "has space", "semi;colon", "._domainkey.example.org"):
        with pytest.raises(AuditorError, match="--dkim-selector"):
            normalise_selector(bad)


def test_selectors_to_probe_orders_and_labels_origins():
    sendgrid = get_provider("sendgrid")
    pairs = selectors_to_probe(["mine", "s1"], sendgrid, common=["s2", "default"])
    assert pairs == [("mine", "user"), ("s1", "user"), ("s2", "provider"), ("default", "common")]
    mailgun = get_provider("mailgun")  # per-account: its usual names are only guesses
    assert ("pdk1", "common") in selectors_to_probe([], mailgun)
    assert [o for _, o in selectors_to_probe([], None)] == ["common"] * len(COMMON_SELECTORS)
