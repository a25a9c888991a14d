"""DKIM facts: probe selectors concurrently, follow CNAMEs, parse key records (RFC 6376 §3.6.1, RFC 8301, RFC 8463).

Which selectors are probed (`selectors_to_probe`): the ones the user named (`--dkim-selector`, origin "user"),
the provider's own selectors (origin "provider"), and a short list of common names (origin "common"; a
per-account provider's usual names count as guesses too). A selector name cannot be enumerated from DNS, so
a miss at a guessed name proves nothing; only a miss at a selector the user or the provider named does.

How the verdict `exists` is formed, so that a non-expert admin gets neither a false alarm nor a false "all good":
- any key record found (revoked ones included) → True;
- otherwise, a user or provider selector whose lookup failed (timeout, SERVFAIL…) → Unknown: we could not
  look where the key should be;
- otherwise, user or provider selectors were checked and all answered "no record" → False, even if some
  common guesses timed out: the key the relay needs is not where it must be, whatever else exists;
- otherwise (common guesses only): any failed guess → Unknown (the key may sit exactly there), all answered
  → False, with `only_guessed` True so rules can say "none found at the usual names; pass --dkim-selector"
  instead of asserting the key is missing.
A TXT at a *guessed* name that is not a DKIM key at all (no `p=`, e.g. a wildcard `*.domain TXT "v=spf1 …"`)
is treated as "no key there", not as a broken key; at a user or provider selector it is a syntax error.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import textwrap
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

from auditor.dns import Lookup, Resolver
from auditor.errors import AuditorError
from auditor.facts.base import Unknown, unknown_from
from auditor.facts.model import DkimFacts, DkimSelectorResult

# Short list from standards.md §3.5: the names big senders and common software use. Not a brute force.
COMMON_SELECTORS: list[str] = [
    "default", "mail", "dkim", "google", "selector1", "selector2", "k1", "s1", "s2", "mandrill", "smtpapi",
    "mailjet", "resend", "fm1", "pm",
]  # fmt: skip

USER, PROVIDER, COMMON = "user", "provider", "common"
KEY_TYPES = ("rsa", "ed25519")
INSECURE_BELOW = 1024  # RFC 8301 §3.2: verifiers MUST NOT accept smaller RSA keys
WEAK_BELOW = 2048  # RFC 8301 §3.2: signers SHOULD use at least 2048 bits
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_SELECTOR = re.compile(
    r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*"
)


@dataclass
class DkimKey:
    """One parsed key record. `errors` are plain English; a record with errors is ignored by receivers."""

    record: str
    tags: dict[str, str] = field(default_factory=dict)
    version_ok: bool = True  # v= absent, or DKIM1 and first
    key_type: str | None = "rsa"  # k= (default rsa); the raw value when unknown
    bits: int | None = None  # RSA modulus bits, 256 for ed25519
    revoked: bool = False  # empty p=
    testing: bool = False  # t= has y
    strict: bool = False  # t= has s
    hashes: list[str] = field(default_factory=list)  # h=, empty = all allowed
    services: list[str] = field(default_factory=list)  # s=, empty = * (all)
    errors: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """The record parses and its key can be read (a revoked key is valid but unusable)."""
        return not self.errors

    @property
    def usable(self) -> bool:
        return self.valid and not self.revoked


def parse_dkim_key(record: str) -> DkimKey:
    """Parse the TXT value at `<selector>._domainkey.<domain>` (strings already joined). Pure."""
    key = DkimKey(record=record)
    tags, errors = _tag_list(record)
    key.tags, key.errors = tags, errors
    names = list(tags)

    if "v" in tags:
        if names[0] != "v":
            key.version_ok = False
            key.errors.append("v=DKIM1 must be the first tag")
        if tags["v"] != "DKIM1":
            key.version_ok = False
            key.errors.append(f"v={tags['v']} is not DKIM1 (tags are separated by ';')")

    key.key_type = tags.get("k", "rsa").lower() or None
    if key.key_type not in KEY_TYPES:
        key.errors.append(f"k={tags.get('k', '')} is not a known key type (use rsa or ed25519)")

    key.hashes = _colon_list(tags.get("h"))
    if key.hashes and "sha256" not in key.hashes:
        key.errors.append(f"h={tags['h']} does not allow sha256; sha1 is no longer accepted (RFC 8301)")
    key.services = _colon_list(tags.get("s"))
    if key.services and not {"*", "email"} & set(key.services):
        key.errors.append(f"s={tags['s']} means this key is not for e-mail (s= needs email or *)")
    flags = _colon_list(tags.get("t"))
    key.testing, key.strict = "y" in flags, "s" in flags

    if "p" not in tags:
        key.errors.append("p= (the public key) is missing")
        return key
    p = "".join(tags["p"].split())
    if not p:
        key.revoked = True
        return key
    der = _b64(p)
    if der is None:
        key.errors.append("p= is not valid base64")
        return key
    if key.key_type == "rsa":
        bits = _rsa_bits(der)
        if bits is None:
            key.errors.append("p= is not an RSA public key (the key data is damaged or incomplete)")
        key.bits = bits
    elif key.key_type == "ed25519":
        if len(der) == 32:
            key.bits = 256
        else:
            key.errors.append(f"p= is not an ed25519 key (expected 32 bytes, found {len(der)})")
    return key


def _tag_list(record: str) -> tuple[dict[str, str], list[str]]:
    """RFC 6376 §3.2 tag-list: `name=value; …`, whitespace around names and values ignored."""
    tags: dict[str, str] = {}
    errors: list[str] = []
    for part in record.split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not _TAG_NAME.fullmatch(name):
            errors.append(f"{part.strip()[:40]!r} is not a tag=value pair")
            continue
        if name in tags:
            errors.append(f"{name}= appears more than once")
            continue
        tags[name] = value.strip()
    return tags, errors


def _colon_list(value: str | None) -> list[str]:
    if value is None:
        return []
    return [item.strip().lower() for item in value.split(":") if item.strip()]


def _b64(text: str) -> bytes | None:
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _rsa_bits(der: bytes) -> int | None:
    """Modulus bits of an SPKI or a bare PKCS#1 RSAPublicKey (dkimpy accepts both)."""
    try:
        public = load_der_public_key(der)
    except (ValueError, TypeError):
        pem = "-----BEGIN RSA PUBLIC KEY-----\n" + "\n".join(
            textwrap.wrap(base64.b64encode(der).decode(), 64)
        )
        try:
            public = load_pem_public_key((pem + "\n-----END RSA PUBLIC KEY-----\n").encode())
        except (ValueError, TypeError):
            return None
    if not isinstance(public, rsa.RSAPublicKey):
        return None
    return public.key_size


