"""The background self-check: in the projection process, a rotating slice of customers at a
time, their stored periods and contract years against a fresh computation from the facts
(projections/recheck.py), read in one snapshot of the views.

Its state is one row of the `projection_status` table, so that every API process reports the same
figures (`/readyz`, `/metrics`, the console's audit page): the time of the last full cycle, and
the stored rows that differed the last time their customer was checked."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from projections.readers import SQLReader
from projections.recheck import differences, fresh_model
from projections.views import SQLCreditsView

log = logging.getLogger("sla_credits.self_check")
ROW = "self_check"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def last_self_check(view: SQLCreditsView) -> dict[str, Any] | None:
    """The self-check's state as last written, or None before its first slice."""
    rows = view.select("SELECT doc FROM projection_status WHERE name = ?", (ROW,))
    if not rows:
        return None
    state: dict[str, Any] = json.loads(rows[0]["doc"])
    state["mismatch_count"] = sum(len(found) for found in state["mismatched"].values())
    return state


def pause_after(step_seconds: float, pause_seconds: float, cpu_share: float) -> float:
    """How long to wait after a slice that took `step_seconds`: at least `pause_seconds`, and
    long enough that checking takes at most `cpu_share` of the time (the projection process
    shares its machine with the API; on two cores an unpaced self-check took a quarter of one)."""
    if not 0 < cpu_share <= 1:
        raise ValueError("cpu_share must be in (0, 1]")
    return max(pause_seconds, step_seconds * (1 / cpu_share - 1))


class SelfCheck:
    """One slice per `step()`; the state survives restarts in its row."""

    def __init__(self, view: SQLCreditsView, customers_per_slice: int = 20) -> None:
        self.view = view
        self.per_slice = customers_per_slice

    def _load(self) -> dict[str, Any]:
        state = last_self_check(self.view)
        if state is None:
            return {
                "cycle_started_at": _now(),
                "last_full_cycle_at": None,
                "last_full_cycle_seconds": None,
                "after": "",
                "checked": 0,
                "checked_this_cycle": 0,
                "mismatched": {},
                "last_slice_at": None,
            }
        state.pop("mismatch_count", None)
        return state

    def step(self) -> dict[str, Any]:
        """Check the next slice of customers; a cycle ends when every customer was checked."""
        state = self._load()
        started = time.perf_counter()
        reader = SQLReader(self.view)
        with self.view.reading():
            customers = reader.customers()
            batch = [c for c in customers if c > state["after"]][: self.per_slice]
            found: dict[str, list[dict[str, Any]]] = {}
            contracts = {customer: reader.contracts_of(customer) for customer in batch}
            # one fresh computation for the whole slice: the incidents of its services are read
            # once, not once per customer (a contract's rows depend on nothing but its own facts)
            fresh = fresh_model(reader, [c for customer in batch for c in contracts[customer]])
            for customer in batch:
                stored = reader.periods_of(customer), reader.years_of(customer)
                found[customer] = [d.summary() for d in differences(contracts[customer], *stored, fresh)]
        for customer, summaries in found.items():
            if summaries:
                state["mismatched"][customer] = summaries
                for d in summaries:
                    log.error(
                        "self-check: the stored %s %s %s of customer %s differs from the facts (stored %s, fresh %s)",
                        d["kind"],
                        d["contract_id"],
                        d["key"],
                        customer,
                        d["stored"],
                        d["fresh"],
                        extra={"contract_id": d["contract_id"], "month": d["key"], "customer_id": customer},
                    )
            else:
                state["mismatched"].pop(customer, None)
        # customers that no longer exist cannot keep a mismatch
        known = set(customers)
        state["mismatched"] = {k: v for k, v in state["mismatched"].items() if k in known}
        state["checked"] += len(batch)
        state["checked_this_cycle"] += len(batch)
        state["last_slice_at"] = _now()
        state["last_slice_seconds"] = round(time.perf_counter() - started, 4)
        if len(batch) < self.per_slice or not batch or batch[-1] == customers[-1]:
            cycle_started = datetime.fromisoformat(state["cycle_started_at"].replace("Z", "+00:00"))
            state["last_full_cycle_at"] = state["last_slice_at"]
            state["last_full_cycle_seconds"] = round((datetime.now(UTC) - cycle_started).total_seconds(), 3)
            state["last_full_cycle_customers"] = state["checked_this_cycle"]
            state["cycle_started_at"] = _now()
            state["after"] = ""
            state["checked_this_cycle"] = 0
        else:
            state["after"] = batch[-1]
        self._save(state)
        state["mismatch_count"] = sum(len(v) for v in state["mismatched"].values())
        return state

    def _save(self, state: dict[str, Any]) -> None:
        with self.view.cursor(commit=True) as c:
            c.execute(self.view.sql("DELETE FROM projection_status WHERE name = ?"), (ROW,))
            row = (ROW, json.dumps(state, sort_keys=True))
            c.execute(self.view.sql("INSERT INTO projection_status VALUES (?, ?)"), row)
