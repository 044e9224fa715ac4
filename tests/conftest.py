"""Stores for the tests: every integration scenario runs on SQLite and on PostgreSQL.

PostgreSQL tests read SLACREDITS_TEST_POSTGRES_URL (an account that may create databases).
When SLACREDITS_REQUIRE_POSTGRES=1 (as in CI) a missing or unreachable server fails the run;
otherwise those tests are skipped locally with the reason."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg
import pytest

PG_ENV = "SLACREDITS_TEST_POSTGRES_URL"
REQUIRE_ENV = "SLACREDITS_REQUIRE_POSTGRES"


def _admin_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def _postgres_unavailable() -> str | None:
    url = _admin_url()
    if url is None:
        return f"{PG_ENV} is not set"
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as e:
        return f"PostgreSQL at {PG_ENV} is unreachable: {e}"
    return None


def require_postgres() -> str:
    reason = _postgres_unavailable()
    if reason is not None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"PostgreSQL is required ({REQUIRE_ENV}=1) but {reason}")
        pytest.skip(reason)
    url = _admin_url()
    assert url is not None
    return url


def fresh_postgres_database() -> Iterator[str]:
    admin = require_postgres()
    name = f"slac_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parsed = urlparse(admin)
    url = urlunparse(parsed._replace(path=f"/{name}"))
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/credits.db"
    else:
        yield from fresh_postgres_database()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from fresh_postgres_database()


# The longest tests first (the harness, schemathesis, real processes killed again and again):
# `make test` shares the tests between two workers in file order, each stealing from the other's
# end once its own are done, so a long test met last kept one worker busy alone for a minute.
LONGEST = (
    "test_live_equals_replay.py",
    "test_schemathesis.py",
    "test_load_and_metrics.py",
    "test_faults.py",
    "test_crash.py",
    "test_event_export.py",
    "test_ledger_properties.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not any(name in item.nodeid for name in LONGEST))  # stable: the rest keep their order
