"""The webhook tables, beside the log in the same database (SQLite or PostgreSQL).

* `webhook_secrets`: each secret under a random `secret_id` (sealed: webhooks/secrets.py). The
  facts name the id, never the secret. A row is written before its fact; a row no fact names
  (the fact failed) is never used.
* `webhook_position`: the dispatcher's tracking position in the log, and its fencing token: a
  counter a dispatcher bumps when it takes the lock. Every write of a dispatcher (its position,
  a claim, an attempt's record) happens only while the token is still the one it took, in the
  same transaction: one that lost the lock without knowing (a dropped connection, a long pause)
  writes nothing more and stops.
* `webhook_endpoints`: what the dispatcher learnt from the Webhook facts up to that position
  (url, events, active, which secrets sign).
* `webhook_deliveries`: the outbox, one row per event and endpoint, in log order. A delivery is
  claimed with a lease (`lease_owner`, `lease_until`) before each attempt: no two dispatchers
  send it at once, even while one of them has not yet noticed it lost the lock.

The dispatcher writes the deliveries of a fact, the endpoints it changes and its new position
in one transaction: a crash repeats or skips no event."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from domain.application import CreditsApplication
from projections.stores import create_tables

DDL = [
    "CREATE TABLE IF NOT EXISTS webhook_secrets (secret_id TEXT PRIMARY KEY, webhook_id TEXT NOT NULL, "
    "sealed TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS webhook_position (name TEXT PRIMARY KEY, position BIGINT NOT NULL, "
    "token BIGINT NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS webhook_endpoints (webhook_id TEXT PRIMARY KEY, url TEXT NOT NULL, "
    "events TEXT NOT NULL, active INTEGER NOT NULL, secret_id TEXT NOT NULL, previous_secret_id TEXT, "
    "previous_until DOUBLE PRECISION, previous_secrets TEXT)",
    "CREATE TABLE IF NOT EXISTS webhook_deliveries (delivery_id TEXT PRIMARY KEY, webhook_id TEXT NOT NULL, "
    "position BIGINT NOT NULL, n INTEGER NOT NULL, event_id TEXT NOT NULL, event_type TEXT NOT NULL, "
    "body TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL, failures INTEGER NOT NULL, "
    "last_status INTEGER, last_error TEXT, created_at DOUBLE PRECISION NOT NULL, "
    "first_failure_at DOUBLE PRECISION, last_attempt_at DOUBLE PRECISION, next_attempt_at DOUBLE PRECISION, "
    "delivered_at DOUBLE PRECISION, lease_owner TEXT, lease_until DOUBLE PRECISION)",
    "CREATE TABLE IF NOT EXISTS webhook_reports (digest TEXT PRIMARY KEY, created_at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_order ON webhook_deliveries (webhook_id, position, n)",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_state ON webhook_deliveries (state, webhook_id)",
]
# columns added since the tables were first made: added to a store made before them
ADDED_COLUMNS = [
    ("webhook_position", "token", "BIGINT NOT NULL DEFAULT 0"),
    ("webhook_deliveries", "lease_owner", "TEXT"),
    ("webhook_deliveries", "lease_until", "DOUBLE PRECISION"),
    ("webhook_endpoints", "previous_secrets", "TEXT"),
]
TABLES = ("webhook_secrets", "webhook_position", "webhook_endpoints", "webhook_deliveries", "webhook_reports")
POSITION = "dispatch"
PENDING, DELIVERED, ABANDONED = "pending", "delivered", "abandoned"
UNSIGNED = "cannot sign:"  # how the last error of a delivery that could not be signed begins


class PositionMovedError(Exception):
    """Another dispatcher advanced the position first: this one's work is discarded."""


class FencedError(Exception):
    """Another dispatcher took the lock since this one did (a newer fencing token): nothing was
    written, and this one must stop."""


def _rowcount(c: Any) -> int:
    """Rows changed by the cursor's last statement (the SQLite datastore wraps its cursor)."""
    inner = getattr(c, "sqlite_cursor", c)
    return int(inner.rowcount)


@dataclass(frozen=True)
class Endpoint:
    webhook_id: str
    url: str
    events: tuple[str, ...]
    active: bool
    secret_id: str
    previous: tuple[tuple[str, float], ...] = ()  # replaced secrets: (secret_id, signs until), oldest first

    def signing_secret_ids(self, now: float) -> list[str]:
        """The secrets that sign now: the current one, and every replaced one in its overlap."""
        return [self.secret_id, *(i for i, until in reversed(self.previous) if now < until)]

    def rotated(self, secret_id: str, replaced: str, until: float, at: float) -> Endpoint:
        """After a rotation at `at`: the replaced secret signs until `until`; the earlier ones
        whose overlap ended are forgotten."""
        kept = tuple(p for p in self.previous if p[1] > at)
        return replace(self, secret_id=secret_id, previous=(*kept, (replaced, until)))


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    webhook_id: str
    position: int
    n: int
    event_id: str
    event_type: str
    body: str
    state: str
    attempts: int
    failures: int
    last_status: int | None
    last_error: str | None
    created_at: float
    first_failure_at: float | None
    last_attempt_at: float | None
    next_attempt_at: float | None
    delivered_at: float | None

    @classmethod
    def of(cls, row: Any) -> Delivery:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})


