"""Prometheus metrics (`GET /metrics`, the text format), summed over every API worker.

With several workers, `sla-credits serve` sets PROMETHEUS_MULTIPROC_DIR before any worker
starts, and prometheus-client writes each process's values to files there; a scrape of any
worker reads them all. The projection's position and lag are read from the database at
scrape time, so they are right whichever process answers."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from projections.blocking import blocks

logger = logging.getLogger("sla_credits.metrics")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

HTTP_REQUESTS = Counter(
    "slacredits_http_requests",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "slacredits_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and method",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
EVENTS_RECORDED = Counter("slacredits_events_recorded", "Facts recorded by this service, by type", ["type"])
BILLING_RUN_SECONDS = Histogram(
    "slacredits_billing_run_duration_seconds",
    "Time to plan and record a billing run",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
BILLING_RUNS = Counter("slacredits_billing_runs", "Billing runs recorded")
BILLING_ENTRIES = Counter("slacredits_billing_entries_issued", "Ledger entries issued, by kind", ["kind"])
VERIFICATIONS = Counter("slacredits_verifications", "Verifications run, by result (ok, mismatch, tampered)", ["result"])
VERIFICATION_MISMATCHES = Gauge(
    "slacredits_verification_mismatches",
    "View rows that differed from a replay, last verification",
    multiprocess_mode="mostrecent",
)
VERIFICATION_EVENTS = Gauge(
    "slacredits_verification_events", "Facts covered by the last verification", multiprocess_mode="mostrecent"
)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_LATENCY.labels(route, method).observe(seconds)


def count_recorded(types: list[str]) -> None:
    for t in types:
        EVENTS_RECORDED.labels(t).inc()


BILLING_VIEW_MISMATCHES = Counter(
    "sla_credits_billing_view_mismatches",
    "Stored periods a billing run found different from a fresh computation from the facts (the fresh figure is issued)",
)


def observe_run(seconds: float, entries: list[dict[str, Any]], view_mismatches: int = 0) -> None:
    BILLING_VIEW_MISMATCHES.inc(view_mismatches)
    BILLING_RUNS.inc()
    BILLING_RUN_SECONDS.observe(seconds)
    for e in entries:
        BILLING_ENTRIES.labels(e["kind"]).inc()


def observe_verification(result: dict[str, Any]) -> None:
    outcome = (
        "tampered" if result["first_bad_position"] is not None else "mismatch" if result["mismatch_count"] else "ok"
    )
    VERIFICATIONS.labels(outcome).inc()
    VERIFICATION_MISMATCHES.set(result["mismatch_count"])
    VERIFICATION_EVENTS.set(result["events"])


class ProjectionCollector(Collector):
    """The log's position and, for each view, its position and lag, read at scrape time."""

    def __init__(self, status: Any) -> None:
        self.status = status  # () -> dict of the projection's status, or raises

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("slacredits_database_up", "1 when the database answered this scrape")
        try:
            s = self.status()
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        log = GaugeMetricFamily("slacredits_log_position", "Position of the last recorded fact")
        log.add_metric([], s["log_position"])
        yield log
        position = GaugeMetricFamily("slacredits_projection_position", "Last fact in the view", labels=["view"])
        lag = GaugeMetricFamily(
            "slacredits_projection_lag_events", "Facts recorded but not yet in the view", labels=["view"]
        )
        lag_s = GaugeMetricFamily(
            "slacredits_projection_lag_seconds", "Age of the oldest fact not yet in the view", labels=["view"]
        )
        position.add_metric(["credits"], s["projection_position"])
        lag.add_metric(["credits"], s["lag_events"])
        lag_s.add_metric(["credits"], s["lag_seconds"])
        yield from (position, lag, lag_s)
        failure = s.get("failure")
        blocked = GaugeMetricFamily("sla_credits_projection_blocked", "1 while a stored fact stops the projection")
        blocked.add_metric([], 1 if blocks(failure) else 0)
        yield blocked
        failures = CounterMetricFamily(
            "sla_credits_projection_failures",
            "Failed attempts of the projection on the fact that blocks it now (0 when nothing does)",
        )
        failures.add_metric([], 0 if failure is None else failure["attempts"])
        yield failures
        if failure is not None and failure.get("position") is not None:
            where = GaugeMetricFamily("sla_credits_projection_failing_position", "Position of the fact that fails")
            where.add_metric([], failure["position"])
            yield where
        check = s.get("self_check")
        if check is not None:
            mismatches = GaugeMetricFamily(
                "sla_credits_view_mismatches",
                "Stored rows that differed from a fresh computation from the facts when the self-check last saw them",
            )
            mismatches.add_metric([], check["mismatch_count"])
            yield mismatches
            if check["last_full_cycle_at"] is not None:
                cycle = GaugeMetricFamily(
                    "sla_credits_self_check_last_full_cycle_timestamp_seconds",
                    "When the self-check last finished checking every customer (Unix time)",
                )
                cycle.add_metric([], _unix(check["last_full_cycle_at"]))
                yield cycle


