"""The claims report, computed for every customer at once, equals the sums of every customer's
own credits answer (its definition), live and as known at an instant, at random "now"s on
random worlds (open incidents, caps, corrections, exclusions, billing), on both stores."""

from __future__ import annotations

import gc
import random
import time
import weakref
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain.calendar import Month, from_micros, to_micros
from domain.terms import AnnualCap, CreditTier, Subscription, Terms
from projections.queries import claims_report, credits_document
from projections.readers import ModelReader, Reader
from projections.runner import catch_up, replay
from projections.service import CreditsService
from tests.integration.test_as_of_fast_path import CUSTOMERS, _world


def by_definition(reader: Reader, first: Month, last: Month, now: int) -> list[dict[str, Any]]:
    filed: dict[str, int] = {}
    for claim in reader.claims():
        if str(first) <= claim.month <= str(last):
            filed[claim.customer_id] = filed.get(claim.customer_id, 0) + 1
    rows = []
    for customer_id in sorted(set(reader.customers()) | set(filed)):
        periods = credits_document(reader, customer_id, first, last, now)["periods"]
        rows.append(
            {
                "customer_id": customer_id,
                "claims_filed": filed.get(customer_id, 0),
                "credit_entitled_minor": sum(p["credit_minor"] for p in periods),
                "credit_granted_minor": sum(p["granted_minor"] for p in periods),
                "currencies": sorted({p["currency"] for p in periods}),
            }
        )
    return rows


@pytest.mark.parametrize("seed", [1, 2, 4])
def test_the_report_equals_the_sums_of_the_credits_answers(store_url: str, seed: int) -> None:
    service = CreditsService(store_url)
    _world(service, seed)
    for n, customer in enumerate(CUSTOMERS):
        service.app.file_claim(claim_id=f"cl{n}", customer_id=customer, month="2025-02", channel="email", message="")
    catch_up(service.app, service.view)
    rnd = random.Random(seed)
    nows = [datetime(2025, 1, 20, tzinfo=UTC), datetime(2025, 3, 31, 23, tzinfo=UTC), datetime.now(UTC)]
    nows += [datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=rnd.randint(0, 150 * 24)) for _ in range(3)]
    ranges = [(Month(2025, 1), Month(2025, 6)), (Month(2025, 2), Month(2025, 3)), (Month(2024, 11), Month(2025, 1))]

    with service.view.reading():
        for at in nows:
            for first, last in ranges:
                now = to_micros(at)
                report = claims_report(service.reader, first, last, now)["customers"]
                assert report == by_definition(service.reader, first, last, now), (at, first, last)
    memory = ModelReader(replay(service.app).model)
    now = to_micros(nows[-1])
    assert claims_report(memory, Month(2025, 1), Month(2025, 6), now)["customers"] == by_definition(
        memory, Month(2025, 1), Month(2025, 6), now
    )
    service.close()


def test_a_live_contract_year_counts_its_months_outside_the_range(store_url: str) -> None:
    """The cap used in January (outside the range) limits what an unresolved incident in March
    can be granted: the report must allocate the whole contract year, as the credits answer does."""
    service = CreditsService(store_url)
    app = service.app
    app.sign_contract(
        contract_id="k",
        customer_id="a",
        customer_name="A",
        timezone="UTC",
        starts_on=date(2025, 1, 1),
        ends_on=None,
        currency="USD",
        terms=Terms(
            (CreditTier(Decimal("99.9"), Decimal("10")), CreditTier(Decimal("99"), Decimal("25"))),
            Decimal(0),
            48,
            AnnualCap(amount_minor=30000),
        ),
        subscriptions=(Subscription("compute", "eu", 100000),),
    )
    app.open_incident(
        incident_id="jan",
        service="compute",
        regions=[],
        customers=[],
        severity="outage",
        started_at=datetime(2025, 1, 10, tzinfo=UTC),
        ended_at=datetime(2025, 1, 12, tzinfo=UTC),
    )
    app.open_incident(
        incident_id="mar",
        service="compute",
        regions=[],
        customers=[],
        severity="outage",
        started_at=datetime(2025, 3, 10, tzinfo=UTC),
        ended_at=None,
    )
    catch_up(app, service.view)
    now = to_micros(datetime(2025, 3, 20, tzinfo=UTC))

    with service.view.reading():
        (row,) = claims_report(service.reader, Month(2025, 2), Month(2025, 3), now)["customers"]
        assert row == by_definition(service.reader, Month(2025, 2), Month(2025, 3), now)[0]
    assert (row["credit_entitled_minor"], row["credit_granted_minor"]) == (
        25000,
        5000,
    )  # 25000 of the cap went in January
    service.close()


