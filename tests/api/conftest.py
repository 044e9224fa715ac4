from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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


def api_settings(store_url: str, **changes: object) -> Settings:
    """The API tests' settings: every role's key, a quick projection, patient reads."""
    values: dict[str, object] = {
        "database_url": store_url,
        "api_keys": ",".join(f"{r}:{k}" for r, k in KEYS.items()),
        "read_wait_seconds": 30,
        "projection_batch_seconds": 0.05,
    }
    return Settings(**{**values, **changes})


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings(store_url)), raise_server_exceptions=False) as c:
        yield c


class Cases:
    """Many cases on one store, in one test (a store per case costs a second or two each): every
    case runs, and `check` fails naming each case that failed, with its reason."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    @contextmanager
    def case(self, name: str) -> Iterator[None]:
        try:
            yield
        except AssertionError as e:
            self.failed.append(f"{name}: {e}")

    def check(self) -> None:
        assert not self.failed, "\n".join(self.failed)
