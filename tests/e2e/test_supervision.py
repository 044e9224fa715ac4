"""`serve` supervises the projection process: killed with SIGKILL, it is reaped, logged,
counted and started again, and the views follow new facts again."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from tests.api.scenario import contract
from tests.e2e.processes import Server


def _projection_children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid), "-f", "api.cli project"], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return "gone"


def test_a_killed_projection_is_restarted_logged_and_counted(tmp_path: Path) -> None:
    server = Server(f"sqlite:///{tmp_path}/credits.db", tmp_path / "serve.log", workers=1)
    try:
        (first,) = _projection_children(server.proc.pid)

        subprocess.run(["kill", "-9", str(first)], check=True)

        deadline = time.monotonic() + 60
        while True:
            children = [c for c in _projection_children(server.proc.pid) if c != first]
            if children:
                break
            assert time.monotonic() < deadline, server.log.read_text()[-2000:]
            time.sleep(0.05)
        assert _state(first) == "gone"  # reaped, not a zombie
        with server.client("admin") as admin:
            assert admin.post("/v1/contracts", json=contract()).status_code == 201
            # read-your-writes: the new projection process has projected it
            r = admin.get("/v1/contracts/c1")
            assert r.status_code == 200, r.text
            credits = admin.get("/v1/customers/a/credits?from=2025-01&to=2025-02")
            assert credits.status_code == 200, credits.text
            metrics = admin.get("/metrics").text
        assert 'sla_credits_child_restarts_total{child="projection"} 1.0' in metrics
        assert "the projection process" in server.log.read_text()
    finally:
        server.stop()
