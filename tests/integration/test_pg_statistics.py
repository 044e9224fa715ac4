"""PostgreSQL: the writer keeps the view tables' statistics current itself
(projections/pg_statistics.py), so that no read is planned from guesses, whatever autovacuum
does: a table never analyzed is analyzed at the first write, a table is analyzed again once the
rows written since reach a tenth of its size (at least ANALYZE_AFTER_ROWS), every table after a
rebuild, and a failure to analyze is logged, not raised."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from projections import pg_statistics
from projections.pg_statistics import TableStatistics
from projections.runner import catch_up, rebuild
from projections.service import CreditsService
from tests.helpers import Scenario

pytestmark = pytest.mark.postgres


def _planned_rows(url: str, table: str) -> float:
    """The planner's count of the table's rows (pg_class.reltuples; -1 until first analyzed)."""
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT reltuples FROM pg_class WHERE relname = %s", (table,)).fetchone()
        assert found is not None
        return float(found[0])


def _caught_up(service: CreditsService) -> None:
    """The facts written, and the analyses they set off done (they run on a thread of their own)."""
    catch_up(service.app, service.view)
    statistics: TableStatistics = service.view.statistics  # type: ignore[attr-defined]
    statistics.settle()


def test_the_writer_analyzes_what_it_wrote(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_statistics, "ANALYZE_AFTER_ROWS", 5)
    service = CreditsService(postgres_url)
    world = Scenario(service.app)
    world.contract("c0", "a")
    _caught_up(service)
    # never analyzed before this first write: every view table is analyzed
    assert _planned_rows(postgres_url, "v_contracts") == 1
    assert _planned_rows(postgres_url, "v_billed") == 0
    for n in range(1, 4):  # three rows since: below the threshold, the statistics stay
        world.contract(f"c{n}", f"cust{n}")
    _caught_up(service)
    assert _planned_rows(postgres_url, "v_contracts") == 1
    for n in range(4, 7):  # six rows since: analyzed again
        world.contract(f"c{n}", f"cust{n}")
    _caught_up(service)
    assert _planned_rows(postgres_url, "v_contracts") == 7
    service.close()

    with psycopg.connect(postgres_url, autocommit=True) as conn:  # statistics lost, as after a restore
        conn.execute("DELETE FROM pg_statistic WHERE starelid = 'v_contracts'::regclass")
        conn.execute("UPDATE pg_class SET reltuples = -1 WHERE relname = 'v_contracts'")
    rebuild(postgres_url)
    assert _planned_rows(postgres_url, "v_contracts") == 7  # a rebuild analyzes every table


def test_a_failure_to_analyze_is_logged_not_raised(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    service = CreditsService(postgres_url)
    world = Scenario(service.app)
    world.contract("c0", "a")
    statistics = service.view.statistics  # type: ignore[attr-defined]

    @contextmanager
    def refusing() -> Iterator[Any]:
        raise psycopg.errors.InsufficientPrivilege("must be owner of table v_contracts")
        yield  # pragma: no cover

    monkeypatch.setattr(statistics, "_cursor", refusing)
    with caplog.at_level(logging.WARNING, logger="sla_credits.projection"):
        statistics.analyze(["v_contracts"])
        assert "could not analyze" in caplog.text
        _caught_up(service)  # the rows are written all the same
    assert "could not read the tables' statistics" in caplog.text
    assert [c.contract_id for c in service.reader.all_contracts()] == ["c0"]
    service.close()
