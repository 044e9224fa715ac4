"""The live projection on SQLite and PostgreSQL against a fresh replay after every step of
random histories: the stored rows at the view's position equal a replay of the facts up to it,
through the stores' own batching, restarts (working state reloaded from the rows) and reads."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.conftest import require_postgres
from tests.differential import LiveVersusReplay, postgres_stores, sqlite_stores

# a failure shrinks for minutes (each step replays the log): give it time to print the example
pytestmark = pytest.mark.timeout(1500)

# `make fuzz` runs the same machine for minutes on every store; here, enough to catch a
# regression within CI's budget (a PostgreSQL history costs a database of its own; each history
# starts from contracts and resolved incidents, so fewer histories reach more periods; CI's
# whole run must stay within 15 minutes on a slow machine: each step checks replays of the whole
# history, so a history's cost grows as the square of its steps)
SETTINGS = settings(
    max_examples=15,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_live_views_on_sqlite_equal_a_replay_after_every_step() -> None:
    with sqlite_stores() as make:

        class OnSQLite(LiveVersusReplay):
            make_store = staticmethod(make)

        run_state_machine_as_test(OnSQLite, settings=SETTINGS)


@pytest.mark.postgres
def test_live_views_on_postgres_equal_a_replay_after_every_step() -> None:
    with postgres_stores(require_postgres()) as make:

        class OnPostgres(LiveVersusReplay):
            make_store = staticmethod(make)

        run_state_machine_as_test(OnPostgres, settings=settings(SETTINGS, max_examples=8))
