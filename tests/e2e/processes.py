"""Real processes for the end-to-end tests: `sla-credits serve` and `sla-credits project`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

KEYS = {"admin": "e2e-admin", "account_manager": "e2e-am", "billing": "e2e-billing", "auditor": "e2e-auditor"}
KEY_SETTING = ",".join(f"{role}:{key}" for role, key in KEYS.items())


def headers(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(url: str, **settings: str) -> dict[str, str]:
    env = dict(os.environ, SLACREDITS_DATABASE_URL=url, SLACREDITS_API_KEYS=KEY_SETTING)
    env.update({f"SLACREDITS_{k.upper()}": v for k, v in settings.items()})
    return env


class Server:
    """`sla-credits serve --workers N`; with own_projection=False the test runs the
    projection process itself (as an operator would, e.g. as a separate service unit)."""

    def __init__(self, url: str, log: Path, workers: int = 2, own_projection: bool = True, **settings: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        if not own_projection:
            settings["run_projection"] = "false"
        self.env = environment(url, **settings)
        self.log = log
        self._out = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--workers", str(workers), "--port", str(self.port)],
            env=self.env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_up()

    def _wait_up(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise AssertionError(f"server did not start: {self.log.read_text(errors='replace')[-3000:]}")

    def client(self, role: str = "admin", **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers=headers(role), timeout=kw.pop("timeout", 60), **kw)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._out.close()


class Projection:
    """`sla-credits project` in its own process."""

    def __init__(self, url: str, log: Path, **settings: str) -> None:
        settings.setdefault("projection_batch_seconds", "0.05")
        self._out = log.open("ab")
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "project"],
            env=environment(url, **settings),
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._out.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def verified(http: httpx.Client) -> dict[str, Any]:
    """GET /v1/audit/verification as the auditor; the views must equal a fresh replay."""
    r = http.get("/v1/audit/verification", headers=headers("auditor"))
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    assert result["mismatch_count"] == 0, result["mismatches"][:5]
    assert result["first_bad_position"] is None
    return result
