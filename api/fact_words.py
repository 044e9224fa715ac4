"""A recorded fact in words, with its subject ("Incident INC-12 resolved", "Contract C-3 amended
from 2026-05-01"), for the audit feed: what a person reads, beside the stored fact itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Words = Callable[[str, dict[str, Any]], str]


def _changes(d: dict[str, Any]) -> str:
    return ", ".join(sorted(d.get("changes", {}))) or "nothing"


# (aggregate, event) -> words from (subject, data); the subject is the stream's own id
WORDS: dict[tuple[str, str], Words] = {
    ("Contract", "Signed"): lambda s, d: (
        f"Contract {s} signed by customer {d['customer_id']}, from {d['starts_on']} ({d['currency']}, {d['timezone']})"
    ),
    ("Contract", "Amended"): lambda s, d: f"Contract {s} amended from {d['effective_from']}",
    ("Contract", "Terminated"): lambda s, d: f"Contract {s} terminated: last day {d['ends_on']}",
    ("Incident", "Opened"): lambda s, d: (
        f"Incident {s} opened: {d['severity']} of {d['service']} in {', '.join(d['regions']) or 'every region'}"
        + (f" for {', '.join(d['customers'])} only" if d.get("customers") else "")
    ),
    ("Incident", "Resolved"): lambda s, d: f"Incident {s} resolved",
    ("Incident", "Corrected"): lambda s, d: f"Incident {s} corrected ({_changes(d)}): {d['reason']}",
    ("Incident", "Classified"): lambda s, d: f"Incident {s} classified {d['cause'].replace('_', ' ')}: {d['reason']}",
    ("Incident", "CustomerExcluded"): lambda s, d: (
        f"Customer {d['customer_id']} excluded from incident {s}: {d['reason'].replace('_', ' ')}"
    ),
    ("Incident", "Retracted"): lambda s, d: f"Incident {s} retracted: {d['reason']}",
    ("Maintenance", "Announced"): lambda s, d: (
        f"Maintenance {s} announced for {d['service']} in {', '.join(d['regions']) or 'every region'}"
    ),
    ("Maintenance", "Cancelled"): lambda s, d: f"Maintenance {s} cancelled",
    ("Claim", "Filed"): lambda s, d: f"Claim {s} filed by {d['customer_id']} for {d['month']} ({d['channel']})",
    ("Ledger", "Started"): lambda s, d: "Billing ledger started",
    ("Ledger", "RunIssued"): lambda s, d: (
        f"Billing run {d['run_id']} for {d['month']} issued {len(d.get('entries', []))} ledger entries"
    ),
    ("Ledger", "Acknowledged"): lambda s, d: f"Ledger entry {d['entry_id']} applied to invoice {d['invoice_id']}",
}


def fact_in_words(fact: dict[str, Any], subject: str | None) -> str:
    """`fact` as the feed gives it (`type` like "domain.incident:Incident.Resolved")."""
    aggregate, _, event = fact["type"].rpartition(":")[2].partition(".")
    words = WORDS.get((aggregate, event))
    who = subject or fact["stream_id"][:8]
    if words is None:
        return f"{aggregate} {who}: {event}"
    try:
        return words(who, fact["data"])
    except (KeyError, TypeError, AttributeError):  # a fact of an older shape: say what is sure
        return f"{aggregate} {who}: {event}"
