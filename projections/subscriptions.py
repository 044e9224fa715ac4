"""Subscriptions that pull new facts at least every so often, whatever they are told.

The library's ListenNotifySubscription pulls once, then only when notified. SQLite has no
notifications at all, and PostgreSQL's can be missed (see projections/pg_recorders.py), so
both stores' subscriptions also pull on a timer: a fact is late by at most `pull_seconds`,
never forgotten."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import ListenNotifySubscription


class PullsOnATimer(ListenNotifySubscription[Any]):
    """Mixed in before a ListenNotifySubscription: pulls when notified or every `pull_seconds`."""

    pull_seconds: float = 1.0

    def _loop_on_pull(self) -> None:
        try:
            self._pull()
            while not self._has_been_stopped:
                self._has_been_notified.wait(self.pull_seconds)
                self._pull()
        except BaseException as e:
            if self._thread_error is None:
                self._thread_error = e
            self.stop()
