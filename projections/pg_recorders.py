"""PostgreSQL recorders that give up quickly when the database is down.

The library retries each database call 10 times (0.2 s apart), and each attempt may wait for
a pool connection up to the connect timeout, so a request could hang for a minute while the
server restarts. Here each call is tried twice; the API answers 503 within a few seconds and
the client (or the projection's supervisor) tries again."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry

ATTEMPTS = 2
WAIT = 0.1


def fail_fast(method: Any) -> Any:
    """The library's method without its own retry, retried ATTEMPTS times instead."""
    return retry((InterfaceError, OperationalError), max_attempts=ATTEMPTS, wait=WAIT)(method.__wrapped__)


class FailFastPostgresApplicationRecorder(PostgresApplicationRecorder):
    insert_events = fail_fast(PostgresApplicationRecorder.insert_events)
    select_events = fail_fast(PostgresApplicationRecorder.select_events)
    select_notifications = fail_fast(PostgresApplicationRecorder.select_notifications)
    max_notification_id = fail_fast(PostgresApplicationRecorder.max_notification_id)
