"""Views written by an older projection (another MODEL_VERSION) are rebuilt from the log by
the writer before it goes on: no row whose meaning changed survives an upgrade."""

from __future__ import annotations

from typing import Any

from projections.runner import catch_up, rebuild
from projections.service import CreditsService
from tests.helpers import Scenario, utc


def test_views_of_an_older_projection_are_rebuilt_by_the_writer(store_url: str) -> None:
    service = CreditsService(store_url)
    s = Scenario(service.app).contract()
    s.incident(utc(2025, 3, 10), utc(2025, 3, 10, 1))
    catch_up(service.app, service.view)
    with service.view.cursor(commit=True) as c:
        # what version 1 left: no model version, a `provisional` column, and a stale row
        c.execute("DELETE FROM v_meta")
        c.execute("ALTER TABLE v_periods ADD COLUMN provisional INTEGER NOT NULL DEFAULT 0")
        c.execute("UPDATE v_periods SET credit_minor = 999999, provisional = 1")
        # and a view of version 3, without a column a newer index needs
        c.execute("DROP TABLE v_facts")
        c.execute("CREATE TABLE v_facts (position BIGINT PRIMARY KEY, recorded_at BIGINT NOT NULL)")
    service.close()
    service = CreditsService(store_url)  # every process can start on the old store
    s = Scenario(service.app)
    s.n = 1
    s.incident(utc(2025, 4, 10), utc(2025, 4, 10, 0, 5))

    catch_up(service.app, service.view)

    live = service.view.dump_rows()
    rebuild(store_url)
    assert service.view.dump_rows() == live
    assert 999999 not in [row[4] for row in live["v_periods"]]
    doc = service.credits("a", "2025-03", "2025-04", catch_up=False)
    assert [p["credit_minor"] for p in doc["periods"]] == [10000, 0]
    service.close()


def test_a_rebuild_on_views_of_an_older_projection_rebuilds_them(store_url: str) -> None:
    """`sla-credits rebuild` right after an upgrade, before any writer ran: a table whose columns
    changed (here v_periods without the stored answer's lines) is recreated, not written into."""
    service = CreditsService(store_url)
    s = Scenario(service.app).contract()
    s.incident(utc(2025, 3, 10), utc(2025, 3, 10, 1))
    catch_up(service.app, service.view)
    fresh = service.view.dump_rows()
    with service.view.cursor(commit=True) as c:
        c.execute("UPDATE v_meta SET value = '7' WHERE name = 'model_version'")
        c.execute("DROP TABLE v_periods")
        c.execute(
            "CREATE TABLE v_periods (contract_id TEXT NOT NULL, month TEXT NOT NULL, customer_id TEXT NOT NULL, "
            "year_start TEXT NOT NULL, credit_minor BIGINT NOT NULL, granted_minor BIGINT NOT NULL, "
            "capped_minor BIGINT NOT NULL, PRIMARY KEY (contract_id, month))"
        )
    service.close()

    rebuild(store_url)

    service = CreditsService(store_url)
    assert service.view.dump_rows() == fresh
    doc = service.credits("a", "2025-03", "2025-03", catch_up=False)
    assert [p["credit_minor"] for p in doc["periods"]] == [10000]
    service.close()


def test_an_upgrade_from_version_8_drops_the_line_rows_and_keeps_every_figure(store_url: str) -> None:
    """Version 8 stored each period's lines as rows of `v_downtime`; version 9 stores them with
    the period. The writer's upgrade drops the retired table and rebuilds the periods with their
    lines, equal to a fresh projection's."""
    service = CreditsService(store_url)
    s = Scenario(service.app).contract()
    s.incident(utc(2025, 3, 10), utc(2025, 3, 10, 1))
    catch_up(service.app, service.view)
    fresh = service.view.dump_rows()
    explained = service.credits("a", "2025-03", "2025-03", catch_up=False)
    with service.view.cursor(commit=True) as c:
        c.execute("UPDATE v_meta SET value = '8' WHERE name = 'model_version'")
        _periods_of_version_8(c)
        c.execute(
            "CREATE TABLE v_downtime (contract_id TEXT NOT NULL, month TEXT NOT NULL, service TEXT NOT NULL, "
            "region TEXT NOT NULL, customer_id TEXT NOT NULL, downtime_seconds TEXT NOT NULL, doc TEXT NOT NULL, "
            "PRIMARY KEY (contract_id, month, service, region))"
        )
    service.close()

    service = CreditsService(store_url)  # every process can start on the old store
    catch_up(service.app, service.view)  # the writer upgrades, then rebuilds from the log

    assert service.view.dump_rows() == fresh
    assert not service.view.select(
        "SELECT 1 FROM information_schema.tables WHERE table_name = 'v_downtime'"
        if service.view.placeholder == "%s"
        else "SELECT 1 FROM sqlite_master WHERE name = 'v_downtime'"
    )
    assert service.credits("a", "2025-03", "2025-03", catch_up=False) == explained
    other = CreditsService(store_url)  # another process loads the periods with their lines
    assert other.view.load_model().periods == service.view.model.periods
    other.close()
    service.close()


def test_a_version_8_store_never_projected_is_upgraded_too(store_url: str) -> None:
    """Facts recorded, views of version 8 made, but no position yet (the projection never ran):
    the tables of an older shape are made again, so the first catch-up writes them."""
    service = CreditsService(store_url)
    with service.view.cursor(commit=True) as c:
        c.execute("UPDATE v_meta SET value = '8' WHERE name = 'model_version'")
        _periods_of_version_8(c)
    s = Scenario(service.app).contract()
    s.incident(utc(2025, 3, 10), utc(2025, 3, 10, 1))
    service.close()

    service = CreditsService(store_url)
    catch_up(service.app, service.view)
    live = service.view.dump_rows()
    rebuild(store_url)
    fresh_rows = service.view.dump_rows()

    assert live == fresh_rows and len(live["v_periods"]) == 1
    assert [p["credit_minor"] for p in service.credits("a", "2025-03", "2025-03", catch_up=False)["periods"]] == [10000]
    service.close()


def _periods_of_version_8(c: Any) -> None:
    """`v_periods` as version 8 made it: the answer's lines, not the stored ones."""
    c.execute("DROP TABLE v_periods")
    c.execute(
        "CREATE TABLE v_periods (contract_id TEXT NOT NULL, month TEXT NOT NULL, customer_id TEXT NOT NULL, "
        "year_start TEXT NOT NULL, credit_minor BIGINT NOT NULL, granted_minor BIGINT NOT NULL, "
        "capped_minor BIGINT NOT NULL, lines_answer TEXT NOT NULL, PRIMARY KEY (contract_id, month))"
    )
