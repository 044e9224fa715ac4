"""Every refused command names its field and leaves nothing recorded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

import pytest

from domain.errors import ConflictError, DomainError, InvalidValueError, NotFoundError, StateError
from domain.terms import AnnualCap, CreditTier, Subscription, Terms
from tests.helpers import Scenario, terms, utc


def _recorded(s: Scenario) -> int:
    return s.app.recorder.max_notification_id() or 0


def _sign(**kw):
    def run(s: Scenario) -> None:
        s.contract(contract_id="new", **kw)

    return run


CASES: list[tuple[str, Callable[[Scenario], None], type[DomainError], str]] = [
    ("unknown zone", _sign(timezone="Mars/Olympus"), InvalidValueError, "timezone"),
    ("ends before start", _sign(ends_on=date(2024, 12, 31)), InvalidValueError, "ends_on"),
    ("currency", _sign(currency="US"), InvalidValueError, "currency"),
    (
        "negative fee",
        _sign(subscriptions=(Subscription("compute", "eu", -1),)),
        InvalidValueError,
        "subscriptions[0].monthly_fee_minor",
    ),
    ("no subscriptions", _sign(subscriptions=()), InvalidValueError, "subscriptions"),
    (
        "tier over 100",
        _sign(terms=Terms((CreditTier(Decimal("101"), Decimal("10")),))),
        InvalidValueError,
        "terms.credit_tiers[0].below_percent",
    ),
    (
        "tiers not ordered",
        _sign(terms=Terms((CreditTier(Decimal("99"), Decimal("10")), CreditTier(Decimal("99.9"), Decimal("25"))))),
        InvalidValueError,
        "terms.credit_tiers[1].below_percent",
    ),
    ("degraded weight", _sign(terms=terms(degraded="1.5")), InvalidValueError, "terms.degraded_weight"),
    (
        "cap with both",
        _sign(terms=terms(cap=AnnualCap(Decimal("20"), 5))),
        InvalidValueError,
        "terms.annual_cap",
    ),
    (
        "same contract id, other body",
        lambda s: s.contract(customer_name="Other"),
        ConflictError,
        "contract_id",
    ),
    (
        "amend not on the 1st",
        lambda s: s.app.amend_contract(
            contract_id="c1", request_id="a", effective_from=date(2025, 3, 2), terms=terms(), subscriptions=None
        ),
        InvalidValueError,
        "effective_from",
    ),
    (
        "amend before start",
        lambda s: s.app.amend_contract(
            contract_id="c1", request_id="a", effective_from=date(2024, 12, 1), terms=terms(), subscriptions=None
        ),
        InvalidValueError,
        "effective_from",
    ),
    (
        "amend unknown contract",
        lambda s: s.app.amend_contract(
            contract_id="zz", request_id="a", effective_from=date(2025, 3, 1), terms=terms(), subscriptions=None
        ),
        NotFoundError,
        "contract_id",
    ),
    (
        "naive start",
        lambda s: s.incident(datetime(2025, 2, 1), None),
        InvalidValueError,
        "started_at",
    ),
    ("end before start", lambda s: s.incident(utc(2025, 2, 2), utc(2025, 2, 1)), InvalidValueError, "ended_at"),
    ("bad severity", lambda s: s.incident(utc(2025, 2, 1), None, severity="meh"), InvalidValueError, "severity"),
    (
        "maintenance ends before it starts",
        lambda s: s.app.announce_maintenance(
            maintenance_id="m",
            service="compute",
            regions=[],
            starts_at=utc(2025, 2, 2),
            ends_at=utc(2025, 2, 1),
            announced_at=utc(2025, 1, 1),
        ),
        InvalidValueError,
        "ends_at",
    ),
    (
        "claim month",
        lambda s: s.app.file_claim(claim_id="k", customer_id="a", month="2026-13", channel="email", message=""),
        InvalidValueError,
        "month",
    ),
]


@pytest.mark.parametrize(("name", "command", "error", "field"), CASES, ids=[c[0] for c in CASES])
def test_refused_command_names_the_field_and_records_nothing(name, command, error, field) -> None:
    s = Scenario().contract()
    before = _recorded(s)

    with pytest.raises(error) as caught:
        command(s)

    assert caught.value.field == field
    assert _recorded(s) == before


def test_resolving_a_retracted_incident_is_refused() -> None:
    s = Scenario().contract()
    i = s.incident(utc(2025, 2, 1), None)
    s.app.retract_incident(incident_id=i, request_id="t", reason="false alarm")
    before = _recorded(s)

    with pytest.raises(StateError):
        s.app.resolve_incident(incident_id=i, request_id="r", ended_at=utc(2025, 2, 2))

    assert _recorded(s) == before


def test_amending_a_terminated_contract_is_refused() -> None:
    s = Scenario().contract()
    s.app.terminate_contract(contract_id="c1", request_id="t", ends_on=date(2025, 6, 30))

    with pytest.raises(StateError):
        s.app.amend_contract(
            contract_id="c1", request_id="a", effective_from=date(2025, 3, 1), terms=terms(), subscriptions=None
        )


def test_the_same_command_again_records_nothing_and_another_body_conflicts() -> None:
    s = Scenario().contract()
    i = s.incident(utc(2025, 2, 1), None)
    first = s.app.resolve_incident(incident_id=i, request_id="r", ended_at=utc(2025, 2, 2))
    before = _recorded(s)

    again = s.app.resolve_incident(incident_id=i, request_id="r", ended_at=utc(2025, 2, 2))
    with pytest.raises(ConflictError) as caught:
        s.app.resolve_incident(incident_id=i, request_id="r", ended_at=utc(2025, 2, 3))

    assert first.created and not again.created
    assert caught.value.field == "request_id"
    assert _recorded(s) == before


def test_signing_again_with_an_equal_body_spelled_differently_is_a_replay() -> None:
    s = Scenario().contract()
    before = _recorded(s)

    again = s.app.sign_contract(
        contract_id="c1",
        customer_id="a",
        customer_name="A",
        timezone="UTC",
        starts_on=date(2025, 1, 1),
        ends_on=None,
        currency="USD",
        terms=Terms(
            tuple(CreditTier(t.below_percent, t.credit_percent + Decimal("0.0")) for t in terms().credit_tiers),
            Decimal("0.50"),
            48,
            None,
        ),
        subscriptions=(Subscription("compute", "eu", 100000),),
    )

    assert not again.created
    assert _recorded(s) == before
