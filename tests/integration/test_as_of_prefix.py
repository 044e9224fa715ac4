""" "Known at T" is always a prefix of the log, even when concurrent writers record facts whose
timestamps go backwards along the positions: a fact is known from the latest recorded time of
itself and every fact before it. The fast as-of path, the full replay and the feed agree."""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta

from projections.as_of import prefix_known_at
from projections.runner import catch_up, replay
from projections.service import CreditsService
from tests.helpers import Scenario, utc


def test_every_instant_selects_a_prefix_with_sixteen_concurrent_writers(store_url: str) -> None:
    service = CreditsService(store_url, pool_size=16)
    Scenario(service.app).contract()
    start = threading.Barrier(16)

    def writer(n: int) -> None:
        start.wait()
        for k in range(5):
            at = utc(2025, 2, 1) + timedelta(hours=n * 5 + k)
            service.app.open_incident(
                incident_id=f"w{n}-{k}",
                service="compute",
                regions=[],
                severity="outage",
                started_at=at,
                ended_at=at + timedelta(minutes=5),
            )

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    catch_up(service.app, service.view)

    rows = service.view.select("SELECT position, recorded_at, known_from FROM v_facts ORDER BY position")
    assert len(rows) == 81
    known = [r["known_from"] for r in rows]
    assert known == sorted(known)  # never backwards along the log
    assert all(r["known_from"] == max(x["recorded_at"] for x in rows[: i + 1]) for i, r in enumerate(rows))
    backward_steps = sum(1 for a, b in itertools.pairwise(rows) if b["recorded_at"] < a["recorded_at"])
    print(f"{backward_steps} backward steps of the recorded time in {len(rows)} positions")

    for r in rows:
        for micros in (r["recorded_at"] - 1, r["recorded_at"]):
            at = utc(1970, 1, 1) + timedelta(microseconds=micros)
            upto = service.position_known_at(at)
            selected = [x["position"] for x in rows if x["known_from"] <= micros]
            assert selected == list(range(1, upto + 1))  # a prefix
            assert replay(service.app, known_at=at).model.chain_head[0] == upto  # the full replay agrees
    service.close()


def test_the_prefix_known_at_an_instant_ends_at_the_last_of_the_facts_tied_at_its_time(store_url: str) -> None:
    """Facts 2 and 3 are known from the same time (fact 3 was recorded with a clock behind fact
    2's, so it is known once fact 2 is): the prefix known then ends at 3, whichever way the
    index lists the tie."""
    service = CreditsService(store_url)
    known_from = {1: 10, 2: 20, 3: 20, 4: 30, 5: 30, 6: 30}
    with service.view.cursor(commit=True) as c:
        for position, known in known_from.items():
            c.execute(
                service.view.sql("INSERT INTO v_facts VALUES (?, ?, ?, 'customer', 'a', 'x', ?, 't', '{}', NULL)"),
                (position, known - (position == 3), known, position),
            )
    assert [prefix_known_at(service.view, t) for t in (5, 10, 19, 20, 25, 30, 99)] == [0, 1, 1, 3, 3, 6, 6]
    service.close()
