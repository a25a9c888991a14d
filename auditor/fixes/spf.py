"""SPF fixes: create, merge, replace `all`, add the relay's include, bring the lookups within the limit.

Every SPF fix adds its wish to one `SpfPlan` per record name, so when several findings want to rewrite the
same record (`spf.weak-all` and `spf.lookup-limit`, say) the audit proposes ONE final record that does
everything, linked from each finding it fixes. An existing record is edited, never duplicated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from auditor.facts.base import Unknown
from auditor.facts.model import SpfNode
from auditor.facts.orgdomain import psl_org_domain
from auditor.fixes.context import FixContext, RecordChange, explain, register
from auditor.fixes.spf_edit import (
    LOOKUP_LIMIT,
    build_record,
    count_lookups,
    flatten_addresses,
    include_term,
    insert_before_all,
    ip_terms,
    merge_records,
    redirect_to_include,
    remove_duplicates,
    set_all,
    split_terms,
    term_info,
)

SOFT_ALL = "~"
RELAY_WHERE = (
    "your relay's SPF setup page names the include (for example include:amazonses.com for Amazon SES); "
    "run inboxready with --env or --smtp so it recognises the relay and fills it in"
)


@dataclass
class SpfPlan:
    domain: str  # the record's owner name, no trailing dot
    current: str | None  # the record edited; None when there is none yet
    extra: list[str] = field(default_factory=list)  # further v=spf1 records at the name (removed by a merge)
    root: bool = False  # the envelope domain's own record (the one the rules read)
    wants: dict[str, list[Any]] = field(default_factory=dict)  # wish → findings that asked for it
    includes: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)  # terms to take out (void lookups)
    notes: list[str] = field(default_factory=list)

    def want(self, wish: str, finding: Any) -> None:
        self.wants.setdefault(wish, [])
        if not any(f is finding for f in self.wants[wish]):
            self.wants[wish].append(finding)

    def finish(self, ctx: FixContext) -> None:
        if not self.wants:
            return
        if self.root and isinstance(ctx.facts.spf.exists, Unknown):
            # The record could not be fetched: proposing one could duplicate a record we did not see.
            for finding in _unique([f for findings in self.wants.values() for f in findings]):
                explain(finding, "The SPF record could not be read, so inboxready proposes no change to it.")
            return
        placeholder, where = False, None
        fixed: list[Any] = []  # findings the final record fixes
        if self.current is None:
            terms, placeholder, where = create_terms(ctx)
            self.notes.append(
                "Creates the SPF record: it lists the servers allowed to send with a Return-Path @"
                f"{self.domain}; ~all marks everything else as suspicious (use -all once you are sure)."
            )
        else:
            terms = split_terms(self.current)
        if "merge" in self.wants and self.extra:
            terms, notes = merge_records([self.current or "", *self.extra])
            self.notes.append(
                f"Merges the {1 + len(self.extra)} SPF records into one (RFC 7208 allows one per name) and "
                "removes the others" + (f"; {'; '.join(notes)}" if notes else "") + "."
            )
        if self.remove:
            terms = [t for t in terms if t not in self.remove]
            self.notes.append(
                "Removes "
                + ", ".join(self.remove)
                + ": their names do not exist or have no records, so they "
                "match nothing but still count against the limit of 2 such lookups. If one was meant to name "
                "a real server, correct the name instead."
            )
        for include in self.includes:
            if include not in terms:
                terms = insert_before_all(terms, include)
                who = "this server's address" if include.startswith(("ip4:", "ip6:")) else "your relay"
                self.notes.append(f"Adds {include} before the all term, so {who} passes SPF.")
        if "all" in self.wants:
            terms = self._fix_all(terms)
        if "flatten-addresses" in self.wants:
            flat = flatten_addresses(terms, self.domain, ctx.log)
            if flat.replaced:
                terms = flat.terms
                self.notes.append(_addresses_note(flat.replaced))
        for wish, findings in self.wants.items():
            if wish not in ("flatten", "flatten-addresses"):
                fixed += findings
        if "flatten" in self.wants:
            terms, fits = self._flatten(ctx, terms)
            if fits:
                fixed += self.wants["flatten"]
        fixed += self.wants.get("flatten-addresses", [])
        value = build_record(terms)
        changes: list[RecordChange] = []
        note = " ".join(self.notes)
        if self.current is None:
            changes.append(RecordChange("add", self.domain, "TXT", value, None, placeholder, note, where))
        elif value != self.current:
            changes.append(RecordChange("replace", self.domain, "TXT", value, self.current, False, note))
        if "merge" in self.wants:
            for other in self.extra:
                changes.append(
                    RecordChange(
                        "remove",
                        self.domain,
                        "TXT",
                        other,
                        other,
                        False,
                        "Removes this SPF record: its terms are in the merged record.",
                    )
                )
        if not changes:
            return
        for finding in _unique(fixed):
            for change in changes:
                ctx.add_record(finding, change)

    def _fix_all(self, terms: list[str]) -> list[str]:
        old = next((t for t in terms if term_info(t).name == "all" and not term_info(t).modifier), None)
        if "redirect-to-include" in self.wants:
            terms = redirect_to_include(terms)
            self.notes.append(
                "The redirect becomes an include, because an all term disables a redirect; the included "
                "record's own all term no longer decides the result."
            )
        self.notes.append(f"Replaces {old} with ~all" if old else "Adds ~all at the end")
        self.notes[-1] += (
            ": mail from servers not listed gets SPF softfail instead of "
            + ("pass." if old and term_info(old).qualifier == "+" else "neutral.")
            + " Change it to -all once you are sure every server that sends for you is listed."
        )
        return set_all(terms, SOFT_ALL)

    def _flatten(self, ctx: FixContext, terms: list[str]) -> tuple[list[str], bool]:
        """Bring the record within 10 lookups, in the order the least risky changes come first."""
        spf = ctx.facts.spf
        tree: SpfNode | None = spf.tree
        costs = branch_costs(tree)
        findings = self.wants["flatten"]
        original = list(terms)
        before = count_lookups(terms, costs)
        costs_text = ", ".join(f"{name} {cost}" for name, cost in spf.include_costs.items())
        if costs_text:
            self.notes.append(f"Lookups per include: {costs_text}.")
        steps: list[str] = []

        terms, repeats = remove_duplicates(terms)
        nested = nested_duplicates(terms, tree)
        terms = [t for t in terms if t not in nested]
        if repeats or nested:
            steps.append(
                "removes terms listed twice ("
                + ", ".join(repeats + [f"{t}, already included through {nested[t]}" for t in nested])
                + ")"
            )
        if count_lookups(terms, costs).total > LOOKUP_LIMIT:
            flat = flatten_addresses(terms, self.domain, ctx.log, ctx.target.sending_ips)
            if flat.replaced:
                terms = flat.terms
                steps.append(_addresses_note(flat.replaced, sentence=False))
        own_records: list[SpfNode] = []
        if count_lookups(terms, costs).total > LOOKUP_LIMIT and tree is not None:
            own_records = self._flatten_own_includes(ctx, terms, costs, tree)
            steps += [
                f"replaces a/mx terms with addresses in {node.domain}, which your record uses"
                for node in own_records
            ]
        if count_lookups(terms, costs).total > LOOKUP_LIMIT:
            terms, dropped = self._drop_unneeded_includes(ctx, terms, costs)
            if dropped:
                steps.append(
                    "removes "
                    + ", ".join(dropped)
                    + f" (not needed by {ctx.provider.name}: check that "
                    + " and ".join(d.split(":", 1)[1] for d in dropped)
                    + " no longer sends mail for you before you publish this)"
                )
        after = count_lookups(terms, costs)
        if after.total > LOOKUP_LIMIT:
            explain_over_limit(ctx, findings, after.total, before.total)
            return original, False
        unknown = f" plus what {', '.join(after.unknown)} needs" if after.unknown else ""
        summary = (
            f"To stay within {LOOKUP_LIMIT} DNS lookups (now {before.total}, then {after.total}{unknown}) "
            f"the SPF of {self.domain} " + "; ".join(steps) + "."
        )
        self.notes.append(summary)
        for node in own_records:  # only now: a record that still does not fit changes nothing
            plan = spf_plan(ctx, node.domain, node.record)
            plan.notes.append(summary)
            for finding in findings:
                plan.want("flatten-addresses", finding)
        return terms, True

    def _flatten_own_includes(
        self, ctx: FixContext, terms: list[str], costs: dict[str, int], tree: SpfNode
    ) -> list[SpfNode]:
        """Records in your own domain that this record includes or redirects to, whose a/mx terms can become
        addresses; `costs` is updated with what that saves."""
        chosen: list[SpfNode] = []
        for child in sorted(tree.children, key=lambda c: -c.cost):
            if count_lookups(terms, costs).total <= LOOKUP_LIMIT:
                break
            if child.record is None or child.error or not controlled(ctx, child.domain):
                continue
            child_terms = split_terms(child.record)
            flat = flatten_addresses(child_terms, child.domain, ctx.log)
            if not flat.replaced:
                continue
            saved = count_lookups(child_terms, {}).total - count_lookups(flat.terms, {}).total
            costs[child.domain.lower()] = costs.get(child.domain.lower(), 0) - saved
            chosen.append(child)
        return chosen

    def _drop_unneeded_includes(
        self, ctx: FixContext, terms: list[str], costs: dict[str, int]
    ) -> tuple[list[str], list[str]]:
        """Includes the relay does not need, costliest first; only when the relay is known, never silently."""
        provider = ctx.provider
        if provider is None:
            return terms, []
        needed = set(provider.spf.accepted)
        own = provider.spf_include(ctx.provider_values())
        if own is not None:
            needed.add(own.text)
        candidates = []
        for text in terms:
            info = term_info(text)
            if (
                not info.modifier
                and info.name == "include"
                and info.value
                and info.value.lower() not in needed
            ):
                candidates.append((costs.get(info.value.lower(), 0) + 1, text))
        dropped: list[str] = []
        for _, text in sorted(candidates, key=lambda c: -c[0]):
            if count_lookups(terms, costs).total <= LOOKUP_LIMIT:
                break
            terms = [t for t in terms if t != text]
            dropped.append(text)
        return terms, dropped


def _unique(findings: list[Any]) -> list[Any]:
    out: list[Any] = []
    for finding in findings:
        if not any(f is finding for f in out):
            out.append(finding)
    return out


def explain_over_limit(ctx: FixContext, findings: list[Any], total: int, before: int) -> None:
    spf = ctx.facts.spf
    costs = ", ".join(f"{name} costs {cost}" for name, cost in spf.include_costs.items())
    if ctx.provider is None:
        why = (
            "inboxready does not know your relay, so it will not guess which includes you still need"
            " (run it with --env or --smtp)"
        )
    else:
        why = f"even without the includes {ctx.provider.name} does not need"
    text = (
        f"inboxready found no record that fits: after removing what it safely can, {total} lookups remain "
        f"(now {before}); {why}. {('Per include: ' + costs + '. ') if costs else ''}Remove includes of services "
        "that no longer send for you, or ask a provider for a shorter include."
    )
    for finding in findings:
        explain(finding, text)


def _addresses_note(replaced: dict[str, list[str]], sentence: bool = True) -> str:
    parts = [
        f"{term} → {' '.join(ips) if ips else 'nothing (it matches no address)'}"
        for term, ips in replaced.items()
    ]
    text = (
        "replaces terms with the addresses they resolve to today (" + "; ".join(parts) + "). Needs upkeep: "
        "when these addresses change, this record must change too"
    )
    return (text[0].upper() + text[1:] + ".") if sentence else text


def branch_costs(tree: SpfNode | None) -> dict[str, int]:
    """Include/redirect domain → lookups inside its record tree, from the audit's SPF tree."""
    costs: dict[str, int] = {}
    if tree is None:
        return costs
    stack = list(tree.children)
    while stack:
        node = stack.pop()
        if node.via in ("include", "redirect") and node.error != "include loop":
            costs.setdefault(node.domain.lower().rstrip("."), node.cost)
        stack.extend(node.children)
    return costs


