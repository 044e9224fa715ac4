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


def _progress(service: CreditsService) -> int:
    return service.view.max_tracking_id(APPLICATION_NAME) or 0


def test_killed_projection_restarts_and_equals_a_clean_rebuild(store_url: str) -> None:
    """Each kill lands mid-stream by construction: facts are appended until the projection has
    work left, it is started, and it is killed as soon as it is seen to write a batch that is
    not the last one (a round where it wrote the last batch first appends more and tries again)."""
    service = CreditsService(store_url)
    lines = [json.dumps(c) for c in commands(contracts=60, incidents=6000, seed=3)]
    first = 560  # the contracts and some incidents
    report = import_lines(service.app, lines[:first])
    assert not report.errors
    recorded = first
    rnd = random.Random(11)
    mid_stream = []
    for _ in range(40):
        if len(mid_stream) == 4:
            break
        before = _progress(service)
        head = service.app.recorder.max_notification_id() or 0
        if head - before < 200 and recorded < len(lines):
            more = lines[recorded : recorded + 400 + rnd.randint(0, 200)]
            assert not import_lines(service.app, more).errors
            recorded += len(more)
            head = service.app.recorder.max_notification_id() or 0
        proc = _start_projection(store_url)
        deadline = time.monotonic() + 60
        while _progress(service) == before and time.monotonic() < deadline:
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        after = _progress(service)
        if before < after < head:
            mid_stream.append((before, after, head))
    assert len(mid_stream) == 4, f"kills that landed mid-stream: {mid_stream}"
    last = service.app.recorder.max_notification_id()
    proc = _start_projection(store_url)
    try:
        assert service.view.wait_for(last, timeout=120)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    live = service.view.dump_rows()

    rebuild(store_url)

    assert service.view.dump_rows() == live
    service.close()
