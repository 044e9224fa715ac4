"""`sla-credits migrate`: create the tables, indexes and append-only guard, and on PostgreSQL
the service's database role with the grants it needs and no more.

Idempotent: every statement is `IF NOT EXISTS`, `CREATE OR REPLACE`, or a grant. Run it as
the database owner; the service then connects as the service role, which may read and append
facts but never update or delete them (no UPDATE or DELETE grant, and the trigger besides),
and which may write the read models."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from projections.stores import open_application, open_view
from projections.views import SERVICE_TABLES, VIEW_TABLES


def migrate(
    url: str,
    service_role: str | None = None,
    service_password: str | None = None,
    also: Sequence[Callable[[Any], list[str]]] = (),
) -> list[str]:
    """Bring the store at `url` (an owner's URL) up to date; answers what was done. `also`:
    more tables' makers (given the application, answering the tables' names), granted alike."""
    done: list[str] = []
    app = open_application(url, create=True)  # the events table, its function and the guard
    try:
        recorder: Any = app.recorder
        events = recorder.events_table_name
        done.append(f"events table {events} with the append-only guard")
        view: Any = open_view(url, create=True)
        done.append(f"read model tables {', '.join(VIEW_TABLES)} and {view.tracking_table()}")
        # views of an older projection: made again here, by the owner (dropping a table needs
        # its owner's rights, which the service role has not); the projection rebuilds them
        if view.upgrade_model():
            done.append("views of an older projection dropped: the projection rebuilds them from the log")
        more: list[str] = []
        for create in also:
            made = create(app)
            more += made
            done.append(f"tables {', '.join(made)}")
        if service_role is None:
            return done
        if not url.startswith(("postgresql", "postgres")):
            raise ValueError("--service-role: roles and grants exist on PostgreSQL only")
        schema = recorder.datastore.schema
        tables = [*SERVICE_TABLES, *more, view.tracking_table()]
        with psycopg.connect(_conninfo(app.env), autocommit=True) as conn:
            _grant(conn, schema, events, tables, service_role, service_password)
        done.append(
            f"role {service_role}: SELECT, INSERT on {events} (no UPDATE, DELETE); read and write the read models"
        )
        return done
    finally:
        app.close()


def _conninfo(env: Any) -> str:
    parts = {
        "host": env.get("POSTGRES_HOST"),
        "port": env.get("POSTGRES_PORT"),
        "dbname": env.get("POSTGRES_DBNAME"),
        "user": env.get("POSTGRES_USER"),
        "password": env.get("POSTGRES_PASSWORD") or None,
    }
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in parts.items() if v})


def _grant(
    conn: psycopg.Connection[Any], schema: str, events: str, tables: list[str], role: str, password: str | None
) -> None:
    r, s = sql.Identifier(role), sql.Identifier(schema)
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if not exists:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(r))
    if password:
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(r, sql.Literal(password)))
    db = conn.execute("SELECT current_database()").fetchone()
    assert db is not None
    statements = [
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(db[0]), r),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, r),
        # TRUNCATE only because the library appends under LOCK TABLE ... IN EXCLUSIVE MODE,
        # which PostgreSQL grants to UPDATE, DELETE or TRUNCATE; the trigger refuses TRUNCATE.
        sql.SQL("GRANT SELECT, INSERT, TRUNCATE ON {}.{} TO {}").format(s, sql.Identifier(events), r),
        sql.SQL("REVOKE UPDATE, DELETE, REFERENCES, TRIGGER ON {}.{} FROM {}").format(s, sql.Identifier(events), r),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(s, r),
        sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {} TO {}").format(s, r),
    ]
    statements += [
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {}.{} TO {}").format(s, sql.Identifier(t), r) for t in tables
    ]
    for statement in statements:
        conn.execute(statement)
