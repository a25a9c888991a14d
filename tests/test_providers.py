"""Provider profiles: every shipped profile loads, documented hosts are recognised, the schema is strict."""

from __future__ import annotations

import shutil
import string
from pathlib import Path

import pytest

from auditor import providers as prov
from auditor.errors import AuditorError
from auditor.providers import get_provider, load_providers, recognise

SHIPPED = Path(__file__).resolve().parents[1] / "rules" / "providers"

# The provider table of providers.md Part C, one row per profile id, plus the self-hosted profile.
PART_C_IDS = {
    "gmail", "google-workspace", "microsoft-365", "outlook-com", "sendgrid", "amazon-ses", "mailgun", "postmark",
    "brevo", "mailjet", "sparkpost", "zoho", "fastmail", "migadu", "scaleway-tem", "mailersend", "resend",
    "smtp2go", "mailchannels", "elastic-email", "ovhcloud", "ionos", "proton", "mandrill",
}  # fmt: skip

# Hosts named in providers.md Part C → (provider id, region or None). Written out by hand from the table so a
# profile that stops matching its documented host fails here, independently of the examples in the YAML.
DOCUMENTED_HOSTS = {
    "smtp.gmail.com": ("google-workspace", None),
    "smtp-relay.gmail.com": ("google-workspace", None),
    "smtp.office365.com": ("microsoft-365", None),
    "smtp-mail.outlook.com": ("outlook-com", None),
    "smtp.sendgrid.net": ("sendgrid", None),
    "email-smtp.us-east-1.amazonaws.com": ("amazon-ses", "us-east-1"),
    "email-smtp.eu-west-1.amazonaws.com": ("amazon-ses", "eu-west-1"),
    "EMAIL-SMTP.AP-SOUTH-1.AMAZONAWS.COM.": ("amazon-ses", "ap-south-1"),
    "smtp.mailgun.org": ("mailgun", "us"),
    "smtp.eu.mailgun.org": ("mailgun", "eu"),
    "smtp.postmarkapp.com": ("postmark", None),
    "smtp-broadcasts.postmarkapp.com": ("postmark", None),
    "smtp-relay.brevo.com": ("brevo", None),
    "in-v3.mailjet.com": ("mailjet", None),
    "smtp.sparkpostmail.com": ("sparkpost", "us"),
    "smtp.eu.sparkpostmail.com": ("sparkpost", "eu"),
    "smtp.zoho.com": ("zoho", "com"),
    "smtppro.zoho.com": ("zoho", "com"),
    "smtp.zoho.eu": ("zoho", "eu"),
    "smtppro.zoho.in": ("zoho", "in"),
    "smtp.zoho.com.au": ("zoho", "com.au"),
    "smtp.fastmail.com": ("fastmail", None),
    "smtp.migadu.com": ("migadu", None),
    "smtp.tem.scaleway.com": ("scaleway-tem", None),
    "smtp.tem.scw.cloud": ("scaleway-tem", None),
    "smtp.mailersend.net": ("mailersend", None),
    "smtp.resend.com": ("resend", None),
    "mail.smtp2go.com": ("smtp2go", None),
    "mail-eu.smtp2go.com": ("smtp2go", "eu"),
    "mail-au.smtp2go.com": ("smtp2go", "au"),
    "smtp.mailchannels.net": ("mailchannels", None),
    "smtp.elasticemail.com": ("elastic-email", None),
    "smtp25.elasticemail.com": ("elastic-email", None),
    "ssl0.ovh.net": ("ovhcloud", None),
    "smtp.ionos.com": ("ionos", "com"),
    "smtp.ionos.de": ("ionos", "de"),
    "smtp.protonmail.ch": ("proton", None),
    "smtp.mandrillapp.com": ("mandrill", None),
}


@pytest.fixture(scope="module")
def shipped() -> list[prov.Provider]:
    return load_providers()


