"""`sla-credits import`: one command a line, atomic per line, fast (saved in chunks)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from eventsourcing.persistence import IntegrityError
from pydantic import ValidationError

from api.commands import run_import_line
from api.schemas import IMPORT_KINDS, Body
from domain.application import CreditsApplication, Unit
from domain.errors import DomainError

CHUNK = 500


@dataclass
class ImportReport:
    lines: int = 0
    recorded: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    last_position: int | None = None


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
    report = ImportReport()
    chunk: list[tuple[int, str, Body]] = []
    unit = Unit(app)

    def flush() -> None:
        nonlocal unit
        if not chunk:
            return
        try:
            position = app.save_unit(unit)
        except IntegrityError:
            # A concurrent writer touched one of these aggregates: replay the chunk line by line.
            report.recorded -= sum(1 for _ in chunk)
            for number, kind, body in chunk:
                try:
                    result = run_import_line(app, kind, body)
                except DomainError as e:
                    report.errors.append((number, f"{e.field}: {e.reason}"))
                    continue
                report.recorded += int(result.created)
                position = result.position or position
        if position is not None:
            report.last_position = position
        chunk.clear()
        unit = Unit(app)

    for number, text in enumerate(lines, start=1):
        report.lines = number
        if not text.strip():
            progress(1)
            continue
        try:
            kind, body = parse_line(text)
            result = run_import_line(app, kind, body, unit)
        except ValueError as e:
            report.errors.append((number, str(e)))
        except DomainError as e:
            report.errors.append((number, f"{e.field}: {e.reason}"))
        else:
            if result.created:
                report.recorded += 1
                chunk.append((number, kind, body))
            else:
                report.unchanged += 1
        if len(chunk) >= CHUNK:
            flush()
        progress(1)
    flush()
    return report