def _previous(row: Any) -> tuple[tuple[str, float], ...]:
    if row["previous_secrets"] is not None:
        return tuple((str(i), float(until)) for i, until in json.loads(row["previous_secrets"]))
    if row["previous_secret_id"] is not None and row["previous_until"] is not None:  # written before the list
        return ((row["previous_secret_id"], float(row["previous_until"])),)
    return ()


class WebhookStore:
    def __init__(self, app: CreditsApplication, create: bool | None = None) -> None:
        self.datastore: Any = app.recorder.datastore  # type: ignore[attr-defined]
        self.recorder = app.recorder
        self.placeholder = "?" if app.env.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite" else "%s"
        if create_tables() if create is None else create:
            self.create_tables()

    def sql(self, statement: str) -> str:
        return statement if self.placeholder == "?" else statement.replace("?", self.placeholder)

    @contextmanager
    def cursor(self, commit: bool) -> Iterator[Any]:
        with self.datastore.transaction(commit=commit) as c:
            yield c

    def create_tables(self) -> None:
        for attempt in range(5):
            try:
                with self.cursor(commit=True) as c:
                    for statement in DDL:
                        c.execute(statement)
                for table, column, kind in ADDED_COLUMNS:
                    if not self._has_column(table, column):
                        with self.cursor(commit=True) as c:
                            c.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
                return
            except Exception:  # processes starting at once race to create them: try again
                if attempt == 4:
                    raise
                time.sleep(0.1 * (attempt + 1))

    def _has_column(self, table: str, column: str) -> bool:
        try:
            with self.cursor(commit=False) as c:
                c.execute(f"SELECT {column} FROM {table} WHERE 1 = 0")
            return True
        except Exception:  # no such column (the failed statement is rolled back)
            return False

    def select(self, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self.cursor(commit=False) as c:
            c.execute(self.sql(statement), params)
            return list(c.fetchall())

    # -- secrets --------------------------------------------------------------------------

    def put_secret(self, secret_id: str, webhook_id: str, sealed: str, created_at: float) -> None:
        with self.cursor(commit=True) as c:
            c.execute(
                self.sql("INSERT INTO webhook_secrets VALUES (?, ?, ?, ?)"), (secret_id, webhook_id, sealed, created_at)
            )

    def sealed_secret(self, secret_id: str) -> str | None:
        rows = self.select("SELECT sealed FROM webhook_secrets WHERE secret_id = ?", (secret_id,))
        return str(rows[0]["sealed"]) if rows else None

    # -- the dispatcher's position and endpoints -------------------------------------------

    def position(self) -> int:
        rows = self.select("SELECT position FROM webhook_position WHERE name = ?", (POSITION,))
        return int(rows[0]["position"]) if rows else 0

    def take_over(self) -> int:
        """For a dispatcher that has just taken the lock: a new fencing token, which makes every
        earlier one stale."""
        with self.cursor(commit=True) as c:
            c.execute(
                self.sql(
                    "INSERT INTO webhook_position (name, position, token) VALUES (?, 0, 0) "
                    "ON CONFLICT (name) DO NOTHING"
                ),
                (POSITION,),
            )
            c.execute(self.sql("UPDATE webhook_position SET token = token + 1 WHERE name = ?"), (POSITION,))
            c.execute(self.sql("SELECT token FROM webhook_position WHERE name = ?"), (POSITION,))
            return int(c.fetchone()["token"])

    def _fence(self, c: Any, token: int) -> None:
        """Go on only while `token` is the newest; the row stays locked until the transaction
        ends, so no dispatcher takes over between this check and the commit."""
        c.execute(
            self.sql("UPDATE webhook_position SET token = ? WHERE name = ? AND token = ?"), (token, POSITION, token)
        )
        if _rowcount(c) != 1:
            raise FencedError(f"another dispatcher took over (fencing token {token} is stale)")

    def endpoints(self) -> dict[str, Endpoint]:
        rows = self.select("SELECT * FROM webhook_endpoints ORDER BY webhook_id")
        return {
            r["webhook_id"]: Endpoint(
                r["webhook_id"],
                r["url"],
                tuple(json.loads(r["events"])),
                bool(r["active"]),
                r["secret_id"],
                _previous(r),
            )
            for r in rows
        }

    def advance(
        self,
        old: int,
        new: int,
        deliveries: list[dict[str, Any]],
        changed: list[Endpoint],
        disabled: list[str],
        report: str | None,
        token: int,
    ) -> None:
        """Record the deliveries of facts (old, new], the endpoints they changed, and the new
        position, at once, only if the position is still `old` (PositionMovedError) and `token`
        the newest (FencedError). `report`: the digest of a self-check report whose deliveries
        these are."""
        with self.cursor(commit=True) as c:
            self._fence(c, token)
            c.execute(
                self.sql("UPDATE webhook_position SET position = ? WHERE name = ? AND position = ?"),
                (new, POSITION, old),
            )
            if _rowcount(c) != 1:
                raise PositionMovedError(f"the dispatch position moved from {old} meanwhile")
            if report is not None:
                c.execute(
                    self.sql("INSERT INTO webhook_reports VALUES (?, ?) ON CONFLICT (digest) DO NOTHING"),
                    (report, time.time()),
                )
            for e in changed:
                c.execute(self.sql("DELETE FROM webhook_endpoints WHERE webhook_id = ?"), (e.webhook_id,))
                latest = e.previous[-1] if e.previous else (None, None)
                c.execute(
                    self.sql(
                        "INSERT INTO webhook_endpoints (webhook_id, url, events, active, secret_id, "
                        "previous_secret_id, previous_until, previous_secrets) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    ),
                    (
                        e.webhook_id,
                        e.url,
                        json.dumps(list(e.events)),
                        1 if e.active else 0,
                        e.secret_id,
                        latest[0],  # the columns of the first version, kept for a rollback
                        latest[1],
                        json.dumps([list(p) for p in e.previous]),
                    ),
                )
            for webhook_id in disabled:
                c.execute(
                    self.sql(
                        "UPDATE webhook_deliveries SET state = ?, next_attempt_at = NULL "
                        "WHERE webhook_id = ? AND state = ?"
                    ),
                    (ABANDONED, webhook_id, PENDING),
                )
            columns = list(Delivery.__dataclass_fields__)
            c.executemany(
                self.sql(
                    f"INSERT INTO webhook_deliveries ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)}) "
                    "ON CONFLICT (delivery_id) DO NOTHING"
                ),
                [tuple(d[k] for k in columns) for d in deliveries],
            )

    def known_report(self, digest: str) -> bool:
        return bool(self.select("SELECT 1 AS x FROM webhook_reports WHERE digest = ?", (digest,)))

    def self_check_report(self) -> dict[str, Any] | None:
        """The projection's self-check state (projections/self_check.py), if it ran."""
        try:
            rows = self.select("SELECT doc FROM projection_status WHERE name = ?", ("self_check",))
        except Exception:  # no projection has created its tables yet
            return None
        return json.loads(rows[0]["doc"]) if rows else None

    # -- deliveries -----------------------------------------------------------------------

    def head(self, webhook_id: str) -> Delivery | None:
        """The endpoint's first delivery not yet delivered: it blocks every later one."""
        rows = self.select(
            "SELECT * FROM webhook_deliveries WHERE webhook_id = ? AND state = ? ORDER BY position, n LIMIT 1",
            (webhook_id, PENDING),
        )
        return Delivery.of(rows[0]) if rows else None

    def waiting_endpoints(self) -> list[str]:
        """Active endpoints with something to deliver."""
        rows = self.select(
            "SELECT DISTINCT d.webhook_id FROM webhook_deliveries d JOIN webhook_endpoints e "
            "ON e.webhook_id = d.webhook_id WHERE d.state = ? AND e.active = 1 ORDER BY d.webhook_id",
            (PENDING,),
        )
        return [r["webhook_id"] for r in rows]

    def claim(self, delivery_id: str, owner: str, now: float, until: float, token: int) -> bool:
        """Lease a pending delivery for one attempt, until `until`; False when it is not pending
        or another attempt's lease has not run out."""
        with self.cursor(commit=True) as c:
            self._fence(c, token)
            c.execute(
                self.sql(
                    "UPDATE webhook_deliveries SET lease_owner = ?, lease_until = ? WHERE delivery_id = ? "
                    "AND state = ? AND (lease_until IS NULL OR lease_until < ?)"
                ),
                (owner, until, delivery_id, PENDING, now),
            )
            return _rowcount(c) == 1

    def delivered(self, delivery_id: str, status: int, at: float, token: int) -> None:
        with self.cursor(commit=True) as c:
            self._fence(c, token)
            c.execute(
                self.sql(
                    "UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, last_status = ?, "
                    "last_error = NULL, last_attempt_at = ?, next_attempt_at = NULL, delivered_at = ?, "
                    "lease_owner = NULL, lease_until = NULL WHERE delivery_id = ? AND state = ?"
                ),
                (DELIVERED, status, at, at, delivery_id, PENDING),
            )

    def failed(self, delivery_id: str, status: int | None, error: str, at: float, next_at: float, token: int) -> None:
        """A failed attempt: try again at `next_at`. Only a `Webhook.Disabled` fact stops an
        endpoint (the dispatcher's `follow` abandons its deliveries when it passes it)."""
        with self.cursor(commit=True) as c:
            self._fence(c, token)
            c.execute(
                self.sql(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, failures = failures + 1, "
                    "last_status = ?, last_error = ?, last_attempt_at = ?, next_attempt_at = ?, "
                    "first_failure_at = COALESCE(first_failure_at, ?), lease_owner = NULL, lease_until = NULL "
                    "WHERE delivery_id = ? AND state = ?"
                ),
                (status, error[:500], at, next_at, at, delivery_id, PENDING),
            )

    def unsigned(self, delivery_id: str, error: str, at: float, next_at: float, token: int) -> None:
        """An attempt that could not be signed (our configuration): nothing was sent, so it is no
        attempt and no failure of the receiver's; it waits until `next_at`, and the period after
        which an endpoint is given up starts again."""
        with self.cursor(commit=True) as c:
            self._fence(c, token)
            c.execute(
                self.sql(
                    "UPDATE webhook_deliveries SET last_status = NULL, last_error = ?, last_attempt_at = ?, "
                    "next_attempt_at = ?, first_failure_at = NULL, lease_owner = NULL, lease_until = NULL "
                    "WHERE delivery_id = ? AND state = ?"
                ),
                (error[:500], at, next_at, delivery_id, PENDING),
            )

    def page(self, webhook_id: str, after: tuple[int, int], limit: int) -> list[Delivery]:
        rows = self.select(
            "SELECT * FROM webhook_deliveries WHERE webhook_id = ? AND (position > ? OR (position = ? AND n > ?)) "
            "ORDER BY position, n LIMIT ?",
            (webhook_id, after[0], after[0], after[1], limit),
        )
        return [Delivery.of(r) for r in rows]

    def get(self, webhook_id: str, delivery_id: str) -> Delivery | None:
        rows = self.select(
            "SELECT * FROM webhook_deliveries WHERE webhook_id = ? AND delivery_id = ?", (webhook_id, delivery_id)
        )
        return Delivery.of(rows[0]) if rows else None

    def retry(self, delivery_id: str, now: float) -> None:
        """Send again as soon as the endpoint's earlier deliveries are through (a delivered one too:
        the receiver sees the same webhook-id again); a failure after it backs off from the base
        again."""
        with self.cursor(commit=True) as c:
            c.execute(
                self.sql(
                    "UPDATE webhook_deliveries SET state = ?, next_attempt_at = ?, first_failure_at = NULL, "
                    "failures = 0 WHERE delivery_id = ? AND state IN (?, ?)"
                ),
                (PENDING, now, delivery_id, PENDING, DELIVERED),
            )

    def stats(self, now: float) -> dict[str, Any]:
        """For /metrics: deliveries by state, attempts by outcome, per active endpoint the age of
        its oldest delivery not yet delivered (0 when none), the deliveries that cannot be signed,
        and the dispatcher's lag (facts recorded that it has not followed yet)."""
        by_state = {
            r["state"]: int(r["n"])
            for r in self.select("SELECT state, COUNT(*) AS n FROM webhook_deliveries GROUP BY state")
        }
        totals = self.select(
            "SELECT COALESCE(SUM(attempts), 0) AS attempts, COALESCE(SUM(failures), 0) AS failures "
            "FROM webhook_deliveries"
        )[0]
        oldest = {
            r["webhook_id"]: 0.0 for r in self.select("SELECT webhook_id FROM webhook_endpoints WHERE active = 1")
        }
        for r in self.select(
            "SELECT webhook_id, MIN(created_at) AS t FROM webhook_deliveries WHERE state = ? GROUP BY webhook_id",
            (PENDING,),
        ):
            if r["webhook_id"] in oldest:
                oldest[r["webhook_id"]] = max(0.0, now - float(r["t"]))
        unsigned = self.select(
            "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE state = ? AND last_error LIKE ?",
            (PENDING, UNSIGNED + "%"),
        )[0]
        attempts, failures = int(totals["attempts"]), int(totals["failures"])
        return {
            "by_state": {s: by_state.get(s, 0) for s in (PENDING, DELIVERED, ABANDONED)},
            "attempts": {"success": attempts - failures, "failure": failures},
            "oldest_undelivered_seconds": oldest,
            "unsigned": int(unsigned["n"]),
            "lag_events": max(0, (self.recorder.max_notification_id() or 0) - self.position()),
        }


def create_webhook_tables(app: CreditsApplication) -> list[str]:
    """For `sla-credits migrate`: create the webhook tables; answers their names."""
    WebhookStore(app, create=True)
    return list(TABLES)
