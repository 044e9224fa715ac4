"""`make bench`: the core benchmark on the reference dataset, one ten times larger (`10`: ten times
the contracts and the incidents) and one with ten times the customers alone (`c10`: 20,000
contracts, the same 5,000 incidents on the same services and regions: each customer's own history
is as long as in the reference, so a query for one customer whose cost grows there grows with the
other customers), SQLite and PostgreSQL (each in a process of its own: peak memory; `SCALES=1`
for the reference alone, `STORES=sqlite` for one store).

Prints, for each store, each figure beside its raw baseline measured in the same run:
- import rate (facts/s) vs the library's raw save rate for the same number of events;
- full rebuild time vs reading and decoding every stored event with no projection work;
- one customer's credits for 24 months from the views: median and p99 over 1,000 customers.
"""

from __future__ import annotations

import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.domain import Aggregate, event

from api.importer import import_lines
from bench.dataset import write
from domain.calendar import Month, from_micros, to_micros
from projections.explanation import explain_month
from projections.heap import keep_out_of_collections
from projections.queries import claims_report, credits_answer, credits_document
from projections.runner import rebuild, recorded_events
from projections.service import CreditsService
from projections.stores import open_application

OUT = Path("bench/out")
DATASET = OUT / "reference.jsonl"


class Probe(Aggregate):
    """The raw baseline: an aggregate whose facts carry a comparable payload."""

    @event("Started")
    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload

    @event("Noted")
    def note(self, payload: dict[str, Any]) -> None:
        self.payload = payload


def raw_save_rate(url: str, n: int, chunk: int = 500) -> float:
    app = open_application(url)
    payload = {"service": "compute", "regions": ["eu-west"], "severity": "outage", "started_at": "2024-01-01T00:00:00Z"}
    started = time.perf_counter()
    pending: list[Probe] = []
    for i in range(n):
        pending.append(Probe(dict(payload, n=i)))
        if len(pending) == chunk:
            app.save(*pending)
            pending = []
    if pending:
        app.save(*pending)
    elapsed = time.perf_counter() - started
    app.close()
    return n / elapsed


def raw_read_decode(url: str) -> tuple[float, int]:
    app = open_application(url)
    started = time.perf_counter()
    count = sum(1 for _ in recorded_events(app))
    elapsed = time.perf_counter() - started
    app.close()
    return elapsed, count


