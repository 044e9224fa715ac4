"""Signed webhooks over HTTP, delivered by a dispatcher (in a thread here) to a real receiver on
127.0.0.1 that verifies every request with the `standardwebhooks` verifier."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import cli
from api.metrics import WebhookCollector
from api.responses_billing import LedgerEntry
from projections.event_log import export_events
from projections.stores import open_application
from tests.api.conftest import KEYS, api_settings, auth
from tests.api.scenario import contract, incident
from tests.conftest import fresh_postgres_database
from tests.webhook_receiver import Receiver, wait_for
from webhooks.dispatcher import Dispatcher, DispatchSettings, delivery_rows
from webhooks.events import WebhookEvent
from webhooks.secrets import Secrets, SecretUnavailableError, new_secret
from webhooks.sender import Sender
from webhooks.store import Endpoint, FencedError, PositionMovedError, WebhookStore

ADMIN = auth("admin")
CUSTOMERS = ("a", "b", "c")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def hooked(store_url: str) -> Iterator[TestClient]:
    """The API with http:// and loopback allowed (the receiver is on 127.0.0.1)."""
    settings = api_settings(store_url, webhook_allow_insecure=True)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@contextmanager
def dispatching(url: str, **changes: Any) -> Iterator[Dispatcher]:
    """A dispatcher with quick polls and back-off, so that the tests wait for little."""
    values: dict[str, Any] = {
        "poll_seconds": 0.02,
        "timeout_seconds": 5.0,
        "retry_base_seconds": 0.05,
        "retry_max_seconds": 0.2,
        "allow_insecure": True,
    }
    d = Dispatcher(url, DispatchSettings(**{**values, **changes})).start()
    try:
        yield d
    finally:
        d.stop()


