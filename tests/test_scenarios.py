"""Provider scenarios end to end: settings file + zone, through `inboxready check --env`, against loopback DNS.

Each healthy setup must come out with no critical or warning finding; each broken one must fail the rules its
scenario names. See tests/scenarios/README.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from auditor.cli import main

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
# A real 2048-bit RSA public key (SubjectPublicKeyInfo), as a DKIM key record split into 255-byte strings.
RSA_2048 = (
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA3wUfFNDt0aqmpO0xgvoiE5+L1xmOCzA1QdeLUmvZ2O1pp3lwyxrXw6aBwo/qpiT7JZy"
    "nEheecNcyKtDH1/vp/Gmjkye73BS+9hFYrKmOplHp+aY4h/+7GFjDIWoPzr5CpJ5EsRrNch8E1FOOieLtX0AAlIW9eCm0Ct1wJ7oi/6w+jZ1IXm"
    "VQ3Ty6OqdSN7BWKZpj68zENVJE0Da+GpXKqs6slJTvEjxMcz2DnJ9qJBjVGj32GJmASUj85C3hcFS9Vuy4TTbKEIjGvOsev0Et7RJD1pVUx+Xtm"
    "9E8MKEid2hLY9TyP9/IJPM9PPUzRKAbiYvU/wVxcrc/hoWDx2GO+QIDAQAB"
)
KEY_RECORD = "v=DKIM1; k=rsa; p=" + RSA_2048
DKIM_TXT = " ".join(f'"{KEY_RECORD[i:i + 255]}"' for i in range(0, len(KEY_RECORD), 255))
NAMES = sorted(p.name for p in SCENARIOS.iterdir() if p.is_dir())


def run_scenario(name: str, dns_server, capsys) -> tuple[int, dict]:
    folder = SCENARIOS / name
    spec = yaml.safe_load((folder / "scenario.yaml").read_text())
    dns_server.add_zone_text((SCENARIOS / "common.zone").read_text())
    dns_server.add_zone_text((folder / "zone").read_text().replace("{DKIM_KEY}", DKIM_TXT))
    argv = ["check", "--env", str(folder / "env.production"), "--nameserver", f"127.0.0.1:{dns_server.port}",
            "--timeout", "1", "--format", "json", *spec.get("args", [])]
    code = main(argv)
    out, err = capsys.readouterr()
    assert out, err
    return code, json.loads(out)


@pytest.mark.parametrize("name", NAMES)
def test_scenario(name, dns_server, capsys):
    spec = yaml.safe_load((SCENARIOS / name / "scenario.yaml").read_text())
    code, data = run_scenario(name, dns_server, capsys)
    failing = {f["rule"]: f for f in data["findings"] if f["status"] == "fail"}
    assert data["summary"]["unknown"] == 0 or name.endswith("broken"), [
        (f["rule"], f["message"]) for f in data["findings"] if f["status"] == "unknown"
    ]
    if spec["expect"] == "healthy":
        serious = {rule: f["message"] for rule, f in failing.items() if f["severity"] in ("critical", "warning")}
        assert not serious, serious
        assert code == 0
    else:
        expected = set(spec["expect"]["fail"])
        missing = expected - set(failing)
        assert not missing, f"expected to fail but did not: {missing}; failing: {sorted(failing)}"


def test_every_provider_named_in_the_issue_has_both_scenarios():
    for provider in ("ses", "sendgrid", "mailgun", "postmark", "google", "m365", "brevo", "postfix"):
        assert f"{provider}-healthy" in NAMES and f"{provider}-broken" in NAMES
