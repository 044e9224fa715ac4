"""One projection runner at a time: a second runner started by mistake waits for the lock.

PostgreSQL: a session-level advisory lock held on a connection of its own for the runner's
whole life (released by the server when that connection ends, so a killed runner never leaves
it held). SQLite: an exclusive `flock` on a file beside the database (released by the kernel
when the process ends). Even without the lock nothing would be written twice (the tracking
row is inserted in the same transaction as the view rows), but two runners would waste work
and fight over the same rows."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

log = logging.getLogger("sla_credits.projection")

# pg_advisory_lock key: the first 8 bytes of sha256("sla-credits:projection") as a signed bigint
ADVISORY_KEY = int.from_bytes(bytes.fromhex("5c1a7e0c4ed1b5e1"), "big", signed=True)


def advisory_key(name: str) -> int:
    """The advisory lock's key for a kind of runner ("projection" keeps its historical key)."""
    if name == "projection":
        return ADVISORY_KEY
    return int.from_bytes(hashlib.sha256(f"sla-credits:{name}".encode()).digest()[:8], "big", signed=True)


class RunnerLock:
    """acquire() blocks (logging once that it waits) until this runner holds the lock or
    `stop` is set; held() tells whether the lock is still ours."""

    def __init__(self, env: dict[str, str], name: str = "projection") -> None:
        self.env = env
        self.name = name  # one lock per kind of runner: "projection", "dispatch"
        self._conn: psycopg.Connection[Any] | None = None
        self._fd: int | None = None

    def acquire(self, stop: threading.Event, poll: float = 0.5) -> bool:
        waited = False
        while not stop.is_set():
            if self._try():
                if waited:
                    log.info("%s lock acquired; this runner now takes over", self.name)
                return True
            if not waited:
                log.warning("another %s runner holds the lock; waiting for it to stop", self.name)
                waited = True
            stop.wait(poll)
        return False

    def _try(self) -> bool:
        if self.env.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite":
            path = Path(self.env["SQLITE_DBNAME"] + f".{self.name}.lock")
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._fd = fd
            return True
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(
                    host=self.env["POSTGRES_HOST"],
                    port=self.env["POSTGRES_PORT"],
                    dbname=self.env["POSTGRES_DBNAME"],
                    user=self.env["POSTGRES_USER"],
                    password=self.env.get("POSTGRES_PASSWORD") or None,
                    connect_timeout=int(self.env.get("POSTGRES_CONNECT_TIMEOUT", "5")),
                    autocommit=True,
                    application_name=f"sla-credits {self.name} lock",
                    # a dead peer or network is noticed within about 25 s (10 + 3 x 5), not the
                    # kernel's two hours: held() then answers False and the runner stops
                    keepalives=1,
                    keepalives_idle=10,
                    keepalives_interval=5,
                    keepalives_count=3,
                )
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (advisory_key(self.name),)).fetchone()
            return bool(row and row[0])
        except psycopg.Error as e:
            log.warning("%s lock: database unavailable (%s); retrying", self.name, type(e).__name__)
            self._close_conn()
            time.sleep(0.5)
            return False

    def held(self) -> bool:
        if self._fd is not None:
            return True
        if self._conn is None:
            return False
        try:
            self._conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            self._close_conn()
            return False

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        self._close_conn()

    def _close_conn(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None