def _unix(instant: str) -> float:
    return datetime.fromisoformat(instant.replace("Z", "+00:00")).timestamp()


class WebhookCollector(Collector):
    """Webhook deliveries, read from the outbox at scrape time (the dispatcher is its own process)."""

    def __init__(self, stats: Any) -> None:
        self.stats = stats  # () -> WebhookStore.stats(now), or raises

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        try:
            s = self.stats()
        except Exception as e:  # the scrape goes on without them (slacredits_database_up tells why)
            logger.error("webhook metrics unavailable: %s: %s", type(e).__name__, e, exc_info=True)
            return
        lag = GaugeMetricFamily(
            "slacredits_webhook_dispatch_lag_events",
            "Facts recorded that the webhook dispatcher has not followed yet (the log's head minus its position)",
        )
        lag.add_metric([], s["lag_events"])
        yield lag
        deliveries = GaugeMetricFamily(
            "slacredits_webhook_deliveries",
            "Webhook deliveries by state (pending, delivered, abandoned: the endpoint was disabled)",
            labels=["state"],
        )
        for state, n in s["by_state"].items():
            deliveries.add_metric([state], n)
        yield deliveries
        attempts = CounterMetricFamily(
            "slacredits_webhook_attempts",
            "Webhook delivery attempts by outcome (success: 2xx; failure: another status, a timeout, no connection)",
            labels=["outcome"],
        )
        for outcome, n in s["attempts"].items():
            attempts.add_metric([outcome], n)
        yield attempts
        oldest = GaugeMetricFamily(
            "slacredits_webhook_oldest_undelivered_age_seconds",
            "Per active endpoint, the age of its oldest delivery not delivered yet (0 when none)",
            labels=["webhook_id"],
        )
        for webhook_id, age in s["oldest_undelivered_seconds"].items():
            oldest.add_metric([webhook_id], age)
        yield oldest
        unsigned = GaugeMetricFamily(
            "slacredits_webhook_unsigned_deliveries",
            "Deliveries waiting because the service cannot sign them (a missing or wrong "
            "SLACREDITS_WEBHOOK_SECRET_KEY, a secret not restored): alert on anything above 0",
        )
        unsigned.add_metric([], s["unsigned"])
        yield unsigned


def render(status: Any, webhooks: Any = None) -> tuple[bytes, str]:
    """The scrape answer: every process's metrics plus the projection's status (and the
    webhook deliveries' when `webhooks` gives them)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        for collector in list(REGISTRY._collector_to_names):
            registry.register(collector)
    registry.register(ProjectionCollector(status))
    if webhooks is not None:
        registry.register(WebhookCollector(webhooks))
    return generate_latest(registry), CONTENT_TYPE_LATEST
