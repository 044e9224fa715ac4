"""A stored fact the projection cannot process (planted behind the domain's back) is loud,
bounded and explained: one error log line, a back-off that doubles, a metric naming its
position, /readyz and every read answering 503 with the fact named."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from domain.incident import Incident
from tests.api.conftest import api_settings, auth
from tests.api.test_live_figures import CONTRACT


@pytest.fixture
def blocked(store_url: str) -> Iterator[TestClient]:
    settings = api_settings(store_url, read_wait_seconds=0.5, self_check_customers=0)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def test_an_unprocessable_fact_blocks_loudly_with_back_off(
    blocked: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sla_credits.projection")
    body = {**CONTRACT, "timezone": "America/New_York"}
    assert blocked.post("/v1/contracts", json=body, headers=auth("admin")).status_code == 201
    service = blocked.app.state.service  # type: ignore[attr-defined]
    # year 1 to year 9999: the domain refuses it, so it is saved bypassing the domain's checks
    poison = Incident(
        incident_id="x1",
        service="api",
        regions=[],
        customers=[],
        severity="outage",
        started_at=datetime(1, 1, 1, tzinfo=UTC),
        ended_at=datetime(9999, 12, 31, tzinfo=UTC),
        cause="provider",
        title="",
    )
    service.app.save(poison)
    position = service.app.recorder.max_notification_id()

    seen: dict[int, float] = {}  # attempt -> back-off before the next one
    deadline = time.monotonic() + 60
    while len(seen) < 4 or max(seen) < 5:
        assert time.monotonic() < deadline, seen
        failure = service.projection_failure()
        if failure is not None:
            seen[failure["attempts"]] = failure["backoff_seconds"]
        time.sleep(0.01)

    attempts = sorted(seen)
    assert all(seen[a] < seen[b] for a, b in itertools.pairwise(attempts)), seen
    assert failure["position"] == position and failure["fact_type"] == "Incident.Opened", failure
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name == "sla_credits.projection"]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert f"position {position}" in errors[0].getMessage()
    ready = blocked.get("/readyz")
    assert ready.status_code == 503
    assert f"blocked at position {position} (Incident.Opened" in ready.json()["detail"]
    assert service.projection_failure() is not None
    metrics = blocked.get("/metrics").text
    assert "sla_credits_projection_blocked 1.0" in metrics
    assert f"sla_credits_projection_failing_position {float(position)}" in metrics
    assert any(
        line.startswith("sla_credits_projection_failures_total ") and float(line.split()[1]) >= 4
        for line in metrics.splitlines()
    )
    read = blocked.get("/v1/customers/acme/credits?from=2025-01&to=2025-02", headers=auth("admin"))
    assert read.status_code == 503
    assert f"blocked at position {position}" in read.json()["detail"]
