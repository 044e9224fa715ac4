"""The projection's subscription never forgets a fact: on PostgreSQL a NOTIFY can be missed
(a fact committed between the subscription's first pull and its LISTEN is announced to
nobody), so the subscription also pulls on a timer. Here the LISTEN never happens at all, the
worst case, and every fact still arrives."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from domain.application import CreditsApplication
from projections.pg_recorders import FailFastPostgresApplicationRecorder, NeverMissingSubscription
from projections.stores import new_application, store_env


class DeafSubscription(NeverMissingSubscription):
    """Hears no notification: only the timer can bring a fact."""

    def _listen(self) -> None:
        return None


def _incident(app: CreditsApplication, n: int) -> None:
    started = datetime(2025, 3, 1, n, tzinfo=UTC)
    app.open_incident(incident_id=f"i{n}", service="api", regions=[], severity="outage", started_at=started)


def test_a_fact_recorded_after_the_first_pull_arrives_without_any_notification(postgres_url: str) -> None:
    app = new_application(store_env(postgres_url))
    assert isinstance(app.recorder, FailFastPostgresApplicationRecorder)
    try:
        _incident(app, 1)
        received: list[int] = []
        got_one, got_two = threading.Event(), threading.Event()
        with DeafSubscription(recorder=app.recorder, gt=0) as subscription:

            def follow() -> None:
                for notification in subscription:
                    received.append(notification.id)
                    got_one.set()
                    if len(received) == 2:
                        got_two.set()
                        return

            reader = threading.Thread(target=follow, daemon=True)
            reader.start()
            assert got_one.wait(30), received  # the first pull is done
            _incident(app, 2)  # recorded after it, announced to nobody
            assert got_two.wait(30), received  # the timer's pull brings it (about a second)
            subscription.stop()
        assert received == [1, 2]
    finally:
        app.close()
