"""Figures as known at an instant, for one customer (or the ledger), at the cost of its history.

The projection files every fact by what it can reach (`v_facts`, projections/records.py:
FactRow): a customer's contract facts and claims, a service's incidents and maintenance, and the
billing ledger. An as-of answer for one customer reads back, with one indexed query each, its own
facts, those of the services its contracts ever subscribed to, and the ledger's, recorded at or
before the instant, and replays them through the same projection code as a full replay. A
customer's periods depend on nothing else, so the answer equals a replay of the whole log
(tests/integration/test_as_of_fast_path.py checks it at random instants on both stores)."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent, Tracking

from domain.application import APPLICATION_NAME
from domain.calendar import to_micros
from projections.credits_projection import ContractAmended, ContractSigned, CreditsProjection
from projections.model import CreditsModel
from projections.views import MemoryCreditsView, SQLCreditsView

COLUMNS = "position, originator_id, originator_version, topic, state"


def customer_model_at(view: SQLCreditsView, mapper: Any, customer_id: str, known_at: datetime) -> CreditsModel:
    """The read model of `customer_id` as known at `known_at` (other customers left out)."""
    until = to_micros(known_at)
    own = view.select(
        f"SELECT {COLUMNS} FROM v_facts WHERE scope = 'customer' AND scope_key = ? AND known_from <= ?",
        (customer_id, until),
    )
    events = {r["position"]: _decoded(view, mapper, r) for r in own}
    services = sorted(
        {
            s["service"]
            for e in events.values()
            if type(e) in (ContractSigned, ContractAmended)
            for s in (e.subscriptions or ())
        }
    )
    if services:
        marks = ", ".join("?" for _ in services)
        rows = view.select(
            f"SELECT {COLUMNS} FROM v_facts WHERE scope = 'service' AND scope_key IN ({marks}) AND known_from <= ?",
            (*services, until),
        )
        events.update((r["position"], _decoded(view, mapper, r)) for r in rows)
    events.update(_ledger_facts(view, mapper, until))
    return _replayed(events)


def ledger_model_at(view: SQLCreditsView, mapper: Any, known_at: datetime) -> CreditsModel:
    """The billing ledger and its runs as known at `known_at`: a ledger entry and its
    acknowledgement are facts of the ledger alone, so only those are replayed (no contract,
    incident or other customer's fact)."""
    return _replayed(dict(_ledger_facts(view, mapper, to_micros(known_at))))


def _ledger_facts(view: SQLCreditsView, mapper: Any, until: int) -> list[tuple[int, Any]]:
    rows = view.select(f"SELECT {COLUMNS} FROM v_facts WHERE scope = 'ledger' AND known_from <= ?", (until,))
    return [(r["position"], _decoded(view, mapper, r)) for r in rows]


def _replayed(events: dict[int, Any]) -> CreditsModel:
    """These facts, in log order, through the projection's own code, into a model in memory."""
    memory = MemoryCreditsView()
    memory.model.record_log = False
    last = max(events, default=0)
    memory.latest_position = lambda: last
    memory.batch_limit, memory.batch_seconds = 2**62, float("inf")
    projection = CreditsProjection(memory)
    for position in sorted(events):
        projection.process_event(events[position], Tracking(APPLICATION_NAME, position))
    memory.model.flush()
    return memory.model


# Facts never change, so a decoded fact can serve every later answer from the same store:
# decoding is about half the cost of an as-of answer. Kept per view (one per store), bounded
# (the oldest dropped first), and checked against the row's stream and version.
DECODED_LIMIT = 200_000


def _decoded(view: SQLCreditsView, mapper: Any, row: Any) -> Any:
    cache: OrderedDict[int, Any] | None = getattr(view, "decoded_facts", None)
    if cache is None:
        cache = OrderedDict()
        view.decoded_facts = cache  # type: ignore[attr-defined]
    position = int(row["position"])
    event = cache.get(position)
    if (
        event is None
        or str(event.originator_id) != row["originator_id"]
        or event.originator_version != row["originator_version"]
    ):
        event = _decode(mapper, row)
        cache[position] = event
        if len(cache) > DECODED_LIMIT:
            cache.popitem(last=False)
    return event


def _decode(mapper: Any, row: Any) -> Any:
    return mapper.to_domain_event(
        StoredEvent(
            originator_id=UUID(row["originator_id"]),
            originator_version=row["originator_version"],
            topic=row["topic"],
            state=row["state"].encode("utf-8"),
        )
    )
