"""`sla-credits migrate`: idempotent set-up, and on PostgreSQL a service role that can record
facts and keep the views but can neither alter the stored facts nor remove the guard."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg
import pytest

from projections.service import CreditsService
from tests.helpers import Scenario, utc


def _migrate(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SLACREDITS_DATABASE_URL=url)
    return subprocess.run([sys.executable, "-m", "api.cli", "migrate", *args], env=env, capture_output=True, text=True)


@pytest.fixture
def role(postgres_url: str) -> Iterator[str]:
    name = f"slac_svc_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP OWNED BY "{name}"')
        conn.execute(f'DROP ROLE IF EXISTS "{name}"')


def test_the_service_role_records_and_projects_but_cannot_alter_a_fact(
    postgres_url: str, role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _migrate(postgres_url, "--service-role", role), _migrate(postgres_url, "--service-role", role)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    parsed = urlparse(postgres_url)
    as_service = urlunparse(parsed._replace(netloc=f"{role}@{parsed.hostname}:{parsed.port or 5432}"))
    monkeypatch.setenv("SLACREDITS_CREATE_TABLES", "false")

    service = CreditsService(as_service)
    try:
        Scenario(service.app).contract().incident(utc(2025, 3, 1), utc(2025, 3, 2))
        service.catch_up()
        doc = service.credits("a", "2025-03", "2025-03")
        refused = []
        with psycopg.connect(as_service, autocommit=True) as conn:
            for statement in (
                "UPDATE slacredits_events SET topic = topic",
                "DELETE FROM slacredits_events",
                "TRUNCATE slacredits_events",
                "ALTER TABLE slacredits_events DISABLE TRIGGER USER",
                "DROP TABLE slacredits_events",
            ):
                try:
                    conn.execute(statement)
                except psycopg.Error as e:
                    refused.append((statement.split()[0], type(e).__name__))
    finally:
        service.close()

    assert doc["periods"][0]["credit_minor"] == 25000  # 24 h of 744 h: 96.77 % -> 25 %
    assert refused == [
        ("UPDATE", "InsufficientPrivilege"),
        ("DELETE", "InsufficientPrivilege"),
        ("TRUNCATE", "RaiseException"),  # granted for the library's table lock; the guard refuses it
        ("ALTER", "InsufficientPrivilege"),
        ("DROP", "InsufficientPrivilege"),
    ]


def test_migrate_on_sqlite_is_idempotent_and_refuses_a_role(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/credits.db"

    first, second, with_role = _migrate(url), _migrate(url), _migrate(url, "--service-role", "x")

    assert (first.returncode, second.returncode, with_role.returncode) == (0, 0, 2)
    assert "PostgreSQL only" in with_role.stderr


def test_an_upgrade_under_a_service_role_is_done_by_migrate(
    postgres_url: str, role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dropping a view table needs its owner's rights: `migrate` (the owner) makes the views of an
    older projection again and drops retired tables, and the service role's projection then
    rebuilds them from the log, without dropping anything itself."""
    assert _migrate(postgres_url, "--service-role", role).returncode == 0
    parsed = urlparse(postgres_url)
    as_service = urlunparse(parsed._replace(netloc=f"{role}@{parsed.hostname}:{parsed.port or 5432}"))
    monkeypatch.setenv("SLACREDITS_CREATE_TABLES", "false")
    service = CreditsService(as_service)
    Scenario(service.app).contract().incident(utc(2025, 3, 1), utc(2025, 3, 2))
    service.catch_up()
    before = service.credits("a", "2025-03", "2025-03")
    service.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # what release 8 left, as the owner made it
        conn.execute("UPDATE v_meta SET value = '8' WHERE name = 'model_version'")
        conn.execute("CREATE TABLE v_downtime (contract_id TEXT NOT NULL, doc TEXT NOT NULL)")
        conn.execute("ALTER TABLE v_periods DROP COLUMN lines")

    upgraded = _migrate(postgres_url, "--service-role", role)
    service = CreditsService(as_service)
    try:
        service.catch_up()
        after = service.credits("a", "2025-03", "2025-03")
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            retired = conn.execute("SELECT to_regclass('v_downtime')").fetchone()
    finally:
        service.close()

    assert upgraded.returncode == 0 and "views of an older projection dropped" in upgraded.stderr, upgraded.stderr
    assert after == before and before["periods"][0]["credit_minor"] == 25000
    assert retired == (None,)
