"""`sla-credits import` on both stores: chunked saving records exactly what the same lines
recorded one by one would, reports each bad line by number and field, is idempotent, and stays
right when another writer records a fact on one of its aggregates between two of its chunks."""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any

import pytest

from api import importer
from api.commands import run_import_line
from api.importer import import_lines, parse_line
from bench.dataset import commands
from domain.application import CreditsApplication
from domain.errors import DomainError
from domain.incident import Incident, incident_uuid
from projections.runner import recorded_events
from projections.stores import open_application


def _facts(app: CreditsApplication) -> list[tuple[Any, ...]]:
    """Every recorded fact without its recording time, per aggregate in version order."""
    rows = []
    for e, _ in recorded_events(app):
        state = {k: v for k, v in vars(e).items() if k not in ("timestamp", "originator_id", "originator_version")}
        rows.append((str(e.originator_id), e.originator_version, type(e).__qualname__, repr(sorted(state.items()))))
    return sorted(rows)


def _one_by_one(app: CreditsApplication, lines: list[str]) -> list[tuple[int, str]]:
    errors = []
    for number, text in enumerate(lines, start=1):
        try:
            kind, body = parse_line(text)
            run_import_line(app, kind, body)
        except ValueError as e:
            errors.append((number, str(e)))
        except DomainError as e:
            errors.append((number, f"{e.field}: {e.reason}"))
    return errors


def _lines() -> tuple[list[str], dict[int, str]]:
    """The lines of a small world with four bad ones among them, and the bad ones by number."""
    good = [json.dumps(c) for c in commands(contracts=30, incidents=200, seed=7)]
    opened = json.loads(next(t for t in good if '"open_incident"' in t))
    bad = [
        "not json",
        json.dumps({"kind": "open_fire"}),
        json.dumps(
            {"kind": "resolve_incident", "incident_id": "nobody", "request_id": "r", "ended_at": "2025-01-01T00:00:00Z"}
        ),
        json.dumps({**opened, "title": "the same id, another body"}),
    ]
    lines = list(good)
    at = {}
    for where, text in zip((5, 40, 120, 200), bad, strict=True):
        lines.insert(where, text)
        at[where + 1] = text
    return lines, at


def test_a_chunked_import_records_what_one_by_one_would(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "CHUNK", 16)  # many chunks; follow-ups land chunks after their incident
    lines, bad = _lines()
    chunked = open_application(store_url, create=True)
    report = import_lines(chunked, lines)
    reference = open_application(f"sqlite:///{tmp_path}/one-by-one.db", create=True)
    assert report.errors == _one_by_one(reference, lines)
    assert [n for n, _ in report.errors] == sorted(bad)
    assert report.recorded == len(lines) - len(bad)
    assert _facts(chunked) == _facts(reference)


def test_bad_lines_are_named_by_number_and_field_and_a_second_import_changes_nothing(store_url: str) -> None:
    app = open_application(store_url, create=True)
    lines, _ = _lines()
    report = import_lines(app, lines)
    by_line = dict(report.errors)
    assert by_line[6].startswith("not JSON")
    assert by_line[41].startswith("kind: must be one of")
    assert by_line[121] == "incident_id: no incident with id 'nobody'"
    assert by_line[201].startswith("incident_id: ") and "different body" in by_line[201]
    head = app.recorder.max_notification_id()
    again = import_lines(app, lines)
    assert (again.recorded, again.unchanged, again.errors) == (0, report.recorded, report.errors)
    assert app.recorder.max_notification_id() == head


