"""`make bench-billing`: billing runs and verification on the core's reference dataset.

For each store (SQLite, PostgreSQL), beside the full-rebuild time measured in the same run:
- the first billing run for a month (every contract of the dataset);
- the same run again with nothing changed;
- a run for the next month after a correction (a credit per contract plus its adjustments);
- `verify` (replay into a scratch store, compare every view row, recompute the hash chain).
Aims (issue 5): first run within 1x of a rebuild, no-change rerun under 0.5 s, verify within
1.5x of a rebuild.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from api.importer import import_lines
from bench.core import DATASET, OUT, _pg_database
from bench.dataset import write
from domain.calendar import Month, to_micros
from projections.billing import run_figures
from projections.runner import rebuild
from projections.service import CreditsService
from projections.verification import verify


def _run(service: CreditsService, month: str, now: datetime) -> tuple[float, int, float]:
    """(seconds to plan and record the run, entries, seconds until the views hold them)."""
    started = time.perf_counter()
    with service.view.reading():
        figures = run_figures(service.reader, Month.parse(month), to_micros(now), set(service.app.issued_periods()))
    _, entries, _ = service.app.issue_billing_run(
        month=month, issued_at=now, ended=figures.ended, earlier=figures.earlier, left=figures.left
    )
    recorded = time.perf_counter() - started
    service.catch_up()
    return recorded, len(entries), time.perf_counter() - started


def measure(name: str, url: str) -> dict[str, Any]:
    lines = DATASET.read_text(encoding="utf-8").splitlines()
    service = CreditsService(url)
    report = import_lines(service.app, lines)
    assert not report.errors, report.errors[:3]
    started = time.perf_counter()
    rebuild(url)
    rebuild_s = time.perf_counter() - started
    service.catch_up()

    now = datetime(2026, 1, 15, tzinfo=UTC)
    first_s, first_n, first_seen_s = _run(service, "2025-06", now)
    rerun_s, rerun_n, rerun_seen_s = _run(service, "2025-06", now)
    incident = json.loads(next(line for line in lines if '"open_incident"' in line and '"2025-06' in line))
    service.app.correct_incident(
        incident_id=incident["incident_id"],
        request_id="bench-correction",
        reason="benchmark: a longer outage",
        changes={"ended_at": datetime(2025, 6, 28, tzinfo=UTC)},
    )
    service.catch_up()
    next_s, next_n, next_seen_s = _run(service, "2025-07", now)

    started = time.perf_counter()
    result = verify(service.app, service.view, service.catch_up() or 0)
    verify_s = time.perf_counter() - started
    assert result["mismatch_count"] == 0 and result["first_bad_position"] is None, result
    contracts = len(service.reader.all_contracts())
    service.close()
    return {
        "store": name,
        "contracts": contracts,
        "events": result["events"],
        "rebuild_s": rebuild_s,
        "first_run_s": first_s,
        "first_run_entries": first_n,
        "first_run_projected_s": first_seen_s,
        "rerun_s": rerun_s,
        "rerun_entries": rerun_n,
        "rerun_projected_s": rerun_seen_s,
        "next_run_s": next_s,
        "next_run_entries": next_n,
        "next_run_projected_s": next_seen_s,
        "verify_s": verify_s,
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    if not DATASET.exists():
        print(f"generating {DATASET}: {write(DATASET)} commands", flush=True)
    run = OUT / f"billing-{int(time.time())}"
    run.mkdir()
    stores = sys.argv[1:] or ["sqlite", "postgres"]
    results = []
    if "sqlite" in stores:
        results.append(measure("sqlite", f"sqlite:///{run}/credits.db"))
    if "postgres" in stores:
        admin = os.environ.get("SLACREDITS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
        try:
            results.append(measure("postgres", _pg_database(admin)))
        except psycopg.OperationalError as e:
            print(f"PostgreSQL not measured: {e}", file=sys.stderr)
    for r in results:
        rb = r["rebuild_s"]
        print(f"\n== {r['store']}: {r['contracts']} contracts, {r['events']} events; full rebuild {rb:.2f} s")
        for label, key in (("first run", "first_run"), ("no-change rerun", "rerun"), ("next month", "next_run")):
            print(
                f"{label:16} {r[key + '_s']:8.3f} s  ({r[key + '_s'] / rb:.2f}x rebuild)  "
                f"{r[key + '_entries']:5d} entries; in the views after {r[key + '_projected_s']:.3f} s"
            )
        print(f"{'verify':16} {r['verify_s']:8.3f} s  ({r['verify_s'] / rb:.2f}x rebuild)")
    Path(OUT / "billing.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
