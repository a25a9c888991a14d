"""SPF facts for a publisher audit: the record, its include/redirect tree, the lookup cost of every branch.

RFC 7208 limits a *whole evaluation* to 10 DNS-querying terms (§4.6.4). A publisher must stay under it for
every path a receiver may take, so the count here is static over the whole tree (every include and the
redirect expanded), as §10.1.1 asks. The tree is walked concurrently: each record's lookups all start as
soon as the record is known, so the audit costs the depth of the tree, not its size.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from auditor.dns import Lookup, Resolver, absolute
from auditor.facts.base import Unknown, unknown_from
from auditor.facts.model import SpfFacts, SpfNode
from auditor.facts.spf_terms import Modifier, SpfSyntaxError, is_spf_record, parse_term

LOOKUP_LIMIT = 10
VOID_LIMIT = 2
MX_ADDRESS_LIMIT = 10
# Bounds for hostile trees (200 includes, includes of includes …): far past the limit nothing more is learnt.
MAX_NODES = 120
MAX_DEPTH = 12

DNS_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})


def select_spf(values: list[str] | tuple[str, ...]) -> list[str]:
    """RFC 7208 §4.5: keep TXT strings whose version section is exactly `v=spf1`."""
    return [value for value in values if is_spf_record(value)]


@dataclass(frozen=True)
class Term:
    """What the tree walk needs of one term, parsed by the evaluator's own grammar (`spf_terms`)."""

    text: str
    qualifier: str  # "+", "-", "~", "?" ("" for modifiers)
    name: str  # lower-case mechanism or modifier name
    value: str | None  # the domain-spec (CIDR suffixes removed) or the modifier's value
    modifier: bool

    @property
    def queries_dns(self) -> bool:
        return (not self.modifier and self.name in DNS_MECHANISMS) or (self.modifier and self.name == "redirect")


def parse_terms(record: str) -> tuple[list[Term], list[str]]:
    """Split a record into terms; return (terms, syntax problems, one per bad term). Pure."""
    terms: list[Term] = []
    problems: list[str] = []
    for text in record.split(" ")[1:]:
        if not text:
            continue
        try:
            parsed = parse_term(text)
        except SpfSyntaxError as exc:
            problems.append(str(exc))
            continue
        if isinstance(parsed, Modifier):
            terms.append(Term(text, "", parsed.name, parsed.value, modifier=True))
        else:
            terms.append(Term(text, parsed.qualifier, parsed.name, parsed.domain_spec, modifier=False))
    return terms, problems


def has_macro(value: str | None) -> bool:
    return bool(value) and "%" in value


@dataclass
class _Walk:
    resolver: Resolver
    nodes: int = 0
    truncated: bool = False


async def collect_spf(resolver: Resolver, domain: str, sending_ips: list[str] | None = None) -> SpfFacts:
    """Everything the SPF rules read about `domain`'s record and its include tree."""
    facts = SpfFacts(domain=domain)
    lookup = await resolver.query(domain, "TXT")
    if lookup.failed:
        reason = unknown_from(lookup)
        facts.status = "unknown"
        for name in ("exists", "record", "record_count", "syntax_valid", "all_qualifier", "lookup_count",
                     "void_count", "loop", "uses_ptr"):
            setattr(facts, name, reason)
        return facts
    records = select_spf(list(lookup.values))
    facts.records = records
    facts.record_count = len(records)
    facts.exists = bool(records)
    if not records:
        facts.record = None
        return facts
    record = records[0]
    facts.record = record
    facts.size = len(record.encode("utf-8"))
    index = list(lookup.values).index(record)
    strings = lookup.txt_strings[index] if lookup.txt_strings else (record,)
    facts.longest_string = max(len(s.encode("utf-8")) for s in strings)
    facts.answer_size = len(absolute(domain)) + sum(
        len(s.encode("utf-8")) + 1 for parts in lookup.txt_strings for s in parts
    )

    walk = _Walk(resolver)
    root = await _expand(walk, absolute(domain), "root", lookup, ancestors=())
    facts.tree = root
    _summarise(facts, root, walk)
    facts.syntax_errors = _syntax_errors(root) + await _checkdmarc_syntax(resolver, domain, record)
    facts.syntax_errors = list(dict.fromkeys(facts.syntax_errors))
    facts.syntax_valid = not facts.syntax_errors
    terms, _ = parse_terms(record)
    facts.redirect = next((t.value for t in terms if t.modifier and t.name == "redirect"), None)
    facts.all_qualifier = _all_qualifier(root)
    if sending_ips:
        facts.sender_results, facts.sender_failures = await _evaluate_senders(resolver, domain, sending_ips)
    return facts


