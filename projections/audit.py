"""The audit trail: every stored fact as plain JSON, and a SHA-256 hash chain over the log.

Each link is sha256(previous link bytes + the fact's canonical bytes), starting from
sha256(b"sla-credits"). The canonical bytes are the JSON of the fact as the event feed shows
it (`position, recorded_at, stream_id, version, type, data`), keys sorted, no spaces, UTF-8, so
an auditor can recompute the chain from the feed alone (docs/audit.md)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from functools import lru_cache
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    Notification,
    StoredEvent,
    UUIDAsHex,
)

from domain.application import DateAsISO

GENESIS = hashlib.sha256(b"sla-credits").hexdigest()


def _plain(value: dict[str, Any]) -> Any:
    """A transcoded object ({"_type_": ..., "_data_": ...}) as its plain data; any other object as
    it is (a hook of the JSON decoder: every object is decoded inside out, so a value is plain
    by the time the object holding it is)."""
    if len(value) == 2 and "_type_" in value and "_data_" in value:
        return value["_data_"]
    return value


def fact_json(position: int, stored: StoredEvent | Notification) -> dict[str, Any]:
    """A stored fact as plain JSON (no transcoding markers), as the feed and the chain show it."""
    state = json.loads(stored.state.decode("utf-8"), object_hook=_plain)
    recorded_at = state.pop("timestamp", None)
    state.pop("originator_topic", None)
    return {
        "position": position,
        "recorded_at": recorded_at,
        "stream_id": str(stored.originator_id),
        "version": stored.originator_version,
        "type": stored.topic,
        "data": state,
    }


def canonical_bytes(fact: dict[str, Any]) -> bytes:
    return json.dumps(fact, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def next_link(previous: str, fact: dict[str, Any]) -> str:
    return hashlib.sha256(bytes.fromhex(previous) + canonical_bytes(fact)).hexdigest()


@lru_cache(maxsize=1)
def mapper() -> Mapper[Any]:
    """Encodes a decoded event back to its stored bytes, and decodes them (the application's
    transcodings; one per process, it keeps no state between calls)."""
    transcoder = JSONTranscoder()
    for t in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
        transcoder.register(t)
    return Mapper(transcoder=transcoder)


def chain(notifications: Iterator[Notification], previous: str = GENESIS) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(position, link, fact) for each stored fact, recomputed from the log."""
    link = previous
    for n in notifications:
        fact = fact_json(n.id, n)
        link = next_link(link, fact)
        yield n.id, link, fact


def feed_page(app: Any, recorded_links: Any, after: int, limit: int, upto: int | None = None) -> dict[str, Any]:
    """A page of the event feed: the facts after position `after` (up to `upto`, the last fact
    known at an instant), each with its recorded link (`recorded_links(after, last)` answers
    {position: link})."""
    if upto is not None and upto <= after:
        return {"events": [], "next_after": after}
    notifications = app.recorder.select_notifications(start=after, limit=limit, stop=upto, inclusive_of_start=False)
    links = recorded_links(after, notifications[-1].id) if notifications else {}
    facts = [{**fact, "link": links.get(fact["position"])} for _pos, _link, fact in chain(iter(notifications))]
    return {"events": facts, "next_after": notifications[-1].id if notifications else after}


def find_digest(notifications: Iterator[Notification], digest: str) -> int | None:
    """The position whose link, recomputed from the stored log, is `digest` (an auditor's kept
    digest): if found, no fact up to that position has changed since it was taken."""
    wanted = digest.strip().lower()
    for position, link, _ in chain(notifications):
        if link == wanted:
            return position
    return None


SUBJECT_FIELDS = ("contract_id", "incident_id", "maintenance_id", "claim_id")


def stream_subjects(app: Any, facts: list[dict[str, Any]]) -> dict[str, str]:
    """The id each fact's stream was created with (a contract, incident, maintenance window or
    claim id), for the facts that do not carry it themselves: read from the stream's first fact."""
    subjects: dict[str, str] = {}
    for fact in facts:
        for name in SUBJECT_FIELDS:
            if isinstance(fact["data"].get(name), str) and fact["version"] == 1:
                subjects[fact["stream_id"]] = fact["data"][name]
    for stream_id in sorted({f["stream_id"] for f in facts} - set(subjects)):
        first = app.recorder.select_events(UUID(stream_id), lte=1, limit=1)
        if first:
            data = fact_json(0, first[0])["data"]
            subject = next((data[n] for n in SUBJECT_FIELDS if isinstance(data.get(n), str)), None)
            if subject is not None:
                subjects[stream_id] = subject
    return subjects
