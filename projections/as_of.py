"""Figures as known at an instant, for one customer (or every customer), at the cost of its history.

The projection files every fact by what it can reach (`v_facts`, projections/records.py:
FactRow): a customer's contract facts and claims, a service's incidents and maintenance, and the
billing ledger. An as-of answer for one customer reads back, with one indexed query each, its own
facts and those of the services its contracts ever subscribed to, recorded at or before the
instant, and replays them through the same projection code as a full replay; its ledger entries,
billed months and the runs known then are read from the views by log position (decision 26). A
customer's periods depend on nothing else, so the answer equals a replay of the whole log
(tests/integration/test_as_of_fast_path.py checks it at random instants on both stores)."""

from __future__ import annotations

import json
import threading
from bisect import bisect_right
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID
from weakref import WeakKeyDictionary

from eventsourcing.persistence import StoredEvent, Tracking

from domain.application import APPLICATION_NAME
from domain.calendar import DAY, Month, Window, to_micros
from domain.credit import ContractFacts
from domain.downtime import IncidentFacts, MaintenanceFacts, of_any_pair
from projections.credits_projection import ContractAmended, ContractSigned, CreditsProjection
from projections.heap import collector_paused, keep_out_of_collections
from projections.model import CreditsModel, utc_month_index
from projections.readers import entry_known_at
from projections.records import incident_from_doc, maintenance_from_doc
from projections.views import LEDGER_ROW, MemoryCreditsView, SQLCreditsView

COLUMNS = "position, originator_id, originator_version, topic, state"


def customer_model_at(
    view: SQLCreditsView,
    mapper: Any,
    customer_id: str,
    known_at: datetime,
    figures_only: bool = False,
    explained: Month | None = None,
) -> CreditsModel:
    """The read model of `customer_id` as known at `known_at` (other customers left out).

    With `figures_only`, the incidents and maintenance windows of the customer's services that
    reach none of the (service, region) pairs it ever subscribed to are left out too: they
    cannot count in any of its figures (the rules' first test is the service and the region),
    so the credits answer is the same. About four in five on the reference dataset (five
    regions). An explanation lists them with their reason, but only those of the month it
    explains: with `explained`, those of other regions are kept only if they overlap that month
    (in any time zone), so its explanation is the same. Without either, all are kept."""
    with collector_paused():  # a model of plain values, dropped after the answer (projections/heap.py)
        return _customer_model_at(view, mapper, customer_id, to_micros(known_at), figures_only, explained)


def _customer_model_at(
    view: SQLCreditsView, mapper: Any, customer_id: str, until: int, figures_only: bool, explained: Month | None
) -> CreditsModel:
    events: dict[int, Any] = dict(
        _facts(view, mapper, "scope = 'customer' AND scope_key = ? AND known_from <= ?", (customer_id, until))
    )
    pairs = {
        (s["service"], s["region"])
        for e in events.values()
        if type(e) in (ContractSigned, ContractAmended)
        for s in (e.subscriptions or ())
    }
    contracts = {e.contract_id for e in events.values() if type(e) in (ContractSigned,)}
    services = sorted({service for service, _ in pairs})
    if not pairs:  # no subscription: no incident or window can count or be listed
        model = _replayed(events, (), contracts)
    else:
        if figures_only:
            found = _service_facts(view, services, until, pairs, None, share=True)
        elif explained is not None:
            found = _service_facts(view, services, until, pairs, explained.ordinal, share=True)
        else:
            found = _service_facts(view, services, until, None, None, share=True)
        if isinstance(found, CreditsModel):
            model = _replayed(events, found, contracts)
        else:
            states = found
            if figures_only:
                reaches = of_any_pair(pairs)
                states = [state for state in states if reaches(state)]
            elif explained is not None:
                around = _around(explained)
                reaches = of_any_pair(pairs)
                states = [state for state in states if _overlaps(state, around) or reaches(state)]
            model = _replayed(events, states, contracts)
    _ledger_known_at(view, model, customer_id, until)
    return model


