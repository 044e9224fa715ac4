"""After a 500 the server keeps the connection: the next request on the same kept-alive
connection is answered (it used to meet ECONNRESET: the error was re-raised to uvicorn, which
closed the connection)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.api.scenario import contract
from tests.e2e.processes import Server


def test_the_request_after_a_500_on_the_same_connection_is_answered(tmp_path: Path) -> None:
    db = tmp_path / "credits.db"
    server = Server(f"sqlite:///{db}", tmp_path / "serve.log", workers=1)
    try:
        with server.client("admin") as admin:
            assert admin.post("/v1/contracts", json=contract()).status_code == 201
            assert admin.get("/v1/customers/a/credits?from=2025-01&to=2025-01").status_code == 200
            with sqlite3.connect(db) as conn:  # a view row broken behind the service's back
                conn.execute("UPDATE v_contracts SET doc = 'not json'")
            connections = []

            failed = admin.get(
                "/v1/customers/a/credits?from=2025-01&to=2025-01",
                extensions={"trace": lambda name, info: connections.append(name)},
            )
            after = admin.get("/healthz", extensions={"trace": lambda name, info: connections.append(name)})

        assert failed.status_code == 500
        assert failed.headers["content-type"].startswith("application/problem+json")
        assert after.status_code == 200
        # one connection for both: the second request did not have to open a new one
        assert connections.count("connection.connect_tcp.started") == 0, connections
    finally:
        server.stop()
