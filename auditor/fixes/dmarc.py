"""DMARC fixes: create a record, correct its syntax in place, add rua, raise the policy, authorize reports.

All edits of one `_dmarc` record go through one `DmarcPlan`, so a record that needs a correction, a rua and a
stronger policy gets ONE replacement that does all three. Tag editing helpers here are pure.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from checkdmarc.dmarc import InvalidDMARCReportURI, parse_dmarc_report_uri

from auditor.facts.base import Unknown
from auditor.facts.dmarc import POLICIES, is_dmarc_record, mailto_host, parse_dmarc, select_dmarc
from auditor.facts.orgdomain import psl_org_domain
from auditor.fixes.context import FixContext, RecordChange, explain, register

Pairs = list[tuple[str, str]]
NEXT_STEP = (
    "Next step: once the reports show your own mail passing DMARC for two to four weeks, change p=none to "
    "p=quarantine, later p=reject."
)


# -- pure tag editing ----------------------------------------------------------------------------------------


def dmarc_pairs(record: str) -> Pairs:
    """The tags after `v=DMARC1` as (lowercase name, value) pairs, as written; segments without `=` kept
    with an empty name so a correction can report and drop them."""
    pairs: Pairs = []
    for segment in record.split(";")[1:]:
        text = segment.strip(" \t")
        if not text:
            continue
        name, sep, value = text.partition("=")
        pairs.append((name.strip(" \t").lower() if sep else "", value.strip(" \t") if sep else text))
    return pairs


def build_dmarc(pairs: Pairs) -> str:
    return "; ".join(["v=DMARC1", *(f"{name}={value}" for name, value in pairs)])


def get_tag(pairs: Pairs, name: str) -> str | None:
    return next((value for tag, value in pairs if tag == name), None)


def set_tag(pairs: Pairs, name: str, value: str) -> Pairs:
    """`name=value`, replacing the tag where it is, or added right after p (after v when there is no p)."""
    if any(tag == name for tag, _ in pairs):
        return [(tag, value if tag == name else old) for tag, old in pairs]
    out = list(pairs)
    position = next((i + 1 for i, (tag, _) in enumerate(out) if tag == "p"), 0) if name != "p" else 0
    out.insert(position, (name, value))
    return out


def _valid_uri(uri: str) -> bool:
    try:
        parts = parse_dmarc_report_uri(uri)
    except InvalidDMARCReportURI:
        return False
    return parts["scheme"] != "mailto" or mailto_host(uri) is not None


def _fix_uri(uri: str) -> str | None:
    if _valid_uri(uri):
        return uri
    if "@" in uri and ":" not in uri and _valid_uri("mailto:" + uri):
        return "mailto:" + uri  # the most common slip: the address without mailto:
    return None


def correct_dmarc(record: str) -> tuple[str, list[str]]:
    """The record with every syntax error corrected or the broken tag removed, and what was done, in words.

    Invalid p → the closest policy (p=rejected → p=reject), else none; invalid sp/np, t, psd, fo, pct, ri, rf
    are removed (receivers use the defaults anyway); invalid alignment modes become r; report addresses
    without `mailto:` get it, other invalid ones are removed; repeated tags and text that is no tag=value pair
    are removed; a near-miss version (`v=dmarc1`) is written as `v=DMARC1`.
    """
    notes: list[str] = []
    if not is_dmarc_record(record):
        notes.append("writes the version exactly as v=DMARC1, first")
    pairs: Pairs = []
    for name, value in dmarc_pairs(record):
        if not name or not value:
            notes.append(f"removes {value or name!r}, which is not a tag=value pair")
            continue
        if name == "v":
            notes.append("removes the second v= tag")
            continue
        if any(tag == name for tag, _ in pairs):
            notes.append(f"removes the repeated {name}={value}")
            continue
        fixed = _correct_value(name, value)
        if fixed is None:
            notes.append(f"removes {name}={value} (not a valid value; receivers used the default)")
            continue
        if fixed != value:
            notes.append(f"changes {name}={value} to {name}={fixed}")
        pairs.append((name, fixed))
    return build_dmarc(pairs), notes


def _correct_value(name: str, value: str) -> str | None:
    if not all(0x20 <= ord(ch) < 0x7F and ch != ";" for ch in value):
        return None
    lowered = value.lower()
    if name in ("p", "sp", "np"):
        if lowered in POLICIES:
            return value
        close = difflib.get_close_matches(lowered, POLICIES, n=1, cutoff=0.6)
        return close[0] if close else ("none" if name == "p" else None)
    if name in ("adkim", "aspf"):
        if lowered in ("r", "s"):
            return value
        return "s" if lowered.startswith("s") else "r"
    if name in ("rua", "ruf"):
        uris = [u for u in (_fix_uri(uri.strip(" \t")) for uri in value.split(",") if uri.strip(" \t")) if u]
        return ",".join(uris) or None
    probe = parse_dmarc(f"v=DMARC1; p=none; {name}={value}")
    return None if probe.errors else value


# -- the plan ------------------------------------------------------------------------------------------------


@dataclass
class DmarcPlan:
    domain: str  # the domain whose _dmarc record this is
    current: str | None
    wants: dict[str, list[Any]] = field(default_factory=dict)
    policy_tag: str = "p"

    def want(self, wish: str, finding: Any) -> None:
        self.wants.setdefault(wish, [])
        if not any(f is finding for f in self.wants[wish]):
            self.wants[wish].append(finding)

    def finish(self, ctx: FixContext) -> None:
        notes: list[str] = []
        rua = default_rua(ctx)
        if self.current is None or "create" in self.wants:
            policy = "quarantine" if senders_aligned(ctx.facts) else "none"
            pairs: Pairs = [("p", policy), ("rua", rua)]
            notes.append(
                f"Publishes a DMARC policy (p={policy}) and asks receivers for daily aggregate reports at "
                f"{rua.removeprefix('mailto:')} (create that mailbox, or use an address you read)."
            )
            notes.append(
                NEXT_STEP
                if policy == "none"
                else "Every sender this audit knows is aligned, so failing mail may go to spam; later p=reject."
            )
        else:
            pairs = dmarc_pairs(self.current)
        if "correct" in self.wants and self.current is not None:
            value, changes = correct_dmarc(self.current)
            pairs = dmarc_pairs(value)
            if changes:
                notes.append("Corrects the record: " + "; ".join(changes) + ".")
            fixed_policy = get_tag(pairs, "p")
            if parse_dmarc(self.current).p is None and fixed_policy in ("quarantine", "reject"):
                notes.append(
                    f"Until now receivers ignored the broken policy; with p={fixed_policy} mail failing DMARC is "
                    f"{'rejected' if fixed_policy == 'reject' else 'sent to spam'}. If the reports do not yet show "
                    "your own mail passing, publish p=none first."
                )
        if "raise-policy" in self.wants:
            tag = self.policy_tag
            old = get_tag(pairs, tag)
            pairs = set_tag(pairs, tag, "quarantine")
            scope = {"p": "", "sp": " for subdomains", "np": " for names that do not exist"}[tag]
            notes.append(
                f"Changes {tag}={old or 'none'} to {tag}=quarantine{scope}: mail failing DMARC goes to spam. "
                "Publish this only once the DMARC reports show your own mail passing; later use p=reject."
            )
        if ("add-rua" in self.wants or "raise-policy" in self.wants) and get_tag(pairs, "rua") is None:
            pairs = set_tag(pairs, "rua", rua)
            notes.append(
                f"Adds rua={rua}: receivers send daily aggregate reports there (create that mailbox, or use an "
                "address you read)."
            )
        if "remove-pct" in self.wants and get_tag(pairs, "pct") is not None:
            notes.append(
                f"Removes pct={get_tag(pairs, 'pct')}: RFC 9989 dropped it, and older receivers let that share of "
                "failing mail through. The policy then applies to all failing mail."
            )
            pairs = [(tag, value) for tag, value in pairs if tag != "pct"]
        if "end-testing" in self.wants and get_tag(pairs, "t") is not None:
            notes.append(
                "Removes t=y: receivers then apply the policy as written. Do this once the reports show your "
                "own mail passing DMARC."
            )
            pairs = [(tag, value) for tag, value in pairs if tag != "t"]
        value = build_dmarc(pairs)
        if not parse_dmarc(value).valid:
            for findings in self.wants.values():
                for finding in findings:
                    explain(
                        finding, "inboxready could not correct this record automatically; edit it by hand."
                    )
            return
        if value == self.current:
            return
        name = f"_dmarc.{self.domain}"
        action = "add" if self.current is None else "replace"
        if self.current is not None and "create" in self.wants:
            notes.append(
                f"It replaces {self.current!r}, which receivers ignore: it does not start with v=DMARC1."
            )
        change = RecordChange(action, name, "TXT", value, self.current, False, " ".join(notes))
        for findings in self.wants.values():
            for finding in findings:
                ctx.add_record(finding, change)


def senders_aligned(facts: Any) -> bool:
    """The audit knows the relay and predicts an aligned pass for it (`align.dmarc_pass`)."""
    align = getattr(facts, "align", None)
    return getattr(align, "relay_known", False) is True and getattr(align, "dmarc_pass", None) is True


def org_domain(ctx: FixContext) -> str:
    dmarc = ctx.facts.dmarc
    if isinstance(dmarc.org_domain, str) and dmarc.org_domain:
        return dmarc.org_domain.rstrip(".")
    return ctx.target.org_domain or psl_org_domain(ctx.target.from_domain.rstrip("."))


def default_rua(ctx: FixContext) -> str:
    return f"mailto:dmarc-reports@{org_domain(ctx)}"


def near_misses(ctx: FixContext, domain: str) -> list[str]:
    """TXT values at `_dmarc.<domain>` that look like DMARC but are not (receivers ignore them)."""
    return select_dmarc(ctx.log.answered(f"_dmarc.{domain}", "TXT") or [])[1]


def dmarc_plan(ctx: FixContext, domain: str, current: str | None) -> DmarcPlan:
    return ctx.plan(f"dmarc:{domain}", lambda: DmarcPlan(domain, current))


# -- the named fixes -----------------------------------------------------------------------------------------


@register("dmarc.create")
def create(ctx: FixContext, finding: Any) -> None:
    """A record at the Organizational Domain (p=none covers its subdomains harmlessly); p=quarantine only for
    the From domain itself, when every known sender is aligned."""
    from_domain = ctx.target.from_domain.rstrip(".").lower()
    domain = from_domain if senders_aligned(ctx.facts) else org_domain(ctx)
    misses = near_misses(ctx, domain)
    dmarc_plan(ctx, domain, misses[0] if misses else None).want("create", finding)


@register("dmarc.correct")
def correct(ctx: FixContext, finding: Any) -> None:
    dmarc = ctx.facts.dmarc
    from_domain = ctx.target.from_domain.rstrip(".").lower()
    for miss in near_misses(ctx, from_domain):
        dmarc_plan(ctx, from_domain, miss).want("correct", finding)
    if isinstance(dmarc.record, str) and dmarc.record_domain and parse_dmarc(dmarc.record).errors:
        dmarc_plan(ctx, dmarc.record_domain, dmarc.record).want("correct", finding)


@register("dmarc.raise-policy")
def raise_policy(ctx: FixContext, finding: Any) -> None:
    dmarc = ctx.facts.dmarc
    if not isinstance(dmarc.record, str) or not dmarc.record_domain:
        return
    plan = dmarc_plan(ctx, dmarc.record_domain, dmarc.record)
    plan.policy_tag = dmarc.policy_tag or "p"
    plan.want("raise-policy", finding)


@register("dmarc.add-rua")
def add_rua(ctx: FixContext, finding: Any) -> None:
    dmarc = ctx.facts.dmarc
    if isinstance(dmarc.record, str) and dmarc.record_domain:
        dmarc_plan(ctx, dmarc.record_domain, dmarc.record).want("add-rua", finding)


@register("dmarc.authorize-rua")
def authorize_rua(ctx: FixContext, finding: Any) -> None:
    """The record the external report receiver must publish (RFC 9990 §4); it goes in THEIR zone."""
    dmarc = ctx.facts.dmarc
    unauthorized = dmarc.rua_unauthorized if not isinstance(dmarc.rua_unauthorized, Unknown) else []
    for destination in dmarc.destinations:
        if (
            destination.uri not in unauthorized
            or destination.authorized is not False
            or not destination.query
        ):
            continue
        note = (
            f"The operator of {destination.host} must publish this in their DNS (you cannot): it tells receivers "
            f"that {destination.host} agrees to get DMARC reports for {dmarc.record_domain}. If they will not, "
            f"send the reports to an address @{org_domain(ctx)} instead."
        )
        ctx.add_record(finding, RecordChange("add", destination.query, "TXT", "v=DMARC1;", None, False, note))


@register("dmarc.remove-pct")
def remove_pct(ctx: FixContext, finding: Any) -> None:
    dmarc = ctx.facts.dmarc
    if isinstance(dmarc.record, str) and dmarc.record_domain:
        dmarc_plan(ctx, dmarc.record_domain, dmarc.record).want("remove-pct", finding)


@register("dmarc.end-testing")
def end_testing(ctx: FixContext, finding: Any) -> None:
    dmarc = ctx.facts.dmarc
    if isinstance(dmarc.record, str) and dmarc.record_domain:
        dmarc_plan(ctx, dmarc.record_domain, dmarc.record).want("end-testing", finding)
