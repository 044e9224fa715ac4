"""PostgreSQL: a read of the views is a READ ONLY transaction ended by a COMMIT, so that psycopg
keeps the statements it prepared on the connection (at a ROLLBACK it forgets them all, and every
read was parsed and planned again), and so that committing it can never keep a write."""

from __future__ import annotations

import psycopg
import pytest

from projections.stores import open_view
from projections.views import SQLCreditsView

pytestmark = pytest.mark.postgres

STATEMENT = "SELECT COUNT(*) AS n FROM v_contracts WHERE customer_id = ?"


def _prepared(view: SQLCreditsView) -> list[str]:
    return [str(r["statement"]) for r in view.select("SELECT statement FROM pg_prepared_statements")]


def test_a_read_asked_again_and_again_is_prepared_and_stays_prepared(postgres_url: str) -> None:
    view = open_view(postgres_url)
    assert isinstance(view, SQLCreditsView)
    try:
        # psycopg prepares a statement run five times on a connection; the pool may lend each of
        # its connections in turn, so every one of them runs it more than that
        for _ in range(60):
            assert view.select(STATEMENT, ("nobody",))[0]["n"] == 0
        assert any("FROM v_contracts WHERE customer_id" in s for s in _prepared(view))
        for _ in range(60):  # in one snapshot too
            with view.reading():
                view.select(STATEMENT, ("nobody",))
        assert any("FROM v_contracts WHERE customer_id" in s for s in _prepared(view))
    finally:
        view.datastore.close()  # type: ignore[attr-defined]


def _read_only(error: BaseException) -> bool:
    """PostgreSQL's refusal, as psycopg raises it (the library wraps it in its own class)."""
    return isinstance(error, psycopg.errors.ReadOnlySqlTransaction) or isinstance(
        error.__cause__, psycopg.errors.ReadOnlySqlTransaction
    )


def test_a_read_cannot_write(postgres_url: str) -> None:
    view = open_view(postgres_url)
    assert isinstance(view, SQLCreditsView)
    try:
        write = "INSERT INTO v_meta VALUES ('written by a read', 'x') RETURNING name"
        with pytest.raises(Exception) as refused:
            view.select(write)
        assert _read_only(refused.value)
        with pytest.raises(Exception) as refused, view.reading():
            view.select(write)
        assert _read_only(refused.value)
        assert view.select("SELECT name FROM v_meta WHERE name = 'written by a read'") == []
    finally:
        view.datastore.close()  # type: ignore[attr-defined]
