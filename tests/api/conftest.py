from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings

KEYS = {
    "admin": "k-admin",
    "ingest": "k-ingest",
    "account_manager": "k-am",
    "billing": "k-billing",
    "auditor": "k-auditor",
}


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"}


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient]:
    settings = Settings(
        database_url=store_url,
        api_keys=",".join(f"{r}:{k}" for r, k in KEYS.items()),
        read_wait_seconds=30,
        projection_batch_seconds=0.05,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c
