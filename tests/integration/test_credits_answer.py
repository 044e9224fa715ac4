"""The live credits answer as stored (projections/queries.py `credits_answer`) against the answer
built from the rows (`credits_document`) and against a fresh replay of the log, byte for byte as
the API writes it, for every customer of a world with issued, open, terminated and quiet months,
on both stores; and over HTTP."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from starlette.concurrency import run_in_threadpool

from api import routes_queries
from api.app import create_app
from api.importer import import_lines
from bench.dataset import commands
from domain.calendar import Month, to_micros
from projections.answer_reads import PostgresAnswerReads
from projections.queries import credits_answer, credits_document
from projections.readers import ModelReader
from projections.runner import rebuild, replay
from projections.service import CreditsService
from tests.api.conftest import api_settings, auth

RANGES = [(Month(2024, 1), Month(2025, 12)), (Month(2024, 11), Month(2025, 2)), (Month(2025, 12), Month(2026, 3))]
NOWS = [datetime(2025, 1, 10, tzinfo=UTC), datetime(2025, 12, 31, 23, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)]


def _world(url: str) -> CreditsService:
    """The benchmark's world, smaller, with a contract starting mid-month in another zone, one
    terminated, unresolved incidents reaching some customers, and a month billed."""
    service = CreditsService(url)
    lines = [json.dumps(c) for c in commands(contracts=40, incidents=400, seed=11)]
    extra = [
        {
            **json.loads(lines[0]),
            "contract_id": "late",
            "customer_id": "cust00003",
            "timezone": "Pacific/Kiritimati",
            "starts_on": "2024-06-17",
        },
        {"kind": "terminate_contract", "contract_id": "C00005", "request_id": "t", "ends_on": "2025-03-10"},
        {
            "kind": "open_incident",
            "incident_id": "still-open",
            "service": "compute",
            "regions": ["eu-west"],
            "severity": "outage",
            "started_at": "2025-11-30T22:00:00Z",
        },
    ]
    report = import_lines(service.app, lines + [json.dumps(e) for e in extra])
    assert not report.errors, report.errors[:3]
    rebuild(url)
    service.bill(Month(2024, 3), datetime(2024, 4, 10, tzinfo=UTC))
    service.catch_up()
    return service


def test_the_stored_answer_is_the_built_one_and_the_replayed_one(store_url: str) -> None:
    service = _world(store_url)
    fresh = ModelReader(replay(service.app).model)
    answered_as_stored = computed_at_now = 0
    for customer in service.reader.customers():
        for first, last in RANGES:
            for when in NOWS:
                now = to_micros(when)
                with service.view.reading():
                    stored = credits_answer(service.reader, customer, first, last, now)
                    built = credits_document(service.reader, customer, first, last, now)
                # the API's reads: one statement in its own snapshot (projections/answer_reads.py)
                reads = service.answer_reads(customer, str(first), str(last))
                assert reads.covers_log()
                assert credits_answer(reads, customer, first, last, now) == stored, f"{customer} {first}..{last}"
                assert built == credits_document(fresh, customer, first, last, now)
                if stored is None:
                    computed_at_now += 1
                    continue
                answered_as_stored += 1
                assert stored == JSONResponse(built).body, f"{customer} {first}..{last} at {when}"  # the API's writer
    # both paths are taken: the comparison above is not vacuous
    assert answered_as_stored > computed_at_now > 0


def test_an_unknown_customer_has_no_stored_answer(store_url: str) -> None:
    service = CreditsService(store_url)
    with service.view.reading():
        assert credits_answer(service.reader, "nobody", Month(2025, 1), Month(2025, 2), to_micros(NOWS[0])) is None
    for customer in ("nobody", "no\x00body"):  # PostgreSQL refuses a NUL byte in a query's text
        reads = service.answer_reads(customer, "2025-01", "2025-02")
        assert credits_answer(reads, customer, Month(2025, 1), Month(2025, 2), to_micros(NOWS[0])) is None


def _threaded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The customers whose credits requests go to a worker thread, in order (decisions 18, 20)."""
    threaded: list[str] = []

    async def recording(func: Any, *args: Any) -> Any:
        threaded.append(args[2])  # _credits(service, settings, customer_id, ...)
        return await run_in_threadpool(func, *args)

    monkeypatch.setattr(routes_queries, "run_in_threadpool", recording)
    return threaded


