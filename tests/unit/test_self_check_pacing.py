"""The self-check's pace: its share of one core is bounded, whatever a slice costs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.self_check import pause_after


def test_a_slow_slice_is_followed_by_a_longer_rest() -> None:
    assert pause_after(0.3, 1.0, 0.1) == pytest.approx(2.7)
    assert pause_after(0.05, 1.0, 0.1) == 1.0  # the configured pause is the least
    assert pause_after(0.3, 1.0, 1.0) == 1.0  # a share of the whole core: the pause alone


# durations as a clock measures them: zero, or at least its resolution of a nanosecond (near
# 1e-308 s a float keeps too few digits for the ratio below to hold within 1e-9: hypothesis
# once found a step of 5e-324 s)
DURATION = st.one_of(st.just(0.0), st.floats(min_value=1e-9, max_value=100))


@given(
    step=DURATION,
    pause=DURATION,
    share=st.floats(min_value=0.001, max_value=1),
)
def test_checking_never_takes_more_than_its_share(step: float, pause: float, share: float) -> None:
    rest = pause_after(step, pause, share)
    assert rest >= pause
    if step + rest > 0:
        assert step / (step + rest) <= share * (1 + 1e-9)


@pytest.mark.parametrize("share", [0, -0.5, 1.5])
def test_a_share_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="cpu_share"):
        pause_after(0.1, 1.0, share)