def test_reports_as_of_one_instant_share_one_replay_and_equal_their_own(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first report at an instant replays the periods it reads and serves the ranges within
    its own; another request at an instant with the same known prefix (a wider range, a console
    list) has the model's other periods computed (no second replay), and the whole model then
    serves every later one; each answer, and the model a list reads, equals a whole replay."""
    service = CreditsService(store_url)
    _world(service, 3)
    catch_up(service.app, service.view)
    replays = _count_replays(monkeypatch)
    recorded = [int(r["recorded_at"]) for r in service.view.select("SELECT recorded_at FROM v_facts ORDER BY position")]
    # instants before the last fact (at or after it, the views are read: the next test)
    assert recorded[-2] < recorded[-1]
    instants = [from_micros(recorded[k]) for k in (5, len(recorded) // 2, len(recorded) - 2)]
    first_range = (Month(2025, 2), Month(2025, 4))
    # (range, the report the kept model is made for after it: None, every period)
    asked = [(first_range, first_range), ((Month(2025, 3), Month(2025, 3)), first_range)]
    asked += [((Month(2025, 1), Month(2025, 6)), None), ((Month(2025, 2), Month(2025, 3)), None)]
    for at in instants:
        for (first, last), kept in asked:
            shared = service.claims_report(first, last, at)
            own = claims_report(ModelReader(replay(service.app, known_at=at).model), first, last, to_micros(at), at)
            assert shared == own, (at, first, last)
            assert service._world is not None and service._world[1] == kept, (at, first, last)
    assert len(replays) == len(instants)  # one per instant, not one per report
    assert all(r["computes"] is not None for r in replays)  # each for the first report's periods

    # a fact recorded now is not known at the last instant: the kept model still answers it
    service.app.file_claim(claim_id="late", customer_id="a", month="2025-02", channel="email", message="")
    catch_up(service.app, service.view)
    again = service.claims_report(Month(2025, 1), Month(2025, 6), instants[-1])
    assert len(replays) == len(instants)
    assert again == claims_report(
        ModelReader(replay(service.app, known_at=instants[-1]).model),
        Month(2025, 1),
        Month(2025, 6),
        to_micros(instants[-1]),
        instants[-1],
    )
    now = datetime.now(UTC)
    latest = service.claims_report(Month(2025, 1), Month(2025, 6), now)
    assert len(replays) == len(instants)  # every fact known now: read from the views

    def filed_by_a(report: dict[str, Any]) -> int:
        return next(r["claims_filed"] for r in report["customers"] if r["customer_id"] == "a")

    assert filed_by_a(latest) == filed_by_a(again) + 1

    # a page about every customer (the console's lists) at an instant whose kept model was made
    # for a report: the model it reads is the whole one
    at = from_micros(recorded[(len(recorded) * 3) // 4])
    service.claims_report(Month(2025, 1), Month(2025, 1), at)
    assert service._world is not None
    report_model = service._world[2]
    page_model = service.world_at(at)
    fresh = replay(service.app, known_at=at).model
    assert 0 < len(report_model.periods) < len(fresh.periods)  # the report's own held January's
    assert (page_model.periods, page_model.years) == (fresh.periods, fresh.years)
    assert len(replays) == len(instants) + 1
    service.close()


def test_a_report_as_of_an_instant_while_the_views_are_behind_equals_its_own(store_url: str) -> None:
    """While the views have not caught up with the log, the replay stops at the first fact
    recorded after the instant (and is not kept): still only the periods the report reads."""
    service = CreditsService(store_url)
    _world(service, 4)
    catch_up(service.app, service.view)
    at = datetime.now(UTC)
    service.app.file_claim(claim_id="later", customer_id="a", month="2025-02", channel="email", message="")
    assert (service.position() or 0) < (service.app.recorder.max_notification_id() or 0)  # behind
    for first, last in ((Month(2025, 2), Month(2025, 4)), (Month(2025, 1), Month(2025, 6))):
        shared = service.claims_report(first, last, at)
        own = claims_report(ModelReader(replay(service.app, known_at=at).model), first, last, to_micros(at), at)
        assert shared == own
    assert service._world is None  # not kept
    service.close()


def test_a_kept_model_keeps_no_other_requests_garbage(store_url: str) -> None:
    """The kept model is left out of the collector's passes (gc.freeze); the cyclic garbage that
    other requests left meanwhile is collected first, not frozen with it for ever."""
    service = CreditsService(store_url)
    _world(service, 3)
    catch_up(service.app, service.view)

    class Cycle:
        pass

    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()  # as while a replay runs: only an explicit collection frees a cycle
    try:
        left: list[weakref.ref[Cycle]] = []
        for _ in range(50):
            garbage = Cycle()
            garbage.itself = garbage  # type: ignore[attr-defined]
            left.append(weakref.ref(garbage))
        del garbage
        service.claims_report(Month(2025, 1), Month(2025, 6), _before_the_last_fact(service))
    finally:
        if was_enabled:
            gc.enable()
    gc.collect()
    assert service._world is not None  # kept, and frozen
    assert all(r() is None for r in left)
    service.close()


def test_the_shared_replay_is_forgotten_when_nobody_asks_for_it(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It holds every customer's periods: kept `world_keep_seconds` after the last request."""
    service = CreditsService(store_url, world_keep_seconds=0.05)
    _world(service, 5)
    catch_up(service.app, service.view)
    replays = _count_replays(monkeypatch)
    at = _before_the_last_fact(service)
    first = service.claims_report(Month(2025, 1), Month(2025, 6), at)
    deadline = time.monotonic() + 30
    while service._world is not None and time.monotonic() < deadline:  # the condition, not a duration
        time.sleep(0.01)
    assert service._world is None
    assert service.claims_report(Month(2025, 1), Month(2025, 6), at) == first
    assert len(replays) == 2
    service.close()


def _before_the_last_fact(service: CreditsService) -> datetime:
    """An instant at which a fact was not known yet: a report as of it is a replay (kept)."""
    recorded = [int(r["recorded_at"]) for r in service.view.select("SELECT recorded_at FROM v_facts ORDER BY position")]
    assert recorded[len(recorded) // 2] < recorded[-1]
    return from_micros(recorded[len(recorded) // 2])


def _count_replays(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The replays the service asks for from now on (the keyword arguments of each): of the log
    (the views behind it) or of the facts the views filed (as_of.world_model_at)."""
    import projections.service as service_module

    replays: list[dict[str, Any]] = []
    for name in ("replay", "world_model_at"):
        real = getattr(service_module, name)

        def counted(*args: Any, real: Any = real, **kwargs: Any) -> Any:
            replays.append(kwargs)
            return real(*args, **kwargs)

        monkeypatch.setattr(service_module, name, counted)
    return replays


def test_a_report_as_of_an_instant_after_every_fact_is_read_from_the_views(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At an instant at or after the last fact's recording, while the views cover the whole log,
    the views are the replay of the prefix known then: the report reads them (no replay, nothing
    kept), with the instant as "now" (unresolved incidents last until it), and equals its own."""
    service = CreditsService(store_url)
    _world(service, 5)
    catch_up(service.app, service.view)
    assert service.view.select("SELECT 1 FROM v_incidents WHERE ended_at IS NULL")  # "now" matters
    replays = _count_replays(monkeypatch)
    last = max(int(r["recorded_at"]) for r in service.view.select("SELECT recorded_at FROM v_facts"))
    now = datetime.now(UTC)
    instants = [from_micros(last), from_micros(last) + (now - from_micros(last)) / 2, now]
    for at in instants:
        for first, last_month in ((Month(2025, 2), Month(2025, 4)), (Month(2025, 1), Month(2025, 6))):
            read = service.claims_report(first, last_month, at)
            own = claims_report(
                ModelReader(replay(service.app, known_at=at).model), first, last_month, to_micros(at), at
            )
            assert read == own, (at, first, last_month)
    assert replays == [] and service._world is None

    # a fact recorded after the instant: the views hold it, so the report is a replay again
    service.app.file_claim(claim_id="after", customer_id="a", month="2025-02", channel="email", message="")
    catch_up(service.app, service.view)
    read = service.claims_report(Month(2025, 1), Month(2025, 6), instants[0])
    assert len(replays) == 1
    assert read == claims_report(
        ModelReader(replay(service.app, known_at=instants[0]).model),
        Month(2025, 1),
        Month(2025, 6),
        to_micros(instants[0]),
        instants[0],
    )

    # a fact recorded before the instant that the views do not hold yet: a replay, which has it
    service.app.file_claim(claim_id="unseen", customer_id="a", month="2025-02", channel="email", message="")
    at = datetime.now(UTC)
    assert (service.position() or 0) < (service.app.recorder.max_notification_id() or 0)  # behind
    read = service.claims_report(Month(2025, 1), Month(2025, 6), at)
    assert len(replays) == 2
    assert read == claims_report(
        ModelReader(replay(service.app, known_at=at).model), Month(2025, 1), Month(2025, 6), to_micros(at), at
    )
    filed = {r["customer_id"]: r["claims_filed"] for r in read["customers"]}
    assert filed["a"] == 1 + {r["customer_id"]: r["claims_filed"] for r in own["customers"]}["a"] + 1
    service.close()
