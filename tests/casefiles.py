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
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

CASES_DIR = Path(__file__).resolve().parent / "rules" / "cases"
STATUSES = {"pass", "fail", "unknown", "skip"}


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
            by_rule.setdefault(rule, []).append(
                RuleCase(rule=rule, name=raw["name"], expect=raw["expect"], zone=raw.get("zone", ""),
                         target=raw.get("target", {}), dns=raw.get("dns", {}),
                         settings=raw.get("settings"), path=path)
            )
    return by_rule


def case_target(case: RuleCase, tmp_dir: Path):
    """The audit target a case describes: flags in `target`, and the app's settings file in `settings`."""
    from auditor.appconfig import load_settings
    from auditor.target import resolve_target

    spec = dict(case.target)
    settings = None
    if case.settings:
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
