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