# -- Which selectors --------------------------------------------------------------------------------------


def normalise_selector(text: str) -> str:
    """A `--dkim-selector` value → the bare selector; `s1._domainkey.example.org` is accepted too."""
    selector = text.strip().rstrip(".").lower()
    selector = selector.split("._domainkey", 1)[0]
    if not selector or not _SELECTOR.fullmatch(selector):
        raise AuditorError(
            f"--dkim-selector {text!r}: a selector is a name such as s1 or google "
            "(letters, digits, dashes and dots), as in s=… of a DKIM-Signature header"
        )
    return selector


def selectors_to_probe(
    user: list[str], provider=None, common: list[str] | None = None
) -> list[tuple[str, str]]:
    """(selector, origin) pairs, user first, each selector once. `provider` is an `auditor.providers.Provider`.

    The provider's selectors are authoritative ("provider") for fixed and CNAME schemes; for per-account
    schemes they are only the names it often uses, so they are probed as guesses ("common").
    """
    pairs: list[tuple[str, str]] = [(normalise_selector(s), USER) for s in user]
    if provider is not None:
        origin = COMMON if provider.dkim.scheme == "per-account" else PROVIDER
        pairs += [(s, origin) for s in provider.dkim.selectors]
    pairs += [(s, COMMON) for s in (COMMON_SELECTORS if common is None else common)]
    seen: set[str] = set()
    unique = []
    for selector, origin in pairs:
        if selector not in seen:
            seen.add(selector)
            unique.append((selector, origin))
    return unique


