"""PostgreSQL: a read of the views is a READ ONLY transaction ended by a COMMIT (decision 27), so
that psycopg keeps the statements it prepared on the connection (at a ROLLBACK it forgets them
all, and every read was parsed and planned again), and so that committing it can never keep a
write. A read kept prepared names its columns: it still answers once its table has been
recreated with more columns (an upgrade of the views while a worker of this release runs)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from domain.calendar import Month, to_micros
from projections.as_of import customer_model_at
from projections.credits_projection import CreditsProjection
from projections.queries import claims_report, credits_document
from projections.readers import SQLReader
from projections.service import CreditsService
from projections.stores import store_env
from projections.views import SQLCreditsView
from tests.helpers import Scenario, utc

pytestmark = pytest.mark.postgres

STATEMENT = "SELECT COUNT(*) AS n FROM v_contracts WHERE customer_id = ?"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def one_connection(postgres_url: str) -> Iterator[SQLCreditsView]:
    """The views through a pool of one connection: every read runs on it, so what it has
    prepared is what this connection shows."""
    CreditsService(postgres_url).close()  # the tables
    env = Environment(CreditsProjection.name, {**store_env(postgres_url, pool_size=1), "POSTGRES_MAX_OVERFLOW": "0"})
    view = InfrastructureFactory.construct(env=env).tracking_recorder()
    assert isinstance(view, SQLCreditsView)
    yield view
    view.datastore.close()  # type: ignore[attr-defined]


def _prepared(view: SQLCreditsView) -> list[str]:
    return [str(r["statement"]) for r in view.select("SELECT statement FROM pg_prepared_statements")]


def test_a_read_asked_again_and_again_is_prepared_and_stays_prepared(one_connection: SQLCreditsView) -> None:
    view = one_connection
    for _ in range(6):  # psycopg prepares a statement at its fifth run on a connection
        assert view.select(STATEMENT, ("nobody",))[0]["n"] == 0
    assert any("FROM v_contracts WHERE customer_id" in s for s in _prepared(view))
    for _ in range(6):  # and it stays prepared through reads in one snapshot
        with view.reading():
            view.select(STATEMENT, ("nobody",))
    assert any("FROM v_contracts WHERE customer_id" in s for s in _prepared(view))


def _read_only(error: BaseException) -> bool:
    """PostgreSQL's refusal, as psycopg raises it (the library wraps it in its own class)."""
    return isinstance(error, psycopg.errors.ReadOnlySqlTransaction) or isinstance(
        error.__cause__, psycopg.errors.ReadOnlySqlTransaction
    )


def test_a_read_cannot_write(one_connection: SQLCreditsView) -> None:
    view = one_connection
    write = "INSERT INTO v_meta VALUES ('written by a read', 'x') RETURNING name"
    with pytest.raises(Exception) as refused:
        view.select(write)
    assert _read_only(refused.value)
    with pytest.raises(Exception) as refused, view.reading():
        view.select(write)
    assert _read_only(refused.value)
    assert view.select("SELECT name FROM v_meta WHERE name = 'written by a read'") == []


def test_reads_kept_prepared_answer_after_their_tables_gain_columns(
    postgres_url: str, one_connection: SQLCreditsView
) -> None:
    service = CreditsService(postgres_url)
    world = Scenario(service.app)
    world.contract("c1", "a")
    world.incident(utc(2025, 3, 1, 10), utc(2025, 3, 2, 10))
    service.app.file_claim(claim_id="k1", customer_id="a", month="2025-03", channel="email", message="down")
    service.catch_up()
    service.bill(Month(2025, 3), NOW)
    service.catch_up()
    service.close()

    view = one_connection
    reader = SQLReader(view)
    reads: dict[str, Callable[[], Any]] = {
        "credits": lambda: credits_document(reader, "a", Month(2025, 1), Month(2025, 12), to_micros(NOW)),
        "periods": lambda: reader.periods_of("a"),
        "years": lambda: reader.years_of("a"),
        "claims report": lambda: claims_report(reader, Month(2025, 1), Month(2025, 12), to_micros(NOW)),
        "ledger page": lambda: reader.ledger_page(0, 10),
        "ledger as known": lambda: reader.ledger_rows(0, 10, "a", known_upto=10**9),
        "as of": lambda: customer_model_at(view, service.app.mapper, "a", NOW).periods,
        "working state": lambda: view.load_model().periods,
    }
    before = {}
    for _ in range(6):  # each prepared on the one connection
        before = {name: read() for name, read in reads.items()}
    assert before["periods"] and before["ledger page"]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for table in ("v_contracts", "v_periods", "v_contract_years", "v_claims", "v_ledger", "v_billed", "v_runs"):
            conn.execute(f"ALTER TABLE {table} ADD COLUMN added_later TEXT")
    after = {name: read() for name, read in reads.items()}  # no "cached plan must not change result type"
    assert after == before
