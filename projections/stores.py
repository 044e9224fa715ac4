"""Choosing and opening the store named by SLACREDITS_DATABASE_URL (SQLite or PostgreSQL)."""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from eventsourcing.persistence import InfrastructureFactory, PersistenceError
from eventsourcing.utils import Environment, get_topic

from domain.application import CreditsApplication
from projections.credits_projection import CreditsProjection
from projections.pg_recorders import FailFastPostgresApplicationRecorder
from projections.sqlite_subscription import PollingSQLiteApplicationRecorder
from projections.views import CreditsView, PostgresCreditsView, SQLiteCreditsView

DEFAULT_URL = "sqlite:///data/sla-credits.db"


def _option(name: str, default: str) -> str:
    """A PostgreSQL connection setting (SLACREDITS_PG_*, see api/settings.py)."""
    return os.environ.get(f"SLACREDITS_{name}", default)


def create_tables() -> bool:
    """Whether this process creates missing tables and the append-only guard. False when the
    service connects as a role that owns nothing (`sla-credits migrate` made them)."""
    return os.environ.get("SLACREDITS_CREATE_TABLES", "true").lower() not in ("false", "0", "no", "n")


def store_env(url: str, pool_size: int = 5) -> dict[str, str]:
    """The eventsourcing environment for a database URL."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path)
        if path.startswith("/") and not url.startswith("sqlite:////"):
            path = path[1:]  # sqlite:///relative/file.db
        if not path:
            raise ValueError("SLACREDITS_DATABASE_URL: a SQLite URL needs a file path, sqlite:///path/file.db")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        _in_wal_mode(path)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "30",
            "APPLICATION_RECORDER_TOPIC": get_topic(PollingSQLiteApplicationRecorder),
            "TRACKING_RECORDER_TOPIC": get_topic(SQLiteCreditsView),
        }
    if parsed.scheme in ("postgresql", "postgres"):
        query = parse_qs(parsed.query)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(parsed.path.lstrip("/")),
            "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": unquote(parsed.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parsed.password or ""),
            "POSTGRES_POOL_SIZE": str(pool_size),
            "POSTGRES_MAX_OVERFLOW": _option("PG_MAX_OVERFLOW", "10"),
            "POSTGRES_CONNECT_TIMEOUT": _option("PG_CONNECT_TIMEOUT", "2"),
            "POSTGRES_MAX_WAITING": _option("PG_MAX_WAITING", "0"),
            "POSTGRES_LOCK_TIMEOUT": _option("PG_LOCK_TIMEOUT", "10"),
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": _option("PG_IDLE_IN_TRANSACTION_TIMEOUT", "60"),
            # a connection broken by a server restart is found and replaced before it is used
            "POSTGRES_PRE_PING": "y",
            "CREATE_TABLE": "y" if create_tables() else "n",
            "APPLICATION_RECORDER_TOPIC": get_topic(FailFastPostgresApplicationRecorder),
            "TRACKING_RECORDER_TOPIC": get_topic(PostgresCreditsView),
        }
        if "schema" in query:
            env["POSTGRES_SCHEMA"] = query["schema"][0]
        return env
    raise ValueError(f"SLACREDITS_DATABASE_URL: unsupported scheme {parsed.scheme!r} (use sqlite:/// or postgresql://)")


def _in_wal_mode(path: str, attempts: int = 100) -> None:
    """Put the SQLite file in WAL mode before the library opens it. The library switches each new
    file itself, but two processes (or threads) opening a new file at once race: the switch needs
    the file to itself, and SQLite refuses it at once ("database is locked") instead of waiting
    for the other. WAL mode is kept in the file, so the switch is made once, retried here."""
    if path == ":memory:" or path.startswith("file::memory:"):
        return
    for attempt in range(attempts):
        try:
            with closing(sqlite3.connect(path, timeout=1, isolation_level=None)) as db:
                mode = db.execute("PRAGMA journal_mode").fetchone()[0]
                if str(mode).lower() != "wal":
                    mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() == "wal":
                return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
        time.sleep(0.05 * min(attempt + 1, 10))
    raise PersistenceError(f"{path}: could not be put in WAL mode (another process holds it)")


def new_application(env: dict[str, str]) -> CreditsApplication:
    """The application on a store. Processes starting at once may race to create the same
    tables and functions (PostgreSQL: "tuple concurrently updated"); the loser tries again."""
    for attempt in range(5):
        try:
            return CreditsApplication(env=env)
        except PersistenceError:
            if attempt == 4:
                raise
            time.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def open_application(url: str, create: bool | None = None, **extra: Any) -> CreditsApplication:
    """The application on the store; `create` forces (or forbids) creating missing tables."""
    env = store_env(url)
    if create is not None:
        env["CREATE_TABLE"] = "y" if create else "n"
    app = new_application({**env, **extra})
    protect_log(app, force=bool(create))
    return app


def open_view(url: str, create: bool | None = None) -> CreditsView:
    """The credits view in the given store (tables created if missing, unless told not to)."""
    env = store_env(url)
    if create is not None:
        env["CREATE_TABLE"] = "y" if create else "n"
    env = Environment(CreditsProjection.name, env)
    view = InfrastructureFactory.construct(env=env).tracking_recorder()
    assert isinstance(view, CreditsView)
    return view


SQLITE_PROTECT = [
    "CREATE TRIGGER IF NOT EXISTS stored_events_no_update BEFORE UPDATE ON stored_events "
    "BEGIN SELECT RAISE(ABORT, 'recorded facts are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS stored_events_no_delete BEFORE DELETE ON stored_events "
    "BEGIN SELECT RAISE(ABORT, 'recorded facts are append-only'); END",
    # INSERT OR REPLACE deletes the row it replaces without firing the delete trigger: refuse an
    # insert that would take an existing position (rowid) or an existing stream version
    "CREATE TRIGGER IF NOT EXISTS stored_events_no_replace BEFORE INSERT ON stored_events "
    "WHEN (NEW.rowid > 0 AND NEW.rowid <= (SELECT COALESCE(MAX(rowid), 0) FROM stored_events)) "
    "OR EXISTS (SELECT 1 FROM stored_events WHERE originator_id = NEW.originator_id "
    "AND originator_version = NEW.originator_version) "
    "BEGIN SELECT RAISE(ABORT, 'recorded facts are append-only: this position or stream version exists'); END",
]
POSTGRES_PROTECT = [
    "CREATE OR REPLACE FUNCTION sla_credits_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'recorded facts are append-only'; END $$",
    "CREATE OR REPLACE TRIGGER slacredits_events_append_only BEFORE UPDATE OR DELETE ON slacredits_events "
    "FOR EACH ROW EXECUTE FUNCTION sla_credits_append_only()",
    "CREATE OR REPLACE TRIGGER slacredits_events_no_truncate BEFORE TRUNCATE ON slacredits_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION sla_credits_append_only()",
    # a position is never given twice, nor below one already given (ON CONFLICT ... DO UPDATE
    # is an UPDATE, refused above)
    "CREATE OR REPLACE FUNCTION sla_credits_new_position() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN IF NEW.notification_id <= (SELECT COALESCE(MAX(notification_id), 0) FROM slacredits_events) "
    "THEN RAISE EXCEPTION 'recorded facts are append-only: position % is not after the last one', "
    "NEW.notification_id; END IF; RETURN NEW; END $$",
    "CREATE OR REPLACE TRIGGER slacredits_events_new_position BEFORE INSERT ON slacredits_events "
    "FOR EACH ROW EXECUTE FUNCTION sla_credits_new_position()",
]


def protect_log(app: CreditsApplication, force: bool = False) -> None:
    """Make the stored facts append-only in the database itself (a trigger refuses UPDATE,
    DELETE and, on PostgreSQL, TRUNCATE), whatever client connects."""
    if not (force or create_tables()):
        return  # installed by `sla-credits migrate`; this role may not own the table
    statements = SQLITE_PROTECT if app.env.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite" else POSTGRES_PROTECT
    datastore = app.recorder.datastore  # type: ignore[attr-defined]
    for attempt in range(5):
        try:
            with datastore.transaction(commit=True) as c:
                for statement in statements:
                    c.execute(statement)
            return
        except Exception:  # concurrent creation by another process: try again
            if attempt == 4:
                raise
            time.sleep(0.1 * (attempt + 1))
