"""The dispatcher (`sla-credits dispatch`; `serve` starts one): follows the log with its own
position, turns facts into webhook events for the endpoints subscribed at that point of the log,
and delivers them, in order per endpoint, at least once (decision 0014).

One dispatcher is active at a time (RunnerLock "dispatch": a PostgreSQL advisory lock or a file
lock, as for the projection); a second one waits. Following and delivering are separate steps:

* follow: the facts after the position, a page at a time; their deliveries, the endpoints the
  Webhook facts change and the new position are written in one transaction;
* deliver: for each active endpoint with something to deliver, in a small pool of threads (one
  endpoint at a time per thread, so its order holds), its head delivery when due, then the next.
  A failed attempt schedules the head again with exponential back-off and jitter; the later
  deliveries of that endpoint wait behind it. After `retry_for` seconds of failures the
  endpoint is disabled (a `Webhook.Disabled` fact, by "dispatcher").

A crash between an attempt and its record sends that delivery again (same `webhook-id`), once
its lease has run out.

A dispatcher that lost the lock without noticing (its lock connection dropped, a long pause)
must not go on writing beside the one that took over: taking the lock bumps a fencing token
(webhooks/store.py), and the position, each claim and each attempt's record are written only
while the token is still this dispatcher's; a stale one stops at its next write."""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from domain.application import CreditsApplication
from domain.webhook import Webhook, webhook_uuid
from projections.records import instant_text
from projections.runner_lock import RunnerLock
from projections.stores import new_application, store_env
from webhooks.events import WebhookEvent, delivery_id, mismatch_digest, mismatch_event, webhook_events
from webhooks.schedule import gives_up, retry_delay
from webhooks.secrets import Secrets, SecretUnavailableError
from webhooks.sender import Sender
from webhooks.store import PENDING, UNSIGNED, Delivery, Endpoint, FencedError, WebhookStore

log = logging.getLogger("sla_credits.webhooks")
PAGE = 500
Registered: Any = getattr(Webhook, "Registered")  # noqa: B009
Disabled: Any = getattr(Webhook, "Disabled")  # noqa: B009
SecretRotated: Any = getattr(Webhook, "SecretRotated")  # noqa: B009


@dataclass(frozen=True)
class DispatchSettings:
    poll_seconds: float = 0.5
    timeout_seconds: float = 10.0
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 3600.0
    retry_for_seconds: float = 3 * 24 * 3600.0
    allow_insecure: bool = False
    secret_key: str | None = None
    senders: int = 4  # endpoints delivered to at once
    lease_seconds: float | None = None  # how long an attempt holds its delivery; None: 3 x timeout + 5

    @property
    def lease(self) -> float:
        """Longer than an attempt can take (connect, send and read each up to the timeout)."""
        return self.lease_seconds if self.lease_seconds is not None else 3 * self.timeout_seconds + 5


def delivery_rows(event: WebhookEvent, endpoints: list[Endpoint], now: float) -> list[dict[str, Any]]:
    """The outbox rows of one event: one per active endpoint subscribed to its type."""
    body = event.body()
    return [
        {
            "delivery_id": delivery_id(event, e.webhook_id),
            "webhook_id": e.webhook_id,
            "position": event.position,
            "n": event.n,
            "event_id": event.event_id,
            "event_type": event.type,
            "body": body,
            "state": PENDING,
            "attempts": 0,
            "failures": 0,
            "last_status": None,
            "last_error": None,
            "created_at": now,
            "first_failure_at": None,
            "last_attempt_at": None,
            "next_attempt_at": now,
            "delivered_at": None,
        }
        for e in endpoints
        if e.active and event.type in e.events
    ]


