"""The OpenAPI document integrators generate clients from: short, stable operation ids."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api import responses, responses_billing  # noqa: F401 (its models join answer_models)
from api.app import create_app
from api.cli import openapi_text
from api.settings import Settings

COMMITTED = Path(__file__).parents[2] / "docs" / "openapi.json"


def test_every_operation_has_a_short_camel_case_id() -> None:
    document = create_app(Settings(api_keys="admin:k")).openapi()

    ids = [op["operationId"] for path in document["paths"].values() for op in path.values()]

    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)*", i) for i in ids), ids
    assert {"getCredits", "listLedgerEntries", "acknowledgeLedgerEntry", "runBilling", "listCustomers"} <= set(ids)


def served_document() -> dict[str, Any]:
    app = create_app(Settings(api_keys="admin:k"))
    with TestClient(app) as client:  # what /openapi.json serves, over HTTP
        answer = client.get("/openapi.json")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(op["operationId"], op) for path in document["paths"].values() for op in path.values()]


def test_every_answer_has_a_named_schema_and_every_refusal_is_a_problem() -> None:
    document = served_document()

    for name, op in operations(document):
        for status, response in op["responses"].items():
            content = response["content"]
            if status.startswith("2"):
                json_body = content.get("application/json")
                if json_body is not None:
                    assert json_body["schema"]["$ref"].startswith("#/components/schemas/"), (name, status)
                else:  # CSV and the Prometheus text format
                    assert [v["schema"] for v in content.values()] == [{"type": "string"}], (name, status)
            else:
                assert content == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}, (
                    name,
                    status,
                )
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_every_field_of_every_answer_says_what_it_is_and_every_answer_has_a_valid_example() -> None:
    document = served_document()
    schemas = document["components"]["schemas"]
    answered = {
        op["responses"][s]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        for _, op in operations(document)
        for s in op["responses"]
        if s.startswith("2") and "application/json" in op["responses"][s]["content"]
    }
    models = responses.answer_models()

    assert answered <= set(models), answered - set(models)
    for name, model in models.items():
        schema = schemas.get(name, model.model_json_schema())
        undescribed = [p for p, field in schema["properties"].items() if not field.get("description")]
        assert not undescribed, (name, undescribed)
        assert "additionalProperties" not in schema, name  # open to fields a later version adds
    for name in answered:
        (example,) = schemas[name]["examples"]
        models[name].model_validate(example)  # strict: the example is exactly an answer


def test_the_committed_document_is_the_served_one() -> None:
    """A change of the HTTP contract is always a visible diff of docs/openapi.json."""
    served = served_document()

    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))

    assert committed == served, "the served OpenAPI document changed: run `make openapi` and commit the diff"
    assert COMMITTED.read_text(encoding="utf-8") == openapi_text(served)
