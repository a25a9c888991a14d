"""Where the shipped data (rules/, reports/) lives, the same way from a checkout and from a wheel.

The wheel carries `rules/` and `reports/` as `auditor/_data/...` (hatchling force-include); a checkout
has them beside the package. Both are looked up here and nowhere else.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    installed = _PACKAGE / "_data" / name
    if installed.is_dir():
        return installed
    checkout = _PACKAGE.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"inboxready data folder {name!r} not found beside {_PACKAGE}")


def rules_dir() -> Path:
    return data_dir("rules")


def reports_dir() -> Path:
    return data_dir("reports")
