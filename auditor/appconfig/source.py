"""Reading a settings file safely: one clear line for every way the file can be wrong.

Error messages name the path and the problem only, never any content: the file holds passwords.
"""

from __future__ import annotations

import errno
from pathlib import Path

from auditor.errors import AuditorError

# Real mail settings files are a few kilobytes; anything this big is the wrong file.
MAX_BYTES = 1024 * 1024


def read_settings_text(path: str | Path) -> str:
    """The file's text without BOM and with LF line ends, or an AuditorError naming the problem."""
    shown = str(path)
    p = Path(path)
    try:
        if not p.exists():
            raise AuditorError(f"settings file not found: {shown}")
        if p.is_dir():
            raise AuditorError(f"settings file is a directory, not a file: {shown}")
        if not p.is_file():
            raise AuditorError(f"settings file is not a regular file: {shown}")
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise AuditorError(
                f"settings file is too large to be a mail settings file "
                f"({size} bytes, limit {MAX_BYTES}): {shown}"
            )
        with p.open("rb") as handle:
            # Read one byte past the limit: the size can change between stat() and read().
            data = handle.read(MAX_BYTES + 1)
    except PermissionError:
        raise AuditorError(f"cannot read settings file (permission denied): {shown}") from None
    except OSError as exc:
        reason = errno.errorcode.get(exc.errno or 0, "") if exc.strerror is None else exc.strerror
        raise AuditorError(f"cannot read settings file ({reason or 'I/O error'}): {shown}") from None
    if len(data) > MAX_BYTES:
        raise AuditorError(
            f"settings file is too large to be a mail settings file (limit {MAX_BYTES}): {shown}"
        )
    if b"\x00" in data:
        raise AuditorError(f"settings file looks binary (it contains NUL bytes), not a text file: {shown}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AuditorError(
            f"settings file is not UTF-8 text (undecodable byte at offset {exc.start}): {shown}"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")