def test_every_part_c_provider_and_self_hosted_has_a_profile(shipped):
    ids = {p.id for p in shipped}
    assert PART_C_IDS | {"self-hosted"} <= ids
    assert get_provider("self-hosted").self_hosted


def test_every_profile_is_complete(shipped):
    for p in shipped:
        assert p.description and len(p.description) < 300, p.id
        assert p.references, p.id
        assert p.kind == "self-hosted" or p.hosts, f"{p.id} has no host patterns"
        assert p.kind == "self-hosted" or p.ports, f"{p.id} has no ports"
        if p.hosts:
            assert p.login is not None and p.login.hint, p.id


@pytest.mark.parametrize("host", sorted(DOCUMENTED_HOSTS))
def test_documented_hosts_are_recognised_with_their_region(shipped, host):
    wanted_id, wanted_region = DOCUMENTED_HOSTS[host]
    found = recognise(host, shipped)
    assert found is not None, host
    provider, groups = found
    assert provider.id == wanted_id
    assert groups.get("region") == wanted_region


def test_yaml_examples_are_recognised_by_their_own_profile(shipped):
    for p in shipped:
        for entry in p.hosts:
            for host, region in entry.examples.items():
                from_domain = entry.from_domains[0] if entry.from_domains else None
                found = recognise(host, shipped, from_domain=from_domain)
                assert found is not None and found[0].id == p.id, (p.id, host)
                assert found[1].get("region", "") == region


@pytest.mark.parametrize(
    "host",
    [
        "localhost", "127.0.0.1", "::1", "[::1]", "mail", "mail.social.example.org", "smtp.example.com",
        "email-smtp.amazonaws.com", "smtp.sendgrid.net.evil.example", "evilsmtp.sendgrid.net", "smtp.gmail.com.example",
        "smtp.mailgun.org.example.org", "", "   ",
    ],
)  # fmt: skip
def test_unknown_hosts_are_not_recognised(shipped, host):
    assert recognise(host, shipped) is None


def test_shared_gmail_host_depends_on_the_from_domain(shipped):
    assert recognise("smtp.gmail.com", shipped, from_domain="gmail.com")[0].id == "gmail"
    assert recognise("smtp.gmail.com", shipped, from_domain="GoogleMail.com.")[0].id == "gmail"
    assert recognise("smtp.gmail.com", shipped, from_domain="example.org")[0].id == "google-workspace"
    assert recognise("smtp.gmail.com", shipped)[0].id == "google-workspace"


def test_no_two_providers_claim_the_same_host(shipped):
    """For every example host (under each From-domain condition), exactly one profile's patterns match."""
    hosts = {h for p in shipped for e in p.hosts for h in e.examples} | set(DOCUMENTED_HOSTS)
    for host in hosts:
        norm = prov.normalise_host(host)
        for from_domain in (None, "gmail.com", "example.org"):
            claimers = [p.id for p in shipped if p.match(norm, from_domain) is not None]
            gated = [
                p.id
                for p in shipped
                for e in p.hosts
                if e.from_domains and from_domain in e.from_domains and e.match(norm) is not None
            ]
            generic = [
                p.id for p in shipped for e in p.hosts if not e.from_domains and e.match(norm) is not None
            ]
            assert len(set(generic)) <= 1, (host, generic)
            assert len(set(gated)) <= 1, (host, from_domain, gated)
            assert len(claimers) >= 1, (host, from_domain)


def test_ses_region_feeds_the_feedback_mx_and_envelope(shipped):
    ses, groups = recognise("email-smtp.eu-central-1.amazonaws.com", shipped)
    values = {"domain": "social.example.org", **groups}
    mx = ses.render(ses.envelope.custom.mx, values)
    assert mx.text == "feedback-smtp.eu-central-1.amazonses.com" and not mx.placeholder
    assert ses.render("{envelope}", values).text == "mail.social.example.org"
    assert not ses.envelope.aligned_by_default
    assert ses.spf_include(values).text == "amazonses.com"


