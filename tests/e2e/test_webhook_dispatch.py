"""`sla-credits dispatch` as real processes: killed with SIGKILL mid-delivery and started again,
nothing is lost; two at once, no event is sent by both."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.conftest import api_settings
from tests.api.scenario import contract, incident
from tests.api.test_webhooks import ADMIN, bill_march, register
from tests.e2e.processes import Server, environment
from tests.webhook_receiver import Receiver, wait_for

QUICK = {
    "webhook_allow_insecure": "true",
    "webhook_poll_seconds": "0.02",
    "webhook_retry_base_seconds": "0.05",
    "webhook_retry_max_seconds": "0.2",
    "webhook_timeout_seconds": "10",
    "webhook_lease_seconds": "1",  # a killed dispatcher's claim runs out quickly
    "log_format": "text",
}


class DispatchProcess:
    def __init__(self, url: str, log: Path) -> None:
        self._out = log.open("ab")
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "dispatch"],
            env=environment(url, **QUICK),
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()


@pytest.fixture
def api(store_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings(store_url, webhook_allow_insecure=True))) as c:
        yield c


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def _first_arrivals(receiver: Receiver) -> list[Any]:
    seen: dict[str, Any] = {}
    for r in receiver.delivered():
        seen.setdefault(r.msg_id, r)
    return list(seen.values())


def test_a_dispatcher_killed_mid_delivery_loses_nothing_once_started_again(
    api: TestClient, receiver: Receiver, store_url: str, tmp_path: Path
) -> None:
    hook = register(api, receiver.url)
    receiver.secrets = [hook["secret"]]
    receiver.hold = threading.Event()  # the first request waits until the dispatcher is dead
    entries = bill_march(api)
    first = DispatchProcess(store_url, tmp_path / "dispatch-1.log")

    try:
        wait_for(receiver.holding.is_set, "a delivery in flight", timeout=60)
        first.kill()
        held, receiver.hold = receiver.hold, None
        held.set()
        second = DispatchProcess(store_url, tmp_path / "dispatch-2.log")
        try:
            wait_for(lambda: len(_first_arrivals(receiver)) == len(entries) + 1, "every event delivered", timeout=60)
        finally:
            second.stop()
    finally:
        first.stop()

    assert receiver.refused == []
    arrived = _first_arrivals(receiver)
    assert [r.data for r in arrived[:-1]] == entries
    assert arrived[-1].type == "billing.run.completed"
    by_id: dict[str, list[Any]] = {}
    for r in receiver.all_requests():
        by_id.setdefault(r.msg_id, []).append(r.data)
    assert all(all(d == ds[0] for d in ds) for ds in by_id.values())  # duplicates: the same id, the same event


def _all_recorded(api: TestClient, webhook_id: str) -> bool:
    listed = api.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=ADMIN).json()["deliveries"]
    return bool(listed) and all(d["state"] == "delivered" for d in listed)


def test_two_dispatchers_never_both_send_an_event(
    api: TestClient, receiver: Receiver, store_url: str, tmp_path: Path
) -> None:
    hook = register(api, receiver.url)
    receiver.secrets = [hook["secret"]]
    a = DispatchProcess(store_url, tmp_path / "dispatch-a.log")
    b = DispatchProcess(store_url, tmp_path / "dispatch-b.log")
    try:
        entries = bill_march(api)
        wait_for(lambda: len(receiver.delivered()) == len(entries) + 1, "the first run delivered", timeout=60)
        wait_for(lambda: _all_recorded(api, hook["webhook_id"]), "the deliveries recorded", timeout=60)
        a.kill()  # whichever was active, the other one carries on
        api.post(
            "/v1/incidents/i1/corrections",
            json={"request_id": "c", "reason": "shorter", "ended_at": "2025-03-10T11:00:00Z"},
            headers=ADMIN,
        )
        assert api.post("/v1/billing/runs", json={"month": "2025-04"}, headers=ADMIN).status_code == 201
        wait_for(lambda: len(receiver.delivered()) == 2 * (len(entries) + 1), "the second run delivered", timeout=60)
    finally:
        a.stop()
        b.stop()

    got = receiver.all_requests()
    assert receiver.refused == []
    assert len({r.msg_id for r in got}) == len(got) == 8
    assert [r.data["kind"] for r in got if r.type == "ledger.entry.issued"] == ["credit"] * 3 + ["adjustment"] * 3


def test_serve_starts_the_dispatcher(receiver: Receiver, tmp_path: Path) -> None:
    # the store-specific paths are covered above on both stores; this is about `serve`'s children
    server = Server(f"sqlite:///{tmp_path}/credits.db", tmp_path / "serve.log", workers=1, **QUICK)
    try:
        with server.client("admin") as http:
            r = http.post("/v1/webhooks", json={"url": receiver.url, "events": ["billing.run.completed"]})
            assert r.status_code == 201, r.text
            receiver.secrets = [r.json()["secret"]]
            http.post("/v1/contracts", json=contract())
            http.post("/v1/incidents", json=incident())
            assert http.post("/v1/billing/runs", json={"month": "2025-03"}).status_code == 201

            wait_for(lambda: len(receiver.delivered()) == 1, "the run delivered by serve's dispatcher", timeout=60)
    finally:
        server.stop()

    assert receiver.delivered()[0].data["month"] == "2025-03"
