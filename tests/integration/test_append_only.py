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


def _alter_fact_3(url: str) -> None:
    """What a superuser can do behind the service's back: remove the guard, change fact 3's end."""
    table = _table(url)
    if url.startswith("sqlite"):
        forged = "replace(CAST(state AS TEXT), '2025-03-02', '2025-03-01')"
        _sql(url, "DROP TRIGGER stored_events_no_update")
        _sql(url, f"UPDATE {table} SET state = CAST({forged} AS BLOB) WHERE rowid = 3")
    else:
        _sql(url, f"ALTER TABLE {table} DISABLE TRIGGER slacredits_events_append_only")
        _sql(
            url,
            f"UPDATE {table} SET state = convert_to(replace(convert_from(state, 'UTF8'), "
            "'2025-03-02', '2025-03-01'), 'UTF8') WHERE notification_id = 3",
        )


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
    _alter_fact_3(store_url)

    tampered = verify(service.app, service.view, 3)

    assert clean["first_bad_position"] is None and clean["mismatch_count"] == 0
    assert tampered["first_bad_position"] == 3
    assert tampered["digest"] != clean["digest"]
    service.close()


def test_insert_or_replace_cannot_rewrite_a_fact_on_sqlite(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    url = f"sqlite:///{tmp_path}/credits.db"
    service = _world(url)
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        for statement in (
            # the adversarial trial's statement: the same rowid, a changed fee
            "INSERT OR REPLACE INTO stored_events(rowid, originator_id, originator_version, topic, state) "
            "SELECT rowid, originator_id, originator_version, topic, "
            "CAST(replace(CAST(state AS TEXT), '\"monthly_fee_minor\":', '\"monthly_fee_minor\":9') AS BLOB) "
            "FROM stored_events WHERE rowid = 1",
            # a new rowid, but an existing stream version
            "INSERT OR REPLACE INTO stored_events(originator_id, originator_version, topic, state) "
            "SELECT originator_id, originator_version, topic, state FROM stored_events WHERE rowid = 1",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement)
            conn.rollback()
    finally:
        conn.close()
    result = verify(service.app, service.view, 3)
    assert (result["first_bad_position"], result["mismatch_count"]) == (None, 0)
    service.close()


def test_a_position_cannot_be_given_again_on_postgres(postgres_url: str) -> None:
    service = _world(postgres_url)

    with pytest.raises(psycopg.Error, match="append-only"):
        _sql(
            postgres_url,
            "INSERT INTO slacredits_events (originator_id, originator_version, topic, state, notification_id) "
            "SELECT originator_id, originator_version + 100, topic, state, 2 FROM slacredits_events "
            "WHERE notification_id = 2",
        )
    with pytest.raises(psycopg.Error, match="append-only"):
        _sql(
            postgres_url,
            "INSERT INTO slacredits_events (originator_id, originator_version, topic, state) "
            "SELECT originator_id, originator_version, topic, state FROM slacredits_events WHERE notification_id = 2 "
            "ON CONFLICT (originator_id, originator_version) DO UPDATE SET state = excluded.state",
        )
    service.close()


def test_a_rebuild_refuses_to_launder_an_altered_log_and_a_checkpoint_exposes_it(store_url: str) -> None:
    from projections.runner import LogAlteredError, rebuild
    from projections.verification import check_against, checkpoint

    service = _world(store_url)
    kept = checkpoint(service.app)
    _alter_fact_3(store_url)

    with pytest.raises(LogAlteredError) as refused:
        rebuild(store_url)

    assert refused.value.position == 3
    assert verify(service.app, service.view, 3)["first_bad_position"] == 3  # the recorded links are intact
    assert kept["position"] == 3
    assert check_against(service.app, kept)["ok"] is False
    service.close()
