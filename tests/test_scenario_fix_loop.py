"""The fix loop over whole provider scenarios: apply every exact record and setting the broken setup is
given, audit again, and every rule whose fixes were all exact must now pass.

Findings whose fix needs an account value (a placeholder) or a human decision keep failing; they are not
required to pass, but each must still say what to do.
"""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from fixapply import apply_records, apply_settings
from test_scenarios import DKIM_TXT, NAMES, SCENARIOS

from auditor.cli import main

BROKEN = [name for name in NAMES if name.endswith("broken")]


def audit(folder, dns_server, capsys, zone: str) -> dict:
    dns_server.clear()
    dns_server.add_zone_text((SCENARIOS / "common.zone").read_text())
    dns_server.add_zone_text(zone)
    spec = yaml.safe_load((folder / "scenario.yaml").read_text())
    main(["check", "--env", str(folder / "env.production"), "--nameserver", f"127.0.0.1:{dns_server.port}",
          "--timeout", "1", "--format", "json", *spec.get("args", [])])
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", BROKEN)
def test_exact_fixes_repair_the_scenario(name, dns_server, capsys, tmp_path):
    folder = tmp_path / name
    shutil.copytree(SCENARIOS / name, folder)
    zone = (folder / "zone").read_text().replace("{DKIM_KEY}", DKIM_TXT)
    before = audit(folder, dns_server, capsys, zone)
    changes = {c["id"]: c for c in before["records"] + before["settings"]}
    failing = [f for f in before["findings"] if f["status"] == "fail"]
    repairable = {
        f["rule"] for f in failing if f["fixes"] and not any(changes[i]["placeholder"] for i in f["fixes"])
    }
    assert repairable, f"{name}: no failing finding got an exact fix"
    records = [r for r in before["records"] if not r["placeholder"]]
    settings = [s for s in before["settings"] if not s["placeholder"]]
    env = folder / "env.production"
    env.write_text(apply_settings(env.read_text(), settings))
    after = audit(folder, dns_server, capsys, apply_records(zone, records))
    status = {f["rule"]: f["status"] for f in after["findings"]}
    still = {rule: status[rule] for rule in repairable if status[rule] not in ("pass", "skip")}
    assert not still, f"{name}: after applying the exact fixes these still fail: {still}"
    for finding in after["findings"]:
        if finding["status"] == "fail":
            assert finding["action"].strip(), f"{finding['rule']} fails with nothing to do"
