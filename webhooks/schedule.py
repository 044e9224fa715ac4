"""When a failed delivery is tried again, and when the endpoint is given up on (pure)."""

from __future__ import annotations


def retry_delay(attempts: int, base: float, cap: float, jitter: float) -> float:
    """Seconds before the next attempt after `attempts` failed ones: base, 2 x base, 4 x base,
    ... up to `cap`, each scaled by a factor in [0.5, 1) (`jitter` in [0, 1)), so that many
    deliveries failing together do not all come back at once."""
    if attempts < 1:
        raise ValueError("attempts: at least one attempt has failed")
    exponent = min(attempts - 1, 62)
    return min(cap, base * 2.0**exponent) * (0.5 + jitter / 2)


def gives_up(first_failure_at: float, now: float, retry_for: float) -> bool:
    """True once a delivery has failed for `retry_for` seconds (3 days by default): its endpoint
    is then disabled."""
    return now - first_failure_at >= retry_for
