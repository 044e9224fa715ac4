"""Which webhook events a recorded fact becomes, and their payloads (pure).

* `Ledger.RunIssued` -> one `ledger.entry.issued` per entry, in issue order (data: the entry
  exactly as GET /v1/billing/ledger lists it), then one `billing.run.completed`.
* `views.mismatch` does not come from a fact: the dispatcher turns a new report of the
  projection's self-check into one (webhooks/dispatcher.py).

Every event has an id, `evt_<position>_<n>` (the n-th event of the fact at that position), and
each delivery of it to an endpoint the id `msg_<position>_<n>_<endpoint hash>`: the
`webhook-id` header, the same on every attempt, the receiver's idempotency key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from domain.ledger import Ledger
from projections.records import instant_text, ledger_row, listed_entry, run_totals

RunIssued: Any = getattr(Ledger, "RunIssued")  # noqa: B009


@dataclass(frozen=True)
class WebhookEvent:
    position: int
    n: int
    type: str
    timestamp: str
    data: dict[str, Any]
    key: str | None = None  # an event that is not a fact's: its own id

    @property
    def event_id(self) -> str:
        return self.key or f"evt_{self.position}_{self.n}"

    def body(self) -> str:
        """The Standard Webhooks payload, as sent (the same bytes on every attempt)."""
        return json.dumps(
            {"type": self.type, "timestamp": self.timestamp, "data": self.data}, separators=(",", ":"), sort_keys=True
        )


def delivery_id(event: WebhookEvent, webhook_id: str) -> str:
    endpoint = hashlib.sha256(webhook_id.encode()).hexdigest()[:12]
    return f"msg_{event.event_id.removeprefix('evt_')}_{endpoint}"


def webhook_events(fact: Any, position: int) -> list[WebhookEvent]:
    if isinstance(fact, RunIssued):
        return run_events(position, fact.run_id, fact.month, instant_text(fact.issued_at), fact.entries)
    return []


def run_events(
    position: int, run_id: str, month: str, issued_at: str, entries: list[dict[str, Any]]
) -> list[WebhookEvent]:
    out = [
        WebhookEvent(position, n, "ledger.entry.issued", issued_at, listed_entry(ledger_row(run_id, issued_at, e)))
        for n, e in enumerate(entries)
    ]
    counts: dict[str, dict[str, int]] = {}
    for e in entries:
        by_kind = counts.setdefault(str(e["currency"]), {"credit": 0, "adjustment": 0})
        by_kind[str(e["kind"])] += 1
    summary = {
        "run_id": run_id,
        "month": month,
        "issued_at": issued_at,
        "entries": len(entries),
        "counts": counts,
        "totals": run_totals(entries),
    }
    out.append(WebhookEvent(position, len(entries), "billing.run.completed", issued_at, summary))
    return out


MISMATCH_N = 2**31 - 1  # after every event of the fact at the same position


def mismatch_digest(state: dict[str, Any]) -> str | None:
    """What identifies a self-check report that found stored figures differing from the facts
    (None when it found none): the same differences are reported once."""
    if not state.get("mismatched"):
        return None
    return hashlib.sha256(json.dumps(state["mismatched"], sort_keys=True).encode()).hexdigest()[:24]


def mismatch_event(position: int, at: str, state: dict[str, Any]) -> WebhookEvent:
    """A self-check report that found stored figures differing from the facts."""
    found = [dict(d, customer_id=c) for c, ds in sorted(state["mismatched"].items()) for d in ds]
    data = {"mismatch_count": len(found), "mismatches": found[:100], "checked_at": state.get("last_slice_at")}
    return WebhookEvent(position, MISMATCH_N, "views.mismatch", at, data, key=f"evt_mismatch_{mismatch_digest(state)}")
