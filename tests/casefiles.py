"""Rule case files: `tests/rules/cases/<rule-id>.yaml`, each with pass and fail cases.

```yaml
rule: spf.lookup-limit
cases:
  - name: eleven lookups through nested includes
    expect: fail                     # pass | fail | unknown | skip
    target: {domain: example.org, from: notifications@example.org, sending_ips: [192.0.2.1]}  # optional
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
                         target=raw.get("target", {}), dns=raw.get("dns", {}), path=path)
            )
    return by_rule
