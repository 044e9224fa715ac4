"""Schemathesis against our OpenAPI document: no 500, no response outside the documented schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.settings import Settings
from tests.api.conftest import KEYS, auth
from tests.api.scenario import contract, incident
from tests.conftest import fresh_postgres_database


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    if request.param == "sqlite":
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('schemathesis')) / 'credits.db'}"
        yield from _served(url)
    else:
        for url in fresh_postgres_database():
            yield from _served(url)


def _served(url: str) -> Iterator[TestClient]:
    app = create_app(
        Settings(
            database_url=url,
            api_keys=",".join(f"{r}:{k}" for r, k in KEYS.items()),
            projection_batch_seconds=0.05,
        )
    )
    with TestClient(app) as client:
        client.post("/v1/contracts", json=contract(), headers=auth("admin"))
        client.post("/v1/incidents", json=incident(), headers=auth("admin"))
        yield client


@pytest.fixture(scope="module")
def api_schema(served: TestClient) -> schemathesis.schemas.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", served.app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_and_responses_match_the_schema(case: schemathesis.Case) -> None:
    # Whether the API accepts or refuses generated bodies is a rules question (ids that must
    # exist, months that must be real): the contract checked here is no 500, and every answer
    # documented and in its documented shape.
    case.call_and_validate(
        headers=auth("admin"),
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )


def test_every_write_schemathesis_got_accepted_is_projected_and_verifies(served: TestClient) -> None:
    """Runs after the generated cases: whatever they recorded, the projection reached the log's
    head without a failure, and the views equal a replay."""
    service = served.app.state.service  # type: ignore[attr-defined]
    head = service.app.recorder.max_notification_id()

    service.wait_for(head, 60)

    assert service.projection_failure() is None
    assert served.get("/readyz").status_code == 200
    verification = served.get("/v1/audit/verification", headers=auth("auditor")).json()
    assert verification["mismatch_count"] == 0, verification["mismatches"]
    assert verification["first_bad_position"] is None
    assert verification["events"] == head
