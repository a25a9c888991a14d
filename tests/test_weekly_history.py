"""The run history: round trips, migrations, refusal of foreign files, a crash mid-write, concurrent writers."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from auditor.errors import AuditorError
from auditor.weekly.history import SCHEMA_VERSION, History, default_history_path, open_history, save_run

REPO_ROOT = Path(__file__).resolve().parents[1]


def result(domain: str = "example.social", critical: int = 0, marker: str = "") -> dict:
    return {
        "schema": "inboxready/1",
        "tool": {"name": "inboxready", "version": "1.2.3"},
        "generated_at": "2026-11-27T07:00:00Z",
        "target": {"domain": domain},
        "summary": {"critical": critical, "warning": 0, "info": 0, "passed": 5, "unknown": 0, "skipped": 0},
        "findings": [],
        "facts": {"marker": marker},
    }


def test_round_trip_newest_first_and_previous_per_target(tmp_path):
    path = tmp_path / "h.sqlite3"
    with open_history(path) as history:
        first = history.record(result(marker="one"), recorded_at="2026-11-20T07:00:00Z")
        history.record(result("other.example", marker="elsewhere"))
        second = history.record(result(critical=2, marker="two"), recorded_at="2026-11-27T07:00:00Z")
    with open_history(path) as history:
        runs = history.runs("example.social")
        assert [r.id for r in runs] == [second, first]
        assert runs[0].result == result(critical=2, marker="two")
        assert runs[0].summary["critical"] == 2
        assert runs[0].tool_version == "1.2.3"
        assert runs[0].recorded_at == "2026-11-27T07:00:00Z"
        assert history.previous("example.social").id == second
        assert history.previous("example.social", before=second).id == first
        assert history.previous("nobody.example") is None
        assert history.targets() == ["example.social", "other.example"]
        assert len(history.runs(limit=2)) == 2


def test_save_run_and_default_location_follow_the_user_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_history_path() == tmp_path / "data" / "inboxready" / "history.sqlite3"
    run_id = save_run(result())
    with open_history() as history:
        assert [r.id for r in history.runs()] == [run_id]
        assert history.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_result_without_target_is_refused(tmp_path):
    with open_history(tmp_path / "h.sqlite3") as history, pytest.raises(AuditorError, match="target"):
        history.record({"summary": {}})


def test_older_history_is_migrated_in_place_without_losing_runs(tmp_path):
    path = tmp_path / "h.sqlite3"
    History(path, _upto=1).close()  # what the first version of the schema wrote
    raw = sqlite3.connect(path)
    with raw:
        raw.execute(
            "INSERT INTO runs (recorded_at, target, tool_version, result) VALUES (?, ?, ?, ?)",
            ("2026-11-20T07:00:00Z", "example.social", "0.1.0", json.dumps(result(critical=1))),
        )
        raw.execute(
            "INSERT INTO runs (recorded_at, target, tool_version, result) VALUES (?, ?, ?, ?)",
            ("2026-11-21T07:00:00Z", "example.social", "0.1.0", "{not json"),
        )
    raw.close()
    with open_history(path) as history:
        assert history.schema_version == SCHEMA_VERSION == 2
        runs = history.runs("example.social")
        assert [r.readable for r in runs] == [False, True]  # the unreadable run is shown, never dropped
        assert runs[1].summary["critical"] == 1
        # previous() skips a run it cannot compare with
        assert history.previous("example.social").recorded_at == "2026-11-20T07:00:00Z"
        summary = history.db.execute("SELECT summary FROM runs WHERE id = ?", (runs[1].id,)).fetchone()[0]
        assert json.loads(summary)["critical"] == 1
        history.record(result())
        assert history.count() == 3


def test_history_from_a_newer_version_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "h.sqlite3"
    with open_history(path) as history:
        history.record(result())
        history.db.execute("UPDATE schema_version SET version = 99")
    before = path.read_bytes()
    with pytest.raises(AuditorError, match="newer inboxready"):
        open_history(path)
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT version FROM schema_version").fetchone()[0] == 99
    assert raw.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
    raw.close()
    assert len(path.read_bytes()) == len(before)


def test_files_that_are_not_a_history_are_refused(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("this is not a database at all, just some text that is long enough\n" * 20)
    with pytest.raises(AuditorError, match="not a readable inboxready history"):
        open_history(text)
    assert text.read_text().startswith("this is not a database")
    foreign = tmp_path / "other.sqlite3"
    raw = sqlite3.connect(foreign)
    raw.execute("CREATE TABLE customers (name TEXT)")
    raw.commit()
    raw.close()
    with pytest.raises(AuditorError, match="not an inboxready history"):
        open_history(foreign)
    raw = sqlite3.connect(foreign)
    assert [r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["customers"]
    raw.close()


def _run_child(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO_ROOT)


def test_a_crash_in_the_middle_of_a_write_leaves_the_history_readable(tmp_path):
    path = tmp_path / "h.sqlite3"
    with open_history(path) as history:
        kept = history.record(result(marker="committed"))
    # The child dies (no cleanup, no rollback) while its transaction has written pages to the WAL.
    child = _run_child(
        f"""
        import json, os
        from auditor.weekly.history import open_history
        history = open_history({str(path)!r})
        with history._write() as db:
            big = json.dumps({{"target": {{"domain": "example.social"}}, "pad": "x" * 200_000}})
            for _ in range(20):
                db.execute("INSERT INTO runs (recorded_at, target, tool_version, result) VALUES (?, ?, ?, ?)",
                           ("2026-11-28T07:00:00Z", "example.social", "9", big))
            os._exit(17)
        """
    )
    assert child.wait(30) == 17
    with open_history(path) as history:
        assert history.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert [r.id for r in history.runs()] == [kept]
        assert history.runs()[0].result["facts"]["marker"] == "committed"
        after = history.record(result(marker="after the crash"))
        assert [r.id for r in history.runs()] == [after, kept]


def test_two_concurrent_writers_queue_and_lose_nothing(tmp_path):
    path = tmp_path / "h.sqlite3"
    open_history(path).close()
    writer = """
        import sys
        from auditor.weekly.history import open_history
        name = sys.argv[1]
        with open_history({path!r}) as history:
            for i in range(40):
                history.record({{"target": {{"domain": name}}, "summary": {{}}, "n": i}})
        """
    children = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(writer.format(path=str(path))), name], cwd=REPO_ROOT
        )
        for name in ("one.example", "two.example")
    ]
    assert [c.wait(60) for c in children] == [0, 0]
    with open_history(path) as history:
        assert history.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for name in ("one.example", "two.example"):
            numbers = [r.result["n"] for r in history.runs(name)]
            assert numbers == list(range(39, -1, -1))
        assert history.count() == 80
