"""The real server: `sla-credits serve --workers 2` against PostgreSQL, driven over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.api.scenario import contract, incident

KEYS = "admin:e2e-admin,account_manager:e2e-am"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(postgres_url: str) -> Iterator[str]:
    port = _free_port()
    env = dict(os.environ, SLACREDITS_DATABASE_URL=postgres_url, SLACREDITS_API_KEYS=KEYS)
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--workers", "2", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise AssertionError(proc.stdout.read().decode() if proc.stdout else "server did not start")
    try:
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_scenario_over_http_against_two_workers_and_the_projection_process(server: str) -> None:
    admin = {"Authorization": "Bearer e2e-admin"}
    with httpx.Client(base_url=server, headers=admin, timeout=30) as http:
        assert http.post("/v1/contracts", json=contract()).status_code == 201
        assert http.post("/v1/incidents", json=incident()).status_code == 201
        assert (
            http.post(
                "/v1/incidents", json=incident("i2", started_at="2025-04-01T00:00:00Z", ended_at="2025-04-03T00:00:00Z")
            ).status_code
            == 201
        )
        assert (
            http.post(
                "/v1/incidents/i2/corrections",
                json={"request_id": "c", "reason": "shorter", "ended_at": "2025-04-01T06:00:00Z"},
            ).status_code
            == 201
        )

        # several reads: whichever worker answers, each sees every write before it
        answers = [
            http.get("/v1/customers/a/credits", params={"from": "2025-03", "to": "2025-04"}).json() for _ in range(6)
        ]

    for doc in answers:
        march, april = doc["periods"]
        # March: 1 h of 31 days -> 99.865591 -> 10 % = 10000; April: 6 h of 30 days = 99.166667 -> 10 % = 10000
        assert (march["credit_minor"], april["credit_minor"]) == (10000, 10000)
        assert april["lines"][0]["uptime_percent"] == "99.166667"
