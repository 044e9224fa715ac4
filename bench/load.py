"""A load generator in its own process: closed-loop (N connections) or open-loop (fixed rate).

python -m bench.load URL_TEMPLATE --seconds 30 --connections 50 [--rate 200] [--customers FILE]
Prints one JSON line: requests, errors, requests/s, p50 and p99 in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time

import httpx


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


async def run(args: argparse.Namespace) -> dict[str, float]:
    customers = [c.strip() for c in open(args.customers)] if args.customers else ["x"]  # noqa: SIM115
    rnd = random.Random(1)
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {args.key}"} if args.key else {}
    limits = httpx.Limits(max_connections=args.connections, max_keepalive_connections=args.connections)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:
        deadline = time.perf_counter() + args.seconds

        async def one() -> None:
            nonlocal errors
            url = args.url.replace("{customer}", rnd.choice(customers))
            t = time.perf_counter()
            try:
                r = await client.get(url)
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - t) * 1000)
            errors += 0 if ok else 1

        started = time.perf_counter()
        if args.rate:
            tasks = []
            n = 0
            while time.perf_counter() < deadline:
                due = started + n / args.rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one()))
                n += 1
            await asyncio.gather(*tasks)
        else:

            async def worker() -> None:
                while time.perf_counter() < deadline:
                    await one()

            await asyncio.gather(*(worker() for _ in range(args.connections)))
        elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50_ms": _percentile(latencies, 0.50),
        "p99_ms": _percentile(latencies, 0.99),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--rate", type=float, default=0)
    p.add_argument("--customers")
    p.add_argument("--key")
    args = p.parse_args()
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
