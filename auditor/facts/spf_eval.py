"""RFC 7208 `check_host()`: what a receiver would decide for one client IP and envelope sender.

The evaluation mirrors §4–§7 exactly, because a user's "will my mail pass SPF?" must get the answer the
receiving server gets:
- record selection (§4.5), domain checks (§4.3), a full syntax check before any term is evaluated (§4.6);
- terms left to right; the lookups of one term (the address lookups of `mx`, the name checks of `ptr`)
  go out concurrently;
- one budget of 10 DNS-querying terms for the whole evaluation, includes and redirects included; at most
  10 MX hosts per `mx` term (permerror), at most 10 PTR names per `ptr` / `%{p}` (the rest ignored), at most
  2 void lookups (permerror) (§4.6.4);
- DNS trouble (timeout, SERVFAIL, ...) is `temperror`, never "no record"; NXDOMAIN inside a mechanism means
  "no records" (§5);
- `exp=` is fetched only after a `fail` of the record that holds it (§6.2).

DNS goes only through `auditor.dns.Resolver.query()`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import dns.reversename

from auditor.dns import Lookup, Resolver
from auditor.errors import AuditorError
from auditor.facts.spf_terms import (
    EXP_MACRO_LETTERS,
    MacroToken,
    Mechanism,
    SpfRecord,
    SpfSyntaxError,
    expand_macros,
    is_spf_record,
    macro_letters,
    parse_macro_string,
    parse_record,
    truncate_domain,
)

MAX_DNS_TERMS = 10  # §4.6.4: include, a, mx, ptr, exists and redirect, over the whole evaluation
MAX_MX_HOSTS = 10  # §4.6.4: address lookups per `mx` term; more is a permerror
MAX_PTR_NAMES = 10  # §4.6.4: PTR names checked per `ptr` / %{p}; the rest are ignored
MAX_VOID_LOOKUPS = 2  # §4.6.4: SHOULD, default 2

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass
class SpfResult:
    result: str  # none | neutral | pass | fail | softfail | temperror | permerror
    explanation: str | None = None  # the expanded exp= text after a fail, else None
    mechanism: str | None = None  # the term that matched, as written, e.g. "include:_spf.example.net"
    lookups: int = 0  # DNS-querying terms evaluated (the limit is 10)
    void_lookups: int = 0  # term lookups that found nothing (NXDOMAIN or no records; the limit is 2)
    # Why permerror/temperror (or none), in plain words; also terms skipped because their target name cannot
    # be looked up (empty or over-long label), which RFC 7208 leaves undefined and we treat as "no match".
    problems: list[str] = field(default_factory=list)


async def check_host(
    resolver: Resolver,
    ip: str,
    domain: str,
    sender: str,
    helo: str | None = None,
    *,
    receiver: str = "inboxready.invalid",
) -> SpfResult:
    """The SPF result for mail from `sender` (MAIL FROM, or postmaster@HELO) sent by `ip`, checked at `domain`.

    Raises `AuditorError` only when `ip` is not an IP address; DNS trouble ends as `temperror`.
    """
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        raise AuditorError(f"{ip!r} is not an IP address") from None
    # §5 (and the suite's ip4-mapped tests): an IPv4-mapped IPv6 client is an IPv4 client.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    evaluation = _Evaluation(resolver, address, domain, sender, helo, receiver)
    try:
        outcome = await evaluation.check(domain, want_explanation=True)
    except _Abort as abort:
        evaluation.problems.append(abort.problem)
        outcome = _Outcome(abort.result)
    return SpfResult(
        result=outcome.result,
        explanation=outcome.explanation if outcome.result == "fail" else None,
        mechanism=outcome.mechanism,
        lookups=evaluation.lookups,
        void_lookups=evaluation.void_lookups,
        problems=evaluation.problems,
    )


def is_valid_domain(name: str) -> bool:
    """§4.3: a name check_host() can work with; anything else gives `none`.

    At least two labels, each 1–63 characters, 253 in all; not a domain literal ("[192.0.2.1]") and not an
    IP address (an all-numeric last label).
    """
    name = name[:-1] if name.endswith(".") else name
    if not name or name.startswith("[") or not _queryable(name):
        return False
    labels = name.split(".")
    return len(labels) >= 2 and not labels[-1].isdigit()


def _queryable(name: str) -> bool:
    """Whether a DNS question can be made from the name (no empty or over-long label, ≤ 253 chars)."""
    name = name[:-1] if name.endswith(".") else name
    return 0 < len(name) <= 253 and all(0 < len(label) <= 63 for label in name.split("."))


def ip6_nibbles(address: ipaddress.IPv6Address) -> str:
    """The `i` macro for IPv6 (§7.3): 32 dot-separated nibbles, upper case as the RFC 7208 suite expects."""
    return ".".join(address.exploded.replace(":", "").upper())


@dataclass
class _Outcome:
    result: str
    mechanism: str | None = None
    explanation: str | None = None


class _Abort(Exception):
    """A permerror or temperror: it ends the whole evaluation, includes and redirects included."""

    def __init__(self, result: str, problem: str):
        super().__init__(problem)
        self.result = result
        self.problem = problem


def _permerror(problem: str) -> _Abort:
    return _Abort("permerror", problem)


def _temperror(lookup: Lookup) -> _Abort:
    detail = f": {lookup.error}" if lookup.error else ""
    return _Abort(
        "temperror", f"the DNS lookup of {lookup.rdtype} {lookup.name} failed ({lookup.outcome}{detail})"
    )


class _Evaluation:
    """The state one check_host() call shares across its includes and redirects."""

    def __init__(
        self, resolver: Resolver, ip: IPAddress, domain: str, sender: str, helo: str | None, receiver: str
    ):
        self.resolver = resolver
        self.ip = ip
        self.helo = helo or "unknown"
        self.receiver = receiver
        # §4.3: no local-part → "postmaster"; a sender without '@' is taken as a bare domain.
        local, at, sender_domain = sender.rpartition("@")
        if not at:
            local, sender_domain = "", sender
        sender_domain = sender_domain or domain
        self.local_part = local or "postmaster"
        self.sender_domain = sender_domain
        self.sender = f"{self.local_part}@{sender_domain}"
        self.lookups = 0
        self.void_lookups = 0
        self.problems: list[str] = []
        self._validated_ptr: list[str] | None = None  # for %{p}: every validated name, in PTR order

    # -- check_host() proper -----------------------------------------------------------------------------

    async def check(self, domain: str, *, want_explanation: bool) -> _Outcome:
        """check_host() for one domain; permerror and temperror are raised as `_Abort`."""
        domain = domain[:-1] if domain.endswith(".") else domain
        if not is_valid_domain(domain):
            self.problems.append(f"{domain!r} is not a valid domain name, so it has no SPF record")
            return _Outcome("none")
        lookup = await self._query(domain, "TXT")
        if lookup.failed:
            raise _temperror(lookup)
        records = [txt for txt in lookup.values if is_spf_record(txt)]
        if not records:
            return _Outcome("none")
        if len(records) > 1:
            raise _permerror(f"{domain} has {len(records)} SPF records; there must be exactly one")
        try:
            record = parse_record(records[0])
        except SpfSyntaxError as exc:
            raise _permerror(f"the SPF record of {domain} is invalid: {exc}") from None
        outcome = await self._evaluate(record, domain)
        if outcome is None:
            if record.redirect is None or record.has_all:
                return _Outcome("neutral")  # §4.7: no match and no redirect
            self._count_dns_term(record.redirect.text)
            target = await self._expand_domain(record.redirect.tokens, domain)
            # §6.1: the redirect's result is the result, exp included; "none" there is a permerror.
            redirected = await self.check(target, want_explanation=want_explanation)
            if redirected.result == "none":
                raise _permerror(f"redirect target {target!r} (from {domain}) has no SPF record")
            return redirected
        if outcome.result == "fail" and want_explanation and record.explanation is not None:
            outcome.explanation = await self._explanation(record.explanation.tokens, domain)
        return outcome

    async def _evaluate(self, record: SpfRecord, domain: str) -> _Outcome | None:
        for mechanism in record.mechanisms:
            if await self._matches(mechanism, domain):
                return _Outcome(mechanism.result, mechanism.text)
        return None

    async def _matches(self, mechanism: Mechanism, domain: str) -> bool:
        name = mechanism.name
        if name == "all":
            return True
        if name in ("ip4", "ip6"):
            return mechanism.network is not None and self.ip in mechanism.network
        self._count_dns_term(mechanism.text)
        target = domain
        if mechanism.domain_spec is not None:
            target = await self._expand_domain(mechanism.domain_tokens, domain)
        if name == "include":
            inner = await self.check(target, want_explanation=False)
            if inner.result == "none":
                raise _permerror(f"included domain {target!r} has no SPF record")
            return inner.result == "pass"  # §5.2: fail, softfail and neutral do not match
        if not _queryable(target):
            # A name no DNS question can carry (empty or over-long label): nothing exists there.
            self.problems.append(f"{mechanism.text}: {target!r} is not a usable domain name; no match")
            return False
        if name == "a":
            return await self._a_matches(target, mechanism)
        if name == "mx":
            return await self._mx_matches(target, mechanism)
        if name == "ptr":
            return await self._ptr_matches(target)
        # exists: an A query whatever the client's address family (§5.7).
        lookup = self._checked(await self._query(target, "A"))
        return not self._void(lookup)

    async def _a_matches(self, target: str, mechanism: Mechanism) -> bool:
        lookup = self._checked(await self._query(target, self._address_type))
        if self._void(lookup):
            return False
        return self._in_addresses(lookup.values, mechanism)

    async def _mx_matches(self, target: str, mechanism: Mechanism) -> bool:
        lookup = self._checked(await self._query(target, "MX"))
        if self._void(lookup):
            return False
        hosts = []
        for value in lookup.values:
            host = value.split(" ", 1)[1] if " " in value else value
            if host != ".":  # a null MX (RFC 7505) names no host
                hosts.append(host)
        if len(hosts) > MAX_MX_HOSTS:
            raise _permerror(
                f"{mechanism.text}: {target} has {len(hosts)} MX hosts; at most {MAX_MX_HOSTS} may be looked up"
            )
        answers = await asyncio.gather(*(self._query(host, self._address_type, raw=False) for host in hosts))
        for answer in answers:
            self._checked(answer)
        return any(self._in_addresses(answer.values, mechanism) for answer in answers)

    async def _ptr_matches(self, target: str) -> bool:
        target = target.lower()
        lookup = await self._query(self._reverse_name, "PTR", raw=False)
        if lookup.failed:
            return False  # §5.5: a DNS error in the PTR lookup means no match, not temperror
        if self._void(lookup):
            return False
        names = [_plain(value) for value in lookup.values[:MAX_PTR_NAMES]]
        candidates = [n for n in names if n == target or n.endswith("." + target)]
        return bool(await self._validate(candidates))

    async def _validate(self, names: Sequence[str]) -> list[str]:
        """The names (in order) whose forward addresses include the client IP; DNS errors skip a name (§5.5)."""
        answers = await asyncio.gather(*(self._query(name, self._address_type) for name in names))
        return [
            name
            for name, answer in zip(names, answers, strict=True)
            if answer.outcome == "ok" and any(_same_ip(value, self.ip) for value in answer.values)
        ]

    # -- limits ------------------------------------------------------------------------------------------

    def _count_dns_term(self, term: str) -> None:
        self.lookups += 1
        if self.lookups > MAX_DNS_TERMS:
            raise _permerror(
                f"more than {MAX_DNS_TERMS} DNS-querying terms (include, a, mx, ptr, exists, redirect) are "
                f"needed; the limit was passed at {term!r}"
            )

    def _void(self, lookup: Lookup) -> bool:
        """True when a term's lookup found nothing; counts it toward the void-lookup limit."""
        if not lookup.empty and lookup.values:
            return False
        self.void_lookups += 1
        if self.void_lookups > MAX_VOID_LOOKUPS:
            raise _permerror(
                f"more than {MAX_VOID_LOOKUPS} lookups found nothing (the last: {lookup.rdtype} {lookup.name})"
            )
        return True

    @staticmethod
    def _checked(lookup: Lookup) -> Lookup:
        if lookup.failed:
            raise _temperror(lookup)
        return lookup

    # -- DNS and addresses -------------------------------------------------------------------------------

    async def _query(self, name: str, rdtype: str, *, raw: bool = True) -> Lookup:
        """`raw` names come from SPF text: a backslash there is a character, not a DNS escape."""
        if raw:
            name = name.replace("\\", "\\\\")
        return await self.resolver.query(name, rdtype)

    @property
    def _address_type(self) -> str:
        return "A" if self.ip.version == 4 else "AAAA"

    @property
    def _reverse_name(self) -> str:
        return dns.reversename.from_address(str(self.ip)).to_text()

    def _in_addresses(self, values: Sequence[str], mechanism: Mechanism) -> bool:
        prefix = mechanism.cidr4 if self.ip.version == 4 else mechanism.cidr6
        for value in values:
            try:
                network = ipaddress.ip_network(f"{value}/{prefix}", strict=False)
            except ValueError:
                continue
            if network.version == self.ip.version and self.ip in network:
                return True
        return False

    # -- macros ------------------------------------------------------------------------------------------

    async def _expand_domain(self, tokens: Sequence[MacroToken], domain: str) -> str:
        return truncate_domain(await self._expand(tokens, domain))

    async def _expand(self, tokens: Sequence[MacroToken], domain: str) -> str:
        letters = macro_letters(tokens)
        values = {
            "s": self.sender,
            "l": self.local_part,
            "o": self.sender_domain,
            "d": domain,
            "i": str(self.ip) if self.ip.version == 4 else ip6_nibbles(self.ip),
            "v": "in-addr" if self.ip.version == 4 else "ip6",
            "h": self.helo,
            "c": str(self.ip),
            "r": self.receiver,
            "t": str(int(time.time())),
        }
        if "p" in letters:
            values["p"] = await self._validated_domain(domain)
        return expand_macros(tokens, values)

    async def _validated_domain(self, domain: str) -> str:
        """%{p} (§7.3): a validated PTR name, preferring <domain> itself, then a subdomain; else "unknown"."""
        if self._validated_ptr is None:
            lookup = await self._query(self._reverse_name, "PTR", raw=False)
            names = [_plain(v) for v in lookup.values[:MAX_PTR_NAMES]] if lookup.outcome == "ok" else []
            self._validated_ptr = await self._validate(names)
        domain = domain.lower()
        validated = self._validated_ptr
        for choice in (
            [n for n in validated if n == domain],
            [n for n in validated if n.endswith("." + domain)],
            validated,
        ):
            if choice:
                return choice[0]
        return "unknown"

    async def _explanation(self, tokens: Sequence[MacroToken], domain: str) -> str | None:
        """The exp= text (§6.2), or None whenever the RFC says to carry on as if there were no exp=."""
        target = await self._expand_domain(tokens, domain)
        if not _queryable(target):
            return None
        lookup = await self._query(target, "TXT")
        if lookup.outcome != "ok" or len(lookup.values) != 1:
            return None
        try:
            text_tokens = parse_macro_string(lookup.values[0], letters=EXP_MACRO_LETTERS, allow_space=True)
        except SpfSyntaxError:
            return None  # includes non-ASCII text (§6.2: explanation text is 7-bit ASCII)
        return await self._expand(text_tokens, domain)


def _plain(name: str) -> str:
    """A name from a DNS answer without the trailing dot, lowercase."""
    return name.lower().rstrip(".")


def _same_ip(value: str, ip: IPAddress) -> bool:
    try:
        return ipaddress.ip_address(value) == ip
    except ValueError:
        return False