def nested_duplicates(terms: list[str], tree: SpfNode | None) -> dict[str, str]:
    """Top-level includes that another top-level include already includes (with `+`): term → the other one."""
    if tree is None:
        return {}
    top = {}
    for text in terms:
        info = term_info(text)
        if not info.modifier and info.name == "include" and info.qualifier == "+" and info.value:
            top[info.value.lower().rstrip(".")] = text
    found: dict[str, str] = {}
    for child in tree.children:
        if child.via != "include" or child.domain.lower() not in top or top[child.domain.lower()] in found:
            continue
        for below in _pass_includes(child, set()):
            if below in top and below != child.domain.lower() and top[below] not in found:
                found[top[below]] = top[child.domain.lower()]
    return found


def _pass_includes(node: SpfNode, seen: set[str]) -> set[str]:
    if node.record is None or node.domain in seen:
        return set()
    seen.add(node.domain)
    plus = {
        (term_info(t).value or "").lower().rstrip(".")
        for t in split_terms(node.record)
        if term_info(t).name == "include" and term_info(t).qualifier == "+"
    }
    found: set[str] = set()
    for child in node.children:
        if child.via == "include" and child.domain.lower() in plus:
            found.add(child.domain.lower())
            found |= _pass_includes(child, seen)
    return found