def _ledger_known_at(view: SQLCreditsView, model: CreditsModel, customer_id: str, until: int) -> None:
    """The customer's own ledger entries and billed months as known at `until`, read from the
    views by the log positions of the runs and acknowledgements (decision 26) instead of
    replaying every run and acknowledgement of every customer: the rows a replay of the ledger's
    facts makes for a model that keeps the customer's contracts alone (the runs themselves,
    every customer's, are in no answer about one customer: left out).
    A contract-month's first covering run known then is its first covering run, if that one
    was known then (runs are in log order); an entry shows its acknowledgement only if that was
    known then (an entry is acknowledged once)."""
    prefix = prefix_known_at(view, until)
    rows = view.select(
        f"SELECT {LEDGER_ROW} FROM v_ledger WHERE customer_id = ? AND issued_position <= ? ORDER BY seq",
        (customer_id, prefix),
    )
    for r in rows:  # (the entries' log positions are read from the views, never from this model)
        model.ledger[r["entry_id"]] = entry_known_at(r, prefix)
    billed = view.select(
        "SELECT b.contract_id, b.month, b.run_id FROM v_billed b JOIN v_contracts c ON c.contract_id = b.contract_id "
        "JOIN v_runs r ON r.run_id = b.run_id WHERE c.customer_id = ? AND r.position <= ?",
        (customer_id, prefix),
    )
    kept = model.contracts_kept
    for r in billed:
        if kept is None or r["contract_id"] in kept:
            model.billed[(r["contract_id"], r["month"])] = r["run_id"]


def prefix_known_at(view: SQLCreditsView, until: int) -> int:
    """The last position of the longest prefix of the log whose facts were all recorded at or
    before `until` (FactRow.known_from never decreases along the log; the views must hold it).

    Since it never decreases, that position is the last in (known_from, position) order among
    the facts known then: one step down the index on known_from. (`MAX(position) ... WHERE
    known_from <= ?` walked the log back from its head, over every fact recorded after `until`,
    whoever it was about.)"""
    found = view.select(
        "SELECT position FROM v_facts WHERE known_from <= ? ORDER BY known_from DESC, position DESC LIMIT 1", (until,)
    )
    return int(found[0]["position"]) if found else 0


def world_model_at(
    view: SQLCreditsView,
    mapper: Any,
    prefix: int,
    known_at: datetime,
    computes: Callable[[ContractFacts, Month], bool] | None = None,
) -> CreditsModel:
    """Every customer's read model as known at `known_at`, whose longest known prefix of the log
    ends at `prefix` (CreditsService.position_known_at): every customer's and the ledger's facts
    of the prefix replayed through the projection's own code, with the incidents and maintenance
    windows as they stood at its end (the states the projection filed with their last facts
    then, from the mirror of their streams) instead of replaying each of their facts. With
    `computes`, only the periods it keeps are computed (a model for one claims report).

    The same model as a replay of the prefix (`runner.replay`), for the reasons a customer's
    model is (decision 21), for every customer at once: every period is computed once, at the
    end, from the final facts; a contract's, a claim's and the ledger's facts refer to no
    incident or window; and a webhook's reaches no figure. tests/differential.py compares it,
    whole and for the claims report, with a replay after every step of random histories. The
    facts decoded and the states parsed are those the customers' answers keep (`_facts`,
    `_states`): a second model at another instant decodes only what the first did not."""
    with collector_paused():  # a model of plain values (projections/heap.py)
        events = dict(_facts(view, mapper, "scope IN ('customer', 'ledger') AND position <= ?", (prefix,)))
        streams = _caches(view).streams
        with streams.lock:
            mirrored = streams.refresh(view, to_micros(known_at))
            assert mirrored >= prefix, f"the mirror ends at {mirrored}, before the prefix {prefix}"
            filed = streams.last_at(prefix)
        return _replayed(events, _states(view, filed), computes=computes)


