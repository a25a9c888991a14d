"""Zone-file rendering of proposed records: TXT in 255-byte strings, separating spaces kept inside a chunk."""

from __future__ import annotations

import dns.rdata
import dns.rdataclass
import dns.rdatatype

from auditor.zonefile import txt_chunks, txt_presentation, zone_line


def _parse_back(presentation: str) -> str:
    rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, presentation)
    return b"".join(rdata.strings).decode("utf-8")


def test_short_value_is_one_string():
    assert txt_chunks("v=spf1 -all") == ["v=spf1 -all"]
    assert zone_line("example.org.", "TXT", "v=spf1 -all") == 'example.org. IN TXT "v=spf1 -all"'


def test_long_value_is_cut_after_a_space_and_joins_back_exactly():
    value = "v=spf1 " + " ".join(f"ip4:198.51.100.{i}" for i in range(1, 40)) + " -all"
    chunks = txt_chunks(value)
    assert len(chunks) > 1
    assert all(len(c.encode()) <= 255 for c in chunks)
    assert "".join(chunks) == value
    assert all(c.endswith(" ") for c in chunks[:-1])  # the space stays inside the earlier chunk
    assert _parse_back(txt_presentation(value)) == value


def test_a_run_without_spaces_is_cut_at_255_bytes_not_inside_a_character():
    value = "a" * 254 + "é" + "b" * 10
    chunks = txt_chunks(value)
    assert chunks[0] == "a" * 254
    assert "".join(chunks) == value
    assert all(len(c.encode()) <= 255 for c in chunks)


def test_quotes_backslashes_and_control_characters_are_escaped():
    value = 'say "hi" \\ \x01'
    assert _parse_back(txt_presentation(value)) == value


def test_other_types_are_written_as_given():
    assert zone_line("example.org.", "MX", "10 mx.example.net.") == "example.org. IN MX 10 mx.example.net."
