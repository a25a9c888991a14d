"""The typed facts an audit gathers. Rules address them by path (`spf.lookup_count`, `dmarc.effective_policy`).

A field typed `X | Unknown` holds `Unknown(reason)` when the lookups it depends on failed; a rule reading it
ends as `unknown`. The rule loader checks fact paths against these type hints, so a typo in a rule is an
error at load time, not a silent skip.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.facts.base import Unknown
from auditor.probe.model import ProbeFacts

# -- SPF ---------------------------------------------------------------------------------------------------


@dataclass
class SpfNode:
    """One record in the include/redirect tree, with the lookup cost of its branch."""

    domain: str
    via: str  # "root", "include" or "redirect"
    outcome: str  # the TXT lookup's outcome
    record: str | None = None
    own_lookups: int = 0  # DNS-querying terms in this record itself (RFC 7208 §4.6.4)
    cost: int = 0  # own_lookups + the cost of every include/redirect below it
    void_lookups: int = 0
    error: str | None = None  # "no SPF record", "include loop", "multiple SPF records", "syntax: …"
    children: list[SpfNode] = field(default_factory=list)


@dataclass
class SpfFacts:
    domain: str
    status: str = "ok"  # "ok" or "unknown" (the record itself could not be fetched)
    # "envelope": this is where receivers evaluate SPF for the app's mail; "from": the relay uses its own
    # return path, so this is the From domain's record, audited for the other mail that relies on it.
    role: str = "envelope"
    exists: bool | Unknown = False
    record: str | None | Unknown = None
    records: list[str] = field(default_factory=list)  # every `v=spf1` TXT at the name
    record_count: int | Unknown = 0
    syntax_valid: bool | Unknown = True
    syntax_errors: list[str] = field(default_factory=list)
    all_qualifier: str | None | Unknown = None  # "+", "-", "~", "?"; None when no `all` (after redirects)
    redirect: str | None = None
    lookup_count: int | Unknown = 0  # DNS-querying terms over the whole tree
    lookup_limit: int = 10
    void_count: int | Unknown = 0
    void_limit: int = 2
    loop: bool | Unknown = False
    loop_path: list[str] = field(default_factory=list)
    mx_over_limit: list[str] = field(default_factory=list)  # `mx` terms with more than 10 hosts
    uses_ptr: bool | Unknown = False
    ptr_terms: list[str] = field(default_factory=list)
    size: int = 0  # octets of the selected record
    answer_size: int = 0  # octets of all TXT strings at the name plus the name (RFC 7208 §3.4)
    longest_string: int = 0  # longest single character-string of the record (max 255)
    size_limit: int = 512
    include_costs: dict[str, int] = field(default_factory=dict)  # top-level include/redirect → branch cost
    tree: SpfNode | None = None
    sender_results: dict[str, str] = field(default_factory=dict)  # sending IP → check_host() result
    sender_failures: list[str] = field(default_factory=list)  # sending IPs whose result is not "pass"
    relay_include: str | None = None  # the include the relay needs here (None: it needs none here)
    # How the relay's authorisation was checked: "include" (the provider's include, or an accepted alias, is
    # in the tree), "own-ip" (self-hosted: the server's own addresses pass check_host() here), None (not checked).
    relay_check: str | None = None
    relay_authorised: bool | None | Unknown = None  # None: nothing to check (no known relay needs SPF here)


# -- DMARC -------------------------------------------------------------------------------------------------


@dataclass
class DmarcReportDestination:
    uri: str
    host: str
    external: bool
    query: str | None = None  # <policy-domain>._report._dmarc.<host> when external
    outcome: str | None = None
    authorized: bool | Unknown = True


@dataclass
class DmarcFacts:
    domain: str  # the From (author) domain
    status: str = "ok"
    exists: bool | Unknown = False  # a DMARC record applies to the From domain (its own or inherited)
    record: str | None | Unknown = None  # the record that applies to the From domain
    record_domain: str | None = None  # where that record was found
    inherited: bool = False  # the record belongs to a parent domain, so sp/np apply
    domain_exists: bool | Unknown = True  # the From domain itself exists in DNS (decides sp vs np)
    multiple: bool | Unknown = False  # a queried name had more than one DMARC record
    multiple_at: list[str] = field(default_factory=list)
    walk: list[str] = field(default_factory=list)  # names queried by the RFC 9989 tree walk
    org_domain: str | Unknown = ""  # RFC 9989 §4.10.2
    org_domain_psl: str = ""  # what an RFC 7489 receiver computes from the Public Suffix List
    tags: dict[str, str] = field(default_factory=dict)
    p: str | None = None
    sp: str | None = None
    np: str | None = None
    effective_policy: str | None | Unknown = None  # none | quarantine | reject, for the From domain
    policy_tag: str | None = None  # which tag gave it: p, sp or np
    testing: bool = False  # t=y
    pct: int | None = None
    aspf: str = "r"
    adkim: str = "r"
    syntax_valid: bool | Unknown = True
    syntax_errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rua: list[str] = field(default_factory=list)
    ruf: list[str] = field(default_factory=list)
    destinations: list[DmarcReportDestination] = field(default_factory=list)
    rua_unauthorized: list[str] | Unknown = field(default_factory=list)
    rua_unauthorized_count: int | Unknown = 0


# -- MX ----------------------------------------------------------------------------------------------------


@dataclass
class MxHost:
    host: str
    preference: int
    cname_target: str | None = None  # the MX target is an alias for this name (RFC 2181 §10.3)
    addresses: list[str] = field(default_factory=list)
    outcome: str = "ok"  # the address lookups' combined outcome
    resolvable: bool | Unknown = True


@dataclass
class MxFacts:
    domain: str
    status: str = "ok"
    exists: bool | Unknown = False  # at least one MX record (null MX included)
    hosts: list[MxHost] = field(default_factory=list)
    null_mx: bool = False  # RFC 7505 "0 ." only
    null_mx_mixed: bool = False  # "0 ." next to other MX records
    implicit: bool = False  # no MX, but A/AAAA: mail goes to the address (RFC 5321 §5.1)
    implicit_addresses: list[str] = field(default_factory=list)
    cname_hosts: list[str] | Unknown = field(default_factory=list)
    cname_count: int | Unknown = 0
    unresolvable_hosts: list[str] | Unknown = field(default_factory=list)
    unresolvable_count: int | Unknown = 0


# -- PTR ---------------------------------------------------------------------------------------------------


@dataclass
class PtrCheck:
    ip: str
    role: str  # "mx" or "sender"
    host: str | None = None  # the MX host the address belongs to
    names: list[str] = field(default_factory=list)  # PTR names
    outcome: str = "ok"
    forward_confirmed: bool | Unknown = False  # a PTR name resolves back to the IP (FCrDNS)


@dataclass
class PtrFacts:
    status: str = "ok"
    checks: list[PtrCheck] = field(default_factory=list)
    sender_ips: list[str] = field(default_factory=list)
    sender_missing: list[str] | Unknown = field(default_factory=list)
    sender_missing_count: int | Unknown = 0
    mismatch: list[str] | Unknown = field(default_factory=list)  # "ip → name" that do not resolve back
    mismatch_count: int | Unknown = 0


# -- DKIM --------------------------------------------------------------------------------------------------


@dataclass
class DkimSelectorResult:
    """One probed selector: `<selector>._domainkey.<domain>` TXT, after any CNAME."""

    selector: str
    origin: str  # "user" (--dkim-selector), "provider" (the relay's own selectors) or "common" (a guess)
    name: str  # the name queried, absolute
    outcome: str  # the lookup's outcome; "not-dkim" when a guessed name only had non-DKIM TXT (a wildcard)
    cname_target: str | None = None  # where the selector's CNAME chain ends (a provider's key host)
    failed: bool = False  # the lookup failed (timeout, SERVFAIL, …): we do not know
    absent: bool = False  # the lookup answered: no key record here
    reason: Unknown | None = None  # why it failed
    record: str | None = None  # the key record (the first, when there are several)
    records: list[str] = field(default_factory=list)
    key_type: str | None = None  # rsa | ed25519 | the unknown k= value
    bits: int | None = None
    revoked: bool = False  # empty p=
    testing: bool = False  # t=y
    errors: list[str] = field(default_factory=list)  # plain English


@dataclass
class DkimFacts:
    domain: str  # the signing domain checked (the From domain)
    status: str = "ok"  # "unknown" when `exists` is unknown
    selectors_checked: list[str] = field(default_factory=list)
    results: list[DkimSelectorResult] = field(default_factory=list)  # every probed selector
    found: list[DkimSelectorResult] = field(default_factory=list)  # selectors with a key record
    exists: bool | Unknown = False  # any key record found (see auditor/facts/dkim.py for the rules)
    only_guessed: bool = False  # no user or provider selector was probed: a miss proves little
    provider_selectors_found: list[str] = field(default_factory=list)
    provider_selectors_missing: list[str] = field(default_factory=list)  # answered "no record"
    user_selectors_missing: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)  # selectors
    syntax_errors: list[str] = field(default_factory=list)  # "selector: error"
    min_rsa_bits: int | None | Unknown = None  # smallest RSA key among valid records; None: no RSA key
    weak: list[str] = field(default_factory=list)  # RSA 1024-2047 bits
    insecure: list[str] = field(default_factory=list)  # RSA below 1024 bits
    testing: list[str] = field(default_factory=list)  # t=y
    unknown: list[str] = field(default_factory=list)  # selectors whose lookup failed


# -- Envelope (Return-Path) ---------------------------------------------------------------------------------


@dataclass
class EnvelopeFacts:
    """The envelope (Return-Path) domain the relay will use, and what its provider needs there."""

    domain: str  # the predicted envelope domain ("" when it cannot be known)
    status: str = "ok"
    source: str = "from"  # from | settings | flag | custom | inferred | provider-default | unknown-custom
    user_domain: bool = True  # the envelope is in the user's own DNS (not the provider's)
    custom_name: str | None = None  # the provider's custom return-path name that was checked
    custom_configured: bool | Unknown = False
    required_mx: str | None = None  # e.g. feedback-smtp.eu-west-1.amazonaws.com (SES custom MAIL FROM)
    required_cname: str | None = None  # e.g. pm.mtasv.net (Postmark custom Return-Path)
    mx_hosts: list[str] = field(default_factory=list)
    cname_target: str | None = None
    requirement_met: bool | None | Unknown = None  # None: the provider needs nothing at the envelope domain
    note: str | None = None


# -- Alignment ----------------------------------------------------------------------------------------------


@dataclass
class AlignFacts:
    """Will DMARC pass for mail this relay sends? Predicted from the provider profile and DNS."""

    status: str = "ok"
    relay_known: bool = False  # the relay (and so its return path and signer) is known
    from_domain: str = ""
    from_org_domain: str = ""
    envelope_domain: str = ""
    aspf: str = "r"
    adkim: str = "r"
    spf_authorises: bool | Unknown = False  # the envelope domain's SPF lets the relay send (SPF passes)
    spf_aligned: bool | Unknown = False  # the envelope domain aligns with the From domain under aspf
    dkim_domain: str | None = None  # the predicted d= of the relay's signature
    dkim_key_found: bool | Unknown = False  # a usable key for that d= was found
    dkim_aligned: bool | Unknown = False
    dmarc_pass: bool | Unknown = False  # an aligned SPF pass or an aligned DKIM pass
    dmarc_pass_via: list[str] = field(default_factory=list)  # "spf", "dkim"
    from_related: bool = True  # the From domain shares its organizational domain with the instance domain
    from_localhost: bool = False
    from_problem: str | None = None
    explanation: str = ""  # one plain sentence: how DMARC will come out with this relay
    # How to give this relay an aligned return path: the records its custom return path needs ("name TYPE
    # value", account-specific parts left as <name>) and the provider's note on it; empty when it has none.
    return_path_setup: list[str] = field(default_factory=list)
    return_path_note: str | None = None
    dkim_note: str | None = None  # the relay's note on its DKIM setup (where to find the selector)


# -- SMTP settings ------------------------------------------------------------------------------------------


@dataclass
class SmtpFacts:
    """What the app's mail settings say (no DNS, no network): the `smtp.*` rules read these."""

    status: str = "ok"
    configured: bool = False  # settings (or --smtp) name a relay
    settings_file: str | None = None
    app: str | None = None
    host: str | None = None
    port: int | None = None
    tls: str | None = None  # starttls | implicit | none
    starttls_required: bool = False
    verify: str = "peer"
    remote: bool = False  # the relay is not on this machine
    provider_known: bool = False
    provider_id: str | None = None
    provider_ports: list[int] = field(default_factory=list)
    port_tls: str | None = None  # what the provider (or the well-known port) expects on this port
    tls_mismatch: str | None = None  # plain words, e.g. "port 465 expects implicit TLS but STARTTLS is set"
    plaintext: bool = False  # nothing encrypts the session to a remote relay
    verify_none: bool = False
    port_25_remote: bool = False
    from_raw: str | None = None
    from_address: str | None = None
    from_valid: bool = True
    from_problem: str | None = None
    unknown_settings: list[str] = field(default_factory=list)  # "SMTP_HOST (did you mean SMTP_SERVER?)"
    login_present: bool = False
    login_format_ok: bool | None = None  # None: the provider has no login convention
    login_hint: str | None = None
    auth_method: str | None = None
    auth_problem: str | None = None
    auth_problem_kind: str | None = None  # unknown-method | login-unused | auth-off | no-login | no-password | unencrypted
    # Where the settings behind these facts live, so a message can name the exact line to change. A key
    # without a line is not in the file (the app's default applies; the fix adds the line).
    transport: str | None = None  # smtp | sendmail | …: anything but smtp means the relay settings are unused
    tls_from_settings: bool = False  # the TLS mode was read from the settings (not guessed from the port)
    tls_setting_key: str | None = None  # the setting whose value decided the TLS mode (None: the app default)
    tls_setting_line: int | None = None
    tls_flag_key: str | None = None  # the setting that turns implicit TLS on (Mastodon: SMTP_TLS)
    starttls_key: str | None = None  # the setting that asks for STARTTLS (Mastodon: SMTP_ENABLE_STARTTLS)
    alternative_port: int | None = None  # the provider's (or the usual) port for the TLS mode that is set
    port_setting_key: str | None = None
    port_setting_line: int | None = None
    verify_setting_key: str | None = None
    verify_setting_line: int | None = None
    from_setting_key: str | None = None
    from_setting_line: int | None = None
    login_setting_key: str | None = None
    login_setting_line: int | None = None
    password_present: bool = False
    auth_setting_key: str | None = None