def _around(month: Month) -> Window:
    """The month in every time zone: its UTC month and two days on either side (a zone is less
    than a day off UTC)."""
    start = to_micros(datetime(month.year, month.month, 1, tzinfo=UTC)) - 2 * DAY
    following = month.next()
    return Window(start, to_micros(datetime(following.year, following.month, 1, tzinfo=UTC)) + 2 * DAY)


def _overlaps(state: IncidentFacts | MaintenanceFacts, window: Window) -> bool:
    """Whether the incident or window, as it stands, overlaps `window` (an unresolved incident
    lasts until further notice)."""
    return window.overlaps(*_span(state))


def _span(state: IncidentFacts | MaintenanceFacts) -> tuple[int, int | None]:
    """When the incident or window, as it stands, begins and ends (None: unresolved)."""
    if isinstance(state, IncidentFacts):
        return state.started_at, state.ended_at
    return state.starts_at, state.ends_at


def _months_near(start: int, end: int) -> range:
    """The UTC months (as `Month.ordinal`) that [start, end], widened by two days on
    either side, touches: every month whose `_around` it can overlap."""
    return range(utc_month_index(start - 2 * DAY), utc_month_index(end + 2 * DAY) + 1)


def _states_at(
    view: SQLCreditsView,
    services: list[str],
    until: int,
    pairs: set[tuple[str, str]] | None = None,
    near: int | None = None,
) -> list[IncidentFacts | MaintenanceFacts]:
    """The incidents and maintenance windows of these services as known at `until`: each one's
    state after the last of its facts known then (the state the projection filed with it), in
    log order. With `pairs`, only those that ever named one of these (service, region) pairs or
    no region at all: a superset of those whose state then reaches one (the caller tests that).
    With `near` too (a UTC month, as `Month.ordinal`), also those of any region that any
    of their states ever came near that month (`_months_near`) or that are unresolved at the
    prefix's end: a superset of those whose state then overlaps its `_around` (the caller tests
    that too).

    "Known at `until`" is a prefix of the log (FactRow.known_from never decreases along it), so
    each one's last fact known then is its last at or before the prefix's end, found in the
    mirror of the service facts' streams (`_Streams`) instead of reading every fact of the
    services again: an answer costs what the customer's own incidents cost, not what the
    service's whole history does."""
    found = _service_facts(view, services, until, pairs, near, share=False)
    assert not isinstance(found, CreditsModel)
    return found


def _service_facts(
    view: SQLCreditsView,
    services: list[str],
    until: int,
    pairs: set[tuple[str, str]] | None,
    near: int | None,
    share: bool,
) -> list[IncidentFacts | MaintenanceFacts] | CreditsModel:
    """`_states_at`, or, with `share`, the service facts shared at the prefix when there are
    (`_shared`): the mirror refreshed once, under one hold of its lock."""
    if not services:
        return []
    streams = _caches(view).streams
    with streams.lock:
        prefix = streams.refresh(view, until)
        if share:
            shared = _shared(view, streams, prefix)
            if shared is not None:
                return shared
        if pairs is None:
            candidates = set().union(*(streams.of_service.get(s, ()) for s in services))
        else:
            named = [streams.of_pair.get(pair, ()) for pair in pairs]
            every_region = [streams.of_pair.get((s, ""), ()) for s in services]
            candidates = set().union(*named, *every_region)
            if near is not None:
                for s in services:
                    candidates.update(streams.near_month.get((s, near), ()))
                candidates.update(streams.unresolved_at(set(services), prefix))
        filed = []
        for stream in candidates:
            positions = streams.positions[stream]
            i = bisect_right(positions, prefix)
            if i:
                filed.append((positions[i - 1], stream))
    filed.sort()
    return _states(view, filed)