def test_a_fact_recorded_by_another_writer_between_two_chunks_is_kept(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import remembers the incident it opened in its first chunk; another writer classifies
    it before the second chunk resolves it. The second chunk's save is refused (that version is
    taken), its lines are replayed on the stored state, and both facts stand."""
    monkeypatch.setattr(importer, "CHUNK", 4)
    app = open_application(store_url, create=True)
    other = open_application(store_url)
    opened = [
        {
            "kind": "open_incident",
            "incident_id": f"I{n}",
            "service": "compute",
            "regions": ["eu-west"],
            "severity": "outage",
            "started_at": "2025-03-01T10:00:00Z",
        }
        for n in range(4)
    ]
    follow = [
        {"kind": "resolve_incident", "incident_id": "I0", "request_id": "end", "ended_at": "2025-03-01T11:00:00Z"},
        {"kind": "resolve_incident", "incident_id": "I1", "request_id": "end", "ended_at": "2025-03-01T12:00:00Z"},
    ]
    lines = [json.dumps(c) for c in opened + follow]

    def between_chunks(_: int, seen: list[int] = [0]) -> None:
        seen[0] += 1
        if seen[0] == len(opened):
            other.classify_incident(incident_id="I0", request_id="fm", cause="force_majeure", reason="storm")

    report = import_lines(app, lines, progress=between_chunks)
    assert report.errors == []
    assert report.recorded == len(lines)
    fresh = open_application(store_url)
    i0 = fresh.repository.get(incident_uuid("I0"))
    assert isinstance(i0, Incident)
    assert i0.version == 3  # opened, classified by the other writer, resolved by the import
    assert i0.cause == "force_majeure"
    assert i0.ended_at is not None


def test_after_a_refused_chunk_no_line_is_judged_on_the_import_s_own_unsaved_copy(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer retracts I0 between two chunks. The second chunk's resolve of I0 is refused
    on replay (the incident was retracted). The third chunk sends the same resolve again: judged
    on the import's copy (which holds the refused resolve) it would read as an idempotent
    repeat, "unchanged"; judged on the store, it is refused too."""
    monkeypatch.setattr(importer, "CHUNK", 2)
    app = open_application(store_url, create=True)
    other = open_application(store_url)
    opened = {"kind": "open_incident", "service": "compute", "regions": ["eu-west"], "severity": "outage"}
    resolve = {"kind": "resolve_incident", "incident_id": "I0", "request_id": "end", "ended_at": "2025-03-01T11:00:00Z"}
    lines = [
        json.dumps({**opened, "incident_id": "I0", "started_at": "2025-03-01T10:00:00Z"}),
        json.dumps({**opened, "incident_id": "I1", "started_at": "2025-03-01T10:00:00Z"}),
        json.dumps(resolve),
        json.dumps({**opened, "incident_id": "I2", "started_at": "2025-03-01T10:00:00Z"}),
        json.dumps(resolve),
        json.dumps({**opened, "incident_id": "I3", "started_at": "2025-03-01T10:00:00Z"}),
    ]

    def between_chunks(_: int, seen: list[int] = [0]) -> None:
        seen[0] += 1
        if seen[0] == 2:
            other.retract_incident(incident_id="I0", request_id="rt", reason="false alarm")

    report = import_lines(app, lines, progress=between_chunks)
    retracted = "incident_id: the incident was retracted; it cannot change any more"
    assert report.errors == [(3, retracted), (5, retracted)]
    assert (report.recorded, report.unchanged) == (4, 0)


def test_an_import_leaves_the_collector_as_it_found_it(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The import pauses the cyclic collector while it builds its aggregates, collects each
    chunk's young garbage, and enables the collector again after it, even when it fails."""
    monkeypatch.setattr(importer, "CHUNK", 16)
    app = open_application(store_url, create=True)
    lines, _ = _lines()
    collected: list[int] = []

    def young(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and not gc.isenabled():
            collected.append(info["generation"])

    gc.callbacks.append(young)
    try:
        report = import_lines(app, lines)
    finally:
        gc.callbacks.remove(young)
    assert report.errors and gc.isenabled()
    assert collected and max(collected) == 1  # only the young generations, while paused
    with pytest.raises(RuntimeError):
        import_lines(app, lines, progress=lambda n: (_ for _ in ()).throw(RuntimeError("stop")))
    assert gc.isenabled()
