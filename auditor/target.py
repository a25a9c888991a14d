"""The audit target: which domains to audit and why, with every guess stated as an assumption."""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.domains import normalize_domain, split_address
from auditor.errors import AuditorError


@dataclass
class Relay:
    host: str
    port: int | None = None
    tls: str | None = None  # "starttls" | "implicit" | "none"

    def to_json(self) -> dict:
        return {"host": self.host, "port": self.port, "tls": self.tls}


@dataclass
class Target:
    domain: str  # the instance domain the user named (or LOCAL_DOMAIN)
    from_address: str | None
    from_domain: str
    envelope_domain: str  # the Return-Path domain the relay will use
    from_raw: str | None = None  # the From setting as written, display name and stray quotes included
    relay: Relay | None = None
    provider_id: str | None = None
    provider_name: str | None = None
    provider_region: str | None = None
    app_id: str | None = None
    config_file: str | None = None
    self_hosted: bool = False
    sending_ips: list[str] = field(default_factory=list)
    dkim_selectors: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    org_domain: str = ""  # filled in after the DMARC walk

    def to_json(self) -> dict:
        return {
            "domain": self.domain,
            "from_address": self.from_address,
            "from_domain": self.from_domain,
            "org_domain": self.org_domain,
            "envelope_domain": self.envelope_domain,
            "smtp": self.relay.to_json() if self.relay else None,
            "provider": (
                {"id": self.provider_id, "name": self.provider_name, "region": self.provider_region}
                if self.provider_id
                else None
            ),
            "app": {"id": self.app_id, "config": self.config_file} if self.app_id else None,
            "dkim_selectors": list(self.dkim_selectors),
            "sending_ips": list(self.sending_ips),
            "assumptions": list(self.assumptions),
        }


def parse_relay(spec: str) -> Relay:
    """`smtp.example.net`, `smtp.example.net:587`, `[2001:db8::1]:25` → Relay (TLS mode decided by the port)."""
    spec = spec.strip()
    host, port = spec, None
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif spec.count(":") == 1:
        host, _, port_text = spec.partition(":")
    else:
        port_text = ""
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise AuditorError(f"--smtp {spec!r}: the port must be a number from 1 to 65535")
        port = int(port_text)
    if not host:
        raise AuditorError(f"--smtp {spec!r}: no host name")
    host = host.lower().rstrip(".")
    tls = {465: "implicit", 587: "starttls", 2525: "starttls", 25: "starttls"}.get(port or 0)
    return Relay(host=host, port=port, tls=tls)


def build_target(domain: str | None, from_address: str | None = None, smtp: str | None = None) -> Target:
    """A target from command-line flags alone (the settings-file path extends this in target_from_settings)."""
    assumptions: list[str] = []
    if domain is None and from_address is None:
        raise AuditorError("nothing to audit: give a DOMAIN, --from ADDRESS or --env FILE")
    address, from_domain = split_address(from_address) if from_address else (None, None)
    if domain is not None:
        domain = normalize_domain(domain)
    if from_address and not from_domain:
        raise AuditorError(f"--from {from_address!r} has no domain; expected something like notifications@example.org")
    if from_domain is not None:
        from_domain = normalize_domain(from_domain, what="--from domain")
    if domain is None:
        domain = from_domain
    if from_domain is None:
        from_domain = domain
        assumptions.append(f"No From address given: mail is assumed to come from an address @{domain}.")
    relay = parse_relay(smtp) if smtp else None
    return Target(
        domain=domain,
        from_address=address,
        from_domain=from_domain,
        envelope_domain=from_domain,
        from_raw=from_address,
        relay=relay,
        assumptions=assumptions
        + [f"The envelope (Return-Path) domain is assumed to be the From domain {from_domain}."],
    )