def _shared_at(view: SQLCreditsView, until: int) -> CreditsModel | None:
    """The incidents and maintenance windows of every service as known at `until`, loaded and
    indexed in a model that the answers at the same prefix of the log share (None for the first
    answer at a prefix: it takes its own, as before).

    Every answer at one prefix reads the same service facts: they are facts of the world, not of
    a customer, and the prefix is all that decides which of them are known. So the second answer
    at a prefix loads them all once, and it and every later answer at that prefix read them
    instead of loading their own: the cost of loading is shared, not multiplied by the number of
    customers asked about. An auditor's pages at one instant (the console's, or a script asking
    customer after customer) are such answers. A model holding every service's facts gives
    the same figures and explanations as one holding only those of the customer's pairs (the
    rules' first test is the service and the region; a full replay holds them all too). Only the
    last prefix shared is kept (about the size of the states' cache, whose objects it shares),
    and it goes with the mirror when the store is mirrored again."""
    streams = _caches(view).streams
    with streams.lock:
        return _shared(view, streams, streams.refresh(view, until))


def _shared(view: SQLCreditsView, streams: _Streams, prefix: int) -> CreditsModel | None:
    """`_shared_at` for a prefix just mirrored (under the mirror's lock)."""
    if streams.shared is not None and streams.shared[0] == prefix:
        return streams.shared[1]
    if streams.asked != prefix:
        streams.asked = prefix  # the first answer at this prefix
        return None
    model = CreditsModel()
    _load(model, _states(view, streams.last_at(prefix)))  # in log order, as a replay loads them
    model.share_service_facts(model)  # read only from now on
    streams.shared = (prefix, model)
    return model


# A refresh that reads this many rows (a first answer, a large import since the last one) leaves
# what the process holds out of later collections (projections/heap.py): at ten times the
# reference dataset the mirror's states are 400,000 objects, and each full pass walked them all.
FREEZE_AFTER = 5_000