def test_render_marks_account_specific_values_as_placeholders(shipped):
    m365 = get_provider("microsoft-365", shipped)
    out = m365.render(m365.dkim.cname_target, {"domain": "social.example.org"})
    assert out.text == "selector1-social-example-org._domainkey.<tenant>.onmicrosoft.com"
    assert out.missing == ("tenant",) and out.placeholder
    assert "tenant" in m365.placeholders  # the user is told where to find it
    resend = get_provider("resend", shipped)
    out = resend.render("{envelope}", {"domain": "example.org"})
    assert out.text == "send.example.org" and not out.placeholder


def test_account_placeholders_are_declared_with_a_hint(shipped):
    for p in shipped:
        for record in p.records:
            for template in (record.name, record.value):
                for _, name, _, _ in string.Formatter().parse(template):
                    if name and name not in prov.BUILTIN_PLACEHOLDERS and name != "region":
                        assert p.placeholders.get(name), (p.id, name)


@pytest.mark.parametrize(
    ("provider_id", "login", "fits"),
    [
        ("sendgrid", "apikey", True),
        ("sendgrid", "admin@example.org", False),
        ("amazon-ses", "AKIAIOSFODNN7EXAMPLE", True),
        ("amazon-ses", "ses-smtp-user.20240101", False),
        ("resend", "resend", True),
        ("sparkpost", "SMTP_Injection", True),
        ("sparkpost", "smtp_injection", False),
        ("zoho", "notifications@example.org", True),
        ("zoho", "notifications", False),
        ("mandrill", "whatever", None),
    ],
)
def test_login_conventions(shipped, provider_id, login, fits):
    assert get_provider(provider_id, shipped).login.fits(login) is fits


def test_ports_have_tls_modes(shipped):
    ses = get_provider("amazon-ses", shipped)
    assert ses.port_mode(465).tls == "implicit" and ses.port_mode(587).tls == "starttls"
    assert get_provider("postmark", shipped).port_mode(465) is None  # Postmark has no implicit TLS


def test_get_provider_accepts_aliases_and_suggests(shipped):
    assert get_provider("SES", shipped).id == "amazon-ses"
    assert get_provider("sendinblue", shipped).id == "brevo"
    with pytest.raises(AuditorError) as err:
        get_provider("sendgird", shipped)
    assert "Did you mean 'sendgrid'?" in str(err.value) and "amazon-ses" in str(err.value)
    with pytest.raises(AuditorError, match="unknown provider 'nothing-like-it'"):
        get_provider("nothing-like-it", shipped)


def test_dkim_target_ownership(shipped):
    ses = get_provider("amazon-ses", shipped)
    assert ses.dkim.owns_target("abc123.dkim.amazonses.com.")
    assert not ses.dkim.owns_target("dkim.amazonses.com.evil.example")
    m365 = get_provider("microsoft-365", shipped)
    assert m365.dkim.owns_target("selector1-x-org._domainkey.contoso.n-v1.dkim.mail.microsoft")


# -- schema errors -----------------------------------------------------------------------------------------

MINIMAL = """\
id: demo
name: Demo relay
kind: relay
description: Checks nothing in particular.
hosts:
  - pattern: 'smtp\\.demo\\.example'
    examples: {smtp.demo.example: ''}
spf:
  where: envelope
dkim:
  scheme: per-account
  d_domain: from
envelope:
  default: from
references: [https://example.org/]
"""


