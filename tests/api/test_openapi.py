"""The OpenAPI document integrators generate clients from: short, stable operation ids."""

from __future__ import annotations

import re

from api.app import create_app
from api.settings import Settings


def test_every_operation_has_a_short_camel_case_id() -> None:
    document = create_app(Settings(api_keys="admin:k")).openapi()

    ids = [op["operationId"] for path in document["paths"].values() for op in path.values()]

    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)*", i) for i in ids), ids
    assert {"getCredits", "listLedgerEntries", "acknowledgeLedgerEntry", "runBilling", "listCustomers"} <= set(ids)
