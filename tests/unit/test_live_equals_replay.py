"""The live projection against a fresh replay after every step of random histories, in memory
(the same harness runs on SQLite and PostgreSQL in tests/integration, and longer in `make fuzz`)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

from tests.differential import LiveVersusReplay

TestLiveProjectionInMemory = LiveVersusReplay.TestCase
# every history starts from contracts and resolved incidents (differential.py): 60 of them reach
# more periods than 150 empty starts did, in CI's time
TestLiveProjectionInMemory.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
