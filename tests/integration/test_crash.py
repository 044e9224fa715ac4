"""A projection process killed with SIGKILL mid-stream loses and repeats nothing."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

from api.importer import import_lines
from bench.dataset import commands
from domain.application import APPLICATION_NAME
from projections.runner import rebuild
from projections.service import CreditsService


def _start_projection(url: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, SLACREDITS_DATABASE_URL=url, SLACREDITS_PROJECTION_BATCH_SECONDS="0.05")
    return subprocess.Popen([sys.executable, "-m", "api.cli", "project"], env=env, stderr=subprocess.DEVNULL)


def test_killed_projection_restarts_and_equals_a_clean_rebuild(store_url: str) -> None:
    service = CreditsService(store_url)
    lines = [json.dumps(c) for c in commands(contracts=60, incidents=500, seed=3)]
    report = import_lines(service.app, lines)
    assert not report.errors
    last = service.app.recorder.max_notification_id()
    rnd = random.Random(11)
    positions = []

    for _ in range(4):
        proc = _start_projection(store_url)
        time.sleep(rnd.uniform(0.8, 2.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        positions.append(service.view.max_tracking_id(APPLICATION_NAME) or 0)
    proc = _start_projection(store_url)
    try:
        assert service.view.wait_for(last, timeout=120)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    live = service.view.dump_rows()

    rebuild(store_url)

    assert service.view.dump_rows() == live
    assert any(0 < p < last for p in positions), f"no kill landed mid-stream: {positions} of {last}"
    service.close()
