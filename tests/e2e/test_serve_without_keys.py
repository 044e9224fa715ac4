"""`serve` without API keys says so at start-up, and how to set them (never 401s in silence)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.processes import free_port


def test_serve_without_keys_says_how_to_set_them(tmp_path: Path) -> None:
    env = dict(os.environ, SLACREDITS_DATABASE_URL=f"sqlite:///{tmp_path}/credits.db", SLACREDITS_API_KEYS="")
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(free_port())],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while "No API keys are set" not in log.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.05)
        text = log.read_text(errors="replace")
        assert "SLACREDITS_API_KEYS" in text and "admin" in text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
