"""Unit tests of the settings-file parsers: dotenv, YAML, INI/conf, hjson."""

from __future__ import annotations

import pytest

from auditor.appconfig.dotenv import parse_dotenv
from auditor.appconfig.entries import CONTAINER, ParseError
from auditor.appconfig.hjson import parse_hjson
from auditor.appconfig.structured import parse_ini, parse_yaml


def values(parsed):
    return {k: e.value for k, e in parsed.entries.items()}


# -- dotenv ------------------------------------------------------------------------------------------------


def test_dotenv_plain_assignments_and_line_numbers():
    parsed = parse_dotenv("# comment\n\nA=1\nB=two words\n")
    assert values(parsed) == {"A": "1", "B": "two words"}
    assert parsed.entries["A"].line == 3
    assert parsed.entries["B"].line == 4


def test_dotenv_export_prefix_and_colon_form():
    parsed = parse_dotenv("export A=1\n  export   B = 2\nC: three\n")
    assert values(parsed) == {"A": "1", "B": "2", "C": "three"}


def test_dotenv_single_quotes_are_literal():
    parsed = parse_dotenv("A='x\\ny $HOME # not a comment'\n")
    assert parsed.entries["A"].value == "x\\ny $HOME # not a comment"
    assert parsed.entries["A"].quote == "'"


def test_dotenv_double_quotes_process_escapes():
    parsed = parse_dotenv('A="line1\\nline2 \\"q\\" back\\\\slash"\n')
    assert parsed.entries["A"].value == 'line1\nline2 "q" back\\slash'
    assert parsed.entries["A"].quote == '"'


def test_dotenv_double_quoted_value_spans_lines():
    parsed = parse_dotenv('A="first\nsecond"\nB=after\n')
    assert parsed.entries["A"].value == "first\nsecond"
    assert parsed.entries["B"].line == 3


def test_dotenv_inline_comment_only_after_whitespace():
    parsed = parse_dotenv("A=value # comment\nB=pa#ss\nC='quoted' # comment\n")
    assert values(parsed) == {"A": "value", "B": "pa#ss", "C": "quoted"}
    assert any("B (line 2)" in note and "'#'" in note for note in parsed.notes)
    assert not any("pa#ss" in note for note in parsed.notes)


def test_dotenv_blank_values_are_kept_blank():
    parsed = parse_dotenv("A=\nB=\"\"\nC=''\n")
    assert values(parsed) == {"A": "", "B": "", "C": ""}


def test_dotenv_duplicates_last_wins_with_note():
    parsed = parse_dotenv("A=first\nB=x\nA=second\n")
    assert parsed.entries["A"].value == "second"
    assert parsed.entries["A"].line == 3
    assert parsed.notes == ["A is set more than once (first on line 1, again on line 3); the last one wins"]


def test_dotenv_variable_expansion_from_earlier_keys():
    parsed = parse_dotenv("D=example.org\nA=n@${D}\nB=\"n@$D\"\nC='n@$D'\nE=\\$D\n")
    assert parsed.entries["A"].value == "n@example.org"
    assert parsed.entries["B"].value == "n@example.org"
    assert parsed.entries["C"].value == "n@$D"
    assert parsed.entries["E"].value == "$D"  # `\$` escapes the expansion


def test_dotenv_undefined_reference_becomes_empty_with_note_without_value():
    parsed = parse_dotenv("SMTP_PASSWORD=abc$secretpart\n")
    assert parsed.entries["SMTP_PASSWORD"].value == "abc"
    assert len(parsed.notes) == 1
    assert "secretpart" not in parsed.notes[0] and "SMTP_PASSWORD" in parsed.notes[0]


def test_dotenv_default_in_reference():
    parsed = parse_dotenv("A=${MISSING:-fallback}\n")
    assert parsed.entries["A"].value == "fallback"
    assert parsed.notes == []


def test_dotenv_unclosed_quote_is_kept_as_read():
    parsed = parse_dotenv('A="Mastodon <n@example.org>\nB=1\n')
    assert parsed.entries["A"].value == '"Mastodon <n@example.org>'
    assert parsed.entries["B"].value == "1"
    assert any("not closed cleanly" in note for note in parsed.notes)


def test_dotenv_text_after_closing_quote_keeps_quotes():
    parsed = parse_dotenv('A="x"y\n')
    assert parsed.entries["A"].value == '"x"y'


