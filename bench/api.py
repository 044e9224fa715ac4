"""`make bench-api`: HTTP throughput and latency of the credits query beside /healthz,
and HTTP ingest beside the import rate, for SQLite and PostgreSQL (`STORES=postgres` for one store).

The reference dataset is imported and projected first; the server runs as `sla-credits serve`
(one worker) and the load comes from `bench.load` in another process.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

from api.importer import import_lines
from bench.core import DATASET, OUT
from bench.dataset import write
from projections.runner import rebuild
from projections.service import CreditsService

SECONDS = float(os.environ.get("BENCH_SECONDS", "30"))
KEY = "bench-admin"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wrk(url: str, customers: Path, script: bool) -> dict[str, float]:
    """Closed loop, 50 connections, with wrk (Debian's package) as the load generator."""
    cmd = ["wrk", "-t1", "-c50", f"-d{int(SECONDS)}s", "--latency"]
    if script:
        cmd += ["-s", str(Path(__file__).with_name("credits.lua"))]
    env = dict(os.environ, BENCH_KEY=KEY, BENCH_CUSTOMERS=str(customers))
    out = subprocess.run([*cmd, url], check=True, capture_output=True, text=True, env=env).stdout

    def ms(text: str) -> float:
        value = float(text.rstrip("msu"))
        return (
            value / 1000
            if text.endswith("us")
            else value * 1000
            if text.endswith("s") and not text.endswith("ms")
            else value
        )

    result: dict[str, float] = {"errors": 0}
    for line in out.splitlines():
        parts = line.split()
        if line.strip().startswith("50%"):
            result["p50_ms"] = ms(parts[1])
        elif line.strip().startswith("99%"):
            result["p99_ms"] = ms(parts[1])
        elif line.startswith("Requests/sec"):
            result["rps"] = float(parts[1])
        elif "Non-2xx" in line:
            result["errors"] = float(parts[-1])
    return result


def _load(url: str, customers: Path, **kw: Any) -> dict[str, float]:
    cmd = [
        sys.executable,
        "-m",
        "bench.load",
        url,
        "--customers",
        str(customers),
        "--key",
        KEY,
        "--seconds",
        str(SECONDS),
    ]
    for k, v in kw.items():
        cmd += [f"--{k}", str(v)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


async def _ingest(base: str, n: int, connections: int = 50) -> float:
    headers = {"Authorization": f"Bearer {KEY}"}
    sem = asyncio.Semaphore(connections)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:

        async def one(i: int) -> None:
            body = {
                "incident_id": f"bench-{uuid.uuid4().hex}",
                "service": "compute",
                "regions": ["eu-west"],
                "severity": "outage",
                "started_at": "2025-11-03T10:00:00Z",
                "ended_at": "2025-11-03T10:05:00Z",
            }
            async with sem:
                r = await client.post("/v1/incidents", json=body)
                assert r.status_code == 201, r.text

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - started)


def measure(name: str, url: str) -> dict[str, Any]:
    service = CreditsService(url)
    lines = DATASET.read_text(encoding="utf-8").splitlines()
    started = time.perf_counter()
    report = import_lines(service.app, lines)
    import_rate = report.recorded / (time.perf_counter() - started)
    rebuild(url)
    customers = OUT / f"customers-{name}.txt"
    customers.write_text("\n".join(service.reader.customers()))
    service.close()

    port = _port()
    env = dict(os.environ, SLACREDITS_DATABASE_URL=url, SLACREDITS_API_KEYS=f"admin:{KEY}")
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        time.sleep(15)  # the projection process loads its working state before we measure
        credits_url = f"{base}/v1/customers/{{customer}}/credits?from=2024-01&to=2025-12"
        result = {
            "store": name,
            "healthz": _wrk(f"{base}/healthz", customers, script=False),
            "credits": _wrk(base, customers, script=True),
            "credits_200rps": _load(credits_url, customers, connections=50, rate=200),
            "healthz_200rps": _load(f"{base}/healthz", customers, connections=50, rate=200),
            "ingest_per_s": asyncio.run(_ingest(base, 2000)),
            "import_per_s": import_rate,
        }
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    return result


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    if not DATASET.exists():
        write(DATASET)
    run = OUT / f"api-{int(time.time())}"
    run.mkdir()
    stores = [s.strip() for s in os.environ.get("STORES", "sqlite,postgres").split(",")]
    results = []
    if "sqlite" in stores:
        results.append(measure("sqlite", f"sqlite:///{run}/credits.db"))
    if "postgres" in stores:
        admin = os.environ.get("SLACREDITS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
        name = f"slac_bench_api_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        results.append(measure("postgres", admin.rsplit("/", 1)[0] + f"/{name}"))
    for r in results:
        h, c, c2, h2 = r["healthz"], r["credits"], r["credits_200rps"], r["healthz_200rps"]
        print(
            f"\n== {r['store']} (one API process + the projection process; "
            f"load from wrk / bench.load, {SECONDS:.0f} s each)"
        )
        print(f"/healthz   50 conns: {h['rps']:8.0f} req/s  p50 {h['p50_ms']:6.1f} ms  p99 {h['p99_ms']:6.1f} ms")
        print(
            f"credits    50 conns: {c['rps']:8.0f} req/s  p50 {c['p50_ms']:6.1f} ms  p99 {c['p99_ms']:6.1f} ms"
            f"   ratio to /healthz {c['rps'] / h['rps']:.2f}  errors {c['errors']}"
        )
        print(
            f"credits   200 req/s: p99 {c2['p99_ms']:6.1f} ms (achieved {c2['rps']:.0f}/s; "
            f"/healthz p99 {h2['p99_ms']:.1f} ms)"
        )
        print(
            f"ingest POST /v1/incidents: {r['ingest_per_s']:8.0f}/s   import {r['import_per_s']:8.0f} facts/s"
            f"   ratio {r['ingest_per_s'] / r['import_per_s']:.2f}"
        )
    (OUT / "api.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
