"""Two writers of the read models (the projection, and a `bill` command in another process
that catches the views up itself): a writer whose working state is behind the stored rows
starts again from them, and never writes a figure computed from a stale state."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.calendar import Month
from projections.readers import ModelReader
from projections.runner import catch_up, replay
from projections.service import CreditsService
from tests.helpers import Scenario, utc


def test_a_writer_behind_the_stored_rows_catches_up_from_them(store_url: str) -> None:
    first, second = CreditsService(store_url), CreditsService(store_url)
    world = Scenario(first.app).contract()
    world.incident(utc(2025, 3, 10, 10), utc(2025, 3, 10, 14))
    world.incident(utc(2025, 4, 2, 10), utc(2025, 4, 2, 12))
    first.catch_up()  # `first` now holds a working state at this position
    second.bill(Month(2025, 3), now=datetime(2025, 5, 1, tzinfo=UTC))  # catches up and writes run 1
    second.catch_up()

    first.bill(Month(2025, 4), now=datetime(2025, 5, 1, tzinfo=UTC))  # run 2, written by `first`
    catch_up(first.app, first.view)

    with first.view.reading():
        runs = [(r.run_id, r.seq) for r in first.reader.runs()]
    expected = [(r.run_id, r.seq) for r in ModelReader(replay(first.app).model).runs()]
    assert runs == expected and [seq for _, seq in runs] == [1, 2]
    first.close()
    second.close()
