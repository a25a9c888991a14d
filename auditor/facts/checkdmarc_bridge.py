"""Lets checkdmarc validate records from answers we already have, without asking DNS again.

checkdmarc's parsers look names up themselves, one at a time, through a dnspython `Resolver` they are
handed. `CachedAnswers` is such a resolver whose `resolve()` answers from the `Lookup`s our concurrent
collectors already made. Anything we did not ask is answered "timed out" (and remembered in `misses`), so
checkdmarc never puts a sequential network lookup on the audit's critical path.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver

from auditor.dns import Lookup, absolute

# checkdmarc keeps a process-wide answer cache; audits of different zones must not see each other's answers.
_CHECKDMARC_LOCK = threading.Lock()


class CachedAnswers(dns.resolver.Resolver):
    def __init__(self, lookups: Iterable[Lookup]):
        super().__init__(configure=False)
        self.nameservers = ["192.0.2.1"]  # never used: resolve() below never touches the network
        self._answers = {(lookup.name, lookup.rdtype): lookup for lookup in lookups}
        self.misses: list[tuple[str, str]] = []

    def resolve(self, qname, rdtype="A", *args, **kwargs):  # noqa: D401 - dnspython's signature
        name = absolute(str(qname))
        rdtype = dns.rdatatype.to_text(dns.rdatatype.from_text(str(rdtype))) if not isinstance(
            rdtype, str
        ) else rdtype.upper()
        lookup = self._answers.get((name, rdtype))
        if lookup is None:
            self.misses.append((name, rdtype))
            raise dns.resolver.LifetimeTimeout(timeout=0.0, errors=[])
        if lookup.outcome == "nxdomain":
            raise dns.resolver.NXDOMAIN(qnames=[dns.name.from_text(name)])
        if lookup.outcome == "nodata":
            raise dns.resolver.NoAnswer()
        if lookup.failed:
            raise dns.resolver.LifetimeTimeout(timeout=0.0, errors=[])
        return [_rdata(rdtype, lookup, index) for index in range(len(lookup.values))]


def _rdata(rdtype: str, lookup: Lookup, index: int):
    if rdtype == "TXT":
        strings = lookup.txt_strings[index] if lookup.txt_strings else (lookup.values[index],)
        text = " ".join('"' + _escape(s) + '"' for s in strings)
    elif rdtype in ("MX", "CNAME", "PTR", "NS"):
        text = lookup.values[index]
    else:
        text = lookup.values[index]
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), text)


def _escape(text: str) -> str:
    out = []
    for byte in text.encode("utf-8"):
        if byte in b'"\\':
            out.append("\\" + chr(byte))
        elif byte < 32 or byte >= 127:
            out.append(f"\\{byte:03d}")
        else:
            out.append(chr(byte))
    return "".join(out)


def run_with_checkdmarc(function, *args, **kwargs):
    """Call a checkdmarc function with its global answer cache emptied before and after."""
    import checkdmarc.utils

    with _CHECKDMARC_LOCK:
        cache = getattr(checkdmarc.utils, "DNS_CACHE", None)
        if cache is not None:
            cache.clear()
        try:
            return function(*args, **kwargs)
        finally:
            if cache is not None:
                cache.clear()
