"""The run history: every audit `report` (or `check --save`) made, in one SQLite file.

One row per run: when, which target, which tool version, and the full JSON result, so any later version can
compare against it. The file lives in the user's data directory unless `--history PATH` says otherwise.

Safety, because cron runs this unattended:
- WAL journal and one `BEGIN IMMEDIATE` transaction per run: a crash mid-write leaves the last committed
  state readable, and two runs at once queue on the write lock (busy timeout) instead of failing or
  corrupting the file.
- The schema carries a version; opening a history written by an older inboxready migrates it in place, inside
  one transaction. A history from a *newer* inboxready is refused with a clear message, never rewritten or
  dropped.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from auditor.errors import AuditorError

APP_NAME = "inboxready"
HISTORY_FILE = "history.sqlite3"
BUSY_TIMEOUT_MS = 30_000  # a concurrent writer holds the lock for milliseconds; cron jobs may pile up


def default_history_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME)) / HISTORY_FILE


@dataclass
class HistoryRun:
    id: int
    recorded_at: str  # ISO 8601, UTC, "Z"
    target: str  # the instance domain the run audited
    tool_version: str
    result: dict  # the run's JSON result (`AuditResult.to_json()`); {} when the stored text is unreadable
    readable: bool = True  # False: the row exists but its JSON could not be parsed (shown, never dropped)

    @property
    def summary(self) -> dict:
        return self.result.get("summary") or {}

    @property
    def recorded(self) -> dt.datetime:
        return parse_time(self.recorded_at)


def parse_time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# -- schema and migrations -------------------------------------------------------------------------------
# Each migration takes the schema from version N-1 to N. Never edit a shipped migration: add the next one.


def _migrate_1(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE runs (
               id INTEGER PRIMARY KEY AUTOINCREMENT,
               recorded_at TEXT NOT NULL,
               target TEXT NOT NULL,
               tool_version TEXT NOT NULL,
               result TEXT NOT NULL
           )"""
    )
    db.execute("CREATE INDEX runs_by_target ON runs (target, id)")


def _migrate_2(db: sqlite3.Connection) -> None:
    """Keep the JSON schema id and the summary counts in columns, so listings need not parse every result."""
    db.execute("ALTER TABLE runs ADD COLUMN result_schema TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN summary TEXT")
    for row_id, text in db.execute("SELECT id, result FROM runs").fetchall():
        try:
            result = json.loads(text)
        except ValueError:
            continue  # kept as it is; reading shows it as unreadable
        db.execute(
            "UPDATE runs SET result_schema = ?, summary = ? WHERE id = ?",
            (result.get("schema"), json.dumps(result.get("summary") or {}), row_id),
        )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migrate_1, _migrate_2]
SCHEMA_VERSION = len(MIGRATIONS)


class History:
    """An open history file. Use as a context manager, or call `close()`."""

    def __init__(self, path: Path, *, _upto: int | None = None) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise AuditorError(f"cannot open the history {self.path}: {exc}") from None
        try:
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = FULL")
            self._migrate(SCHEMA_VERSION if _upto is None else _upto)
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise AuditorError(f"{self.path} is not a readable inboxready history ({exc})") from None
        except AuditorError:
            self.db.close()
            raise

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction that takes the write lock up front, so two writers queue instead of deadlocking."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _migrate(self, upto: int) -> None:
        with self._write() as db:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT version FROM schema_version").fetchone()
            current = row[0] if row else 0
            if current == 0 and row is None:
                tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if tables - {"schema_version", "sqlite_sequence"}:
                    raise AuditorError(f"{self.path} is an SQLite file but not an inboxready history")
                db.execute("INSERT INTO schema_version (version) VALUES (0)")
            if current > SCHEMA_VERSION:
                raise AuditorError(
                    f"the history {self.path} was written by a newer inboxready (history schema {current}, "
                    f"this version reads up to {SCHEMA_VERSION}); upgrade inboxready or pass --history PATH"
                )
            for version in range(current + 1, upto + 1):
                MIGRATIONS[version - 1](db)
                db.execute("UPDATE schema_version SET version = ?", (version,))

    @property
    def schema_version(self) -> int:
        return self.db.execute("SELECT version FROM schema_version").fetchone()[0]

    # -- writing ---------------------------------------------------------------------------------------

    def record(self, result: dict, *, recorded_at: str | None = None) -> int:
        """Store one run's JSON result; returns its id. One transaction: all of it or nothing."""
        target = (result.get("target") or {}).get("domain")
        if not target:
            raise AuditorError("cannot store a result without a target domain in the history")
        version = (result.get("tool") or {}).get("version") or "unknown"
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO runs (recorded_at, target, tool_version, result, result_schema, summary) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    recorded_at or utc_now(),
                    target,
                    version,
                    json.dumps(result, ensure_ascii=False, sort_keys=True),
                    result.get("schema"),
                    json.dumps(result.get("summary") or {}),
                ),
            )
            return int(cursor.lastrowid)

    # -- reading ---------------------------------------------------------------------------------------

    def runs(self, target: str | None = None, *, limit: int | None = None) -> list[HistoryRun]:
        """Runs, newest first; only `target`'s when given."""
        query = "SELECT id, recorded_at, target, tool_version, result FROM runs"
        params: list = []
        if target is not None:
            query += " WHERE target = ?"
            params.append(target)
        query += " ORDER BY id DESC"
        if limit is not None:
            query += " LIMIT ?"
            params.append(limit)
        return [_row_to_run(row) for row in self.db.execute(query, params)]

    def previous(self, target: str, *, before: int | None = None) -> HistoryRun | None:
        """The latest readable run of `target` (before run id `before`, when given)."""
        query = "SELECT id, recorded_at, target, tool_version, result FROM runs WHERE target = ?"
        params: list = [target]
        if before is not None:
            query += " AND id < ?"
            params.append(before)
        for row in self.db.execute(query + " ORDER BY id DESC", params):
            run = _row_to_run(row)
            if run.readable:
                return run
        return None

    def targets(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT DISTINCT target FROM runs ORDER BY target")]

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]


def _row_to_run(row: tuple) -> HistoryRun:
    run_id, recorded_at, target, tool_version, text = row
    try:
        result = json.loads(text)
        readable = isinstance(result, dict)
    except ValueError:
        result, readable = {}, False
    return HistoryRun(run_id, recorded_at, target, tool_version, result if readable else {}, readable)


def open_history(path: Path | str | None = None) -> History:
    return History(Path(path) if path is not None else default_history_path())


def save_run(result: dict, path: Path | str | None = None) -> int:
    """Store one run (for `check --save`); returns the run id."""
    with open_history(path) as history:
        return history.record(result)
