"""The wheel carries rules/, reports/ and the demo, and an installed copy finds them (not the checkout's)."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # No build isolation: hatchling comes from the test extra, so the build needs no download.
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(REPO)],
        check=True, capture_output=True, text=True,
    )
    (built,) = out.glob("inboxready-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; its dependencies come from this test run's environment."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    target_site = Path(
        subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       check=True, capture_output=True, text=True).stdout.strip()
    )
    # Dependencies (dnspython, jinja2, …) are reused rather than downloaded again; the package itself is not.
    ours = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    (target_site / "zz_test_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    return env_dir


def test_wheel_contains_rules_reports_and_demo(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "auditor/_data/rules/spf/lookup-limit.yaml" in names
    assert any(n.startswith("auditor/_data/rules/providers/") for n in names)
    assert any(n.startswith("auditor/_data/rules/apps/") for n in names)
    assert "auditor/demo/sample.zone" in names
    assert "auditor/py.typed" in names
    assert not any(n.startswith("tests/") for n in names)


def run(installed: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    return subprocess.run([installed / "bin" / "inboxready", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_installed_wheel_runs_a_check(installed, dns_server, tmp_path):
    dns_server.add_zone_text('example.org. TXT "v=spf1 +all"\n_dmarc.example.org. TXT "v=DMARC1; p=reject"\n')
    where = subprocess.run([installed / "bin" / "python", "-c", "import auditor, auditor.paths; "
                            "print(auditor.__file__); print(auditor.paths.rules_dir())"],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert all(str(installed) in line for line in where), where  # the installed copy, not the checkout
    done = run(installed, "check", "example.org", "--nameserver", f"127.0.0.1:{dns_server.port}", "--format",
               "json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    findings = {f["rule"]: f["status"] for f in json.loads(done.stdout)["findings"]}
    assert findings["spf.permissive-all"] == "fail"
    assert run(installed, "rules", "list", cwd=tmp_path).stdout.count("\n") >= 25


def test_installed_wheel_runs_the_demo(installed, tmp_path):
    done = run(installed, "demo", "-o", str(tmp_path / "demo"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "demo" / "report.json").is_file()
