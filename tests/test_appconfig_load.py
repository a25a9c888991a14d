"""load_settings over realistic fixture files of every app, Mastodon's TLS precedence, recognition."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.appconfig import list_apps, load_settings
from auditor.errors import AuditorError

FIXTURES = Path(__file__).resolve().parent / "appconfig"


def fixture(name: str) -> Path:
    found = [p for p in (FIXTURES / name).iterdir() if p.is_file()]
    assert len(found) == 1, found
    return found[0]


def write(tmp_path: Path, text: str, name: str = ".env.production") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- Mastodon ----------------------------------------------------------------------------------------------


def test_mastodon_plain():
    settings = load_settings(fixture("mastodon-plain"))
    assert settings.app == "mastodon"
    assert (settings.host, settings.port) == ("email-smtp.eu-west-1.amazonaws.com", 587)
    assert (settings.tls, settings.starttls_required, settings.verify) == ("starttls", True, "peer")
    assert settings.login == "AKIAIOSFODNN7EXAMPLE"
    assert settings.secret == "Pw-LEAKCHECK-7f3a9"
    assert settings.from_address == "Mastodon <notifications@social.example.org>"
    assert settings.instance_domain == "social.example.org"
    assert settings.helo_domain == "social.example.org"  # SMTP_DOMAIN falls back to LOCAL_DOMAIN
    assert settings.ca_file == "/etc/ssl/certs/ca-certificates.crt"
    assert settings.auth_method == "plain" and settings.transport == "smtp"
    assert settings.bulk is None
    assert settings.unknown_keys == []
    assert settings.sources["host"].key == "SMTP_SERVER" and settings.sources["host"].line == 18
    assert settings.sources["helo_domain"].key == "LOCAL_DOMAIN"
    assert settings.sources["starttls_required"].key == "SMTP_ENABLE_STARTTLS"
    assert any("SMTP_DOMAIN not set" in n and "LOCAL_DOMAIN" in n for n in settings.notes)


def test_mastodon_tricky_file_syntax():
    """BOM, CRLF, export, quotes, escapes, comments, duplicates, empty values, a junk line, bulk relay."""
    path = fixture("mastodon-tricky")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf") and b"\r\n" in path.read_bytes()
    settings = load_settings(path)
    assert settings.app == "mastodon"
    assert settings.instance_domain == "example.org"  # `export LOCAL_DOMAIN=` on the BOM line's neighbour
    assert settings.host == "smtp.sendgrid.net"  # duplicate: the last one wins
    assert settings.sources["host"].line == 10
    assert settings.port == 465 and settings.login == "apikey"
    assert settings.secret == 'Pw-LEAKCHECK-7f3a9"quote#hash'  # escaped quote and '#' inside quotes
    assert (settings.tls, settings.starttls_required) == ("implicit", False)  # SMTP_TLS beats STARTTLS=auto
    assert settings.from_address == "Mastodon <notifications@example.org>"  # ${LOCAL_DOMAIN} expanded
    assert settings.reply_to == "support@example.org"
    assert settings.helo_domain == ""  # SMTP_DOMAIN= is kept empty: Mastodon does not fall back then
    assert any("SMTP_SERVER is set more than once" in n for n in settings.notes)
    assert any("SMTP_DOMAIN is set but empty (line 18)" in n for n in settings.notes)
    assert any("skipped: 19" in n for n in settings.notes)
    assert ("SMTP_HOST", "SMTP_SERVER") in settings.unknown_keys
    assert ("SMTP_USER", "SMTP_LOGIN") in settings.unknown_keys
    assert ("SMPT_RETURN_PATH", "SMTP_RETURN_PATH") in settings.unknown_keys
    bulk = settings.bulk
    assert bulk is not None
    assert (bulk.host, bulk.port, bulk.login) == ("smtp.mailgun.org", 587, "postmaster@mg.example.org")
    assert bulk.secret == "Pw-LEAKCHECK-7f3a9-bulk$notavar"  # single quotes: no expansion
    assert (bulk.tls, bulk.starttls_required) == ("starttls", True)
    assert bulk.from_address == settings.from_address  # same From, audited for the same domain
    assert bulk.helo_domain == "example.org"
    assert bulk.sources["host"].key == "BULK_SMTP_SERVER"


def test_mastodon_defaults_when_unset():
    settings = load_settings(fixture("mastodon-localhost"))
    assert settings.from_address == "notifications@localhost"
    assert any("SMTP_FROM_ADDRESS not set" in n and "notifications@localhost" in n for n in settings.notes)
    assert settings.auth_method == "none" and settings.verify == "none"
    assert settings.sources["from_address"].line is None  # not in the file: a fix adds the line


def test_mastodon_bare_minimum_file_gets_every_default(tmp_path):
    settings = load_settings(write(tmp_path, "LOCAL_DOMAIN=example.social\n"))
    assert settings.host == "localhost" and settings.port == 25
    assert settings.from_address == "notifications@localhost"
    assert settings.auth_method == "plain" and settings.verify == "peer"
    assert (settings.tls, settings.starttls_required) == ("starttls", False)
    assert any("SMTP_PORT not set: Mastodon's default 25 applies" in n for n in settings.notes)


def test_mastodon_broken_from_values_are_kept_not_fatal():
    settings = load_settings(fixture("mastodon-broken-from"))
    assert settings.from_address == '"Mastodon <notifications@club.example.com>'  # stray quote kept
    assert settings.reply_to == "notifications"  # no domain: a finding later, not a crash
    assert settings.verify == "none"  # client_once is ignored by an OpenSSL client
    assert any("SMTP_TLS=True" in n for n in settings.notes)
    assert any("'yes', not auto, always or never" in n for n in settings.notes)


def test_mastodon_empty_from_is_kept_empty(tmp_path):
    settings = load_settings(write(tmp_path, "LOCAL_DOMAIN=example.social\nSMTP_FROM_ADDRESS=\n"))
    assert settings.from_address == ""
    assert any("no From address" in n for n in settings.notes)


@pytest.mark.parametrize(
    ("lines", "tls", "required"),
    [
        ([], "starttls", False),
        (["SMTP_TLS=true"], "implicit", False),
        (["SMTP_SSL=true"], "implicit", False),
        (["SMTP_TLS=True"], "starttls", False),  # Mastodon compares with 'true' exactly
        (["SMTP_TLS=false", "SMTP_SSL=true"], "implicit", False),
        (["SMTP_ENABLE_STARTTLS=always"], "starttls", True),
        (["SMTP_ENABLE_STARTTLS=never"], "none", False),
        (["SMTP_ENABLE_STARTTLS=auto"], "starttls", False),
        (["SMTP_ENABLE_STARTTLS_AUTO=false"], "none", False),
        (["SMTP_ENABLE_STARTTLS_AUTO=true"], "starttls", False),
        (["SMTP_ENABLE_STARTTLS=auto", "SMTP_ENABLE_STARTTLS_AUTO=false"], "starttls", False),
        (["SMTP_ENABLE_STARTTLS=always", "SMTP_ENABLE_STARTTLS_AUTO=false"], "starttls", True),
        (["SMTP_ENABLE_STARTTLS=bogus", "SMTP_ENABLE_STARTTLS_AUTO=false"], "none", False),
        (["SMTP_TLS=true", "SMTP_ENABLE_STARTTLS=never"], "implicit", False),
        (["SMTP_ENABLE_STARTTLS=never", "SMTP_TLS=true"], "implicit", False),
    ],
)
def test_mastodon_tls_precedence(tmp_path, lines, tls, required):
    settings = load_settings(write(tmp_path, "\n".join(["LOCAL_DOMAIN=example.social", *lines]) + "\n"))
    assert (settings.tls, settings.starttls_required) == (tls, required)


def test_mastodon_tls_with_starttls_always_gets_a_conflict_note(tmp_path):
    settings = load_settings(
        write(tmp_path, "LOCAL_DOMAIN=a.example\nSMTP_TLS=true\nSMTP_ENABLE_STARTTLS=always\n")
    )
    assert settings.tls == "implicit"
    assert any("mutually exclusive" in n for n in settings.notes)


def test_mastodon_bulk_only_when_server_set(tmp_path):
    settings = load_settings(
        write(tmp_path, "LOCAL_DOMAIN=a.example\nBULK_SMTP_SERVER=\nBULK_SMTP_PORT=587\n")
    )
    assert settings.bulk is None


def test_mastodon_sendmail_delivery(tmp_path):
    settings = load_settings(write(tmp_path, "LOCAL_DOMAIN=a.example\nSMTP_DELIVERY_METHOD=sendmail\n"))
    assert settings.transport == "sendmail"
    assert any("not use the SMTP relay settings" in n for n in settings.notes)


def test_mastodon_bad_port_is_a_note(tmp_path):
    settings = load_settings(write(tmp_path, "LOCAL_DOMAIN=a.example\nSMTP_PORT=five-eight-seven\n"))
    assert settings.port is None
    assert any("SMTP_PORT (line 2) is not a valid number" in n for n in settings.notes)


# -- other apps --------------------------------------------------------------------------------------------


def test_peertube_yaml():
    settings = load_settings(fixture("peertube"))
    assert settings.app == "peertube"
    assert (settings.host, settings.port, settings.tls, settings.starttls_required) == (
        "smtp.postmarkapp.com", 587, "starttls", False,
    )  # fmt: skip
    assert settings.from_address == "PeerTube <peertube@videos.example.com>"
    assert settings.instance_domain == "videos.example.com"
    assert settings.sources["host"].key == "smtp.hostname" and settings.sources["host"].line == 35
    assert ("smtp.ca_files", "smtp.ca_file") in settings.unknown_keys


def test_peertube_docker_env():
    settings = load_settings(fixture("peertube-docker"))
    assert settings.app == "peertube"
    assert (settings.host, settings.port, settings.tls) == ("smtp.example.net", 465, "implicit")
    assert settings.from_address == "noreply@tube.example.net"
    assert settings.instance_domain == "tube.example.net"
    assert settings.unknown_keys == []  # PEERTUBE_DB_PASSWORD is not a misspelt mail key


def test_peertube_tls_defaults_on(tmp_path):
    text = "webserver:\n  hostname: v.example\nsmtp:\n  hostname: smtp.example\n"
    settings = load_settings(write(tmp_path, text, "production.yaml"))
    assert (settings.port, settings.tls) == (465, "implicit")
    assert settings.from_address == "admin@example.com"


def test_pixelfed():
    settings = load_settings(fixture("pixelfed"))
    assert settings.app == "pixelfed"
    assert (settings.host, settings.port, settings.tls) == ("smtp.mailgun.org", 587, "starttls")
    assert settings.from_address == "pixelfed@pix.example.org"
    assert settings.instance_domain == "pix.example.org"
    assert ("MAIL_SERVER", "MAIL_HOST") in settings.unknown_keys


def test_pixelfed_port_465_and_verify_off(tmp_path):
    text = "APP_DOMAIN=p.example\nMAIL_HOST=smtp.example\nMAIL_PORT=465\nMAIL_SMTP_VERIFY_PEER=false\n"
    settings = load_settings(write(tmp_path, text, ".env"))
    assert (settings.tls, settings.verify) == ("implicit", "none")


def test_lemmy_019():
    settings = load_settings(fixture("lemmy"))
    assert settings.app == "lemmy"
    assert (settings.host, settings.port) == ("smtp.example.org", 587)
    assert (settings.tls, settings.starttls_required) == ("starttls", True)
    assert settings.from_address == "Lemmy <noreply@lemmy.example.org>"
    assert settings.instance_domain == "lemmy.example.org"
    assert settings.sources["host"].line == 15
    assert ("email.smtp_host", "email.smtp_server") in settings.unknown_keys


def test_lemmy_10_connection_url():
    settings = load_settings(fixture("lemmy-1.0"))
    assert (settings.host, settings.port, settings.tls) == ("smtp.example.org", 465, "implicit")
    assert settings.login == "lemmy@example.org"
    assert settings.secret == "Pw-LEAKCHECK-7f3a9"


def test_lemmy_connection_starttls_required(tmp_path):
    text = 'hostname: l.example\nemail: {\n  connection: "smtp://u:p@smtp.example:587?tls=required"\n}\n'
    settings = load_settings(write(tmp_path, text, "lemmy.hjson"))
    assert (settings.tls, settings.starttls_required, settings.port) == ("starttls", True, 587)


def test_gotosocial_yaml():
    settings = load_settings(fixture("gotosocial"))
    assert settings.app == "gotosocial"
    assert (settings.host, settings.port, settings.tls) == ("smtp.fastmail.com", 587, "starttls")
    assert settings.instance_domain == "example.com"  # account-domain before host
    assert settings.from_address == "gts@example.com"
    assert ("smpt-from-display-name", "smtp-from-display-name") in settings.unknown_keys


def test_gotosocial_env(tmp_path):
    text = (
        "GTS_HOST=gts.example\nGTS_SMTP_HOST=smtp.example\nGTS_SMTP_PORT=587\nGTS_SMTP_FROM=g@gts.example\n"
    )
    settings = load_settings(write(tmp_path, text, "gotosocial.env"))
    assert (settings.app, settings.host, settings.from_address) == (
        "gotosocial",
        "smtp.example",
        "g@gts.example",
    )


def test_discourse_app_yml():
    settings = load_settings(fixture("discourse"))
    assert settings.app == "discourse"
    assert (settings.host, settings.port, settings.tls) == ("smtp.sendgrid.net", 587, "starttls")
    assert settings.from_address == "noreply@forum.example.com"
    assert settings.helo_domain == "forum.example.com"
    assert ("env.DISCOURSE_SMTP_FROM", "env.DISCOURSE_NOTIFICATION_EMAIL") in settings.unknown_keys


def test_discourse_conf():
    settings = load_settings(fixture("discourse-conf"))
    assert settings.app == "discourse"
    assert (settings.host, settings.port, settings.tls, settings.verify) == (
        "smtp.example.org",
        465,
        "implicit",
        "none",
    )
    assert settings.instance_domain == "talk.example.org"


def test_synapse():
    settings = load_settings(fixture("synapse"))
    assert settings.app == "synapse"
    assert (settings.host, settings.port, settings.tls) == ("smtp.example.org", 465, "implicit")
    assert settings.from_address == "Your Friendly %(app)s homeserver <noreply@example.org>"
    assert settings.instance_domain == "matrix.example.org"
    assert any("default 465 applies because force_tls" in n for n in settings.notes)


@pytest.mark.parametrize(
    ("email", "tls", "required", "port"),
    [
        ("  smtp_host: s.example\n", "starttls", False, 25),
        ("  smtp_host: s.example\n  require_transport_security: true\n", "starttls", True, 25),
        ("  smtp_host: s.example\n  enable_tls: false\n", "none", False, 25),
        ("  smtp_host: s.example\n  force_tls: true\n  smtp_port: 2465\n", "implicit", False, 2465),
    ],
)
def test_synapse_tls(tmp_path, email, tls, required, port):
    text = f"server_name: m.example\nreport_stats: false\nemail:\n{email}  notif_from: n@m.example\n"
    settings = load_settings(write(tmp_path, text, "homeserver.yaml"))
    assert (settings.tls, settings.starttls_required, settings.port) == (tls, required, port)


def test_gitea():
    settings = load_settings(fixture("gitea"))
    assert settings.app == "gitea"
    assert (settings.host, settings.port, settings.tls) == ("smtp.gmail.com", 587, "starttls")
    assert settings.from_address == '"Gitea" <git@example.com>'
    assert settings.secret == "Pw-LEAKCHECK-7f3a9#x"
    assert settings.instance_domain == "git.example.com"
    assert ("mailer.SMTP_HOST", "mailer.SMTP_ADDR") in settings.unknown_keys


@pytest.mark.parametrize(
    ("mailer", "tls", "port", "transport"),
    [
        ("SMTP_ADDR = s.example\nSMTP_PORT = 465\n", "implicit", 465, "smtp"),
        ("SMTP_ADDR = s.example\nPROTOCOL = smtp+starttls\n", "starttls", 587, "smtp"),
        ("SMTP_ADDR = s.example\nPROTOCOL = smtp\n", "none", 25, "smtp"),
        ("HOST = s.example:465\nIS_TLS_ENABLED = true\n", "implicit", 465, "smtp"),
        ("PROTOCOL = sendmail\n", None, None, "sendmail"),
    ],
)
def test_gitea_protocol(tmp_path, mailer, tls, port, transport):
    text = f"[server]\nDOMAIN = g.example\n[mailer]\nENABLED = true\n{mailer}"
    settings = load_settings(write(tmp_path, text, "app.ini"), app="forgejo")
    assert (settings.tls, settings.port, settings.transport) == (tls, port, transport)


# -- recognition and --app ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "app"),
    [
        ("mastodon-plain", "mastodon"), ("mastodon-tricky", "mastodon"), ("peertube", "peertube"),
        ("peertube-docker", "peertube"), ("pixelfed", "pixelfed"), ("lemmy", "lemmy"), ("gotosocial", "gotosocial"),
        ("discourse", "discourse"), ("discourse-conf", "discourse"), ("synapse", "synapse"), ("gitea", "gitea"),
    ],
)  # fmt: skip
def test_recognition_and_explicit_app_agree(name, app):
    assert load_settings(fixture(name)).app == app
    assert load_settings(fixture(name), app=app).app == app


def test_recognition_without_a_telling_file_name(tmp_path):
    source = fixture("synapse").read_text(encoding="utf-8")
    assert load_settings(write(tmp_path, source, "settings")).app == "synapse"
    source = fixture("mastodon-plain").read_text(encoding="utf-8")
    assert load_settings(write(tmp_path, source, "mastodon-config")).app == "mastodon"


def test_wrong_app_is_one_clear_line():
    with pytest.raises(AuditorError) as caught:
        load_settings(fixture("mastodon-plain"), app="peertube")
    message = str(caught.value)
    assert "is not a PeerTube config" in message
    assert "looks like a Mastodon config" in message and "--app mastodon" in message
    assert "\n" not in message


def test_wrong_app_other_format():
    with pytest.raises(AuditorError, match="is not a Matrix Synapse config"):
        load_settings(fixture("peertube"), app="synapse")


def test_unknown_app_lists_known_ones():
    with pytest.raises(AuditorError, match="unknown app 'wordpress'; known apps: .*mastodon"):
        load_settings(fixture("mastodon-plain"), app="wordpress")


def test_unrecognisable_file(tmp_path):
    with pytest.raises(AuditorError, match="cannot tell which app .* belongs to; pass --app"):
        load_settings(write(tmp_path, "FOO=1\nBAR=2\n", "settings.env"))


def test_app_aliases():
    assert load_settings(fixture("gitea"), app="Forgejo").app == "gitea"


def test_list_apps_covers_the_required_apps():
    ids = {profile.id for profile in list_apps()}
    assert {"mastodon", "peertube", "pixelfed", "lemmy", "gotosocial", "discourse", "synapse", "gitea"} <= ids
    for profile in list_apps():
        assert profile.name and profile.variants
        for variant in profile.variants:
            assert variant.identify and variant.relay.fields
