"""Rule case files: `tests/rules/cases/<rule-id>.yaml`, each with pass and fail cases.

```yaml
rule: spf.lookup-limit
cases:
  - name: eleven lookups through nested includes
    expect: fail                     # pass | fail | unknown | skip
    target: {domain: example.org, from: notifications@example.org, smtp: "host:587", provider: amazon-ses,
             envelope: mail.example.org, dkim_selectors: [s1], sending_ips: [192.0.2.1]}   # all optional
    settings: {file: .env.production, app: mastodon, text: "SMTP_SERVER=…"}     # optional: the app's settings
    zone: |                          # zone-file text, absolute names; served by the loopback DNS server
      example.org. TXT "v=spf1 include:a.example.net -all"
    dns: {drop: [name.], servfail: [name.], refuse: [name.]}   # optional per-name behaviours
    probe:                           # optional: the audit also probes a loopback SMTP server (tests/smtpservers.py)
      server: starttls               # which SmtpLab server; the settings are `lab.settings(server, **settings)`
      settings: {tls: implicit, port: implicit, secret: wrong, ca_file: null}   # overrides; `port: NAME` is that
                                     # server's port; instead of `settings:` above (the lab writes the settings)
      auth: true                     # --auth: log in with the settings' credentials
      send_test: inbox@example.net   # --send-test TO
      alternatives: [{server: starttls, tls: starttls}]   # the provider's other ports the probe may try; default:
                                     # one port where nothing listens, so no case depends on this machine's 25/587/465
```

A case without `probe` audits without a live check: every probe rule skips.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

CASES_DIR = Path(__file__).resolve().parent / "rules" / "cases"
STATUSES = {"pass", "fail", "unknown", "skip"}
PROBE_KEYS = {"server", "settings", "auth", "send_test", "alternatives"}


@dataclass
class RuleCase:
    rule: str
    name: str
    expect: str
    zone: str
    target: dict = field(default_factory=dict)
    dns: dict = field(default_factory=dict)
    settings: dict | None = None
    path: Path | None = None
    probe: dict | None = None

    @property
    def id(self) -> str:
        return f"{self.rule}::{self.name}"


def load_case_files() -> dict[str, list[RuleCase]]:
    by_rule: dict[str, list[RuleCase]] = {}
    for path in sorted(CASES_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        rule = data["rule"]
        assert path.stem == rule, f"{path}: file name must be the rule id"
        for raw in data["cases"]:
            assert raw["expect"] in STATUSES, f"{path}: bad expect {raw['expect']!r}"
            probe = raw.get("probe")
            if probe is not None:
                assert isinstance(probe, dict) and "server" in probe, f"{path}: probe needs a server"
                assert set(probe) <= PROBE_KEYS, f"{path}: unknown probe keys {sorted(set(probe) - PROBE_KEYS)}"
                assert raw.get("settings") is None, f"{path}: a probe case takes its settings from the lab"
            by_rule.setdefault(rule, []).append(
                RuleCase(rule=rule, name=raw["name"], expect=raw["expect"], zone=raw.get("zone", ""),
                         target=raw.get("target", {}), dns=raw.get("dns", {}),
                         settings=raw.get("settings"), path=path, probe=probe)
            )
    return by_rule


def case_target(case: RuleCase, tmp_dir: Path, lab=None):
    """The audit target a case describes: flags in `target`, and the app's settings file in `settings` (or,
    for a probe case, the settings `lab` makes for its server)."""
    from auditor.appconfig import load_settings
    from auditor.target import resolve_target

    spec = dict(case.target)
    settings = None
    if case.probe:
        settings = probe_settings(case, lab)
    elif case.settings:
        path = Path(tmp_dir) / case.settings.get("file", ".env.production")
        path.write_text(case.settings["text"], encoding="utf-8")
        settings = load_settings(path, case.settings.get("app"))
    domain = spec.get("domain", None if settings is not None else "example.org")
    target = resolve_target(
        domain,
        spec.get("from"),
        spec.get("smtp"),
        settings=settings,
        provider_id=spec.get("provider"),
        envelope=spec.get("envelope"),
        dkim_selectors=spec.get("dkim_selectors", []),
    )
    if "sending_ips" in spec:
        target.sending_ips = list(spec["sending_ips"])
        target.self_hosted = True
    return target


def probe_settings(case: RuleCase, lab):
    """`lab.settings(server, **overrides)`; a `port` given as a server name means that server's port."""
    overrides = dict(case.probe.get("settings") or {})
    if isinstance(overrides.get("port"), str):
        overrides["port"] = lab.ports[overrides["port"]]
    return lab.settings(case.probe["server"], **overrides)


def probe_options(case: RuleCase, lab, step: float):
    """ProbeOptions for a probe case: the flags it names, every network step limited to `step` seconds."""
    from auditor.probe import ProbeOptions

    spec = case.probe
    alternatives = spec.get("alternatives") or [{"server": "closed", "tls": "starttls"}]
    return ProbeOptions(
        auth=bool(spec.get("auth", False)),
        send_test_to=spec.get("send_test"),
        timeout=step,
        alternative_ports=[(lab.ports[alt["server"]], alt["tls"]) for alt in alternatives],
    )
