"""The credits projection: each recorded fact updates the periods and contract years it touches.

The same class serves the live views (SQLite or PostgreSQL), the as-of replays and the
verification scratch store: only the view it writes to and where it stops differ.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from domain.calendar import to_micros
from domain.claim import Claim
from domain.contract import Contract, contract_uuid
from domain.credit import ContractFacts, TermsVersion
from domain.downtime import IncidentFacts, MaintenanceFacts
from domain.incident import Incident, incident_uuid
from domain.maintenance import Maintenance, maintenance_uuid
from domain.terms import Subscription, Terms
from projections.records import ClaimRow
from projections.views import CreditsView

# The @event decorator makes these classes; named here so the handlers can be registered.
ContractSigned: type = getattr(Contract, "Signed")  # noqa: B009
ContractAmended: type = getattr(Contract, "Amended")  # noqa: B009
ContractTerminated: type = getattr(Contract, "Terminated")  # noqa: B009
IncidentOpened: type = getattr(Incident, "Opened")  # noqa: B009
IncidentResolved: type = getattr(Incident, "Resolved")  # noqa: B009
IncidentCorrected: type = getattr(Incident, "Corrected")  # noqa: B009
IncidentClassified: type = getattr(Incident, "Classified")  # noqa: B009
IncidentCustomerExcluded: type = getattr(Incident, "CustomerExcluded")  # noqa: B009
IncidentRetracted: type = getattr(Incident, "Retracted")  # noqa: B009
MaintenanceAnnounced: type = getattr(Maintenance, "Announced")  # noqa: B009
MaintenanceCancelled: type = getattr(Maintenance, "Cancelled")  # noqa: B009
ClaimFiled: type = getattr(Claim, "Filed")  # noqa: B009

HANDLED = (
    ContractSigned,
    ContractAmended,
    ContractTerminated,
    IncidentOpened,
    IncidentResolved,
    IncidentCorrected,
    IncidentClassified,
    IncidentCustomerExcluded,
    IncidentRetracted,
    MaintenanceAnnounced,
    MaintenanceCancelled,
    ClaimFiled,
)


class CreditsProjection(Projection[CreditsView]):
    name = "credits"
    topics: tuple[str, ...] = ()  # every fact: each one advances the position

    def _contract(self, event: Any) -> ContractFacts:
        return self.view.model.contracts[self._ids()[event.originator_id]]

    def _ids(self) -> dict[Any, str]:
        model = self.view.model
        ids: dict[Any, str] | None = getattr(model, "ids", None)
        if ids is None:
            ids = {}
            for cid in model.contracts:
                ids[contract_uuid(cid)] = cid
            for iid in model.incidents:
                ids[incident_uuid(iid)] = iid
            for mid in model.maintenance:
                ids[maintenance_uuid(mid)] = mid
            model.ids = ids  # type: ignore[attr-defined]
        return ids

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Facts that change no read model still advance the tracking position."""
        self.view.commit(tracking)

    @process_event.register(ContractSigned)
    def _signed(self, e: Any, tracking: Tracking) -> None:
        facts = ContractFacts(
            e.contract_id,
            e.customer_id,
            e.customer_name,
            e.timezone,
            e.starts_on,
            e.ends_on,
            e.currency,
            (
                TermsVersion(
                    e.starts_on,
                    0,
                    Terms.from_data(e.terms),
                    tuple(Subscription.from_data(s) for s in e.subscriptions),
                ),
            ),
        )
        self._ids()[e.originator_id] = e.contract_id
        self.view.model.put_contract(facts, None)
        self.view.commit(tracking)

    @process_event.register(ContractAmended)
    def _amended(self, e: Any, tracking: Tracking) -> None:
        old = self._contract(e)
        version = TermsVersion(
            e.effective_from,
            len(old.versions),
            None if e.terms is None else Terms.from_data(e.terms),
            None if e.subscriptions is None else tuple(Subscription.from_data(s) for s in e.subscriptions),
        )
        self.view.model.put_contract(replace(old, versions=(*old.versions, version)), e.effective_from)
        self.view.commit(tracking)

    @process_event.register(ContractTerminated)
    def _terminated(self, e: Any, tracking: Tracking) -> None:
        old = self._contract(e)
        since = min(e.ends_on, old.ends_on) if old.ends_on is not None else e.ends_on
        self.view.model.put_contract(replace(old, ends_on=e.ends_on), date(since.year, since.month, 1))
        self.view.commit(tracking)

    def _incident(self, e: Any) -> IncidentFacts:
        return self.view.model.incidents[self._ids()[e.originator_id]]

    @process_event.register(IncidentOpened)
    def _opened(self, e: Any, tracking: Tracking) -> None:
        facts = IncidentFacts(
            e.incident_id,
            e.service,
            tuple(e.regions),
            tuple(e.customers),
            e.severity,
            to_micros(e.started_at),
            None if e.ended_at is None else to_micros(e.ended_at),
            e.cause,
        )
        self._ids()[e.originator_id] = e.incident_id
        self.view.model.put_incident(facts)
        self.view.commit(tracking)

    @process_event.register(IncidentResolved)
    def _resolved(self, e: Any, tracking: Tracking) -> None:
        new = replace(self._incident(e), ended_at=to_micros(e.ended_at))
        self.view.model.put_incident(new)
        self.view.commit(tracking)

    @process_event.register(IncidentCorrected)
    def _corrected(self, e: Any, tracking: Tracking) -> None:
        changes: dict[str, Any] = {}
        for name, value in e.changes.items():
            if name in ("started_at", "ended_at"):
                changes[name] = to_micros(value)
            elif name in ("regions", "customers"):
                changes[name] = tuple(value)
            else:
                changes[name] = value
        new = replace(self._incident(e), **changes)
        self.view.model.put_incident(new)
        self.view.commit(tracking)

    @process_event.register(IncidentClassified)
    def _classified(self, e: Any, tracking: Tracking) -> None:
        new = replace(self._incident(e), cause=e.cause)
        self.view.model.put_incident(new)
        self.view.commit(tracking)

    @process_event.register(IncidentCustomerExcluded)
    def _excluded(self, e: Any, tracking: Tracking) -> None:
        old = self._incident(e)
        new = replace(old, excluded_customers=old.excluded_customers | {e.customer_id})
        self.view.model.put_incident(new, only_customer=e.customer_id)
        self.view.commit(tracking)

    @process_event.register(IncidentRetracted)
    def _retracted(self, e: Any, tracking: Tracking) -> None:
        new = replace(self._incident(e), retracted=True)
        self.view.model.put_incident(new)
        self.view.commit(tracking)

    @process_event.register(MaintenanceAnnounced)
    def _announced(self, e: Any, tracking: Tracking) -> None:
        facts = MaintenanceFacts(
            e.maintenance_id,
            e.service,
            tuple(e.regions),
            to_micros(e.starts_at),
            to_micros(e.ends_at),
            to_micros(e.announced_at),
        )
        self._ids()[e.originator_id] = e.maintenance_id
        self.view.model.put_maintenance(facts)
        self.view.commit(tracking)

    @process_event.register(MaintenanceCancelled)
    def _cancelled(self, e: Any, tracking: Tracking) -> None:
        old = self.view.model.maintenance[self._ids()[e.originator_id]]
        self.view.model.put_maintenance(replace(old, cancelled=True))
        self.view.commit(tracking)

    @process_event.register(ClaimFiled)
    def _filed(self, e: Any, tracking: Tracking) -> None:
        self.view.model.put_claim(ClaimRow(e.claim_id, e.customer_id, e.month, e.channel, e.timestamp.isoformat()))
        self.view.commit(tracking)