def _answered_as_stored(service: CreditsService) -> str:
    """A customer whose live answer is read as stored (no unresolved incident reaches them)."""
    with service.view.reading():
        now = to_micros(datetime.now(UTC))
        return next(
            c
            for c in service.reader.customers()
            if credits_answer(service.reader, c, Month(2024, 1), Month(2025, 12), now) is not None
        )


def test_over_http_the_answer_is_the_built_one(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    service = _world(store_url)
    # which requests went to a worker thread (decisions 18 and 20): only those not answerable as
    # stored from a current snapshot, on both stores (PostgreSQL's reads are asynchronous)
    threaded = _threaded(monkeypatch)
    customers = service.reader.customers()[:12]
    with service.view.reading():
        now = to_micros(datetime.now(UTC))
        built = {
            c for c in customers if credits_answer(service.reader, c, Month(2024, 1), Month(2025, 12), now) is None
        }
    assert built and built != set(customers)  # the world has customers of both kinds
    with TestClient(create_app(api_settings(store_url, self_check_customers=0))) as client:
        for customer in customers:
            r = client.get(f"/v1/customers/{customer}/credits?from=2024-01&to=2025-12", headers=auth("auditor"))
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == "application/json"
            with service.view.reading():
                now = to_micros(datetime.now(UTC))
                expected = credits_document(service.reader, customer, Month(2024, 1), Month(2025, 12), now)
            assert r.json() == expected
        missing = client.get("/v1/customers/nobody/credits?from=2024-01&to=2025-12", headers=auth("auditor"))
        assert threaded == [*(c for c in customers if c in built), "nobody"]
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert "customer_id" in json.dumps(missing.json())


def test_a_failed_one_statement_read_is_answered_the_threaded_way(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that fails in the one-statement read (a restarted server, a pool exhausted)
    costs the request a worker thread, not an error: that path retries and reports an outage."""
    service = _world(store_url)
    threaded = _threaded(monkeypatch)

    async def failing(customer_id: str, first: str, last: str) -> Any:
        raise psycopg.OperationalError("the connection was lost")

    customer = _answered_as_stored(service)
    with TestClient(create_app(api_settings(store_url, self_check_customers=0))) as client:
        assert isinstance(client.app, FastAPI)
        monkeypatch.setattr(client.app.state.answer_reads, "read", failing)
        r = client.get(f"/v1/customers/{customer}/credits?from=2024-01&to=2025-12", headers=auth("auditor"))
        assert r.status_code == 200, r.text
        with service.view.reading():
            now = to_micros(datetime.now(UTC))
            assert r.json() == credits_document(service.reader, customer, Month(2024, 1), Month(2025, 12), now)
    assert threaded == [customer]


def test_live_read_connections_broken_under_it_cost_a_detour_not_an_error(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As after a server restart: every connection of the live reads' own pool is ended by the
    server. The request that meets one is answered the threaded way, correctly; the pool then
    serves again by itself (decision 20)."""
    service = _world(postgres_url)
    threaded = _threaded(monkeypatch)

    customer = _answered_as_stored(service)
    with service.view.reading():
        now = to_micros(datetime.now(UTC))
        expected = credits_document(service.reader, customer, Month(2024, 1), Month(2025, 12), now)
    path = f"/v1/customers/{customer}/credits?from=2024-01&to=2025-12"
    with TestClient(create_app(api_settings(postgres_url, self_check_customers=0))) as client:

        def answered_without_a_thread() -> bool:
            before = len(threaded)
            r = client.get(path, headers=auth("auditor"))
            assert r.status_code == 200, r.text
            assert r.json() == expected
            return len(threaded) == before

        assert answered_without_a_thread()
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s AND datname = current_database()",
                (PostgresAnswerReads.APPLICATION_NAME,),
            ).fetchall()
        assert ended  # the pool's connections, by their name
        assert not answered_without_a_thread()  # the broken connection: the threaded way, 200
        deadline = time.monotonic() + 60
        while not answered_without_a_thread():
            assert time.monotonic() < deadline, "the live reads' pool did not serve again"
    assert set(threaded) == {customer}
