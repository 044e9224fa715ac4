"""Exporting the whole log to a JSON-lines file and importing it into an empty store.

Each line is the event feed's form (`position, recorded_at, stream_id, version, type, data,
link`) plus `stored_state`: the exact bytes the store holds for the fact, as text. The feed's
`data` is plain JSON for readers without our code; `stored_state` keeps the types (decimals,
instants, dates) so that an import is exact. Before anything is written, an import checks
every line: its `data` must be what its `stored_state` decodes to, its `stored_state` the bytes
this service writes for that fact, positions must increase,
and its `link` must be the hash chain recomputed from the lines before it. The import then
writes every fact at its original position in one transaction, so the imported store gives
the same credits, ledger and digest as the original, or nothing is written at all."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from domain.application import CreditsApplication
from projections.audit import GENESIS, chain, fact_json, mapper, next_link

PAGE = 2000


class EventLogError(ValueError):
    """A line of an export that cannot be imported (its number and why)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def _notifications(app: CreditsApplication) -> Iterator[Any]:
    position = 0
    while True:
        page = app.recorder.select_notifications(start=position, limit=PAGE, inclusive_of_start=False)
        if not page:
            return
        yield from page
        position = page[-1].id


def export_events(app: CreditsApplication, out: IO[str]) -> tuple[int, str]:
    """Write every recorded fact, in order, one JSON object a line; answers (count, digest)."""
    states: dict[int, bytes] = {}

    def remember(notifications: Iterator[Any]) -> Iterator[Any]:
        for n in notifications:
            states[n.id] = n.state
            yield n

    count, digest = 0, GENESIS
    for position, link, fact in chain(remember(_notifications(app))):
        line = {**fact, "link": link, "stored_state": states.pop(position).decode("utf-8")}
        out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        count, digest = count + 1, link
    return count, digest


@dataclass(frozen=True)
class _Fact:
    position: int
    stored: StoredEvent


def read_export(lines: Iterable[str]) -> tuple[list[_Fact], str]:
    """Parse and check an export; answers the facts and the digest of the last line."""
    facts: list[_Fact] = []
    link, last = GENESIS, 0
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
            position, stream_id, version = int(line["position"]), UUID(line["stream_id"]), int(line["version"])
            stored = StoredEvent(
                originator_id=stream_id,
                originator_version=version,
                topic=str(line["type"]),
                state=str(line["stored_state"]).encode("utf-8"),
            )
            fact = fact_json(position, stored)
        except (ValueError, KeyError, TypeError) as e:
            raise EventLogError(number, f"not a line of an event export ({e})") from None
        if position <= last:
            raise EventLogError(number, f"position {position} does not follow position {last}")
        expected = {k: line.get(k) for k in fact}
        if fact != expected:
            raise EventLogError(number, "data does not match the stored state")
        if not _as_this_service_writes(stored, number):
            raise EventLogError(
                number,
                "stored_state is not in the form this service writes its facts (the same fact encoded "
                "again differs): an export keeps each fact's stored bytes as they are",
            )
        link = next_link(link, fact)
        if line.get("link") != link:
            raise EventLogError(number, "link does not match the hash chain of the lines before it")
        facts.append(_Fact(position, stored))
        last = position
    return facts, link


def _as_this_service_writes(stored: StoredEvent, number: int) -> bool:
    """Whether the stored bytes are the fact's own encoding: what the service records, and what
    the live projection files when it encodes a decoded fact again (a replay files the bytes as
    read; decision 22). So every fact reads the same both ways, imported ones included."""
    codec = mapper()
    try:
        event = codec.to_domain_event(stored)
    except Exception as e:  # an unknown type or a state its class cannot take
        raise EventLogError(number, f"not a fact this release can read ({type(e).__name__}: {e})") from None
    return bool(codec.to_stored_event(event).state == stored.state)


def import_events(app: CreditsApplication, facts: list[_Fact]) -> int:
    """Write the facts at their original positions into an empty store, all or nothing."""
    if app.recorder.max_notification_id():
        raise ValueError("the store already holds recorded facts; import into an empty store")
    recorder: Any = app.recorder
    table = recorder.events_table_name
    with recorder.datastore.transaction(commit=True) as c:
        if app.env.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite":
            for f in facts:
                c.execute(
                    f"INSERT INTO {table} (rowid, originator_id, originator_version, topic, state) VALUES (?,?,?,?,?)",
                    (
                        f.position,
                        UUID(str(f.stored.originator_id)).hex,
                        f.stored.originator_version,
                        f.stored.topic,
                        f.stored.state,
                    ),
                )
        else:
            schema = recorder.datastore.schema
            c.execute(f'LOCK TABLE "{schema}"."{table}" IN EXCLUSIVE MODE')
            c.executemany(
                f'INSERT INTO "{schema}"."{table}" '
                "(originator_id, originator_version, topic, state, notification_id) VALUES (%s,%s,%s,%s,%s)",
                [
                    (f.stored.originator_id, f.stored.originator_version, f.stored.topic, f.stored.state, f.position)
                    for f in facts
                ],
            )
            if facts:
                c.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{schema}\".\"{table}\"', 'notification_id'), %s)",
                    (facts[-1].position,),
                )
    return len(facts)