def test_dotenv_bad_lines_are_recorded_not_fatal():
    parsed = parse_dotenv("A=1\nthis is not a setting\n[section]\nexport ONLY_KEY\nB=2\n")
    assert values(parsed) == {"A": "1", "B": "2"}
    assert parsed.bad_lines == [2, 3]


# -- YAML --------------------------------------------------------------------------------------------------


def test_yaml_flattens_with_lines_and_types():
    parsed = parse_yaml("smtp:\n  hostname: mail.example.org\n  port: 587\n  tls: false\n  ca_file: null\n")
    assert parsed.entries["smtp"].value is CONTAINER
    assert parsed.entries["smtp.hostname"].value == "mail.example.org"
    assert parsed.entries["smtp.port"].value == 587
    assert parsed.entries["smtp.tls"].value is False
    assert parsed.entries["smtp.ca_file"].value is None
    assert parsed.entries["smtp.port"].line == 3


def test_yaml_environment_list_of_assignments():
    parsed = parse_yaml("services:\n  web:\n    environment:\n      - SMTP_SERVER=smtp.example.org\n")
    assert parsed.entries["services.web.environment.SMTP_SERVER"].value == "smtp.example.org"


def test_yaml_syntax_error_names_line_not_text():
    with pytest.raises(ParseError) as caught:
        parse_yaml("email:\n  smtp_pass: 'SeCrEt-value\n  other: [\n")
    assert caught.value.line is not None
    assert "SeCrEt" not in caught.value.describe()


def test_yaml_that_is_not_a_mapping_is_rejected():
    with pytest.raises(ParseError):
        parse_yaml("just a sentence\n")


def test_yaml_alias_bomb_is_bounded():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
    bomb += "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} {{k1: *{chr(97 + i)}, k2: *{chr(97 + i)}}}\n" for i in range(20)
    )
    parsed_or_error = None
    try:
        parsed_or_error = parse_yaml(bomb)
    except ParseError as exc:
        parsed_or_error = exc
    assert parsed_or_error is not None  # finished quickly either way


# -- INI / conf --------------------------------------------------------------------------------------------


def test_ini_sections_quotes_and_no_inline_comments():
    parsed = parse_ini(
        'APP_NAME = Git\n[mailer]\nPASSWD = `a#b;c`\nFROM = "x@example.org"\nUSER = u # not a comment\n'
    )
    assert parsed.entries["APP_NAME"].value == "Git"
    assert parsed.entries["mailer"].value is CONTAINER
    assert parsed.entries["mailer.PASSWD"].value == "a#b;c"
    assert parsed.entries["mailer.FROM"].value == "x@example.org"
    assert parsed.entries["mailer.USER"].value == "u # not a comment"
    assert parsed.entries["mailer.PASSWD"].line == 3


def test_conf_inline_comments_and_quotes():
    parsed = parse_ini(
        'smtp_port = 465 # implicit\nsmtp_password = "a#b"\nempty =\n', inline_comments=True, sections=False
    )
    assert values(parsed) == {"smtp_port": "465", "smtp_password": "a#b", "empty": ""}


# -- hjson -------------------------------------------------------------------------------------------------


def test_hjson_lemmy_subset():
    text = """{
  # comment
  hostname: lemmy.example.org
  email: {
    smtp_server: "smtp.example.org:587"   // trailing comment
    port: 25,
    tls: true
    note: a quoteless string, with a comma
    list: [1, "two", three]
    nested: { a: 'single \\'q\\'' }
  }
  /* block */
  multi: '''
    text
    '''
}
"""
    parsed = parse_hjson(text)
    assert parsed.entries["hostname"].value == "lemmy.example.org"
    assert parsed.entries["email"].value is CONTAINER
    assert parsed.entries["email.smtp_server"].value == "smtp.example.org:587"
    assert parsed.entries["email.smtp_server"].line == 5
    assert parsed.entries["email.port"].value == 25
    assert parsed.entries["email.tls"].value is True
    assert parsed.entries["email.note"].value == "a quoteless string, with a comma"
    assert parsed.entries["email.nested.a"].value == "single 'q'"


def test_hjson_plain_json_and_braceless_root():
    assert values(parse_hjson('{"a": {"b": "c\\u00e9"}, "n": -1.5}'))["a.b"] == "cé"
    assert values(parse_hjson("a: 1\nb: x\n")) == {"a": 1, "b": "x"}


@pytest.mark.parametrize("text", ['{ a: "unterminated\n}', "{ a: 1", "{ a }", "/* open", "{ a: [1, 2 }"])
def test_hjson_malformed(text):
    with pytest.raises(ParseError):
        parse_hjson(text)
