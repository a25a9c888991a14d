"""Bad settings files give one clear line (AuditorError), and no secret ever leaves in any output."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from auditor.appconfig import load_settings
from auditor.appconfig.profiles import load_profile
from auditor.errors import AuditorError
from auditor.facts.base import to_jsonable

FIXTURES = Path(__file__).resolve().parent / "appconfig"
LEAK = "LEAKCHECK"  # part of every password in every fixture
ALL_FIXTURES = sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.name != ".gitattributes")


def one_line_error(path, app=None) -> str:
    with pytest.raises(AuditorError) as caught:
        load_settings(path, app=app)
    message = str(caught.value)
    assert message and "\n" not in message
    assert caught.value.exit_code == 2
    return message


# -- bad files ---------------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    assert "settings file not found" in one_line_error(tmp_path / "nope.env")


def test_directory(tmp_path):
    assert "is a directory" in one_line_error(tmp_path)


def test_binary_file(tmp_path):
    path = tmp_path / ".env.production"
    path.write_bytes(b"LOCAL_DOMAIN=a.example\nSMTP_PASSWORD=Pw-LEAKCHECK\x00\x01\x02\n")
    message = one_line_error(path)
    assert "binary" in message and LEAK not in message


def test_undecodable_file(tmp_path):
    path = tmp_path / ".env.production"
    path.write_bytes(b"LOCAL_DOMAIN=a.example\nSMTP_PASSWORD=Pw-LEAKCHECK\xff\xfe\n")
    message = one_line_error(path)
    assert "not UTF-8" in message and LEAK not in message


def test_huge_file(tmp_path):
    path = tmp_path / ".env.production"
    with path.open("wb") as handle:
        handle.write(b"LOCAL_DOMAIN=a.example\n" + b"# padding line\n" * (5 * 1024 * 1024 // 15))
    assert path.stat().st_size >= 5 * 1024 * 1024
    assert "too large" in one_line_error(path)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads files despite chmod 000")
def test_unreadable_file(tmp_path):
    path = tmp_path / ".env.production"
    path.write_text("LOCAL_DOMAIN=a.example\n", encoding="utf-8")
    path.chmod(0)
    try:
        assert "permission denied" in one_line_error(path)
    finally:
        path.chmod(0o600)


def test_broken_yaml_names_the_line_not_the_text(tmp_path):
    path = tmp_path / "homeserver.yaml"
    path.write_text(
        "server_name: m.example\nemail:\n  smtp_pass: 'Pw-LEAKCHECK-x\n  smtp_host: [\n", encoding="utf-8"
    )
    message = one_line_error(path, app="synapse")
    assert "cannot be read as YAML" in message and "line" in message
    assert LEAK not in message


def test_broken_hjson_names_the_line_not_the_text(tmp_path):
    path = tmp_path / "lemmy.hjson"
    path.write_text(
        '{\n  hostname: l.example\n  email: {\n    smtp_password: "Pw-LEAKCHECK-x\n', encoding="utf-8"
    )
    message = one_line_error(path, app="lemmy")
    assert "cannot be read as hjson" in message and "(line 4)" in message
    assert LEAK not in message


def test_wrong_app_error_has_no_values():
    for path in ALL_FIXTURES:
        for app in ("mastodon", "synapse", "lemmy"):
            try:
                load_settings(path, app=app)
            except AuditorError as exc:
                assert LEAK not in str(exc), (path, app)


# -- secrets never leak ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_no_secret_in_any_output(path):
    assert LEAK in path.read_text(encoding="utf-8-sig"), "every fixture carries a distinctive password"
    settings = load_settings(path)
    assert settings.secret and LEAK in settings.secret  # the password itself was read …
    visible = [
        repr(settings),
        str(settings),
        *settings.notes,
        repr(settings.unknown_keys),
        repr(settings.sources),
    ]
    visible.append(json.dumps(to_jsonable(settings.redacted())))
    if settings.bulk is not None:
        visible += [repr(settings.bulk), *settings.bulk.notes]
    for text in visible:
        assert LEAK not in text  # … and is in none of what leaves the process
    assert settings.redacted().secret == "(hidden)"
    assert all(LEAK in s for s in settings.secrets())


def test_notes_never_quote_a_secret_even_when_a_template_would(tmp_path):
    path = tmp_path / ".env.production"
    path.write_text(
        "LOCAL_DOMAIN=a.example\nSMTP_AUTH_METHOD=Pw-LEAKCHECK-as-method\nSMTP_PASSWORD=Pw-LEAKCHECK-as-method\n"
    )
    settings = load_settings(path)
    assert settings.notes and not any(LEAK in note for note in settings.notes)


# -- profiles are validated --------------------------------------------------------------------------------


def test_profile_with_unknown_key_is_rejected(tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text(
        "id: demo\nname: Demo\nvariants:\n  - format: dotenv\n    identify: [A]\n"
        "    fields: {host: A}\n    colour: blue\n",
        encoding="utf-8",
    )
    with pytest.raises(AuditorError, match="unknown variant key 'colour'"):
        load_profile(path)


def test_profile_with_unknown_field_is_rejected(tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text(
        "id: demo\nname: Demo\nvariants:\n  - format: dotenv\n    identify: [A]\n    fields: {hostname: A}\n",
        encoding="utf-8",
    )
    with pytest.raises(AuditorError, match="'hostname' is not a SmtpSettings field"):
        load_profile(path)


# -- damaged files never crash -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_damaged_fixtures_load_or_fail_with_one_line(tmp_path, path):
    """Random quote, bracket and comment characters inserted or deleted: a result or AuditorError."""
    import random

    rng = random.Random(path.name)
    pieces = ["'", '"', "`", "#", "=", ":", "{", "}", "[", "]", ",", "\n", "\\", "$", "${", "'''", "/*", "\t"]
    original = path.read_text(encoding="utf-8-sig")
    for _ in range(40):
        text = list(original)
        for _ in range(rng.randint(1, 6)):
            position = rng.randrange(len(text))
            if rng.random() < 0.6:
                text.insert(position, rng.choice(pieces))
            else:
                del text[position]
        damaged = tmp_path / path.name
        damaged.write_text("".join(text), encoding="utf-8")
        try:
            settings = load_settings(damaged)
        except AuditorError as exc:
            assert "\n" not in str(exc)
        else:
            assert not any(LEAK in note for note in settings.notes)