class _Streams:
    """The streams of the service facts (incidents and maintenance windows), mirrored from v_facts
    in log order: each one's positions, the (service, region) pairs any of its states named
    ("" for every region), and, for the explanations, the UTC months any of its states came
    near and the spans of the log in which it stood unresolved. Facts are only appended, so each row is read once, when
    an answer first asks for a prefix that holds it; its state, parsed then, goes to the states'
    cache.
    The hash chain's link at the last mirrored position stands for the whole prefix (v_chain:
    each link hashes the fact and the link before it): a store whose link there differs holds
    another log (a restore under a running process), and is mirrored again from the start."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.upto = 0
        self.link: str | None = None  # the chain's link at `upto`
        self.positions: dict[str, list[int]] = {}
        self.of_service: dict[str, set[str]] = defaultdict(set)
        self.of_pair: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.near_month: dict[tuple[str, int], set[str]] = defaultdict(set)  # (service, UTC month)
        # the spans of the log in which a stream stood unresolved: from the position of a state
        # without an end to the position of the stream's next fact (those ended so far, by
        # service, in the order they ended: the log's), and those not ended yet, by stream
        self.ended_spans: dict[str, list[tuple[int, int, str]]] = defaultdict(list)  # (to, from, stream)
        self.open_spans: dict[str, tuple[str, int]] = {}  # stream -> (service, from)
        self.asked: int | None = None  # the prefix of the last answer that did not share
        self.shared: tuple[int, CreditsModel] | None = None  # see _shared_at

    def last_at(self, prefix: int) -> list[tuple[int, str]]:
        """Every stream's last fact at or before `prefix` (mirrored), as (position, stream), in
        log order."""
        filed = []
        for stream, positions in self.positions.items():
            i = bisect_right(positions, prefix)
            if i:
                filed.append((positions[i - 1], stream))
        filed.sort()
        return filed

    def unresolved_at(self, services: set[str], prefix: int) -> set[str]:
        """The streams of these services whose state at the end of `prefix` (mirrored) has no end:
        those whose unresolved span holds the position. The spans that ended are in the order they
        ended, so only those ending after it are looked at."""
        found = {
            stream for stream, (service, since) in self.open_spans.items() if since <= prefix and service in services
        }
        for service in services:
            spans = self.ended_spans.get(service, [])
            for _, since, stream in spans[bisect_right(spans, prefix, key=lambda span: span[0]) :]:
                if since <= prefix:
                    found.add(stream)
        return found

    def refresh(self, view: SQLCreditsView, until: int) -> int:
        """Mirror the prefix known at `until`; answers the position it ends at."""
        prefix = prefix_known_at(view, until)
        if self.upto and _link_at(view, self.upto) != self.link:
            self._reset()
        if prefix <= self.upto:
            return prefix
        cached = _caches(view)
        rows = view.select(
            "SELECT position, originator_id, scope_key, state_after FROM v_facts "
            "WHERE scope = 'service' AND position > ? AND position <= ? ORDER BY position",
            (self.upto, prefix),
        )
        parsed = []
        for r in rows:
            position, stream, service = int(r["position"]), r["originator_id"], r["scope_key"]
            state = _state_of(r["state_after"])
            parsed.append((position, (stream, state)))
            self.positions.setdefault(stream, []).append(position)
            self.of_service[service].add(stream)
            for region in state.regions or ("",):
                self.of_pair[(service, region)].add(stream)
            start, end = _span(state)
            ended = self.open_spans.pop(stream, None)
            if ended is not None:
                self.ended_spans[ended[0]].append((position, ended[1], stream))
            if end is None:
                self.open_spans[stream] = (service, position)
            else:
                for month in _months_near(start, end):
                    self.near_month[(service, month)].add(stream)
        with cached.lock:
            cached.states.update(parsed)
            _bound(cached.states)
        self.upto, self.link = prefix, _link_at(view, prefix)
        if len(rows) >= FREEZE_AFTER:
            # the mirror and the states just read live as long as the process: left out of the
            # collector's full passes, which would otherwise walk them on every later answer
            keep_out_of_collections(collect_first=True)
        return prefix


def _state_of(text: str) -> IncidentFacts | MaintenanceFacts:
    """A filed state (v_facts.state_after): an incident's or a maintenance window's document."""
    doc = json.loads(text)
    return incident_from_doc(doc) if "incident_id" in doc else maintenance_from_doc(doc)


def _link_at(view: SQLCreditsView, position: int) -> str | None:
    found = view.select("SELECT link FROM v_chain WHERE position = ?", (position,))
    return str(found[0]["link"]) if found else None


def _states(view: SQLCreditsView, filed: list[tuple[int, str]]) -> list[IncidentFacts | MaintenanceFacts]:
    """The states filed at these positions by these streams (parsed once per process: a filed
    state never changes; the stream is checked, so a store rebuilt from another log is re-read)."""
    cached = _caches(view)
    with cached.lock:  # another answer's `_bound` must not drop an entry between the two looks
        cache = cached.states
        missing = [p for p, stream in filed if cache.get(p, ("",))[0] != stream]
        for r in _rows_at(view, "position, originator_id, state_after", missing):
            cache[int(r["position"])] = (r["originator_id"], _state_of(r["state_after"]))
        found = [cache[p][1] for p, _ in filed]
        _bound(cache)
    return found


def _replayed(
    events: dict[int, Any],
    states: Sequence[IncidentFacts | MaintenanceFacts] | CreditsModel = (),
    contracts: set[str] | None = None,
    computes: Callable[[ContractFacts, Month], bool] | None = None,
) -> CreditsModel:
    """These facts, in log order, through the projection's own code, into a model in memory,
    with these incidents and maintenance windows as they stand (or those of a model of every
    service's, shared: `_shared_at`), and the ledger of `contracts` only (when given: one
    customer's); every period is computed once, at the end, from the final facts (as a full
    replay does); with `computes`, only those it keeps (CreditsModel.computes)."""
    memory = MemoryCreditsView()
    model = memory.model
    model.record_log = False
    model.computes = computes
    model.contracts_kept = contracts  # the ledger's entries of these contracts alone (None: all)
    model.deferred = True  # every fact only notes what it reaches; `flush` computes
    beyond = max(events, default=0) + 1
    memory.latest_position = lambda: beyond  # never at the head: no commit flushes
    memory.batch_limit, memory.batch_seconds = 2**62, float("inf")
    projection = CreditsProjection(memory)
    for position in sorted(events):
        projection.process_event(events[position], Tracking(APPLICATION_NAME, position))
    # after the facts: no fact refers to them by id
    if isinstance(states, CreditsModel):
        model.share_service_facts(states)
    else:
        _load(model, states)
    model.flush()
    return model


def _load(model: CreditsModel, states: Iterable[IncidentFacts | MaintenanceFacts]) -> None:
    for state in states:
        if isinstance(state, IncidentFacts):
            model.load_incident(state)
        else:
            model.load_maintenance(state)


@dataclass
class _Cached:
    """What a store's as-of answers keep between requests: decoded facts and parsed states."""

    facts: OrderedDict[int, Any] = field(default_factory=OrderedDict)
    states: OrderedDict[int, tuple[str, IncidentFacts | MaintenanceFacts]] = field(default_factory=OrderedDict)
    streams: _Streams = field(default_factory=_Streams)
    lock: threading.Lock = field(default_factory=threading.Lock)  # for the two caches above


