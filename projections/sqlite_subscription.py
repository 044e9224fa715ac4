"""SQLite has no LISTEN/NOTIFY: this recorder lets the projection machinery poll instead."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, ListenNotifySubscription, Subscription
from eventsourcing.sqlite import SQLiteApplicationRecorder

from projections.subscriptions import PullsOnATimer

POLL_SECONDS = 0.005


class PollingSubscription(PullsOnATimer, ListenNotifySubscription[SQLiteApplicationRecorder]):
    """Pulls new notifications every few milliseconds (and at once when stopped)."""

    pull_seconds = POLL_SECONDS


class PollingSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Subscription[ApplicationRecorder]:
        return PollingSubscription(recorder=self, gt=gt, topics=topics)

    def position_in(self, cursor: Any) -> int:
        """The log's last position as the given transaction sees it (a cursor on this database)."""
        cursor.execute(self.position_sql())
        return int(cursor.fetchone()[0] or 0)

    def position_sql(self) -> str:
        """A query of the log's last position, to be a subquery of one statement."""
        return self.select_max_notification_id_statement
