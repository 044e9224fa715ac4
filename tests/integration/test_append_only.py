"""Recorded facts cannot be changed through the database, and a change made behind the
service's back (by a superuser who disables the guard) is found by the hash chain."""

from __future__ import annotations

import psycopg
import pytest

from domain.application import APPLICATION_NAME
from projections.service import CreditsService
from projections.verification import verify
from tests.helpers import Scenario, utc


def _world(url: str) -> CreditsService:
    service = CreditsService(url)
    s = Scenario(service.app).contract()
    s.incident(utc(2025, 2, 1), utc(2025, 2, 2))
    s.incident(utc(2025, 3, 1), utc(2025, 3, 2))
    service.catch_up()
    return service


def _sql(url: str, statement: str) -> None:
    if url.startswith("sqlite"):
        with service_cursor(url) as c:
            c.execute(statement)
    else:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(statement)


def service_cursor(url: str):
    import sqlite3
    from contextlib import closing

    return closing(sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None))


def _table(url: str) -> str:
    return "stored_events" if url.startswith("sqlite") else "slacredits_events"


def test_updates_and_deletes_of_stored_facts_are_refused(store_url: str) -> None:
    service = _world(store_url)
    table = _table(store_url)

    for statement in (f"UPDATE {table} SET originator_version = originator_version", f"DELETE FROM {table}"):
        with pytest.raises(Exception, match="append-only"):
            if store_url.startswith("sqlite"):
                import sqlite3

                conn = sqlite3.connect(store_url.removeprefix("sqlite:///"))
                try:
                    conn.execute(statement)
                finally:
                    conn.close()
            else:
                _sql(store_url, statement)
    assert service.app.recorder.max_notification_id() == 3
    service.close()


def test_a_fact_altered_behind_the_services_back_is_found_at_its_position(store_url: str) -> None:
    service = _world(store_url)
    clean = verify(service.app, service.view, service.view.max_tracking_id(APPLICATION_NAME) or 0)
    table = _table(store_url)
    forged = "replace(CAST(state AS TEXT), '2025-03-02', '2025-03-01')"
    if store_url.startswith("sqlite"):
        _sql(store_url, "DROP TRIGGER stored_events_no_update")
        _sql(store_url, f"UPDATE {table} SET state = CAST({forged} AS BLOB) WHERE rowid = 3")
    else:
        _sql(store_url, f"ALTER TABLE {table} DISABLE TRIGGER slacredits_events_append_only")
        _sql(
            store_url,
            f"UPDATE {table} SET state = convert_to(replace(convert_from(state, 'UTF8'), "
            "'2025-03-02', '2025-03-01'), 'UTF8') WHERE notification_id = 3",
        )

    tampered = verify(service.app, service.view, 3)

    assert clean["first_bad_position"] is None and clean["mismatch_count"] == 0
    assert tampered["first_bad_position"] == 3
    assert tampered["digest"] != clean["digest"]
    service.close()
