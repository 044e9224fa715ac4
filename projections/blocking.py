"""A stored fact the projection fails on: remembered in the `projection_status` table, so that
every API process can say which fact blocks the views and since when (`/readyz`, `/metrics`,
read errors, the console), and cleared by the first write after it."""

from __future__ import annotations

import json
from typing import Any

from projections.views import SQLCreditsView

ROW = "failure"
BLOCKING_ATTEMPTS = 3


def current_failure(view: SQLCreditsView) -> dict[str, Any] | None:
    """The failure that blocks the projection now, or None."""
    rows = view.select("SELECT doc FROM projection_status WHERE name = ?", (ROW,))
    return json.loads(rows[0]["doc"]) if rows else None


def record_failure(view: SQLCreditsView, failure: dict[str, Any]) -> None:
    with view.cursor(commit=True) as c:
        c.execute(view.sql("DELETE FROM projection_status WHERE name = ?"), (ROW,))
        c.execute(view.sql("INSERT INTO projection_status VALUES (?, ?)"), (ROW, json.dumps(failure, sort_keys=True)))


def clear_failure(view: SQLCreditsView) -> None:
    with view.cursor(commit=True) as c:
        c.execute(view.sql("DELETE FROM projection_status WHERE name = ?"), (ROW,))


def blocks(failure: dict[str, Any] | None) -> bool:
    """A failure that repeats (not one transient error, retried within a second) blocks the views."""
    return failure is not None and failure["attempts"] >= BLOCKING_ATTEMPTS


def describe(failure: dict[str, Any]) -> str:
    where = (
        f"at position {failure['position']} ({failure['fact_type']} of stream {failure['stream_id']})"
        if failure.get("position") is not None
        else "before it reached a fact"
    )
    return (
        f"the projection is blocked {where} since {failure['since']}: {failure['error']}; "
        f"{failure['attempts']} attempts, next at {failure['next_attempt_at']} (see docs/operations.md)"
    )