async def _expand(walk: _Walk, domain: str, via: str, lookup: Lookup, ancestors: tuple[str, ...]) -> SpfNode:
    """One record and, concurrently, everything below it."""
    walk.nodes += 1
    node = SpfNode(domain=domain.rstrip("."), via=via, outcome=lookup.outcome)
    if lookup.failed:
        node.error = f"lookup failed: {lookup.outcome}"
        return node
    records = select_spf(list(lookup.values))
    if not records:
        node.error = "no SPF record"
        return node
    if len(records) > 1:
        node.error = "multiple SPF records"
    node.record = records[0]
    terms, _ = parse_terms(node.record)
    has_all = any(t.name == "all" and not t.modifier for t in terms)
    counted = [t for t in terms if t.queries_dns and not (t.modifier and has_all)]
    node.own_lookups = len(counted)

    child_jobs = []
    void_jobs = []
    for term in counted:
        target = term.value or domain
        if has_macro(target):
            continue  # depends on the sender or the IP: counted, but not resolvable statically
        target = absolute(target)
        if term.name in ("include", "redirect"):
            if target in ancestors or target == domain:
                node.children.append(
                    SpfNode(domain=target.rstrip("."), via=term.name, outcome="ok", error="include loop")
                )
                continue
            child_jobs.append((term.name, target))
        elif term.name in ("a", "mx", "exists"):
            void_jobs.append((term.name, target))

    if walk.nodes > MAX_NODES or len(ancestors) >= MAX_DEPTH:
        walk.truncated = bool(child_jobs) or walk.truncated
        child_jobs = []

    async def child(kind: str, target: str) -> SpfNode:
        sub = await walk.resolver.query(target, "TXT")
        return await _expand(walk, target, kind, sub, ancestors + (domain,))

    children, voids = await asyncio.gather(
        asyncio.gather(*(child(kind, target) for kind, target in child_jobs)),
        asyncio.gather(*(_void_and_mx(walk.resolver, kind, target) for kind, target in void_jobs)),
    )
    node.children.extend(children)
    for child_node in children:
        if child_node.outcome in ("nxdomain", "nodata"):
            node.void_lookups += 1
    mx_problems = []
    for is_void, mx_over in voids:
        node.void_lookups += int(is_void is True)
        if mx_over:
            mx_problems.append(mx_over)
    if mx_problems:
        node.error = node.error or "; ".join(mx_problems)
    node.cost = node.own_lookups + sum(c.cost for c in node.children)
    return node


async def _void_and_mx(resolver: Resolver, kind: str, target: str) -> tuple[bool | None, str | None]:
    """(is the lookup void?, mx-limit problem). None for "could not tell" (a lookup failed)."""
    if kind == "a":
        a, aaaa = await resolver.query_many([(target, "A"), (target, "AAAA")])
        if a.failed or aaaa.failed:
            return None, None
        return a.empty and aaaa.empty, None
    if kind == "exists":
        a = await resolver.query(target, "A")
        return (None if a.failed else a.empty), None
    mx = await resolver.query(target, "MX")
    if mx.failed:
        return None, None
    hosts = [value.split(" ", 1)[1] for value in mx.values if value.split(" ", 1)[1] != "."]
    # Resolve the hosts too: a receiver does, and checkdmarc's syntax pass reads them from our answers.
    await resolver.query_many([(h, t) for h in hosts[:MX_ADDRESS_LIMIT + 1] for t in ("A", "AAAA")])
    over = f"mx:{target.rstrip('.')} has {len(hosts)} MX hosts (limit {MX_ADDRESS_LIMIT})" if len(
        hosts
    ) > MX_ADDRESS_LIMIT else None
    return mx.empty, over


def _walk_nodes(node: SpfNode):
    yield node
    for child in node.children:
        yield from _walk_nodes(child)


