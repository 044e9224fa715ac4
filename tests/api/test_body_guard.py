"""A write's key is checked before its body is read, and bodies are bounded (413)."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient

from tests.api.conftest import auth


def test_an_unauthenticated_write_is_refused_before_its_body_is_read(client: TestClient) -> None:
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(60):  # 60 MB if anyone read it
            sent += 1
            yield b"x" * 1_000_000

    r = client.post("/v1/incidents", content=body(), headers={"Content-Type": "application/json"})

    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert sent <= 2, f"{sent} MB of the body were read before the key was checked"


def test_a_body_above_the_limit_is_a_413_with_or_without_a_length(client: TestClient) -> None:
    big = b'{"incident_id": "' + b"x" * (5 * 1024 * 1024) + b'"}'

    stated = client.post("/v1/incidents", content=big, headers={**auth("admin"), "Content-Type": "application/json"})
    streamed = client.post(
        "/v1/incidents",
        content=(big[i : i + 65536] for i in range(0, len(big), 65536)),
        headers={**auth("admin"), "Content-Type": "application/json"},
    )

    assert (stated.status_code, streamed.status_code) == (413, 413), (stated.text[:200], streamed.text[:200])
    assert stated.headers["content-type"].startswith("application/problem+json")


def test_metrics_ask_for_the_token_when_one_is_set(store_url: str) -> None:
    from api.app import create_app
    from tests.api.conftest import api_settings

    settings = api_settings(store_url, metrics_token="scrape-me")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
        scraped = c.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert scraped.status_code == 200
        assert "slacredits_log_position" in scraped.text