def measure(name: str, url: str, probe_url: str, dataset: Path = DATASET) -> dict[str, Any]:
    lines = dataset.read_text(encoding="utf-8").splitlines()
    service = CreditsService(url)
    started = time.perf_counter()
    report = import_lines(service.app, lines)
    import_s = time.perf_counter() - started
    assert not report.errors, report.errors[:3]
    raw_rate = raw_save_rate(probe_url, report.recorded)

    started = time.perf_counter()
    rebuild(url)
    rebuild_s = time.perf_counter() - started
    read_s, events = raw_read_decode(url)

    # what this process made so far lives on (the import's aggregates, the projection's working
    # state): left out of the collector's full passes, as the projection process and each API
    # worker leave their start-up state out, so that the queries below are timed as there
    keep_out_of_collections()
    customers = service.reader.customers()
    rnd = random.Random(5)
    now = to_micros(datetime(2026, 1, 15, tzinfo=UTC))
    timings = []
    for customer in (rnd.choice(customers) for _ in range(1000)):
        t = time.perf_counter()
        credits_document(service.reader, customer, Month(2024, 1), Month(2025, 12), now)
        timings.append((time.perf_counter() - t) * 1000)
    timings.sort()
    # the API's live path: the answer as stored (one range read, lines copied as stored)
    stored_timings = []
    for customer in (rnd.choice(customers) for _ in range(1000)):
        t = time.perf_counter()
        assert credits_answer(service.reader, customer, Month(2024, 1), Month(2025, 12), now) is not None
        stored_timings.append((time.perf_counter() - t) * 1000)
    stored_timings.sort()
    # ... and as the API reads it: one statement, one snapshot (decision 20; on PostgreSQL the API
    # sends the same statement from its asynchronous pool, projections/answer_reads.py)
    one_statement_timings = []
    for customer in (rnd.choice(customers) for _ in range(1000)):
        t = time.perf_counter()
        reads = service.answer_reads(customer, "2024-01", "2025-12")
        assert credits_answer(reads, customer, Month(2024, 1), Month(2025, 12), now) is not None
        one_statement_timings.append((time.perf_counter() - t) * 1000)
    one_statement_timings.sort()
    # as known at an instant (after the import, so every fact counts): one customer's facts replayed
    as_of = datetime.now(UTC)
    as_of_timings, explain_timings = [], []
    for customer in (rnd.choice(customers) for _ in range(100)):
        t = time.perf_counter()
        service.credits(customer, "2024-01", "2025-12", as_of=as_of, catch_up=False)
        as_of_timings.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        reader, at = service.reader_at(as_of, customer, explained=Month(2025, 3))  # as the API asks
        with service.view.reading():
            explain_month(reader, customer, Month(2025, 3), at)
        explain_timings.append((time.perf_counter() - t) * 1000)
    as_of_timings.sort()
    explain_timings.sort()
    # ... each at an instant of its own (a prefix of the log no other answer asked about): the
    # answers above share the service facts known at their one instant from the second on
    # (decision 21); these load their own, as the first answer at any instant does
    # (instants after the last contract was signed: every customer asked about is known then)
    instants = [
        from_micros(int(r["known_from"]))
        for r in service.view.select(
            "SELECT DISTINCT known_from FROM v_facts WHERE position > (SELECT MAX(position) FROM v_facts "
            "WHERE topic LIKE ?) ORDER BY 1",
            ("%Contract.Signed",),
        )
    ]
    cold_as_of, cold_explain = [], []
    for customer, at in ((rnd.choice(customers), rnd.choice(instants)) for _ in range(100)):
        t = time.perf_counter()
        service.credits(customer, "2024-01", "2025-12", as_of=at, catch_up=False)
        cold_as_of.append((time.perf_counter() - t) * 1000)
    for customer, at in ((rnd.choice(customers), rnd.choice(instants)) for _ in range(100)):
        t = time.perf_counter()
        reader, now_at = service.reader_at(at, customer, explained=Month(2025, 3))
        with service.view.reading():
            explain_month(reader, customer, Month(2025, 3), now_at)
        cold_explain.append((time.perf_counter() - t) * 1000)
    cold_as_of.sort()
    cold_explain.sort()
    # one resolved incident on the service most contracts subscribe to, every region: the time the
    # projection takes from the fact to the views showing it (processing and writing; picking the
    # fact up adds the subscription's wait: 5 ms polling on SQLite, a NOTIFY on PostgreSQL)
    service.catch_up()  # the projection's working state is loaded before the clock starts
    by_service = service.view.model.contracts_by_service
    busiest = max(sorted(by_service), key=lambda s: len(by_service[s]))
    incident_timings = []
    for n in range(5):
        start = datetime(2025, 11, 3 + n, 10, tzinfo=UTC)
        service.app.open_incident(
            incident_id=f"bench-one-{n}",
            service=busiest,
            regions=[],
            severity="outage",
            started_at=start,
            ended_at=start + timedelta(minutes=30),
        )
        t = time.perf_counter()
        service.catch_up()
        incident_timings.append((time.perf_counter() - t) * 1000)
    # the ledger as known at an instant: six billing runs, then pages of it (its own facts replayed)
    for month in range(1, 7):
        service.bill(Month(2025, month))
    service.catch_up()
    # the projection's working state, loaded by the catch-ups above, is not held by a serving
    # process (the projection runs in a process of its own: decision 6): dropped, so that the
    # queries below run beside what an API worker holds (a full collection walks what it holds)
    service.view.discard_model()
    ledger_as_of = datetime.now(UTC)
    ledger_timings = []
    for _ in range(50):
        t = time.perf_counter()
        reader = service.ledger_reader_at(ledger_as_of)
        with service.view.reading():
            page = reader.ledger_rows(0, 1000, None, None, None, False)
        ledger_timings.append((time.perf_counter() - t) * 1000)
    ledger_timings.sort()
    # one customer's credits as of an instant again, now that six billing runs (every customer's
    # entries) are recorded: each answer takes only its own entries of them
    billed_as_of = []
    for customer in (rnd.choice(customers) for _ in range(100)):
        t = time.perf_counter()
        service.credits(customer, "2024-01", "2025-12", as_of=ledger_as_of, catch_up=False)
        billed_as_of.append((time.perf_counter() - t) * 1000)
    billed_as_of.sort()
    # the claims report as known at an instant after every fact: the views are the replay of that
    # prefix, so it reads them (a replay of the prefix before session 14); a second at that instant
    claims_as_of = []
    for _ in range(2):
        t = time.perf_counter()
        service.claims_report(Month(2025, 1), Month(2025, 12), ledger_as_of)
        claims_as_of.append((time.perf_counter() - t) * 1000)
    # ... as of an instant in the middle of the log (later facts were recorded since): its own
    # replay of that prefix, then the whole model for another report at that instant
    middle = service.view.select(
        "SELECT recorded_at FROM v_facts ORDER BY position LIMIT 1 OFFSET ?", (report.recorded // 2,)
    )
    middle_at = from_micros(int(middle[0]["recorded_at"]))
    claims_middle = []
    for first, last in ((Month(2025, 1), Month(2025, 12)), (Month(2024, 7), Month(2025, 6))):
        t = time.perf_counter()
        service.claims_report(first, last, middle_at)
        claims_middle.append((time.perf_counter() - t) * 1000)
    # the claims report for a year, every customer (live)
    report_timings = []
    for _ in range(3):
        t = time.perf_counter()
        with service.view.reading():
            claims_report(service.reader, Month(2025, 1), Month(2025, 12), now)
        report_timings.append((time.perf_counter() - t) * 1000)
    service.close()
    return {
        "contracts": len(customers),
        "claims_report_ms_median": statistics.median(report_timings),
        "claims_as_of_first_ms": claims_as_of[0],
        "claims_as_of_shared_ms": claims_as_of[1],
        "claims_as_of_middle_ms": claims_middle[0],
        "claims_as_of_middle_other_ms": claims_middle[1],
        "credits_stored_ms_median": statistics.median(stored_timings),
        "credits_stored_ms_p99": stored_timings[int(len(stored_timings) * 0.99) - 1],
        "credits_one_statement_ms_median": statistics.median(one_statement_timings),
        "credits_one_statement_ms_p99": one_statement_timings[int(len(one_statement_timings) * 0.99) - 1],
        "one_incident_contracts": len(by_service[busiest]),
        "one_incident_ms_median": statistics.median(incident_timings),
        "one_incident_ms_max": max(incident_timings),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "as_of_ledger_ms_median": statistics.median(ledger_timings),
        "as_of_ledger_ms_p99": ledger_timings[-1],
        "as_of_ledger_entries": len(page),
        "as_of_credits_ms_median": statistics.median(as_of_timings),
        "as_of_credits_ms_p99": as_of_timings[98],
        "as_of_billed_ms_median": statistics.median(billed_as_of),
        "as_of_billed_ms_p99": billed_as_of[98],
        "as_of_own_instant_credits_ms_median": statistics.median(cold_as_of),
        "as_of_own_instant_credits_ms_p99": cold_as_of[98],
        "as_of_own_instant_explanation_ms_median": statistics.median(cold_explain),
        "as_of_own_instant_explanation_ms_p99": cold_explain[98],
        "as_of_explanation_ms_median": statistics.median(explain_timings),
        "as_of_explanation_ms_p99": explain_timings[98],
        "store": name,
        "facts": report.recorded,
        "import_facts_per_s": report.recorded / import_s,
        "raw_save_events_per_s": raw_rate,
        "rebuild_s": rebuild_s,
        "raw_read_decode_s": read_s,
        "events": events,
        "credits_ms_median": statistics.median(timings),
        "credits_ms_p99": timings[int(len(timings) * 0.99) - 1],
    }


def _pg_database(admin: str) -> str:
    name = f"slac_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin.rsplit("/", 1)[0] + f"/{name}"


# "c10": ten times the customers, the reference's number of incidents (drawn the same way)
SCALES: dict[str, dict[str, int]] = {
    "1": {},
    "10": {"contracts": 20000, "incidents": 50000},
    "c10": {"contracts": 20000},
}
SCALE_NAMES = {"10": "10x the contracts and incidents", "c10": "10x the customers, the same incidents"}


def dataset(scale: str) -> Path:
    path = DATASET if scale == "1" else OUT / f"reference-x{scale}.jsonl"
    OUT.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        print(f"generating {path}: {write(path, **SCALES[scale])} commands", flush=True)
    return path


def one(scale: str, store: str, run: Path) -> None:
    """One store and one dataset size, in a process of its own (its own peak memory)."""
    path = dataset(scale)
    if store == "sqlite":
        result = measure("sqlite", f"sqlite:///{run}/credits-x{scale}.db", f"sqlite:///{run}/probe-x{scale}.db", path)
    else:
        admin = os.environ.get("SLACREDITS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
        made = [_pg_database(admin), _pg_database(admin)]
        try:
            result = measure("postgres", made[0], made[1], path)
        finally:  # about 800 MB each at 10x: not left behind
            with psycopg.connect(admin, autocommit=True) as conn:
                for url in made:
                    conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    (run / f"{store}-x{scale}.json").write_text(json.dumps({**result, "scale": scale}))


def main() -> None:
    """Every store at every scale (`SCALES=1` for the reference dataset alone), then the figures
    side by side: the 10x dataset shows how each figure grows."""
    if len(sys.argv) == 5 and sys.argv[1] == "--one":
        one(sys.argv[2], sys.argv[3], Path(sys.argv[4]))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    scales = os.environ.get("SCALES", "1,10,c10").split(",")
    unknown = [s for s in scales if s not in SCALES]
    if unknown:
        sys.exit(f"SCALES: unknown {', '.join(unknown)} (known: {', '.join(SCALES)})")
    run = OUT / f"run-{int(time.time())}"
    run.mkdir()
    results = []
    for scale in scales:
        dataset(scale)
        for store in os.environ.get("STORES", "sqlite,postgres").split(","):
            done = subprocess.run([sys.executable, "-m", "bench.core", "--one", scale, store, str(run)], check=False)
            if done.returncode != 0:
                print(f"{store} at {scale}x not measured (exit {done.returncode})", file=sys.stderr)
                continue
            results.append(json.loads((run / f"{store}-x{scale}.json").read_text()))
    for r in results:
        show(r)
    if len(scales) > 1:
        growth(results)
    (OUT / "core.json").write_text(json.dumps(results, indent=2))


def show(r: dict[str, Any]) -> None:
    print(f"\n== {r['store']} x{r['scale']}: {r['contracts']} customers, {r['facts']} facts, {r['events']} events")
    print(
        f"import          {r['import_facts_per_s']:10.0f} facts/s   "
        f"raw save {r['raw_save_events_per_s']:10.0f} events/s"
        f"   ratio {r['import_facts_per_s'] / r['raw_save_events_per_s']:.2f}"
    )
    print(
        f"full rebuild    {r['rebuild_s']:10.2f} s         raw read+decode {r['raw_read_decode_s']:6.2f} s"
        f"   ratio {r['rebuild_s'] / r['raw_read_decode_s']:.1f}x   peak RSS {r['peak_rss_mib']:.0f} MiB"
    )
    print(
        f"credits (24 mo) median {r['credits_ms_median']:.2f} ms   p99 {r['credits_ms_p99']:.2f} ms"
        "   (built from the rows)"
    )
    print(
        f"credits as stored median {r['credits_stored_ms_median']:.2f} ms   p99 {r['credits_stored_ms_p99']:.2f} ms"
        "   (the stored parts, read statement by statement)"
    )
    if "credits_one_statement_ms_median" in r:
        print(
            f"credits as the API reads them median {r['credits_one_statement_ms_median']:.2f} ms"
            f"   p99 {r['credits_one_statement_ms_p99']:.2f} ms   (the same parts in one statement)"
        )
    print(
        f"credits as_of   median {r['as_of_credits_ms_median']:.1f} ms   p99 {r['as_of_credits_ms_p99']:.1f} ms"
        f"   (one customer's facts, 100 customers at one instant; a full replay was the rebuild above)"
    )
    if "as_of_billed_ms_median" in r:
        print(
            f"credits as_of after 6 billing runs  median {r['as_of_billed_ms_median']:.1f} ms   "
            f"p99 {r['as_of_billed_ms_p99']:.1f} ms"
        )
    print(
        f"explanation as_of median {r['as_of_explanation_ms_median']:.1f} ms   "
        f"p99 {r['as_of_explanation_ms_p99']:.1f} ms"
    )
    if "as_of_own_instant_credits_ms_median" in r:
        print(
            f"credits as_of, each at an instant of its own  median {r['as_of_own_instant_credits_ms_median']:.1f} ms"
            f"   p99 {r['as_of_own_instant_credits_ms_p99']:.1f} ms   (nothing shared with another answer)"
        )
        print(
            f"explanation as_of, each at an instant of its own  median "
            f"{r['as_of_own_instant_explanation_ms_median']:.1f} ms"
            f"   p99 {r['as_of_own_instant_explanation_ms_p99']:.1f} ms"
        )
    print(
        f"ledger as_of (first 1000 of {r['as_of_ledger_entries']} entries) median "
        f"{r['as_of_ledger_ms_median']:.1f} ms   max of 50 {r['as_of_ledger_ms_p99']:.1f} ms"
    )
    print(f"claims report (12 months, every customer) median of 3 {r['claims_report_ms_median']:.0f} ms")
    print(
        f"claims report as_of the log's end: first {r['claims_as_of_first_ms']:.0f} ms (read from the views), "
        f"again at that instant {r['claims_as_of_shared_ms']:.0f} ms"
    )
    print(
        f"claims report as_of the log's middle (later facts recorded): first {r['claims_as_of_middle_ms']:.0f} ms, "
        f"another range at that instant {r['claims_as_of_middle_other_ms']:.0f} ms (the whole model)"
    )
    print(
        f"one incident reaching {r['one_incident_contracts']} contracts, fact to views: median of 5 "
        f"{r['one_incident_ms_median']:.0f} ms   max {r['one_incident_ms_max']:.0f} ms"
    )


def growth(results: list[dict[str, Any]]) -> None:
    """Each figure at 10x beside 1x: linear work grows 10x; a query's own cost should not grow
    with the other customers (c10)."""
    keys = [
        ("rebuild_s", "full rebuild"),
        ("peak_rss_mib", "peak RSS"),
        ("import_facts_per_s", "import rate"),
        ("credits_ms_p99", "credits p99"),
        ("credits_stored_ms_p99", "credits as stored p99"),
        ("credits_one_statement_ms_p99", "credits as the API reads them p99"),
        ("as_of_credits_ms_p99", "credits as_of p99"),
        ("as_of_billed_ms_p99", "as_of after runs p99"),
        ("as_of_explanation_ms_p99", "explanation as_of p99"),
        ("as_of_own_instant_credits_ms_p99", "as_of, own instant p99"),
        ("as_of_own_instant_explanation_ms_p99", "explanation, own inst. p99"),
        ("claims_report_ms_median", "claims report"),
        ("claims_as_of_first_ms", "claims report as_of"),
        ("one_incident_ms_median", "one incident"),
    ]
    for store in ("sqlite", "postgres"):
        small = next((r for r in results if r["store"] == store and r["scale"] == "1"), None)
        for scale, name in SCALE_NAMES.items():
            large = next((r for r in results if r["store"] == store and r["scale"] == scale), None)
            if small is None or large is None:
                continue
            print(f"\n== growth, {store}: {name} ({scale})")
            for key, label in keys:
                if key not in small or key not in large:
                    continue
                print(f"{label:24} {small[key]:12.2f} -> {large[key]:12.2f}   x{large[key] / small[key]:.1f}")


if __name__ == "__main__":
    main()
