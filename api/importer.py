"""`sla-credits import`: one command a line, atomic per line, fast (saved in chunks)."""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from eventsourcing.persistence import IntegrityError
from pydantic import ValidationError

from api.commands import run_import_line
from api.schemas import IMPORT_KINDS, Body
from domain.application import CreditsApplication, SavedAggregates, Unit
from domain.errors import DomainError
from projections.heap import collector_paused

CHUNK = 500


@dataclass
class ImportReport:
    lines: int = 0
    recorded: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def parse_line(text: str) -> tuple[str, Body]:
    """Validate one line; raises ValueError with a reason naming the field."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON: {e.msg} at column {e.colno}") from None
    if not isinstance(data, dict):
        raise ValueError("each line must be a JSON object")
    kind = data.pop("kind", None)
    model = IMPORT_KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ValueError(f"kind: must be one of {', '.join(IMPORT_KINDS)}")
    try:
        return kind, model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ValueError(f"{where}: {first['msg']}") from None


def import_lines(
    app: CreditsApplication, lines: Iterable[str], progress: Callable[[int], None] = lambda n: None
) -> ImportReport:
    """Record every good line; report the bad ones by number. Lines are applied in chunks on
    one unit of work and saved together; if the store refuses a chunk (an id recorded before,
    or a concurrent writer), the chunk's lines are replayed one by one with full checks."""
    report = ImportReport()
    chunk: list[tuple[int, str, Body | None, str | None]] = []  # line, kind, body, parse error
    saved = SavedAggregates()
    unit = Unit(app, optimistic_creates=True, saved=saved)
    outcomes: list[tuple[int, bool | None, str | None]] = []  # line, created, error

    def settle(results: list[tuple[int, bool | None, str | None]]) -> None:
        for number, created, error in results:
            if error is not None:
                report.errors.append((number, error))
            elif created:
                report.recorded += 1
            else:
                report.unchanged += 1

    def flush() -> None:
        nonlocal unit
        if not chunk:
            return
        try:
            if unit.pending:
                app.save_unit(unit)
            settle(outcomes)
        except IntegrityError:
            saved.forget()  # some may be stale, or hold this chunk's unsaved facts
            for number, kind, body, parse_error in chunk:
                if body is None:
                    settle([(number, None, parse_error)])
                    continue
                try:
                    result = run_import_line(app, kind, body)
                except DomainError as e:
                    settle([(number, None, f"{e.field}: {e.reason}")])
                    continue
                settle([(number, result.created, None)])
        chunk.clear()
        outcomes.clear()
        unit = Unit(app, optimistic_creates=True, saved=saved)

    # The import's aggregates live on (SavedAggregates): the collector's full passes would walk
    # them again and again and free nothing (a sixth of an import's time on the reference
    # dataset). Paused, as a replay pauses it (projections/heap.py); each chunk's own cyclic
    # garbage is collected with the young generations once the chunk is saved.
    with collector_paused():
        for number, text in enumerate(lines, start=1):
            report.lines = number
            if text.strip():
                try:
                    kind, body = parse_line(text)
                except ValueError as e:
                    chunk.append((number, "", None, str(e)))
                    outcomes.append((number, None, str(e)))
                else:
                    chunk.append((number, kind, body, None))
                    try:
                        result = run_import_line(app, kind, body, unit)
                    except DomainError as e:
                        outcomes.append((number, None, f"{e.field}: {e.reason}"))
                    else:
                        outcomes.append((number, result.created, None))
            if len(chunk) >= CHUNK:
                flush()
                gc.collect(1)
            progress(1)
        flush()
    report.errors.sort()
    return report
