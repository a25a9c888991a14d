"""The audit target: which domains to audit and why, with every guess stated as an assumption."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    dkim_selectors: list[str] = field(default_factory=list)  # given with --dkim-selector
    dkim_selectors_checked: list[str] = field(default_factory=list)  # given, the provider's and common ones
    assumptions: list[str] = field(default_factory=list)
    org_domain: str = ""  # filled in after the DMARC walk
    provider: Any = None  # auditor.providers.Provider, when the relay is recognised (not serialised)
    provider_values: dict[str, str] = field(default_factory=dict)  # template values: domain, region, …
    settings: Any = None  # auditor.appconfig.SmtpSettings, when read from the app's settings
    envelope_override: str | None = None  # --envelope or the app's Return-Path setting
    envelope_source: str = "from"

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
            "dkim_selectors_checked": list(self.dkim_selectors_checked),
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


LOCAL_HOSTS = frozenset({"localhost", "localhost.localdomain", "127.0.0.1", "::1", "0.0.0.0", "host.docker.internal"})


def is_local_relay(host: str, instance_domain: str | None) -> bool:
    """A relay on this machine or inside the instance's own domain: the app's own server sends the mail."""
    host = host.lower().rstrip(".")
    if host in LOCAL_HOSTS or host.startswith("127.") or "." not in host:
        return True  # a bare name (`postfix`, `mail`) is a container or host on the same network
    return bool(instance_domain) and (host == instance_domain or host.endswith("." + instance_domain))


def resolve_target(
    domain: str | None,
    from_address: str | None = None,
    smtp: str | None = None,
    *,
    settings=None,
    provider_id: str | None = None,
    envelope: str | None = None,
    dkim_selectors: list[str] | None = None,
) -> Target:
    """The whole target: flags first, then the app's settings, then provider knowledge; every guess stated."""
    from auditor.providers import get_provider, recognise

    assumptions: list[str] = []
    instance = getattr(settings, "instance_domain", None)
    if domain is None and instance:
        domain = instance
    from_raw = from_address
    if from_raw is None and settings is not None:
        from_raw = settings.from_address
    address, from_domain = split_address(from_raw) if from_raw else (None, None)
    usable_from = from_domain is not None and "." in from_domain and not from_domain.startswith("localhost")
    if from_address is not None and not usable_from:
        raise AuditorError(f"--from {from_address!r} has no usable domain; expected e.g. notifications@example.org")
    if domain is None and usable_from:
        domain = from_domain
    if domain is None:
        raise AuditorError("nothing to audit: give a DOMAIN, --from ADDRESS or --env FILE")
    domain = normalize_domain(domain)
    if not usable_from:
        if settings is not None:
            shown = settings.from_address if settings.from_address is not None else "(not set)"
            assumptions.append(
                f"The From setting {shown!r} has no usable domain; the audit assumes mail should come from "
                f"@{domain} (the instance domain)."
            )
        else:
            assumptions.append(f"No From address given: mail is assumed to come from an address @{domain}.")
        from_domain = domain
    else:
        from_domain = normalize_domain(from_domain, what="From domain")

    relay = parse_relay(smtp) if smtp else None
    if relay is None and settings is not None and settings.host:
        relay = Relay(host=settings.host.lower().rstrip("."), port=settings.port, tls=settings.tls)
    elif relay is not None and settings is not None and relay.port is None:
        relay.port = settings.port

    target = Target(domain=domain, from_address=address if usable_from else None, from_domain=from_domain,
                    envelope_domain=from_domain, from_raw=from_raw, relay=relay, settings=settings,
                    assumptions=assumptions, dkim_selectors=list(dkim_selectors or []))
    if settings is not None:
        target.app_id = settings.app
        target.config_file = settings.config_file
        target.assumptions += list(settings.notes)

    provider, values = None, {}
    if provider_id:
        provider = get_provider(provider_id)
        if relay is not None:
            values = provider.match(relay.host, from_domain) or {}
    elif relay is not None:
        if is_local_relay(relay.host, domain):
            provider = get_provider("self-hosted")
        else:
            found = recognise(relay.host, from_domain=from_domain)
            if found is not None:
                provider, values = found
    if provider is not None:
        target.provider = provider
        target.provider_id = provider.id
        target.provider_name = provider.name
        target.provider_region = values.get("region")
        target.provider_values = {"domain": from_domain, "instance_domain": domain, **values}
        if relay is not None and relay.tls is None and relay.port is not None:
            mode = provider.port_mode(relay.port)
            relay.tls = mode.tls if mode else relay.tls
        if provider.self_hosted:
            target.self_hosted = True
            target.assumptions.append(
                f"The relay {relay.host if relay else '(local)'} runs on the instance's own server: mail leaves "
                f"from the public address of {domain}, and the envelope domain is the From domain."
            )
    elif relay is not None:
        target.assumptions.append(
            f"The relay {relay.host} is not one inboxready knows; provider-specific checks are skipped "
            "(pass --provider ID if it is one of `inboxready providers`)."
        )

    return_path = envelope or (split_address(settings.return_path)[1] if settings is not None and
                               settings.return_path else None)
    if return_path:
        target.envelope_override = normalize_domain(return_path, what="envelope domain")
        target.envelope_domain = target.envelope_override
        target.envelope_source = "flag" if envelope else "settings"
    return target
