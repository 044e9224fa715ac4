"""PostgreSQL recorders that give up quickly when the database is down.

The library retries each database call 10 times (0.2 s apart), and each attempt may wait for
a pool connection up to the connect timeout, so a request could hang for a minute while the
server restarts. Here each call is tried twice; the API answers 503 within a few seconds and
the client (or the projection's supervisor) tries again.

The library's subscription pulls once and then waits for a NOTIFY; its first pull and its
LISTEN run in two threads, so a fact committed between them is announced to nobody and waits
for the next write (found in CI: one contract unprojected for 60 s). Ours also pulls every
SAFETY_PULL_SECONDS whatever it hears, so a missed notification costs at most that."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, InterfaceError, OperationalError, Subscription
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresSubscription
from eventsourcing.utils import retry

from projections.subscriptions import PullsOnATimer

ATTEMPTS = 2
WAIT = 0.1
SAFETY_PULL_SECONDS = 1.0


def fail_fast(method: Any) -> Any:
    """The library's method without its own retry, retried ATTEMPTS times instead."""
    return retry((InterfaceError, OperationalError), max_attempts=ATTEMPTS, wait=WAIT)(method.__wrapped__)


class FailFastPostgresApplicationRecorder(PostgresApplicationRecorder):
    insert_events = fail_fast(PostgresApplicationRecorder.insert_events)
    select_events = fail_fast(PostgresApplicationRecorder.select_events)
    select_notifications = fail_fast(PostgresApplicationRecorder.select_notifications)
    max_notification_id = fail_fast(PostgresApplicationRecorder.max_notification_id)

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Subscription[ApplicationRecorder]:
        return NeverMissingSubscription(recorder=self, gt=gt, topics=topics)

    def position_in(self, cursor: Any) -> int:
        """The log's last position as the given transaction sees it (a cursor on this database)."""
        cursor.execute(self.position_sql())
        row = cursor.fetchone()
        return int(row["max"] or 0)

    def position_sql(self) -> str:
        """A query of the log's last position, to be a subquery of one statement."""
        return self.max_notification_id_statement.as_string(None)


class NeverMissingSubscription(PullsOnATimer, PostgresSubscription):
    """Pulls when notified, and at least every SAFETY_PULL_SECONDS (a lost NOTIFY is late, never lost)."""

    pull_seconds = SAFETY_PULL_SECONDS
