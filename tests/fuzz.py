"""`make fuzz`: the differential harness of tests/differential.py for much longer than CI runs it.

    python -m tests.fuzz [--minutes 5] [--stores memory,sqlite,postgres] [--steps 60]

Runs rounds of random histories on each store in turn, each round with a new seed, until the
time is up; prints each round and stops at the first failure with hypothesis's shrunk example.
PostgreSQL is used when SLACREDITS_TEST_POSTGRES_URL is set (a server that may create databases).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.differential import LiveVersusReplay, Store, memory_store, postgres_stores, sqlite_stores


@contextmanager
def _memory() -> Iterator[Callable[[], Store]]:
    yield memory_store


def _stores(names: list[str]) -> dict[str, Callable[[], AbstractContextManager[Callable[[], Store]]]]:
    out: dict[str, Callable[[], AbstractContextManager[Callable[[], Store]]]] = {}
    for name in names:
        if name == "memory":
            out[name] = _memory
        elif name == "sqlite":
            out[name] = sqlite_stores
        elif name == "postgres":
            url = os.environ.get("SLACREDITS_TEST_POSTGRES_URL")
            if not url:
                print("postgres: SLACREDITS_TEST_POSTGRES_URL is not set; skipped", file=sys.stderr)
                continue
            out[name] = lambda url=url: postgres_stores(url)  # type: ignore[misc]
        else:
            raise SystemExit(f"unknown store {name!r} (memory, sqlite, postgres)")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--stores", default="memory,sqlite,postgres")
    parser.add_argument("--steps", type=int, default=60, help="facts and actions per history")
    parser.add_argument("--examples", type=int, default=200, help="histories per round")
    args = parser.parse_args()
    stores = _stores(args.stores.split(","))
    deadline = time.monotonic() + args.minutes * 60
    rounds = histories = 0
    while time.monotonic() < deadline:
        for name, opened in stores.items():
            if time.monotonic() >= deadline:
                break
            examples = args.examples if name == "memory" else max(10, args.examples // 5)
            started = time.monotonic()
            with opened() as make:

                class Machine(LiveVersusReplay):
                    make_store = staticmethod(make)

                chosen = settings(
                    max_examples=examples,
                    stateful_step_count=args.steps,
                    deadline=None,
                    database=None,  # every round explores afresh
                    suppress_health_check=list(HealthCheck),
                )
                try:
                    run_state_machine_as_test(Machine, settings=chosen)
                except BaseException:
                    print(f"{name}: FAILED in round {rounds + 1}", flush=True)
                    raise
            rounds += 1
            histories += examples
            print(
                f"{name}: {examples} histories of up to {args.steps} steps passed ({time.monotonic() - started:.1f}s)",
                flush=True,
            )
    print(f"{rounds} rounds, {histories} histories, no difference between the live views and a replay")
    return 0


if __name__ == "__main__":
    sys.exit(main())