# -- Collecting ---------------------------------------------------------------------------------------------


async def collect_dkim(resolver: Resolver, domain: str, selectors: list[tuple[str, str]]) -> DkimFacts:
    domain = domain.strip().rstrip(".").lower()
    facts = DkimFacts(domain=domain, selectors_checked=[s for s, _ in selectors])
    lookups = await asyncio.gather(*(resolver.query(f"{s}._domainkey.{domain}", "TXT") for s, _ in selectors))
    facts.results = [
        _result(sel, origin, lookup) for (sel, origin), lookup in zip(selectors, lookups, strict=True)
    ]
    named = [r for r in facts.results if r.origin in (USER, PROVIDER)]
    facts.only_guessed = not named

    facts.found = [r for r in facts.results if r.record is not None]
    facts.unknown = [r.selector for r in facts.results if r.failed]
    facts.provider_selectors_found = [r.selector for r in facts.found if r.origin == PROVIDER]
    facts.provider_selectors_missing = [
        r.selector for r in facts.results if r.origin == PROVIDER and r.absent
    ]
    facts.user_selectors_missing = [r.selector for r in facts.results if r.origin == USER and r.absent]
    for r in facts.found:
        facts.syntax_errors += [f"{r.selector}: {e}" for e in r.errors]
        if r.revoked:
            facts.revoked.append(r.selector)
        if r.testing:
            facts.testing.append(r.selector)
        if r.key_type == "rsa" and r.bits is not None:
            if r.bits < INSECURE_BELOW:
                facts.insecure.append(r.selector)
            elif r.bits < WEAK_BELOW:
                facts.weak.append(r.selector)

    failed_named = [r for r in named if r.failed]
    failed_guesses = [r for r in facts.results if r.failed and r.origin == COMMON]
    if facts.found:
        facts.exists = True
    elif failed_named:
        reason = failed_named[0].reason  # an Unknown is falsy, so no `or` here
        facts.exists = reason if reason is not None else Unknown("a DKIM lookup failed")
    elif named or not failed_guesses:
        facts.exists = False
    else:
        facts.exists = Unknown(
            f"{len(failed_guesses)} of {len(facts.results)} selector lookups failed "
            f"({', '.join(r.selector for r in failed_guesses[:5])}); a key may be there"
        )
    rsa_bits = [r.bits for r in facts.found if r.key_type == "rsa" and r.bits is not None and not r.errors]
    if isinstance(facts.exists, Unknown) and not rsa_bits:
        facts.min_rsa_bits = facts.exists
        facts.status = "unknown"
    else:
        facts.min_rsa_bits = min(rsa_bits) if rsa_bits else None
    return facts


def _result(selector: str, origin: str, lookup: Lookup) -> DkimSelectorResult:
    result = DkimSelectorResult(
        selector=selector,
        origin=origin,
        name=lookup.name,
        outcome=lookup.outcome,
        cname_target=lookup.cname_chain[-1] if lookup.cname_chain else None,
    )
    if lookup.failed:
        result.failed = True
        result.reason = unknown_from(lookup)
        return result
    if lookup.outcome != "ok" or not lookup.values:
        result.absent = True
        return result
    values = list(lookup.values)
    if origin == COMMON:
        # A guessed name can catch a wildcard TXT (SPF, site verification): only DKIM-looking records count.
        values = [v for v in values if "p" in _tag_list(v)[0]]
        if not values:
            result.absent = True
            result.outcome = "not-dkim"
            return result
    result.record = values[0]
    result.records = values
    key = parse_dkim_key(values[0])
    result.key_type, result.bits = key.key_type, key.bits
    result.revoked, result.testing = key.revoked, key.testing
    result.errors = list(key.errors)
    if len(values) > 1:
        result.errors.insert(
            0,
            f"{len(values)} TXT records at {lookup.name}; there must be exactly one, receivers may pick any",
        )
    return result