def _summarise(facts: SpfFacts, root: SpfNode, walk: _Walk) -> None:
    nodes = list(_walk_nodes(root))
    failed = [n for n in nodes if n.error and n.error.startswith("lookup failed")]
    loops = [n for n in nodes if n.error == "include loop"]
    facts.loop = bool(loops)
    facts.loop_path = [n.domain for n in loops]
    facts.mx_over_limit = [p for n in nodes if n.error and "MX hosts" in n.error for p in n.error.split("; ")]
    facts.include_costs = {c.domain: 1 + c.cost for c in root.children if c.via in ("include", "redirect")}
    ptr_terms = []
    for n in nodes:
        if n.record:
            ptr_terms += [f"{n.domain}: {t.text}" for t in parse_terms(n.record)[0] if t.name == "ptr"]
    facts.ptr_terms = ptr_terms
    facts.uses_ptr = bool(ptr_terms)
    count = root.cost
    void = sum(n.void_lookups for n in nodes)
    if failed:
        # A lower bound already over the limit is a certain failure; otherwise we cannot say.
        reason = Unknown("; ".join(f"TXT {n.domain}: {n.error}" for n in failed[:3]))
        facts.lookup_count = count if count > LOOKUP_LIMIT else reason
        facts.void_count = void if void > VOID_LIMIT else reason
    else:
        facts.lookup_count = count
        facts.void_count = void
    if walk.truncated and isinstance(facts.lookup_count, int):
        facts.lookup_count = max(facts.lookup_count, LOOKUP_LIMIT + 1)


def _all_qualifier(node: SpfNode) -> str | None | Unknown:
    if node.record is None:
        return None
    terms, _ = parse_terms(node.record)
    for term in terms:
        if term.name == "all" and not term.modifier:
            return term.qualifier
    redirect = next((c for c in node.children if c.via == "redirect"), None)
    if redirect is None:
        return None
    if redirect.error and redirect.error.startswith("lookup failed"):
        return Unknown(f"TXT {redirect.domain}: {redirect.outcome}")
    return _all_qualifier(redirect)


def _syntax_errors(root: SpfNode) -> list[str]:
    errors = []
    for node in _walk_nodes(root):
        if node.record is None:
            if node.via != "root" and node.error == "no SPF record":
                errors.append(f"{node.via}:{node.domain} has no SPF record (a receiver returns permerror)")
            continue
        _, problems = parse_terms(node.record)
        prefix = "" if node.via == "root" else f"in {node.domain}: "
        errors += [prefix + p for p in problems]
        terms, _ = parse_terms(node.record)
        for name in ("redirect", "exp"):
            if sum(1 for t in terms if t.modifier and t.name == name) > 1:
                errors.append(f"{prefix}'{name}=' appears more than once")
    return errors


async def _checkdmarc_syntax(resolver: Resolver, domain: str, record: str) -> list[str]:
    """checkdmarc's SPF grammar over our own answers (no lookups of its own)."""
    import checkdmarc.spf

    from auditor.facts.checkdmarc_bridge import CachedAnswers, run_with_checkdmarc

    answers = CachedAnswers(resolver.log)
    try:
        run_with_checkdmarc(
            checkdmarc.spf.parse_spf_record, record, domain.rstrip("."), resolver=answers,
            ignore_too_many_lookups=True, timeout=0.1,
        )
    except checkdmarc.spf.SPFSyntaxError as exc:
        return [_clean_checkdmarc(str(exc))]
    except Exception:  # loops, limits, missing includes: we compute those ourselves, with better words
        return []
    return []


def _clean_checkdmarc(text: str) -> str:
    return " ".join(text.split())[:300]


async def _evaluate_senders(resolver: Resolver, domain: str, ips: list[str]) -> tuple[dict[str, str], list[str]]:
    from auditor.facts.spf_eval import check_host

    results = await asyncio.gather(
        *(check_host(resolver, ip, domain.rstrip("."), f"postmaster@{domain.rstrip('.')}") for ip in ips)
    )
    by_ip = {ip: r.result for ip, r in zip(ips, results, strict=True)}
    return by_ip, [ip for ip, result in by_ip.items() if result != "pass"]
