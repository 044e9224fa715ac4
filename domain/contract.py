"""The Contract aggregate: signed, amended from the 1st of a month, terminated."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.calendar import zone
from domain.credit import ContractFacts, TermsVersion
from domain.errors import ConflictError, InvalidValueError, StateError
from domain.idempotency import fingerprint
from domain.identity import named_uuid
from domain.limits import check_day, check_id, check_text, check_zone
from domain.terms import Subscription, Terms, validate_currency, validate_subscriptions, validate_terms


def contract_uuid(contract_id: str) -> UUID:
    return named_uuid("contract", contract_id)


def _require_id(value: str, field: str) -> None:
    check_id(value, field)


def check_request(requests: dict[str, str], request_id: str, print_: str) -> bool:
    """True when this request was already applied with the same body (nothing to do)."""
    _require_id(request_id, "request_id")
    seen = requests.get(request_id)
    if seen is None:
        return False
    if seen != print_:
        raise ConflictError("request_id", f"request {request_id!r} was already used with a different body")
    return True


class Contract(Aggregate):
    @staticmethod
    def create_id(contract_id: str) -> UUID:
        return contract_uuid(contract_id)

    @classmethod
    def sign(
        cls,
        *,
        contract_id: str,
        customer_id: str,
        customer_name: str,
        timezone: str,
        starts_on: date,
        ends_on: date | None,
        currency: str,
        terms: Terms,
        subscriptions: tuple[Subscription, ...],
    ) -> Contract:
        _require_id(contract_id, "contract_id")
        _require_id(customer_id, "customer_id")
        check_text(customer_name, "customer_name", 200)
        check_zone(timezone)
        zone(timezone)
        check_day(starts_on, "starts_on")
        if ends_on is not None:
            check_day(ends_on, "ends_on")
        if ends_on is not None and ends_on < starts_on:
            raise InvalidValueError("ends_on", "must not be before starts_on")
        validate_currency(currency)
        validate_terms(terms)
        validate_subscriptions(subscriptions)
        return cls(
            contract_id=contract_id,
            customer_id=customer_id,
            customer_name=customer_name,
            timezone=timezone,
            starts_on=starts_on,
            ends_on=ends_on,
            currency=currency,
            terms=terms.to_data(),
            subscriptions=[s.to_data() for s in subscriptions],
        )

    @staticmethod
    def signing_print(**fields: Any) -> str:
        return fingerprint("sign_contract", **fields)

    @event("Signed")
    def __init__(
        self,
        contract_id: str,
        customer_id: str,
        customer_name: str,
        timezone: str,
        starts_on: date,
        ends_on: date | None,
        currency: str,
        terms: dict[str, Any],
        subscriptions: list[dict[str, Any]],
    ) -> None:
        self.contract_id = contract_id
        self.customer_id = customer_id
        self.customer_name = customer_name
        self.timezone = timezone
        self.starts_on = starts_on
        self.ends_on = ends_on
        self.currency = currency
        self.terminated = False
        self._signed = dict(
            contract_id=contract_id,
            customer_id=customer_id,
            customer_name=customer_name,
            timezone=timezone,
            starts_on=starts_on,
            ends_on=ends_on,
            currency=currency,
            terms=terms,
            subscriptions=subscriptions,
        )
        self.versions: list[TermsVersion] = [
            TermsVersion(starts_on, 0, Terms.from_data(terms), tuple(Subscription.from_data(s) for s in subscriptions))
        ]
        self.requests: dict[str, str] = {}

    @property
    def signed_print(self) -> str:
        """The fingerprint of the signing command (computed only to compare a repeat)."""
        return self.signing_print(**self._signed)

    def amend(
        self,
        *,
        request_id: str,
        effective_from: date,
        terms: Terms | None,
        subscriptions: tuple[Subscription, ...] | None,
    ) -> bool:
        terms_data = None if terms is None else terms.to_data()
        subs_data = None if subscriptions is None else [s.to_data() for s in subscriptions]
        print_ = fingerprint("amend", effective_from=effective_from, terms=terms_data, subscriptions=subs_data)
        if check_request(self.requests, request_id, print_):
            return False
        if self.terminated:
            raise StateError("contract_id", "the contract was terminated; it cannot be amended")
        check_day(effective_from, "effective_from")
        if effective_from.day != 1:
            raise InvalidValueError("effective_from", "must be the 1st of a month")
        if effective_from < self.starts_on:
            raise InvalidValueError("effective_from", "must not be before the contract starts_on")
        if self.ends_on is not None and effective_from > self.ends_on:
            raise InvalidValueError("effective_from", "must not be after the contract ends_on")
        if terms is None and subscriptions is None:
            raise InvalidValueError("terms", "give terms, subscriptions or both")
        if terms is not None:
            validate_terms(terms)
        if subscriptions is not None:
            validate_subscriptions(subscriptions)
        self._amend(request_id, effective_from, terms_data, subs_data)
        return True

    @event("Amended")
    def _amend(
        self,
        request_id: str,
        effective_from: date,
        terms: dict[str, Any] | None,
        subscriptions: list[dict[str, Any]] | None,
    ) -> None:
        self.requests[request_id] = fingerprint(
            "amend", effective_from=effective_from, terms=terms, subscriptions=subscriptions
        )
        self.versions.append(
            TermsVersion(
                effective_from,
                len(self.versions),
                None if terms is None else Terms.from_data(terms),
                None if subscriptions is None else tuple(Subscription.from_data(s) for s in subscriptions),
            )
        )

    def terminate(self, *, request_id: str, ends_on: date) -> bool:
        print_ = fingerprint("terminate", ends_on=ends_on)
        if check_request(self.requests, request_id, print_):
            return False
        if self.terminated:
            raise StateError("contract_id", "the contract was already terminated")
        check_day(ends_on, "ends_on")
        if ends_on < self.starts_on:
            raise InvalidValueError("ends_on", "must not be before starts_on")
        if self.ends_on is not None and ends_on > self.ends_on:
            raise InvalidValueError("ends_on", "a termination cannot extend the contract past its ends_on")
        self._terminate(request_id, ends_on)
        return True

    @event("Terminated")
    def _terminate(self, request_id: str, ends_on: date) -> None:
        self.requests[request_id] = fingerprint("terminate", ends_on=ends_on)
        self.ends_on = ends_on
        self.terminated = True

    def facts(self) -> ContractFacts:
        return ContractFacts(
            self.contract_id,
            self.customer_id,
            self.customer_name,
            self.timezone,
            self.starts_on,
            self.ends_on,
            self.currency,
            tuple(self.versions),
        )
