"""The demo shows the product (issue 16): contracts starting in different months, one of them
terminated, incidents for one customer only, billing runs already made with an adjustment after
a correction and a late contract's periods caught up, and two phases of facts with the instant
between them that `make run` prints, so "as of" can be tried at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.demo import LATE_CONTRACT, AsOfExample, demo_instant, load_demo
from domain.calendar import to_micros
from projections.queries import credits_document
from projections.readers import ModelReader
from projections.runner import replay
from projections.service import CreditsService
from tests.api.conftest import api_settings, auth

Demo = tuple[CreditsService, AsOfExample, str]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    assert load_demo(url)
    assert not load_demo(url)  # once only
    service = CreditsService(url)
    service.catch_up()
    example = demo_instant(service.app)
    assert example is not None
    yield service, example, url
    service.close()


def test_contracts_start_in_different_months_and_one_is_terminated(demo: Demo) -> None:
    service, _, _ = demo

    contracts = service.reader.all_contracts()
    facts = service.app.recorder.select_notifications(start=1, limit=10**6)

    assert len({c.starts_on.replace(day=1) for c in contracts}) >= 5
    terminated = [n for n in facts if n.topic.endswith("Contract.Terminated")]
    assert len(terminated) == 1
    (ended,) = [c for c in contracts if c.ends_on is not None]
    assert ended.ends_on is not None and ended.ends_on < datetime.now(UTC).date()


def test_an_incident_reaches_one_customer_only(demo: Demo) -> None:
    service, _, _ = demo

    scoped = [i for i in service.reader.incidents_page(None, 10**6, 0) if i.customers]

    assert scoped and all(len(i.customers) == 1 for i in scoped)


def test_runs_were_made_with_credits_an_adjustment_and_a_catch_up(demo: Demo) -> None:
    service, example, _ = demo
    last_month = example.last.plus(-1)

    runs = service.reader.runs()
    entries = service.reader.ledger_rows(0, 10**6)

    assert [r.month for r in runs] == [str(last_month.plus(-k)) for k in range(len(runs) - 1, -1, -1)]
    assert len(runs) >= 2
    assert any(e["kind"] == "credit" for e in entries)
    last_run = [e for e in entries if e["run_id"] == runs[-1].run_id]
    # the correction recorded after billing: an adjustment of a month an earlier run issued
    adjusted = [e for e in last_run if e["kind"] == "adjustment"]
    assert adjusted and all(e["month"] < str(last_month) for e in adjusted)
    # the contract recorded late: its ended periods before last month are issued by last month's run
    caught_up = [e for e in last_run if e["contract_id"] == LATE_CONTRACT and e["month"] < str(last_month)]
    assert caught_up and all(e["kind"] == "credit" for e in caught_up)
    assert not [e for e in entries if e["contract_id"] == LATE_CONTRACT and e["run_id"] != runs[-1].run_id]


def test_the_printed_instant_separates_the_two_phases(demo: Demo) -> None:
    service, example, _ = demo
    late = service.app.repository.get(service.app.get_contract(LATE_CONTRACT).id, version=1)
    first_of_phase_two = next(
        n.id
        for n in service.app.recorder.select_notifications(start=1, limit=10**6)
        if n.originator_id == late.id and n.originator_version == 1
    )

    known = service.position_known_at(example.instant)

    assert known == first_of_phase_two - 1  # every fact of phase one, none of phase two
    assert example.instant.microsecond == 0 and example.instant < late.created_on


def test_the_as_of_example_differs_from_now_and_equals_a_replay_of_the_first_phase(
    demo: Demo,
) -> None:
    service, example, url = demo
    prefix = replay(service.app, upto=service.position_known_at(example.instant))
    with service.view.reading():
        replayed = credits_document(
            ModelReader(prefix.model),
            example.customer_id,
            example.first,
            example.last,
            to_micros(example.instant),
            example.instant,
        )

    with TestClient(create_app(api_settings(url)), raise_server_exceptions=False) as http:
        then = http.get(example.path(), headers=auth("account_manager"))
        now = http.get(example.path(as_of=False), headers=auth("account_manager"))

    assert then.status_code == now.status_code == 200, then.text
    assert then.json() == replayed
    assert then.json()["periods"] != now.json()["periods"]
