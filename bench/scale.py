"""`make bench-scale`: scale-out on PostgreSQL with the core's reference dataset.

1. For 1, 2 and 4 API workers (plus the projection process): /healthz and credits-query
   throughput with wrk (50 connections), and the HTTP ingest rate (POST /v1/incidents).
2. Projection lag under sustained ingest: incidents posted at a fixed rate while /readyz is
   sampled: at 80/s (issue 12's rate) and at 0.8x the measured 2-worker ingest rate.
3. Catch-up: the projection stopped for 60 s while ingest goes on, then restarted; time
   until it has caught up with the log.
Aims (issue 6): credits throughput x1.6 from 1 to 2 workers; lag under 1 s at the ingest rate
the API sustains.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

from api.importer import import_lines
from bench.api import KEY, SECONDS, _ingest, _port, _wrk
from bench.core import DATASET, OUT
from bench.dataset import write
from projections.runner import rebuild
from projections.service import CreditsService

OUTAGE = float(os.environ.get("BENCH_OUTAGE_SECONDS", "60"))
ISSUE_RATE = 80.0  # issue 12: "projection lag at 80 incidents/s sustained: p99 < 1 s"


class Processes:
    def __init__(self, url: str, workers: int, own_projection: bool = True) -> None:
        self.port = _port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = dict(
            os.environ,
            SLACREDITS_DATABASE_URL=url,
            SLACREDITS_API_KEYS=f"admin:{KEY}",
            SLACREDITS_LOG_LEVEL="WARNING",
            SLACREDITS_READ_WAIT_SECONDS="30",
            SLACREDITS_RUN_PROJECTION="true" if own_projection else "false",
        )
        self.server = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--workers", str(workers), "--port", str(self.port)],
            env=self.env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.projection: subprocess.Popen[bytes] | None = None
        started = time.perf_counter()
        while time.perf_counter() - started < 60:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        if own_projection:
            self.wait_ready(300)

    def wait_ready(self, timeout: float) -> float:
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            try:
                r = httpx.get(f"{self.base}/readyz", timeout=5)
                if r.status_code == 200 and r.json()["lag_events"] == 0:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the service did not become ready")

    def start_projection(self) -> None:
        self.projection = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "project"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop_projection(self) -> None:
        if self.projection is not None:
            self.projection.send_signal(signal.SIGTERM)
            self.projection.wait(timeout=30)
            self.projection = None

    def stop(self) -> None:
        self.stop_projection()
        os.killpg(self.server.pid, signal.SIGTERM)
        self.server.wait(timeout=30)


def _incident() -> dict[str, Any]:
    """A short degraded spell of one region of a shared service (reaches a few hundred contracts)."""
    return {
        "incident_id": f"scale-{uuid.uuid4().hex}",
        "service": "storage",
        "regions": ["us-east"],
        "severity": "degraded",
        "started_at": "2025-10-07T10:00:00Z",
        "ended_at": "2025-10-07T10:03:00Z",
    }


async def _paced_ingest(base: str, rate: float, seconds: float, samples: list[float] | None) -> int:
    """POST incidents at `rate` per second for `seconds`; sample /readyz lag into `samples`."""
    headers = {"Authorization": f"Bearer {KEY}"}
    sent = 0
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:

        async def one() -> None:
            r = await client.post("/v1/incidents", json=_incident())
            assert r.status_code == 201, r.text

        async def sample() -> None:
            while True:
                r = await client.get("/readyz")
                if samples is not None and r.headers.get("content-type", "").startswith("application/json"):
                    samples.append(float(r.json()["lag_seconds"]))
                await asyncio.sleep(0.25)

        sampler = asyncio.create_task(sample())
        tasks = []
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            tasks.append(asyncio.create_task(one()))
            sent += 1
            await asyncio.sleep(max(0.0, started + sent / rate - time.perf_counter()))
        await asyncio.gather(*tasks)
        sampler.cancel()
    return sent


def _lag_at(url: str, rate: float) -> dict[str, float]:
    """The projection's lag (/readyz, every 0.25 s) while incidents are posted at `rate` for
    SECONDS, with 2 API workers. Sustained: the clock starts once a first incident is in the
    views (the projection process loads its working state after it starts, and /readyz is
    ready before that, the views being current); how long that first one took is kept too."""
    p = Processes(url, 2)
    try:
        p.wait_ready(120)
        started = time.perf_counter()
        first = httpx.post(f"{p.base}/v1/incidents", json=_incident(), headers={"Authorization": f"Bearer {KEY}"})
        assert first.status_code == 201, first.text
        p.wait_ready(120)
        first_fact_s = time.perf_counter() - started
        samples: list[float] = []
        asyncio.run(_paced_ingest(p.base, rate, SECONDS, samples))
    finally:
        p.stop()
    samples.sort()
    return {
        "first_fact_after_start_s": first_fact_s,
        "lag_p50_s": statistics.median(samples),
        "lag_p99_s": samples[int(len(samples) * 0.99) - 1],
        "lag_max_s": samples[-1],
        "samples": len(samples),
    }


def measure(url: str) -> dict[str, Any]:
    service = CreditsService(url)
    report = import_lines(service.app, DATASET.read_text(encoding="utf-8").splitlines())
    assert not report.errors
    rebuild(url)
    customers = OUT / "customers-scale.txt"
    customers.write_text("\n".join(service.reader.customers()))
    service.close()

    curve = []
    for workers in (1, 2, 4):
        p = Processes(url, workers)
        try:
            time.sleep(3)
            curve.append(
                {
                    "workers": workers,
                    "healthz": _wrk(f"{p.base}/healthz", customers, script=False),
                    "credits": _wrk(p.base, customers, script=True),
                    "ingest_per_s": asyncio.run(_ingest(p.base, 1000)),
                }
            )
        finally:
            p.stop()
        print(json.dumps(curve[-1]), flush=True)

    sustained = 0.8 * curve[1]["ingest_per_s"]
    lag = {rate: _lag_at(url, rate) for rate in (ISSUE_RATE, sustained)}

    p = Processes(url, 2, own_projection=False)
    try:
        p.start_projection()
        p.wait_ready(120)
        p.stop_projection()
        backlog = asyncio.run(_paced_ingest(p.base, sustained, OUTAGE, None))
        p.start_projection()
        catch_up_s = p.wait_ready(600)
    finally:
        p.stop()
    return {
        "curve": curve,
        "sustained_ingest_per_s": sustained,
        "lag": [{"incidents_per_s": rate, **figures} for rate, figures in lag.items()],
        "outage_s": OUTAGE,
        "outage_backlog_facts": backlog,
        "catch_up_s": catch_up_s,
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    if not DATASET.exists():
        write(DATASET)
    admin = os.environ.get("SLACREDITS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"slac_bench_scale_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    r = measure(admin.rsplit("/", 1)[0] + f"/{name}")
    print(f"\n== PostgreSQL, reference dataset; wrk 50 connections, {SECONDS:.0f} s per figure")
    base = r["curve"][0]
    for row in r["curve"]:
        h, c = row["healthz"], row["credits"]
        print(
            f"{row['workers']} worker(s): /healthz {h['rps']:7.0f} req/s (x{h['rps'] / base['healthz']['rps']:.2f})  "
            f"credits {c['rps']:6.0f} req/s (x{c['rps'] / base['credits']['rps']:.2f}, "
            f"{c['rps'] / h['rps']:.2f} of /healthz, p99 {c['p99_ms']:.0f} ms)  "
            f"ingest {row['ingest_per_s']:5.0f}/s"
        )
    for lag in r["lag"]:
        print(
            f"projection lag at {lag['incidents_per_s']:.0f} incidents/s for {SECONDS:.0f} s (2 workers, "
            f"{lag['samples']} samples): p50 {lag['lag_p50_s']:.2f} s  p99 {lag['lag_p99_s']:.2f} s  "
            f"max {lag['lag_max_s']:.2f} s (the first incident after the projection started: "
            f"{lag['first_fact_after_start_s']:.2f} s)"
        )
    print(
        f"catch-up after a {r['outage_s']:.0f} s projection outage ({r['outage_backlog_facts']} facts behind): "
        f"{r['catch_up_s']:.1f} s"
    )
    Path(OUT / "scale.json").write_text(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