def controlled(ctx: FixContext, domain: str) -> bool:
    """A name in the audited organisation's own domain, whose records the user can change."""
    envelope = ctx.target.envelope_domain.rstrip(".").lower()
    org = (ctx.target.org_domain or psl_org_domain(envelope)).rstrip(".").lower()
    domain = domain.rstrip(".").lower()
    return domain == org or domain.endswith("." + org)


def create_terms(ctx: FixContext) -> tuple[list[str], bool, str | None]:
    """The terms of a new record: the relay's include and/or the server's own addresses."""
    terms: list[str] = []
    provider = ctx.provider
    if provider is not None:
        include = provider.spf_include(ctx.provider_values())
        if include is not None and not include.placeholder:
            terms.append(include_term(include.text))
    if ctx.target.self_hosted and ctx.target.sending_ips:
        terms += ip_terms("+", ctx.target.sending_ips)
    if terms:
        return [*terms, f"{SOFT_ALL}all"], False, None
    return ["include:<your relay's SPF domain>", f"{SOFT_ALL}all"], True, RELAY_WHERE


def spf_plan(ctx: FixContext, domain: str | None = None, current: str | None = None) -> SpfPlan:
    """The plan for the envelope domain's record (default) or for another SPF record the user controls."""
    spf = ctx.facts.spf
    root_domain = spf.domain.rstrip(".").lower()
    name = (domain or root_domain).rstrip(".").lower()
    if name == root_domain:
        records = list(spf.records)
        return ctx.plan(
            f"spf:{name}",
            lambda: SpfPlan(name, records[0] if records else None, records[1:], root=True),
        )
    return ctx.plan(f"spf:{name}", lambda: SpfPlan(name, current))