def register(client: TestClient, url: str, events: list[str] | None = None) -> dict[str, Any]:
    r = client.post(
        "/v1/webhooks",
        json={"url": url, "events": events or ["ledger.entry.issued", "billing.run.completed"]},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"  # it shows the secret
    return r.json()


def bill_march(client: TestClient) -> list[dict[str, Any]]:
    """Three customers, one two-day outage in March 2025: a credit each (100 % of 100000).
    Answers the ledger's entries as GET /v1/billing/ledger lists them."""
    for customer in CUSTOMERS:
        body = contract(contract_id=f"c-{customer}", customer_id=customer, customer_name=customer.upper())
        assert client.post("/v1/contracts", json=body, headers=ADMIN).status_code == 201
    client.post("/v1/incidents", json=incident(ended_at="2025-03-12T10:00:00Z"), headers=ADMIN)
    assert client.post("/v1/billing/runs", json={"month": "2025-03"}, headers=ADMIN).status_code == 201
    entries = client.get("/v1/billing/ledger", headers=ADMIN).json()["entries"]
    assert len(entries) == len(CUSTOMERS)
    return entries


def deliveries(client: TestClient, webhook_id: str) -> list[dict[str, Any]]:
    r = client.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()["deliveries"]


def states(client: TestClient, webhook_id: str) -> list[str]:
    return [d["state"] for d in deliveries(client, webhook_id)]


def test_a_billing_runs_entries_all_arrive_signed_in_order_once_each(
    hooked: TestClient, receiver: Receiver, store_url: str
) -> None:
    hook = register(hooked, receiver.url)
    receiver.secrets = [hook["secret"]]
    entries = bill_march(hooked)

    with dispatching(store_url):
        wait_for(lambda: states(hooked, hook["webhook_id"]) == ["delivered"] * (len(entries) + 1), "all recorded")

    got = receiver.all_requests()
    assert receiver.refused == []
    assert [r.type for r in got] == ["ledger.entry.issued"] * len(entries) + ["billing.run.completed"]
    assert [r.data for r in got[:-1]] == entries  # exactly as the ledger lists them, in its order
    assert all(LedgerEntry.model_validate(r.data) for r in got[:-1])  # the ledger's published answer model
    assert len({r.msg_id for r in got}) == len(got)  # each exactly once
    run = got[-1].data
    assert (run["month"], run["entries"], run["totals"]) == ("2025-03", 3, {"USD": {"credit": 300000, "adjustment": 0}})
    listed = deliveries(hooked, hook["webhook_id"])
    assert [d["delivery_id"] for d in listed] == [r.msg_id for r in got]
    assert all(d["attempts"] == 1 and d["last_status"] == 200 for d in listed)


def test_a_receiver_failing_for_a_while_gets_everything_in_order_retries_under_the_same_id(
    hooked: TestClient, receiver: Receiver, store_url: str
) -> None:
    hook = register(hooked, receiver.url)
    receiver.secrets = [hook["secret"]]
    receiver.failing = True
    entries = bill_march(hooked)

    with dispatching(store_url):
        wait_for(lambda: len(receiver.all_requests()) >= 3, "three failed attempts")
        head = deliveries(hooked, hook["webhook_id"])[0]
        receiver.failing = False
        wait_for(lambda: len(receiver.delivered()) == len(entries) + 1, "every event delivered")

    got = receiver.all_requests()
    assert receiver.refused == []
    # the head blocked every later delivery while it failed: the failures are all its own
    assert {r.msg_id for r in got if r.answered == 500} == {head["delivery_id"]}
    assert head["attempts"] >= 1 and head["last_status"] == 500 and head["next_attempt_at"] is not None
    delivered = receiver.delivered()
    assert [r.data for r in delivered[:-1]] == entries
    assert len({r.msg_id for r in delivered}) == len(delivered)
    by_id: dict[str, list[dict[str, Any]]] = {}
    for r in got:
        by_id.setdefault(r.msg_id, []).append(r.data)
    assert all(all(d == ds[0] for d in ds) for ds in by_id.values())  # a duplicate is the same event


def test_after_two_rotations_all_three_secrets_sign_and_none_is_in_the_log(
    hooked: TestClient, receiver: Receiver, store_url: str
) -> None:
    hook = register(hooked, receiver.url)
    rotated = hooked.post(f"/v1/webhooks/{hook['webhook_id']}/secret", headers=ADMIN)
    assert rotated.status_code == 201 and rotated.headers["cache-control"] == "no-store"
    again = hooked.post(f"/v1/webhooks/{hook['webhook_id']}/secret", headers=ADMIN)
    assert again.status_code == 201
    middle, new = rotated.json()["secret"], again.json()["secret"]
    receiver.secrets = [hook["secret"], middle, new]  # each request must verify with all three
    entries = bill_march(hooked)

    with dispatching(store_url):
        wait_for(lambda: len(receiver.delivered()) == len(entries) + 1, "every event delivered")

    assert receiver.refused == []
    assert all(r.signatures == 3 for r in receiver.delivered())
    shown = hooked.get(f"/v1/webhooks/{hook['webhook_id']}", headers=ADMIN).json()
    assert shown["secret_rotated_by"] == "admin"
    until = datetime.fromisoformat(shown["previous_secret_valid_until"])
    assert until - datetime.fromisoformat(shown["secret_rotated_at"]) == timedelta(hours=24)
    log = hooked.get("/v1/audit/events", params={"limit": 1000}, headers=ADMIN).text
    listed = hooked.get("/v1/webhooks", headers=ADMIN).text
    for secret in (hook["secret"], middle, new):
        assert secret.removeprefix("whsec_") not in log + listed
    assert "WebhookRegistered" in log or "Webhook.Registered" in log
    verification = hooked.get("/v1/audit/verification", headers=ADMIN).json()  # webhook facts change no figure
    assert (verification["mismatch_count"], verification["first_bad_position"]) == (0, None)
    as_of = hooked.get("/v1/billing/ledger", params={"as_of": shown["registered_at"]}, headers=ADMIN)
    assert as_of.status_code == 200 and as_of.json()["entries"] == []


REFUSED_ALWAYS = [
    "https://169.254.169.254/latest/meta-data",
    "http://[fe80::1]/hooks",
    "http://100.100.100.200/hooks",
    "http://[::ffff:169.254.169.254]/hooks",
    "ftp://example.com/hooks",
    "https://user:pw@example.com/hooks",
    "https://no-such-host.invalid/hooks",
]
REFUSED_IN_PRODUCTION = [
    "http://127.0.0.1:9/hooks",
    "https://127.0.0.1/hooks",
    "https://10.1.2.3/hooks",
    "https://localhost/hooks",
]


@pytest.mark.parametrize("insecure", [False, True])
def test_a_refused_url_is_a_422_naming_url_and_records_nothing(tmp_path: Any, insecure: bool) -> None:
    settings = api_settings(f"sqlite:///{tmp_path}/credits.db", webhook_allow_insecure=insecure, run_projection=False)
    urls = REFUSED_ALWAYS + ([] if insecure else REFUSED_IN_PRODUCTION)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        for url in urls:
            r = client.post("/v1/webhooks", json={"url": url, "events": ["ledger.entry.issued"]}, headers=ADMIN)

            assert r.status_code == 422, (url, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert [e["field"] for e in r.json()["errors"]] == ["url"], url
        assert client.get("/v1/webhooks", headers=ADMIN).json() == {"webhooks": []}


def test_a_disabled_webhook_receives_nothing_and_refuses_rotation_and_retries(
    hooked: TestClient, receiver: Receiver, store_url: str
) -> None:
    hook = register(hooked, receiver.url)
    receiver.secrets = [hook["secret"]]
    webhook_id = hook["webhook_id"]

    first = hooked.post(f"/v1/webhooks/{webhook_id}/disable", json={"reason": "moving"}, headers=ADMIN)
    again = hooked.post(f"/v1/webhooks/{webhook_id}/disable", headers=ADMIN)
    bill_march(hooked)
    head = hooked.app.state.service.app.recorder.max_notification_id()  # type: ignore[attr-defined]
    with dispatching(store_url):
        wait_for(lambda: hooked.app.state.webhook_store.position() >= head, "the dispatcher past the run")  # type: ignore[attr-defined]

    assert (first.status_code, again.status_code) == (201, 200)
    shown = first.json()
    assert (shown["active"], shown["disabled_by"], shown["disabled_reason"]) == (False, "admin", "moving")
    assert receiver.all_requests() == []
    assert deliveries(hooked, webhook_id) == []
    assert hooked.post(f"/v1/webhooks/{webhook_id}/secret", headers=ADMIN).status_code == 409
    assert hooked.post(f"/v1/webhooks/{webhook_id}/deliveries/msg_1_0_x/retry", headers=ADMIN).status_code == 404


def test_an_endpoint_failing_longer_than_the_retry_period_is_disabled_as_a_fact(
    hooked: TestClient, receiver: Receiver, store_url: str
) -> None:
    hook = register(hooked, receiver.url)
    receiver.secrets = [hook["secret"]]
    receiver.failing = True
    bill_march(hooked)
    webhook_id = hook["webhook_id"]

    with dispatching(store_url, retry_for_seconds=0.3):
        wait_for(
            lambda: not hooked.get(f"/v1/webhooks/{webhook_id}", headers=ADMIN).json()["active"],
            "the endpoint disabled",
        )
        wait_for(lambda: set(states(hooked, webhook_id)) == {"abandoned"}, "deliveries abandoned")

    shown = hooked.get(f"/v1/webhooks/{webhook_id}", headers=ADMIN).json()
    assert shown["disabled_by"] == "dispatcher"
    assert "failed" in shown["disabled_reason"]
    assert receiver.delivered() == []
    r = hooked.post(
        f"/v1/webhooks/{webhook_id}/deliveries/{deliveries(hooked, webhook_id)[0]['delivery_id']}/retry", headers=ADMIN
    )
    assert r.status_code == 409


class _DatabaseGoneWhenDisabling:
    """The application, failing to record the `Disabled` fact."""

    def disable_webhook(self, **_: Any) -> Any:
        raise RuntimeError("the database went away")


def test_an_endpoint_is_never_stopped_without_its_disabled_fact(
    hooked: TestClient, receiver: Receiver, store_url: str
) -> None:
    hook = register(hooked, receiver.url, events=["billing.run.completed"])
    receiver.secrets = [hook["secret"]]
    receiver.failing = True
    bill_march(hooked)
    store: WebhookStore = hooked.app.state.webhook_store  # type: ignore[attr-defined]
    dispatcher = Dispatcher(store_url, DispatchSettings(allow_insecure=True, retry_for_seconds=0))
    app = hooked.app.state.service.app  # type: ignore[attr-defined]
    token = store.take_over()
    while dispatcher.follow(app, store, token):
        pass
    head = store.head(hook["webhook_id"])
    assert head is not None
    sender = Sender(5, allow_insecure=True)

    try:
        with pytest.raises(RuntimeError):
            dispatcher.attempt(
                _DatabaseGoneWhenDisabling(),  # type: ignore[arg-type]
                store,
                Secrets(store, None),
                sender,
                store.endpoints()[hook["webhook_id"]],
                head,
                token,
            )
    finally:
        sender.close()

    # the attempt is recorded, and the endpoint goes on: the next attempt gives up again
    assert store.endpoints()[hook["webhook_id"]].active
    after = store.head(hook["webhook_id"])
    assert after is not None and after.delivery_id == head.delivery_id and after.attempts == 1
    assert hooked.get(f"/v1/webhooks/{hook['webhook_id']}", headers=ADMIN).json()["active"]


def test_an_endpoint_stopped_without_a_fact_gets_its_disabled_fact_when_the_dispatcher_starts(
    hooked: TestClient, receiver: Receiver, store_url: str
) -> None:
    hook = register(hooked, receiver.url)
    store: WebhookStore = hooked.app.state.webhook_store  # type: ignore[attr-defined]
    head = hooked.app.state.service.app.recorder.max_notification_id()  # type: ignore[attr-defined]
    with dispatching(store_url):
        wait_for(lambda: store.position() >= head, "the dispatcher past the registration")
    with store.cursor(commit=True) as c:  # what an earlier version left when it gave up
        c.execute(store.sql("UPDATE webhook_endpoints SET active = 0 WHERE webhook_id = ?"), (hook["webhook_id"],))

    with dispatching(store_url):
        wait_for(
            lambda: not hooked.get(f"/v1/webhooks/{hook['webhook_id']}", headers=ADMIN).json()["active"],
            "the Disabled fact recorded",
        )

    shown = hooked.get(f"/v1/webhooks/{hook['webhook_id']}", headers=ADMIN).json()
    assert shown["disabled_by"] == "dispatcher"


def test_deliveries_page_with_a_cursor_and_a_retry_sends_the_same_id_again(
    hooked: TestClient, receiver: Receiver, store_url: str
) -> None:
    hook = register(hooked, receiver.url, events=["ledger.entry.issued"])
    receiver.secrets = [hook["secret"]]
    entries = bill_march(hooked)
    webhook_id = hook["webhook_id"]

    with dispatching(store_url):
        wait_for(lambda: len(receiver.delivered()) == len(entries), "every entry delivered")
        wait_for(lambda: states(hooked, webhook_id) == ["delivered"] * len(entries), "recorded")
        first = deliveries(hooked, webhook_id)[0]
        retried = hooked.post(f"/v1/webhooks/{webhook_id}/deliveries/{first['delivery_id']}/retry", headers=ADMIN)
        wait_for(lambda: len(receiver.delivered()) == len(entries) + 1, "the retried delivery sent again")
        wait_for(lambda: states(hooked, webhook_id) == ["delivered"] * len(entries), "its second delivery recorded")

    assert retried.status_code == 200 and retried.json()["state"] == "pending"
    assert receiver.delivered()[-1].msg_id == first["delivery_id"]
    pages, cursor = [], None
    while True:
        page = hooked.get(
            f"/v1/webhooks/{webhook_id}/deliveries",
            params={"limit": 2, **({"after": cursor} if cursor else {})},
            headers=ADMIN,
        ).json()
        if not page["deliveries"]:
            break
        pages.append(page["deliveries"])
        cursor = page["next_cursor"]
    assert [len(p) for p in pages] == [2, 1]
    assert [d["event_type"] for p in pages for d in p] == ["ledger.entry.issued"] * 3
    metrics = hooked.get("/metrics").text
    assert 'slacredits_webhook_deliveries{state="delivered"} 3.0' in metrics
    assert "slacredits_webhook_dispatch_lag_events 0.0" in metrics
    assert f'slacredits_webhook_oldest_undelivered_age_seconds{{webhook_id="{webhook_id}"}} 0.0' in metrics
    assert hooked.get("/v1/webhooks/nope/deliveries", headers=ADMIN).status_code == 404
    assert hooked.get(f"/v1/webhooks/{webhook_id}/deliveries", params={"after": "zz"}, headers=ADMIN).status_code == 422


def _sign_in(client: TestClient, role: str) -> None:
    client.get("/ui/login")
    data = {"key": KEYS[role], "csrf": client.cookies.get("slac_login"), "next": "/ui/"}
    assert client.post("/ui/login", data=data, follow_redirects=False).status_code == 303


def test_the_console_shows_admins_the_deliveries_and_sends_one_again(
    hooked: TestClient, receiver: Receiver, store_url: str
) -> None:
    hook = register(hooked, receiver.url, events=["billing.run.completed"])
    receiver.secrets = [hook["secret"]]
    bill_march(hooked)
    webhook_id = hook["webhook_id"]
    with dispatching(store_url):
        wait_for(lambda: states(hooked, webhook_id) == ["delivered"], "delivered")
        _sign_in(hooked, "admin")
        listing = hooked.get("/ui/webhooks")
        detail = hooked.get(f"/ui/webhooks/{webhook_id}")
        form = {"csrf": detail.text.split('name="csrf" value="')[1].split('"')[0]}
        (delivery,) = deliveries(hooked, webhook_id)
        again = hooked.post(f"/ui/webhooks/{webhook_id}/deliveries/{delivery['delivery_id']}/retry", data=form)
        wait_for(lambda: len(receiver.delivered()) == 2, "sent again")

    assert listing.status_code == 200 and webhook_id in listing.text and 'href="/ui/webhooks"' in listing.text
    assert delivery["delivery_id"] in detail.text and "billing.run.completed" in detail.text
    assert again.status_code == 200 and "will be sent again" in again.text
    _sign_in(hooked, "billing")
    assert 'href="/ui/webhooks"' not in hooked.get("/ui/billing").text
    assert hooked.get("/ui/webhooks").status_code == 403


def test_a_self_check_report_with_differences_is_sent_once_as_views_mismatch(
    store_url: str, receiver: Receiver
) -> None:
    settings = api_settings(store_url, webhook_allow_insecure=True, self_check_customers=0)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        hook = register(client, receiver.url, events=["views.mismatch"])
        receiver.secrets = [hook["secret"]]
        found = {"kind": "period", "contract_id": "c-a", "key": "2025-03", "stored": 1, "fresh": 2}
        report = {"mismatched": {"a": [found]}, "last_slice_at": "2026-03-01T00:00:00Z"}
        store = client.app.state.webhook_store  # type: ignore[attr-defined]
        with store.cursor(commit=True) as c:
            c.execute(store.sql("DELETE FROM projection_status WHERE name = ?"), ("self_check",))
            c.execute(store.sql("INSERT INTO projection_status VALUES (?, ?)"), ("self_check", json.dumps(report)))

        with dispatching(store_url):
            wait_for(lambda: states(client, hook["webhook_id"]) == ["delivered"], "sent")
            bill_march(client)  # later facts: the same report is not sent again
            head = client.app.state.service.app.recorder.max_notification_id()  # type: ignore[attr-defined]
            wait_for(lambda: store.position() >= head, "the dispatcher past the run")

    (got,) = receiver.delivered()
    assert got.type == "views.mismatch"
    assert got.data["mismatch_count"] == 1
    assert got.data["mismatches"] == [{**found, "customer_id": "a"}]


def test_an_attempt_goes_to_the_checked_address_with_the_host_and_follows_no_redirect() -> None:
    seen: dict[str, str] = {}

    class Redirecting(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen["host"] = self.headers["host"]
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(302)
            self.send_header("location", "http://169.254.169.254/")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        redirected = Sender(5, allow_insecure=True).send(f"http://localhost:{port}/h", "msg_1", "{}", [new_secret()])
        production = Sender(5, allow_insecure=False).send(f"https://localhost:{port}/h", "msg_1", "{}", [new_secret()])
    finally:
        server.shutdown()
        server.server_close()

    assert (redirected.delivered, redirected.status) == (False, 302)
    assert seen["host"] == f"localhost:{port}"  # localhost resolved once, 127.0.0.1 connected to
    assert production.delivered is False and production.error is not None and "refused" in production.error


def test_an_attempt_that_fails_in_an_unexpected_way_is_a_failed_attempt_not_an_exception(receiver: Receiver) -> None:
    # a header that cannot be encoded fails in httpx with UnicodeEncodeError, not an httpx.HTTPError
    sender = Sender(5, allow_insecure=True)
    try:
        outcome = sender.send(receiver.url, "msg_ü", "{}", [new_secret()])
    finally:
        sender.close()

    assert (outcome.delivered, outcome.status) == (False, None)
    assert outcome.error is not None and outcome.error.startswith("UnicodeEncodeError")
    assert receiver.all_requests() == []


@pytest.fixture
def store(store_url: str) -> Iterator[WebhookStore]:
    app = open_application(store_url)
    try:
        yield WebhookStore(app)
    finally:
        app.close()


HOOK = Endpoint("w1", "https://billing.example.com/h", ("ledger.entry.issued",), True, "sec-1")


def _queued(position: int, n: int = 0) -> dict[str, Any]:
    return delivery_rows(WebhookEvent(position, n, "ledger.entry.issued", "2026-03-01T00:00:00Z", {}), [HOOK], 1.0)[0]


def test_a_dispatcher_that_was_taken_over_can_neither_advance_nor_claim_nor_record(store: WebhookStore) -> None:
    stale = store.take_over()
    token = store.take_over()  # another dispatcher took the lock
    store.advance(0, 1, [_queued(1)], [HOOK], [], None, token)
    head = store.head("w1")
    assert head is not None

    with pytest.raises(FencedError):
        store.advance(1, 2, [_queued(2)], [], [], None, stale)
    with pytest.raises(FencedError):
        store.claim(head.delivery_id, "stale", 2.0, 100.0, stale)
    with pytest.raises(FencedError):
        store.delivered(head.delivery_id, 200, 2.0, stale)
    with pytest.raises(FencedError):
        store.failed(head.delivery_id, 500, "answered HTTP 500", 2.0, 3.0, stale)

    assert store.position() == 1
    assert store.head("w1") == head  # untouched
    assert store.page("w1", (0, -1), 10) == [head]
    assert store.claim(head.delivery_id, "current", 2.0, 100.0, token)
    assert not store.claim(head.delivery_id, "another", 50.0, 150.0, token)  # leased until 100
    assert store.claim(head.delivery_id, "another", 101.0, 150.0, token)  # the lease ran out


def test_a_second_writer_of_the_same_page_commits_nothing_and_a_report_twice_is_no_error(
    store: WebhookStore,
) -> None:
    token = store.take_over()
    store.advance(0, 1, [_queued(1)], [HOOK], [], "report-1", token)

    with pytest.raises(PositionMovedError):
        store.advance(0, 1, [_queued(1, 1)], [HOOK], [], "report-1", token)
    store.advance(1, 1, [], [], [], "report-1", token)  # the same report seen again: recorded once

    assert [d.n for d in store.page("w1", (0, -1), 10)] == [0]
    assert store.position() == 1 and store.known_report("report-1")


def test_a_secret_the_service_cannot_read_keeps_the_delivery_waiting_and_the_endpoint_active(
    store_url: str, receiver: Receiver
) -> None:
    settings = api_settings(store_url, webhook_allow_insecure=True, webhook_secret_key=Fernet.generate_key().decode())
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        hook = register(client, receiver.url, events=["billing.run.completed"])
        bill_march(client)
        webhook_id = hook["webhook_id"]
        seen: list[str] = []

        def signing_failed_twice() -> bool:
            for d in deliveries(client, webhook_id):
                if (d["last_error"] or "").startswith("cannot sign") and d["last_attempt_at"] not in seen:
                    seen.append(d["last_attempt_at"])
            return len(seen) >= 2

        # another key (a wrong SLACREDITS_WEBHOOK_SECRET_KEY), and giving up at the first failure
        with dispatching(store_url, secret_key=Fernet.generate_key().decode(), retry_for_seconds=0):
            wait_for(signing_failed_twice, "two attempts that could not be signed")

        (head,) = deliveries(client, webhook_id)
        shown = client.get(f"/v1/webhooks/{webhook_id}", headers=ADMIN).json()
        metrics = client.get("/metrics").text

    assert shown["active"] and head["state"] == "pending" and head["attempts"] == 0
    assert head["next_attempt_at"] is not None
    assert receiver.all_requests() == []
    assert "slacredits_webhook_unsigned_deliveries 1.0" in metrics


@pytest.fixture
def target_url(store_url: str, tmp_path: Any) -> Iterator[str]:
    """A second empty store of the same kind as `store_url`."""
    if store_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path}/imported.db"
    else:
        yield from fresh_postgres_database()


def _import(url: str, export: Any, *options: str) -> None:
    env = {"SLACREDITS_DATABASE_URL": url}
    done = CliRunner().invoke(cli, ["import-events", str(export), *options], env=env)
    assert done.exit_code == 0, done.output


@pytest.mark.parametrize("replay", [False, True])
def test_an_imported_log_is_not_sent_again_unless_asked(
    hooked: TestClient, receiver: Receiver, store_url: str, target_url: str, tmp_path: Any, replay: bool
) -> None:
    hook = register(hooked, receiver.url)
    bill_march(hooked)
    app = hooked.app.state.service.app  # type: ignore[attr-defined]
    head = app.recorder.max_notification_id()
    export = tmp_path / "log.jsonl"
    with export.open("w", encoding="utf-8") as f:
        export_events(app, f)

    _import(target_url, export, *(["--replay-webhooks"] if replay else []))

    restored = open_application(target_url)
    try:
        store = WebhookStore(restored)
        if replay:
            assert store.position() == 0 and store.endpoints() == {}
        else:
            assert store.position() == head
            assert list(store.endpoints()) == [hook["webhook_id"]]
            assert store.page(hook["webhook_id"], (0, -1), 10) == []
    finally:
        restored.close()


def test_an_endpoint_row_written_before_the_list_of_replaced_secrets_still_signs_with_its_previous_one(
    store: WebhookStore,
) -> None:
    with store.cursor(commit=True) as c:  # as the first version wrote it
        c.execute(
            store.sql(
                "INSERT INTO webhook_endpoints (webhook_id, url, events, active, secret_id, previous_secret_id, "
                "previous_until) VALUES (?, ?, ?, ?, ?, ?, ?)"
            ),
            ("w1", "https://billing.example.com/h", '["ledger.entry.issued"]', 1, "sec-2", "sec-1", 1000.0),
        )

    (endpoint,) = store.endpoints().values()

    assert endpoint.previous == (("sec-1", 1000.0),)
    assert endpoint.signing_secret_ids(999.0) == ["sec-2", "sec-1"]


def test_the_dispatchers_lag_is_a_metric_and_a_failing_scrape_of_the_webhook_metrics_is_logged(
    hooked: TestClient, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    register(hooked, receiver.url)  # one fact, no dispatcher running

    metrics = hooked.get("/metrics").text
    with caplog.at_level(logging.ERROR, logger="sla_credits.metrics"):
        collected = list(WebhookCollector(lambda: 1 / 0).collect())

    assert "slacredits_webhook_dispatch_lag_events 1.0" in metrics
    assert collected == []
    assert any("webhook metrics unavailable: ZeroDivisionError" in r.getMessage() for r in caplog.records)


def test_a_manual_retry_backs_off_from_the_base_again(store: WebhookStore) -> None:
    token = store.take_over()
    store.advance(0, 1, [_queued(1)], [HOOK], [], None, token)
    head = store.head("w1")
    assert head is not None
    for at in (2.0, 3.0, 4.0):
        store.failed(head.delivery_id, 500, "answered HTTP 500", at, at + 100, token)

    store.retry(head.delivery_id, 5.0)

    again = store.head("w1")
    assert again is not None
    assert (again.failures, again.attempts, again.next_attempt_at, again.first_failure_at) == (0, 3, 5.0, None)


def test_with_a_key_the_stored_secret_is_encrypted_and_another_key_cannot_read_it(tmp_path: Any) -> None:
    app = open_application(f"sqlite:///{tmp_path}/credits.db")
    try:
        store = WebhookStore(app)
        sealed = Secrets(store, Fernet.generate_key().decode())
        secret_id, secret = sealed.create("w1")

        row = store.sealed_secret(secret_id)

        assert row is not None and row.startswith("fernet:") and secret not in row
        assert sealed.get(secret_id) == secret
        with pytest.raises(SecretUnavailableError):
            Secrets(store, Fernet.generate_key().decode()).get(secret_id)
        with pytest.raises(SecretUnavailableError):
            Secrets(store, None).get(secret_id)
        plain_id, plain = Secrets(store, None).create("w2")
        assert store.sealed_secret(plain_id) == f"plain:{plain}"
        assert plain.startswith("whsec_")
    finally:
        app.close()
