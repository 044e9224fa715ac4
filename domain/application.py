"""The command side: one Application whose methods record facts idempotently."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoding
from eventsourcing.utils import get_topic

from domain.claim import Claim, claim_uuid
from domain.contract import Contract, contract_uuid
from domain.errors import ConflictError, NotFoundError
from domain.idempotency import fingerprint
from domain.incident import Incident, incident_uuid
from domain.ledger import LEDGER_ID, Figure, Ledger
from domain.maintenance import Maintenance, maintenance_uuid
from domain.terms import Subscription, Terms
from domain.webhook import Webhook, webhook_uuid

A = TypeVar("A", bound=Aggregate)
APPLICATION_NAME = "SLACredits"
ATTEMPTS = 20  # optimistic-concurrency retries before answering a conflict


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


@dataclass(frozen=True)
class Recorded:
    """What a command did: `created` is False when it was an idempotent replay."""

    id: str
    created: bool
    position: int | None = None


class Unit:
    """The aggregates touched by one or more commands, saved together."""

    def __init__(
        self, app: CreditsApplication, optimistic_creates: bool = False, saved: SavedAggregates | None = None
    ) -> None:
        self.app = app
        self.pending: dict[UUID, Aggregate] = {}
        # Bulk import: assume a created id is new; the store's uniqueness check refuses the
        # whole save if not, and the caller then replays its commands one by one.
        self.optimistic_creates = optimistic_creates
        self.saved = saved

    def get(self, cls: type[A], aggregate_id: UUID, creating: bool = False) -> A | None:
        found = self.pending.get(aggregate_id)
        if found is None and self.saved is not None:
            found = self.saved.get(aggregate_id)
        if found is not None:
            return found if isinstance(found, cls) else None
        if creating and self.optimistic_creates:
            return None
        try:
            aggregate: Aggregate = self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, cls) else None

    def require(self, cls: type[A], aggregate_id: UUID, field: str, key: str) -> A:
        aggregate = self.get(cls, aggregate_id)
        if aggregate is None:
            raise NotFoundError(field, f"no {cls.__name__.lower()} with id {key!r}")
        return aggregate

    def add(self, aggregate: Aggregate) -> None:
        self.pending[aggregate.id] = aggregate

    def remember(self, aggregates: dict[UUID, Aggregate]) -> None:
        if self.saved is not None:
            self.saved.keep(aggregates.values())


class SavedAggregates:
    """A bulk import's own aggregates as its last successful save left them, so a later line
    on the same incident or contract needs no read. If another writer records a fact on one
    meanwhile, the import's save of its next fact is refused (the version is taken); the
    caller then forgets them all and replays its lines one by one, reading the store.
    Bounded: the oldest are forgotten first."""

    def __init__(self, limit: int = 20_000) -> None:
        self.limit = limit
        self._kept: dict[UUID, Aggregate] = {}

    def get(self, aggregate_id: UUID) -> Aggregate | None:
        return self._kept.get(aggregate_id)

    def keep(self, aggregates: Iterable[Aggregate]) -> None:
        for aggregate in aggregates:
            self._kept.pop(aggregate.id, None)
            self._kept[aggregate.id] = aggregate
        while len(self._kept) > self.limit:
            del self._kept[next(iter(self._kept))]

    def forget(self) -> None:
        self._kept.clear()


class CreditsApplication(Application[UUID]):
    name = APPLICATION_NAME

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env=env)
        # called with the type of each fact once it is recorded (the API counts them for /metrics)
        self.on_recorded: list[Callable[[list[str]], None]] = []

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def _notify(self, recordings: list[Any]) -> None:
        super()._notify(recordings)
        if self.on_recorded:
            types = [r.domain_event.__class__.__qualname__ for r in recordings]
            for observer in self.on_recorded:
                observer(types)

    # -- running commands -------------------------------------------------------------

    def _run(self, command: Callable[[Unit], Recorded], unit: Unit | None) -> Recorded:
        if unit is not None:
            return command(unit)
        for attempt in range(ATTEMPTS):
            unit = Unit(self)
            result = command(unit)
            if not result.created:
                return result
            try:
                recordings = self.save(*unit.pending.values())
            except IntegrityError:
                # Another writer recorded a fact on the same aggregate first: replay the
                # command on the new state (it may now be an idempotent repeat or a conflict).
                if attempt == ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # noqa: S311 (jitter, not secrecy)
                continue
            position = max((r.notification.id for r in recordings), default=None)
            return Recorded(result.id, True, position)
        raise AssertionError("unreachable")  # pragma: no cover

    def save_unit(self, unit: Unit) -> int | None:
        """Record the unit's new facts in one insert. The library's `save` would first ask of
        every aggregate, through runtime protocol checks, whether it is an event (about 18 us
        each, a fifth of a bulk import's time); a unit holds aggregates only, so their events
        go to the event store directly, and observers are told as `save` tells them."""
        events = [e for aggregate in unit.pending.values() for e in aggregate.collect_events()]
        recordings = self.events.put(events)
        self._notify(recordings)
        unit.remember(unit.pending)
        unit.pending.clear()
        return max((r.notification.id for r in recordings), default=None)

    # -- contracts --------------------------------------------------------------------

    def sign_contract(
        self,
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
        unit: Unit | None = None,
    ) -> Recorded:
        def command(u: Unit) -> Recorded:
            existing = u.get(Contract, contract_uuid(contract_id), creating=True)
            candidate = Contract.sign(
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
            if existing is not None:
                if existing.signed_print != candidate.signed_print:
                    raise ConflictError("contract_id", f"{contract_id!r} was already signed with a different body")
                return Recorded(contract_id, False)
            u.add(candidate)
            return Recorded(contract_id, True)

        return self._run(command, unit)

    def amend_contract(
        self,
        *,
        contract_id: str,
        request_id: str,
        effective_from: date,
        terms: Terms | None,
        subscriptions: tuple[Subscription, ...] | None,
        unit: Unit | None = None,
    ) -> Recorded:
        def command(u: Unit) -> Recorded:
            c = u.require(Contract, contract_uuid(contract_id), "contract_id", contract_id)
            changed = c.amend(
                request_id=request_id, effective_from=effective_from, terms=terms, subscriptions=subscriptions
            )
            if changed:
                u.add(c)
            return Recorded(contract_id, changed)

        return self._run(command, unit)

    def terminate_contract(
        self, *, contract_id: str, request_id: str, ends_on: date, unit: Unit | None = None
    ) -> Recorded:
        def command(u: Unit) -> Recorded:
            c = u.require(Contract, contract_uuid(contract_id), "contract_id", contract_id)
            changed = c.terminate(request_id=request_id, ends_on=ends_on)
            if changed:
                u.add(c)
            return Recorded(contract_id, changed)

        return self._run(command, unit)

    def get_contract(self, contract_id: str) -> Contract:
        try:
            return self.repository.get(contract_uuid(contract_id))
        except AggregateNotFoundError:
            raise NotFoundError("contract_id", f"no contract with id {contract_id!r}") from None

    # -- incidents --------------------------------------------------------------------

    def open_incident(
        self,
        *,
        incident_id: str,
        service: str,
        regions: list[str],
        customers: list[str] | None = None,
        severity: str,
        started_at: datetime,
        ended_at: datetime | None = None,
        cause: str = "provider",
        title: str = "",
        unit: Unit | None = None,
    ) -> Recorded:
        def command(u: Unit) -> Recorded:
            candidate = Incident.open(
                incident_id=incident_id,
                service=service,
                regions=regions,
                customers=customers or [],
                severity=severity,
                started_at=started_at,
                ended_at=ended_at,
                cause=cause,
                title=title,
            )
            existing = u.get(Incident, incident_uuid(incident_id), creating=True)
            if existing is not None:
                if existing.opened_print != candidate.opened_print:
                    raise ConflictError("incident_id", f"{incident_id!r} was already opened with a different body")
                return Recorded(incident_id, False)
            u.add(candidate)
            return Recorded(incident_id, True)

        return self._run(command, unit)

    def _on_incident(self, incident_id: str, unit: Unit | None, change: Callable[[Incident], bool]) -> Recorded:
        def command(u: Unit) -> Recorded:
            inc = u.require(Incident, incident_uuid(incident_id), "incident_id", incident_id)
            changed = change(inc)
            if changed:
                u.add(inc)
            return Recorded(incident_id, changed)

        return self._run(command, unit)

    def resolve_incident(
        self, *, incident_id: str, request_id: str, ended_at: datetime, unit: Unit | None = None
    ) -> Recorded:
        return self._on_incident(incident_id, unit, lambda i: i.resolve(request_id=request_id, ended_at=ended_at))

    def correct_incident(
        self, *, incident_id: str, request_id: str, reason: str, changes: dict[str, Any], unit: Unit | None = None
    ) -> Recorded:
        return self._on_incident(
            incident_id, unit, lambda i: i.correct(request_id=request_id, reason=reason, changes=changes)
        )

    def classify_incident(
        self, *, incident_id: str, request_id: str, cause: str, reason: str, unit: Unit | None = None
    ) -> Recorded:
        return self._on_incident(
            incident_id, unit, lambda i: i.classify(request_id=request_id, cause=cause, reason=reason)
        )

    def exclude_customer(
        self, *, incident_id: str, request_id: str, customer_id: str, reason: str, unit: Unit | None = None
    ) -> Recorded:
        return self._on_incident(
            incident_id,
            unit,
            lambda i: i.exclude_customer(request_id=request_id, customer_id=customer_id, reason=reason),
        )

    def retract_incident(self, *, incident_id: str, request_id: str, reason: str, unit: Unit | None = None) -> Recorded:
        return self._on_incident(incident_id, unit, lambda i: i.retract(request_id=request_id, reason=reason))

    def get_incident(self, incident_id: str) -> Incident:
        try:
            return self.repository.get(incident_uuid(incident_id))
        except AggregateNotFoundError:
            raise NotFoundError("incident_id", f"no incident with id {incident_id!r}") from None

    # -- maintenance and claims ---------------------------------------------------------

    def announce_maintenance(
        self,
        *,
        maintenance_id: str,
        service: str,
        regions: list[str],
        starts_at: datetime,
        ends_at: datetime,
        announced_at: datetime,
        unit: Unit | None = None,
    ) -> Recorded:
        def command(u: Unit) -> Recorded:
            candidate = Maintenance.announce(
                maintenance_id=maintenance_id,
                service=service,
                regions=regions,
                starts_at=starts_at,
                ends_at=ends_at,
                announced_at=announced_at,
            )
            existing = u.get(Maintenance, maintenance_uuid(maintenance_id), creating=True)
            if existing is not None:
                if existing.announced_print != candidate.announced_print:
                    raise ConflictError(
                        "maintenance_id", f"{maintenance_id!r} was already announced with a different body"
                    )
                return Recorded(maintenance_id, False)
            u.add(candidate)
            return Recorded(maintenance_id, True)

        return self._run(command, unit)

    def cancel_maintenance(self, *, maintenance_id: str, request_id: str, unit: Unit | None = None) -> Recorded:
        def command(u: Unit) -> Recorded:
            m = u.require(Maintenance, maintenance_uuid(maintenance_id), "maintenance_id", maintenance_id)
            changed = m.cancel(request_id=request_id)
            if changed:
                u.add(m)
            return Recorded(maintenance_id, changed)

        return self._run(command, unit)

    def file_claim(
        self,
        *,
        claim_id: str,
        customer_id: str,
        month: str,
        channel: str,
        message: str,
        filed_at: datetime | None = None,
        unit: Unit | None = None,
    ) -> Recorded:
        """Record a claim; with `filed_at` (the caller's clock), a month that has not begun is refused."""

        def command(u: Unit) -> Recorded:
            candidate = Claim.file(
                claim_id=claim_id,
                customer_id=customer_id,
                month=month,
                channel=channel,
                message=message,
                filed_at=filed_at,
            )
            existing = u.get(Claim, claim_uuid(claim_id), creating=True)
            if existing is not None:
                if existing.filed_print != candidate.filed_print:
                    raise ConflictError("claim_id", f"{claim_id!r} was already filed with a different body")
                return Recorded(claim_id, False)
            u.add(candidate)
            return Recorded(claim_id, True)

        return self._run(command, unit)

    # -- billing --------------------------------------------------------------------------

    def _ledger(self, u: Unit) -> Ledger:
        ledger = u.get(Ledger, LEDGER_ID)
        if ledger is None:
            ledger = Ledger()
        return ledger

    def issue_billing_run(
        self, *, month: str, issued_at: datetime, ended: list[Figure], earlier: list[Figure], left: list[str]
    ) -> tuple[str, list[dict[str, Any]], int | None]:
        """Record a billing run. Two runs at once: one conflicts on the ledger's stream, replans
        on the new state and issues only what is still owed."""
        for attempt in range(10):
            unit = Unit(self)
            ledger = self._ledger(unit)
            run_id, entries = ledger.issue_run(month, issued_at, ended, earlier, left)
            unit.add(ledger)
            try:
                position = self.save_unit(unit)
            except IntegrityError:
                if attempt == 9:
                    raise
                continue
            return run_id, entries, position
        raise AssertionError("unreachable")  # pragma: no cover

    def issued_periods(self) -> dict[tuple[str, str], int]:
        """Every period a run has covered, with the sum of its entries."""
        ledger = Unit(self).get(Ledger, LEDGER_ID)
        return {} if ledger is None else dict(ledger.issued)

    def acknowledge_entry(self, *, entry_id: str, invoice_id: str, applied_at: datetime) -> Recorded:
        def command(u: Unit) -> Recorded:
            ledger = u.get(Ledger, LEDGER_ID)
            if ledger is None:
                raise NotFoundError("entry_id", f"no ledger entry {entry_id!r}")
            changed = ledger.acknowledge(entry_id, invoice_id, applied_at)
            if changed:
                u.add(ledger)
            return Recorded(entry_id, changed)

        return self._run(command, unit=None)

    # -- webhooks -------------------------------------------------------------------------

    def register_webhook(
        self,
        *,
        webhook_id: str,
        url: str,
        events: list[str],
        description: str,
        secret_id: str,
        registered_by: str,
        registered_at: datetime,
    ) -> Recorded:
        """Record an endpoint; the same id and body again records nothing (its secret stays
        the first one: `secret_id` is then unused)."""

        def command(u: Unit) -> Recorded:
            candidate = Webhook.register(
                webhook_id=webhook_id,
                url=url,
                events=events,
                description=description,
                secret_id=secret_id,
                registered_by=registered_by,
                registered_at=registered_at,
            )
            existing = u.get(Webhook, webhook_uuid(webhook_id), creating=True)
            if existing is not None:
                if existing.registered_print != candidate.registered_print:
                    raise ConflictError("webhook_id", f"{webhook_id!r} was already registered with a different body")
                return Recorded(webhook_id, False)
            u.add(candidate)
            return Recorded(webhook_id, True)

        return self._run(command, unit=None)

    def disable_webhook(self, *, webhook_id: str, reason: str, disabled_by: str, disabled_at: datetime) -> Recorded:
        def command(u: Unit) -> Recorded:
            w = u.require(Webhook, webhook_uuid(webhook_id), "webhook_id", webhook_id)
            changed = w.disable(reason=reason, disabled_by=disabled_by, disabled_at=disabled_at)
            if changed:
                u.add(w)
            return Recorded(webhook_id, changed)

        return self._run(command, unit=None)

    def rotate_webhook_secret(
        self, *, webhook_id: str, secret_id: str, rotated_by: str, rotated_at: datetime
    ) -> Recorded:
        def command(u: Unit) -> Recorded:
            w = u.require(Webhook, webhook_uuid(webhook_id), "webhook_id", webhook_id)
            w.rotate_secret(secret_id=secret_id, rotated_by=rotated_by, rotated_at=rotated_at)
            u.add(w)
            return Recorded(webhook_id, True)

        return self._run(command, unit=None)

    def get_webhook(self, webhook_id: str) -> Webhook:
        try:
            return self.repository.get(webhook_uuid(webhook_id))
        except AggregateNotFoundError:
            raise NotFoundError("webhook_id", f"no webhook with id {webhook_id!r}") from None

    def webhook_ids(self) -> list[str]:
        """Every registered webhook's id, in the order they were registered."""
        topic = get_topic(getattr(Webhook, "Registered"))  # noqa: B009
        ids: list[str] = []
        position = 0
        while True:
            found = self.recorder.select_notifications(
                start=position, limit=500, topics=[topic], inclusive_of_start=False
            )
            if not found:
                return ids
            ids += [self.mapper.to_domain_event(n).webhook_id for n in found]  # type: ignore[attr-defined]
            position = found[-1].id


__all__ = ["CreditsApplication", "Recorded", "Unit", "fingerprint"]