# -- the named fixes -----------------------------------------------------------------------------------------


@register("spf.create")
def create(ctx: FixContext, finding: Any) -> None:
    spf_plan(ctx).want("create", finding)


@register("spf.merge")
def merge(ctx: FixContext, finding: Any) -> None:
    spf_plan(ctx).want("merge", finding)


@register("spf.replace-all")
def replace_all(ctx: FixContext, finding: Any) -> None:
    """Replace `+all`/`?all` (or add a missing `all`) where the deciding `all` actually is."""
    node = ctx.facts.spf.tree
    while node is not None and node.record is not None:
        terms = split_terms(node.record)
        if any(term_info(t).name == "all" and not term_info(t).modifier for t in terms):
            break
        redirect = next((c for c in node.children if c.via == "redirect"), None)
        if redirect is None or redirect.record is None:
            break
        node = redirect
    if node is None or node.via == "root":
        spf_plan(ctx).want("all", finding)
    elif controlled(ctx, node.domain):
        spf_plan(ctx, node.domain, node.record).want("all", finding)
    elif any(
        term_info(t).name == "all" and term_info(t).qualifier == "+" for t in split_terms(node.record or "")
    ):
        # An include of a +all record still lets everyone pass: only its operator can fix it.
        explain(
            finding,
            f"The +all is in {node.domain}, which your record redirects to and which you do not control: ask its "
            "operator to fix it, or list your senders in your own record instead of redirecting there.",
        )
    else:
        plan = spf_plan(ctx)
        plan.want("all", finding)
        plan.want("redirect-to-include", finding)


