"""Zone-file text for records: TXT values in 255-byte character-strings, quoted and escaped.

Used by the fixes (the records they propose) and the reports (the block users paste).

A TXT value in the JSON is the logical string. In a zone file it must be split into character-strings of at
most 255 bytes (RFC 1035), and receivers join them with *no* added space (RFC 7208 §3.3). So each cut is
made right after a space, keeping the space inside the earlier chunk: `"v=spf1 … " "ip4:…"`. Only a run of
255 bytes without any space is cut in the middle (never inside a UTF-8 character).
"""

from __future__ import annotations

MAX_STRING = 255


def txt_chunks(value: str, limit: int = MAX_STRING) -> list[str]:
    """The character-strings for a logical TXT value; joined without separators they give `value` back."""
    data = value.encode("utf-8")
    chunks: list[str] = []
    while len(data) > limit:
        cut = data.rfind(b" ", 0, limit) + 1  # just after the last space that fits
        if cut <= 0:
            cut = limit
            while cut > 0 and (data[cut] & 0xC0) == 0x80:  # not inside a multi-byte character
                cut -= 1
        chunks.append(data[:cut].decode("utf-8"))
        data = data[cut:]
    chunks.append(data.decode("utf-8"))
    return chunks


def quote(chunk: str) -> str:
    """One character-string in zone-file form: quotes and backslashes escaped, control bytes as \\DDD."""
    out = []
    for byte in chunk.encode("utf-8"):
        if byte in (0x22, 0x5C):
            out.append("\\" + chr(byte))
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def txt_presentation(value: str) -> str:
    return " ".join(quote(chunk) for chunk in txt_chunks(value))


def rdata_text(rdtype: str, value: str) -> str:
    return txt_presentation(value) if rdtype.upper() == "TXT" else value


def zone_line(name: str, rdtype: str, value: str, ttl: int | None = None) -> str:
    """`name [ttl] IN TYPE rdata`, ready to paste into a zone file."""
    ttl_text = f" {ttl}" if ttl is not None else ""
    return f"{name}{ttl_text} IN {rdtype.upper()} {rdata_text(rdtype, value)}"
