"""The read models on SQLite and PostgreSQL: incremental updates, rebuild, as-of, live runner."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from domain.calendar import Month, to_micros
from domain.terms import AnnualCap, Subscription
from projections.queries import credits_document
from projections.readers import ModelReader
from projections.records import ContractFrame
from projections.runner import LiveProjection, rebuild, replay
from projections.service import CreditsService
from tests.helpers import Scenario, terms, utc


@pytest.fixture
def service(store_url: str) -> Iterator[CreditsService]:
    s = CreditsService(store_url)
    yield s
    s.close()


def _cap_world(service: CreditsService) -> tuple[Scenario, str]:
    s = Scenario(service.app).contract(terms=terms(cap=AnnualCap(amount_minor=150000)))
    feb = s.incident(utc(2025, 2, 1), utc(2025, 2, 3))
    s.incident(utc(2025, 3, 1), utc(2025, 3, 3))
    s.incident(utc(2025, 4, 1), utc(2025, 4, 1, 12))
    return s, feb


def test_the_stored_views_give_the_worked_cap_example(service: CreditsService) -> None:
    s, feb = _cap_world(service)

    doc = service.credits("a", "2025-02", "2025-04")

    assert [p["granted_minor"] for p in doc["periods"]] == [100000, 50000, 0]
    s.app.retract_incident(incident_id=feb, request_id="r", reason="false alarm")
    doc = service.credits("a", "2025-02", "2025-04")
    assert [p["granted_minor"] for p in doc["periods"]] == [0, 100000, 25000]


def test_a_rebuild_equals_the_live_views_row_for_row(service: CreditsService) -> None:
    s, feb = _cap_world(service)
    s.contract("c2", "b", timezone="Europe/Berlin", starts_on=date(2025, 1, 17))
    i = s.incident(utc(2025, 2, 10), utc(2025, 2, 11), severity="degraded")
    s.app.exclude_customer(incident_id=i, request_id="x", customer_id="a", reason="customer_caused")
    s.app.correct_incident(incident_id=feb, request_id="c", reason="shorter", changes={"ended_at": utc(2025, 2, 1, 5)})
    s.incident(utc(2025, 5, 1), None)
    # a row in every table: a maintenance window, a claim, a billing run and its acknowledgement
    # (PostgreSQL writes a rebuild's rows by COPY, the live writer by upserts; the claim's tab
    # reaches the index of facts as a JSON escape, a backslash that COPY must escape in turn)
    s.app.announce_maintenance(
        maintenance_id="m1",
        service="compute",
        regions=["eu-west"],
        starts_at=utc(2025, 3, 20),
        ends_at=utc(2025, 3, 20, 2),
        announced_at=utc(2025, 3, 1),
    )
    s.app.file_claim(claim_id="k1", customer_id="a", month="2025-02", channel="email", message="down\ttwice")
    service.catch_up()
    run = service.bill(Month(2025, 3), utc(2025, 4, 5))
    service.catch_up()
    entry = service.reader.ledger_rows(0, 10, None, None, None, False)[0]
    s.app.acknowledge_entry(entry_id=entry["entry_id"], invoice_id="INV-1", applied_at=utc(2025, 4, 6))
    service.catch_up()
    live = service.view.dump_rows()

    rebuild(service.url)

    assert service.view.dump_rows() == live
    assert run["run_id"] and all(live[table] for table in live), [t for t in live if not live[t]]


def test_as_known_at_an_instant_ignores_later_facts(service: CreditsService) -> None:
    s, feb = _cap_world(service)
    between = datetime.now(UTC)
    s.app.retract_incident(incident_id=feb, request_id="r", reason="false alarm")

    then = service.credits("a", "2025-02", "2025-04", as_of=between)
    now = service.credits("a", "2025-02", "2025-04")

    assert [p["granted_minor"] for p in then["periods"]] == [100000, 50000, 0]
    assert [p["granted_minor"] for p in now["periods"]] == [0, 100000, 25000]
    assert then["as_of"] is not None


def test_as_known_at_now_equals_the_live_figures(service: CreditsService) -> None:
    s, _ = _cap_world(service)
    s.incident(utc(2025, 6, 1), None)
    service.catch_up()
    now = datetime.now(UTC)

    live = credits_document(service.reader, "a", Month(2025, 1), Month(2026, 12), to_micros(now))
    replayed = credits_document(
        ModelReader(replay(service.app).model), "a", Month(2025, 1), Month(2026, 12), to_micros(now)
    )

    assert live == replayed


def test_the_live_runner_makes_a_write_visible_to_the_next_query(store_url: str) -> None:
    live = LiveProjection(store_url).start()
    service = CreditsService(store_url)
    try:
        s = Scenario(service.app).contract()
        recorded = service.app.open_incident(
            incident_id="x",
            service="compute",
            regions=[],
            severity="outage",
            started_at=utc(2025, 2, 1),
            ended_at=utc(2025, 2, 1, 1),
        )
        service.wait_for(recorded.position, timeout=20)

        doc = service.credits("a", "2025-02", "2025-02", catch_up=False)

        assert doc["periods"][0]["lines"][0]["downtime_seconds"] == "3600"
        assert s.app is service.app
    finally:
        live.stop()
        service.close()


def test_an_incident_touches_only_the_periods_it_overlaps(service: CreditsService) -> None:
    s = Scenario(service.app)
    for n in range(30):
        s.contract(f"c{n}", f"cust{n}")
    service.catch_up()
    model = service.view.model
    model.changes.__init__()

    s.incident(utc(2025, 3, 10), utc(2025, 3, 10, 1), customers=["cust3"])
    service.catch_up()

    rows = service.view.select("SELECT contract_id, month FROM v_periods")
    assert [(r["contract_id"], r["month"]) for r in rows] == [("c3", "2025-03")]


def test_the_reader_reads_a_contract_again_once_its_facts_change(service: CreditsService) -> None:
    """The reader keeps each contract's frame (what a report over every contract reads) while
    its stored document stays the same: a terminated or amended contract is read as it now is,
    and a frame read from the document equals the one made from the decoded contract."""
    Scenario(service.app).contract().contract("c2", "b", timezone="Asia/Tokyo")
    service.catch_up()
    reader = service.reader

    def frames() -> list[ContractFrame]:
        with service.view.reading():
            found = reader.contract_frames()
            assert found == [ContractFrame.of(c) for c in reader.all_contracts()]
            return found

    first = frames()
    assert frames()[0] is first[0]  # read once
    assert [(f.contract_id, f.timezone, f.ends_on, f.pairs) for f in first] == [
        ("c1", "UTC", None, (("compute", "eu"),)),
        ("c2", "Asia/Tokyo", None, (("compute", "eu"),)),
    ]
    service.app.terminate_contract(contract_id="c1", request_id="t", ends_on=date(2025, 6, 30))
    service.catch_up()
    assert [f.ends_on for f in frames()] == [date(2025, 6, 30), None]
    service.app.amend_contract(
        contract_id="c2",
        request_id="x",
        effective_from=date(2025, 3, 1),
        terms=None,
        subscriptions=(Subscription("storage", "us-east", 1000),),
    )
    service.catch_up()
    assert frames()[1].pairs == (("compute", "eu"), ("storage", "us-east"))