def write(tmp_path: Path, text: str, name: str = "demo.yaml") -> Path:
    folder = tmp_path / "providers"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_minimal_profile_loads(tmp_path):
    [p] = load_providers(write(tmp_path, MINIMAL))
    assert p.id == "demo" and recognise("smtp.demo.example", [p])[0] is p


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (MINIMAL.replace("kind: relay", "kind: relay\ncolour: blue"), 4, "unknown key 'colour' in profile"),
        (
            MINIMAL.replace("  where: envelope", "  where: envelope\n  inclde: x.example"),
            10,
            "did you mean 'include'",
        ),
        (MINIMAL.replace("kind: relay", "kind: robot"), 3, "kind must be one of"),
        (MINIMAL.replace("name: Demo relay\n", ""), 1, "missing the required key 'name'"),
        (
            MINIMAL.replace("pattern: 'smtp\\.demo\\.example'", "pattern: 'smtp[('"),
            6,
            "not a valid regular expression",
        ),
        (
            MINIMAL.replace("{smtp.demo.example: ''}", "{smtp.other.example: ''}"),
            7,
            "does not match the pattern",
        ),
        (MINIMAL.replace("{smtp.demo.example: ''}", "{smtp.demo.example: eu}"), 7, "gives region"),
        (MINIMAL + "ports: [{port: 70000, tls: starttls}]\n", 16, "from 1 to 65535"),
        (MINIMAL + "ports: [{port: 587, tls: maybe}]\n", 16, "tls must be one of"),
        (MINIMAL.replace("kind: relay", "kind: relay\nkind: mailbox"), 4, "duplicate key 'kind'"),
        (
            MINIMAL + "records: [{purpose: x, name: '{secret_id}.{domain}', type: TXT, value: v}]\n",
            16,
            "{secret_id}",
        ),
        (
            MINIMAL.replace("  where: envelope", "  where: envelope\n  include: 'x.{region}.example'"),
            8,
            "{region}",
        ),
        (MINIMAL.replace("id: demo", "id: other"), 1, "must equal the file name"),
        (MINIMAL.replace("references: [https://example.org/]", "references: []"), 15, "at least one source"),
        (MINIMAL.replace("  scheme: per-account", "  scheme: cname"), 11, "needs dkim.cname_target"),
        (MINIMAL.replace("tls: x", "") + "tls_required: yes please\n", 16, "true or false"),
        ("- just\n- a list\n", 1, "must be a mapping"),
        ("id: demo\nname: [unclosed\n", 3, "not valid YAML"),
    ],
)
def test_schema_errors_name_file_and_line(tmp_path, text, line, message):
    folder = write(tmp_path, text)
    with pytest.raises(AuditorError) as err:
        load_providers(folder)
    text = str(err.value)
    assert f"demo.yaml:{line}:" in text, text
    assert message in text, text


def test_region_placeholder_allowed_when_every_host_gives_one(tmp_path):
    text = MINIMAL.replace("smtp\\.demo\\.example'", "smtp\\.(?P<region>eu)\\.demo\\.example'").replace(
        "{smtp.demo.example: ''}", "{smtp.eu.demo.example: eu}"
    )
    text = text.replace("  where: envelope", "  where: envelope\n  include: 'spf.{region}.demo.example'")
    [p] = load_providers(write(tmp_path, text))
    found = recognise("smtp.eu.demo.example", [p])
    assert p.spf_include(found[1]).text == "spf.eu.demo.example"


def test_empty_folder_and_duplicate_aliases(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AuditorError, match="no provider profiles"):
        load_providers(empty)
    folder = write(tmp_path, MINIMAL.replace("kind: relay", "kind: relay\naliases: [shared]"))
    other = MINIMAL.replace("id: demo", "id: demo2").replace("kind: relay", "kind: relay\naliases: [shared]")
    write(
        tmp_path,
        other.replace("smtp\\.demo", "smtp\\.demo2").replace("smtp.demo.example", "smtp.demo2.example"),
        "demo2.yaml",
    )
    with pytest.raises(AuditorError, match="'shared' is already used"):
        load_providers(folder)


def test_shipped_profiles_survive_a_copy(tmp_path):
    """The loader reads any folder, e.g. a user's own profiles next to the shipped ones."""
    folder = tmp_path / "copy"
    shutil.copytree(SHIPPED, folder)
    assert [p.id for p in load_providers(folder)] == [p.id for p in load_providers()]