_CACHES: WeakKeyDictionary[SQLCreditsView, _Cached] = WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def _caches(view: SQLCreditsView) -> _Cached:
    """The caches of this view (one per store), gone with it."""
    with _CACHES_LOCK:
        found = _CACHES.get(view)
        if found is None:
            found = _CACHES[view] = _Cached()
        return found


# Facts never change, so a decoded fact can serve every later answer from the same store:
# decoding is about half the cost of an as-of answer. Kept per view (one per store), bounded
# (the oldest dropped first), and checked against the row's stream and version.
DECODED_LIMIT = 200_000


def _facts(view: SQLCreditsView, mapper: Any, where: str, params: tuple[Any, ...]) -> list[tuple[int, Any]]:
    """The facts of v_facts matching `where`, decoded, in log order. Their stream and version are
    read first, and the stored bytes only of those not decoded yet (a billing run's fact holds
    every entry it issued: megabytes that a cached answer need not read again)."""
    cache = _caches(view).facts
    rows = view.select(
        f"SELECT position, originator_id, originator_version FROM v_facts WHERE {where} ORDER BY position", params
    )

    def known(r: Any) -> bool:
        event = cache.get(int(r["position"]))
        return (
            event is not None
            and str(event.originator_id) == r["originator_id"]
            and event.originator_version == r["originator_version"]
        )

    with _caches(view).lock:  # another answer's `_bound` must not drop an entry between the looks
        missing = [int(r["position"]) for r in rows if not known(r)]
        for r in _rows_at(view, COLUMNS, missing):
            cache[int(r["position"])] = _decode(mapper, r)
        found = [(int(r["position"]), cache[int(r["position"])]) for r in rows]
        _bound(cache)
    return found


def _rows_at(view: SQLCreditsView, columns: str, positions: list[int]) -> Iterator[Any]:
    """These columns of the v_facts rows at these positions, 500 positions per query."""
    for start in range(0, len(positions), 500):
        some = positions[start : start + 500]
        marks = ", ".join("?" for _ in some)
        yield from view.select(f"SELECT {columns} FROM v_facts WHERE position IN ({marks})", some)


def _bound(cache: OrderedDict[int, Any]) -> None:
    """Drop the oldest entries beyond DECODED_LIMIT."""
    while len(cache) > DECODED_LIMIT:
        cache.popitem(last=False)


def _decode(mapper: Any, row: Any) -> Any:
    return mapper.to_domain_event(
        StoredEvent(
            originator_id=UUID(row["originator_id"]),
            originator_version=row["originator_version"],
            topic=row["topic"],
            state=row["state"].encode("utf-8"),
        )
    )