@register("spf.flatten")
def flatten(ctx: FixContext, finding: Any) -> None:
    spf_plan(ctx).want("flatten", finding)


@register("spf.add-include")
def add_include(ctx: FixContext, finding: Any) -> None:
    """What the relay needs, added to the existing record before its `all` (or a new record): the provider's
    include, or for a self-hosted server its own addresses."""
    spf = ctx.facts.spf
    if spf.relay_check == "own-ip" or (ctx.provider is not None and ctx.provider.self_hosted):
        addresses = spf.sender_failures or ctx.target.sending_ips
        terms = ip_terms("+", addresses)
        if not terms:
            explain(finding, "inboxready does not know this server's public address; add it as ip4:/ip6:.")
            return
    else:
        include = spf.relay_include
        if not include and ctx.provider is not None:
            rendered = ctx.provider.spf_include(ctx.provider_values())
            include = rendered.text if rendered is not None and not rendered.placeholder else None
        if not include:
            explain(
                finding, "inboxready does not know the include your relay needs; its SPF setup page names it."
            )
            return
        terms = [include_term(include)]
    plan = spf_plan(ctx)
    plan.includes += [t for t in terms if t not in plan.includes]
    plan.want("include", finding)


@register("spf.remove-void")
def remove_void(ctx: FixContext, finding: Any) -> None:
    """Terms of the record whose lookups found nothing (NXDOMAIN or no data) are removed: they never match."""
    spf = ctx.facts.spf
    if spf.tree is None or spf.tree.record is None:
        return
    void = void_terms(ctx, spf.tree)
    count = spf.void_count if isinstance(spf.void_count, int) else None
    if not void or count is None or count - len(void) > spf.void_limit:
        explain(
            finding,
            "The terms that find nothing are not all in your own record; remove the include that leads to them.",
        )
        return
    plan = spf_plan(ctx)
    plan.remove += [t for t in void if t not in plan.remove]
    plan.want("remove-void", finding)


def void_terms(ctx: FixContext, node: SpfNode) -> list[str]:
    """The record's a, mx, exists and include terms whose lookups were answered with nothing."""
    children = {(c.via, c.domain.lower()): c for c in node.children}
    found = []
    for text in split_terms(node.record or ""):
        info = term_info(text)
        if info.modifier or info.name not in ("a", "mx", "exists", "include"):
            continue
        target = (info.value or node.domain).lower().rstrip(".")
        if "%" in target:
            continue
        if info.name == "include":
            child = children.get(("include", target))
            empty = child is not None and child.outcome in ("nxdomain", "nodata")
        elif info.name == "a":
            empty = ctx.log.addresses(target) == []
        elif info.name == "mx":
            empty = ctx.log.answered(target, "MX") == []
        else:
            empty = ctx.log.answered(target, "A") == []
        if empty:
            found.append(text)
    return found