class Dispatcher:
    def __init__(self, url: str, settings: DispatchSettings) -> None:
        self.url = url
        self.settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="webhook-dispatcher", daemon=True)
        self._in_flight: set[str] = set()
        self._in_flight_lock = threading.Lock()
        self._fenced = threading.Event()  # a sender found that another dispatcher took over
        self.ready = threading.Event()

    def start(self) -> Dispatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.settings.timeout_seconds + 10)

    def _supervise(self) -> None:
        env = store_env(self.url, pool_size=self.settings.senders + 2)
        lock = RunnerLock(env, name="dispatch")
        delay = 0.1
        while not self._stop.is_set():
            app: CreditsApplication | None = None
            try:
                if not lock.acquire(self._stop):
                    return
                app = new_application(env)
                self._run(app, lock)
                delay = 0.1
            except Exception as e:
                log.error(
                    "webhook dispatcher failed: %s: %s; retrying in %.1fs", type(e).__name__, e, delay, exc_info=True
                )
                lock.release()
                self._stop.wait(delay)
                delay = min(delay * 2, 60.0)
            finally:
                if app is not None:
                    app.close()
        lock.release()

    def _run(self, app: CreditsApplication, lock: RunnerLock) -> None:
        store = WebhookStore(app)
        token = store.take_over()
        self._fenced.clear()
        secrets = Secrets(store, self.settings.secret_key)
        sender = Sender(self.settings.timeout_seconds, self.settings.allow_insecure)
        pool = ThreadPoolExecutor(max_workers=self.settings.senders, thread_name_prefix="webhook-send")
        self.record_missing_disables(app, store)
        self.ready.set()
        try:
            while not self._stop.is_set():
                if not lock.held():
                    raise RuntimeError("lost the dispatch lock (database connection ended)")
                if self._fenced.is_set():
                    raise FencedError("another dispatcher took over")
                moved = self.follow(app, store, token)
                for webhook_id in store.waiting_endpoints():
                    with self._in_flight_lock:
                        if webhook_id in self._in_flight:
                            continue
                        self._in_flight.add(webhook_id)
                    pool.submit(self._drain, app, store, secrets, sender, lock, webhook_id, token)
                if not moved:
                    self._stop.wait(self.settings.poll_seconds)
        finally:
            pool.shutdown(wait=True)
            sender.close()

    def record_missing_disables(self, app: CreditsApplication, store: WebhookStore) -> None:
        """An endpoint stopped in `webhook_endpoints` but active in its facts was given up on by an
        earlier version that stopped it before recording why: record the `Disabled` fact now."""
        for e in store.endpoints().values():
            if not e.active and app.get_webhook(e.webhook_id).active:
                reason = "deliveries failed for the retry period (recorded late: stopped without a fact)"
                app.disable_webhook(
                    webhook_id=e.webhook_id, reason=reason, disabled_by="dispatcher", disabled_at=datetime.now(UTC)
                )
                log.error("webhooks: recorded that %s is disabled: %s", e.webhook_id, reason)

    # -- following the log ------------------------------------------------------------------

    def follow(self, app: CreditsApplication, store: WebhookStore, token: int, queue: bool = True) -> bool:
        """Turn the next page of facts into deliveries; True when there may be more. With
        `queue` false only the endpoints are learnt: the position passes the facts' events."""
        old = store.position()
        notifications = app.recorder.select_notifications(start=old, limit=PAGE, inclusive_of_start=False)
        endpoints = store.endpoints()
        now = time.time()
        report = self._new_report(store, old, endpoints, now) if queue else None
        if not notifications and report is None:
            return False
        by_uuid = {webhook_uuid(w): w for w in endpoints}
        changed: dict[str, Endpoint] = {}
        disabled: list[str] = []
        rows: list[dict[str, Any]] = []
        for n in notifications:
            fact: Any = app.mapper.to_domain_event(n)
            if isinstance(fact, Registered):
                e = Endpoint(fact.webhook_id, fact.url, tuple(fact.events), True, fact.secret_id)
                by_uuid[fact.originator_id] = fact.webhook_id
            elif isinstance(fact, Disabled | SecretRotated):
                webhook_id = by_uuid[fact.originator_id]
                e = changed.get(webhook_id) or endpoints[webhook_id]
                if isinstance(fact, Disabled):
                    e = replace(e, active=False)
                    disabled.append(webhook_id)
                else:
                    e = e.rotated(
                        fact.secret_id,
                        fact.previous_secret_id,
                        fact.previous_valid_until.timestamp(),
                        fact.rotated_at.timestamp(),
                    )
            else:
                current = {**endpoints, **changed}
                for event in webhook_events(fact, n.id) if queue else []:
                    rows += delivery_rows(event, list(current.values()), now)
                continue
            changed[e.webhook_id] = e
            endpoints[e.webhook_id] = e
        digest = None
        if report is not None:
            digest, event = report
            rows += delivery_rows(event, list({**endpoints, **changed}.values()), now)
        new = notifications[-1].id if notifications else old
        store.advance(old, new, rows, list(changed.values()), disabled, digest, token)
        if rows:
            log.info("webhooks: %d deliveries queued for facts %d to %d", len(rows), old + 1, new)
        return bool(notifications)

    def _new_report(
        self, store: WebhookStore, position: int, endpoints: dict[str, Endpoint], now: float
    ) -> tuple[str, WebhookEvent] | None:
        """A self-check report with differences not reported yet, as a `views.mismatch` event."""
        if not any(e.active and "views.mismatch" in e.events for e in endpoints.values()):
            return None
        state = store.self_check_report()
        digest = None if state is None else mismatch_digest(state)
        if state is None or digest is None or store.known_report(digest):
            return None
        return digest, mismatch_event(position, instant_text(datetime.fromtimestamp(now, UTC)), state)

    # -- delivering -------------------------------------------------------------------------

    def _drain(
        self,
        app: CreditsApplication,
        store: WebhookStore,
        secrets: Secrets,
        sender: Sender,
        lock: RunnerLock,
        webhook_id: str,
        token: int,
    ) -> None:
        try:
            while not self._stop.is_set():
                endpoint = store.endpoints().get(webhook_id)
                head = store.head(webhook_id)
                if endpoint is None or not endpoint.active or head is None:
                    return
                if (head.next_attempt_at or 0) > time.time() or not lock.held():
                    return
                if not self.attempt(app, store, secrets, sender, endpoint, head, token):
                    return
        except FencedError as e:
            log.warning("webhooks: stopped delivering to %s: %s", webhook_id, e)
            self._fenced.set()
        except Exception:
            log.exception("webhooks: delivering to %s failed; trying again on the next pass", webhook_id)
        finally:
            with self._in_flight_lock:
                self._in_flight.discard(webhook_id)

    def attempt(
        self,
        app: CreditsApplication,
        store: WebhookStore,
        secrets: Secrets,
        sender: Sender,
        endpoint: Endpoint,
        head: Delivery,
        token: int,
    ) -> bool:
        """One attempt at the endpoint's head delivery, once claimed; True when it was delivered."""
        start = time.time()
        if not store.claim(head.delivery_id, f"dispatcher-{token}", start, start + self.settings.lease, token):
            return False  # another attempt holds it (a dispatcher that has not noticed it lost the lock)
        s = self.settings
        try:
            keys = [secrets.get(k) for k in endpoint.signing_secret_ids(time.time())]
        except SecretUnavailableError as e:
            # our misconfiguration, not the receiver's failure: nothing is sent, the delivery
            # waits (it does not count towards giving up), the operator is told
            now = time.time()
            delay = min(s.retry_max_seconds, 60.0) * (0.5 + random.random() / 2)  # noqa: S311
            store.unsigned(head.delivery_id, f"{UNSIGNED} {e}", now, now + delay, token)
            log.error(
                "webhooks: cannot sign %s for %s: %s; it waits (check SLACREDITS_WEBHOOK_SECRET_KEY, "
                "or rotate the endpoint's secret)",
                head.delivery_id,
                endpoint.webhook_id,
                e,
            )
            return False
        outcome = sender.send(endpoint.url, head.delivery_id, head.body, keys)
        now = time.time()
        if outcome.delivered:
            assert outcome.status is not None
            store.delivered(head.delivery_id, outcome.status, now, token)
            return True
        error = outcome.error or "failed"
        delay = retry_delay(head.failures + 1, s.retry_base_seconds, s.retry_max_seconds, random.random())  # noqa: S311
        store.failed(head.delivery_id, outcome.status, error, now, now + delay, token)
        if gives_up(head.first_failure_at or now, now, s.retry_for_seconds):
            # the fact, and only the fact, stops the endpoint: `follow` abandons its deliveries
            # when it passes it. Should recording it fail, the head stays pending and the next
            # attempt gives up again, so an endpoint is never stopped without its fact.
            reason = f"deliveries failed for {s.retry_for_seconds:.0f}s (last: {error})"[:500]
            app.disable_webhook(
                webhook_id=endpoint.webhook_id,
                reason=reason,
                disabled_by="dispatcher",
                disabled_at=datetime.now(UTC),
            )
            log.error("webhooks: disabled %s: %s", endpoint.webhook_id, reason)
            return False
        log.warning(
            "webhooks: %s to %s failed (%s); attempt %d, next in %.1fs",
            head.delivery_id,
            endpoint.webhook_id,
            error,
            head.attempts + 1,
            delay,
        )
        return False


def skip_to_head(app: CreditsApplication) -> int:
    """For a store just filled by `import-events`: learn the endpoints from the imported Webhook
    facts and move the position to the log's head, queuing nothing (the billing system had those
    events before the export); answers the position."""
    store = WebhookStore(app, create=True)
    token = store.take_over()
    follower = Dispatcher("", DispatchSettings())
    while follower.follow(app, store, token, queue=False):
        pass
    return store.position()
