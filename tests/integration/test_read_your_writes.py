"""Read-your-writes in one snapshot (the live credits answer's path): a read counts as current
only when its own snapshot of the views covers every fact its snapshot of the log holds; when the
projection is behind, the reader waits for it to reach the log's position and reads again."""

from __future__ import annotations

import pytest

from domain.calendar import Month
from projections.service import CreditsService, ProjectionBehindError
from tests.helpers import Scenario, utc


def _credited(service: CreditsService) -> int:
    return sum(p.credit_minor for p in service.reader.periods_of("a").values() if p.month == str(Month(2025, 3)))


def test_a_snapshot_is_current_only_once_the_views_cover_the_log(store_url: str) -> None:
    service = CreditsService(store_url)
    world = Scenario(service.app).contract()
    with service.view.reading():
        assert not service.covers_log()  # the contract is in the log, not yet in the views
    assert not service.answer_reads("a", "2025-03", "2025-03").covers_log()  # the API's one statement
    service.catch_up()
    with service.view.reading():
        assert service.covers_log()
    assert service.answer_reads("a", "2025-03", "2025-03").covers_log()
    world.incident(utc(2025, 3, 10, 10), utc(2025, 3, 10, 14))
    with service.view.reading():
        assert not service.covers_log()
    assert not service.answer_reads("a", "2025-03", "2025-03").covers_log()
    with pytest.raises(ProjectionBehindError), service.reading_current(0.0):
        pytest.fail("a read behind the log must not be answered")
    service.close()


def test_a_read_behind_the_log_waits_for_the_projection_then_sees_the_fact(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, projection = CreditsService(store_url), CreditsService(store_url)
    world = Scenario(service.app).contract()
    service.catch_up()
    world.incident(utc(2025, 3, 10, 10), utc(2025, 3, 10, 14))
    log_position = service.app.recorder.max_notification_id()
    waited: list[int | None] = []
    wait = service.wait_for

    def projection_catches_up_while_waiting(position: int | None, timeout: float) -> None:
        waited.append(position)
        projection.catch_up()  # another process's projection, reaching the fact meanwhile
        wait(position, timeout)

    monkeypatch.setattr(service, "wait_for", projection_catches_up_while_waiting)
    with service.reading_current(30.0):
        assert service.covers_log()
        assert _credited(service) > 0  # the fact recorded before the read is in its answer
    assert waited == [log_position]

    with service.reading_current(30.0):  # current at once now: no wait
        assert _credited(service) > 0
    assert waited == [log_position]
    service.close()
    projection.close()