# -- DNS ---------------------------------------------------------------------------------------------------


@dataclass
class DnsFacts:
    nameservers: list[str] = field(default_factory=list)
    queries: int = 0
    cache_hits: int = 0
    overlay_answers: int = 0
    failed: list[str] = field(default_factory=list)  # "TXT _dmarc.example.org.: timeout"
    failed_count: int = 0
    lookups: list[dict] = field(default_factory=list)


# -- The whole picture -------------------------------------------------------------------------------------


@dataclass
class Facts:
    """Everything rules can read. Each field is a root of the fact paths (`spf.…`, `target.…`)."""

    target: TargetFacts
    spf: SpfFacts
    dmarc: DmarcFacts
    mx: MxFacts
    ptr: PtrFacts
    dkim: DkimFacts
    envelope: EnvelopeFacts
    align: AlignFacts
    smtp: SmtpFacts
    dns: DnsFacts
    probe: ProbeFacts = field(default_factory=lambda: ProbeFacts(host="", port=0, tls_mode="", verify_mode="",
                                                                 ehlo_name="", ran=False))


@dataclass
class TargetFacts:
    """The target as understood, in the shape rules and templates read it."""

    domain: str
    from_address: str | None
    from_domain: str
    envelope_domain: str
    org_domain: str = ""
    self_hosted: bool = False
    sending_ips: list[str] = field(default_factory=list)
    provider_id: str | None = None
    provider_name: str | None = None
    relay_host: str | None = None
