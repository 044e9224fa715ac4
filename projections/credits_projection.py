"""The credits projection: each recorded fact updates the periods and contract years it touches.

The same class serves the live views (SQLite or PostgreSQL), the as-of replays and the
verification scratch store: only the view it writes to and where it stops differ.
"""

from __future__ import annotations

import weakref
from dataclasses import replace
from datetime import date
from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Notification, Tracking
from eventsourcing.projection import Projection

from domain.calendar import to_micros
from domain.claim import Claim
from domain.contract import Contract, contract_uuid
from domain.credit import ContractFacts, TermsVersion
from domain.downtime import IncidentFacts, MaintenanceFacts
from domain.incident import Incident, incident_uuid
from domain.ledger import Ledger
from domain.maintenance import Maintenance, maintenance_uuid
from domain.terms import Subscription, Terms
from domain.webhook import Webhook
from projections.audit import fact_json, mapper, next_link
from projections.records import ClaimRow, FactRow, RunParts, dumps, incident_doc, instant_text, maintenance_doc
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
LedgerRunIssued: type = getattr(Ledger, "RunIssued")  # noqa: B009
LedgerAcknowledged: type = getattr(Ledger, "Acknowledged")  # noqa: B009


class CreditsProjection(Projection[CreditsView]):
    name = "credits"
    topics: tuple[str, ...] = ()  # every fact: each one advances the position
    position = 0  # the log position of the fact being applied

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

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Chain the fact, apply it to the views it touches, write with its position."""
        # what a failure names (projections/blocking.py)
        self.view.current = (tracking.notification_id, type(domain_event).__qualname__, str(domain_event.originator_id))
        self.position = tracking.notification_id  # the fact's place in the log, for the facts applied with it
        model = self.view.model
        if not model.record_log:
            self._apply(domain_event)
            self.view.commit(tracking)
            return
        stored = self._encode(domain_event, tracking.notification_id)
        if model.chain_head[0] < tracking.notification_id:
            fact = fact_json(tracking.notification_id, stored)
            model.put_link(tracking.notification_id, next_link(model.chain_head[1], fact))
        scope, key = self._scope(domain_event)
        self._apply(domain_event)
        recorded_at = to_micros(domain_event.timestamp)
        model.log_time = max(model.log_time, recorded_at)
        model.put_fact(
            FactRow(
                tracking.notification_id,
                recorded_at,
                model.log_time,
                scope,
                key,
                str(stored.originator_id),
                stored.originator_version,
                stored.topic,
                stored.state.decode("utf-8"),
                self._state_after(domain_event) if scope == "service" else None,
            )
        )
        self.view.commit(tracking)

    def _state_after(self, e: Any) -> str:
        """The incident's or maintenance window's whole state now that this fact is applied."""
        model = self.view.model
        name = self._ids()[e.originator_id]
        if isinstance(e, Incident.Event):
            return dumps(incident_doc(model.incidents[name]))
        return dumps(maintenance_doc(model.maintenance[name]))

    def _scope(self, e: Any) -> tuple[str, str]:
        """What a fact can reach: a customer (contracts, claims), a service (incidents,
        maintenance), every customer (the billing ledger) or no figure (webhooks)."""
        model = self.view.model
        ids = self._ids()
        kind = type(e)
        if kind in (ContractSigned, ClaimFiled):
            return "customer", e.customer_id
        if kind in (ContractAmended, ContractTerminated):
            return "customer", model.contracts[ids[e.originator_id]].customer_id
        if kind in (IncidentOpened, MaintenanceAnnounced):
            return "service", e.service
        # by the fact's class, not by which table holds its name: an incident and a maintenance
        # window may share one (each id is its own stream)
        if isinstance(e, Incident.Event):
            return "service", model.incidents[ids[e.originator_id]].service
        if isinstance(e, Maintenance.Event):
            return "service", model.maintenance[ids[e.originator_id]].service
        if isinstance(e, Webhook.Event):
            return "webhook", e.originator_id.hex  # reaches no figure: never replayed for one
        return "ledger", ""

    # The fact as stored, when the caller read it so (a replay): the chain and the index of facts
    # take its bytes as they are. The live runner hands over decoded facts only; they are encoded
    # again, with the store's own transcodings, to the same bytes (a rebuild's chain, checked
    # against the links the live projection recorded, and the verification both compare them).
    stored: Notification | None = None

    def _encode(self, domain_event: Any, position: int) -> Any:
        stored = self.stored
        if stored is not None and stored.id == position:
            return stored
        return mapper().to_stored_event(domain_event)

    @singledispatchmethod
    def _apply(self, domain_event: Any) -> None:
        """Facts that change no figure (they are still chained and tracked)."""

    @_apply.register(ContractSigned)
    def _signed(self, e: Any) -> None:
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

    @_apply.register(ContractAmended)
    def _amended(self, e: Any) -> None:
        old = self._contract(e)
        version = TermsVersion(
            e.effective_from,
            len(old.versions),
            None if e.terms is None else Terms.from_data(e.terms),
            None if e.subscriptions is None else tuple(Subscription.from_data(s) for s in e.subscriptions),
        )
        self.view.model.put_contract(replace(old, versions=(*old.versions, version)), e.effective_from)

    @_apply.register(ContractTerminated)
    def _terminated(self, e: Any) -> None:
        old = self._contract(e)
        since = min(e.ends_on, old.ends_on) if old.ends_on is not None else e.ends_on
        self.view.model.put_contract(replace(old, ends_on=e.ends_on), date(since.year, since.month, 1))

    def _incident(self, e: Any) -> IncidentFacts:
        return self.view.model.incidents[self._ids()[e.originator_id]]

    @_apply.register(IncidentOpened)
    def _opened(self, e: Any) -> None:
        facts = IncidentFacts(
            e.incident_id,
            e.service,
            tuple(e.regions),
            tuple(e.customers),
            e.severity,
            to_micros(e.started_at),
            None if e.ended_at is None else to_micros(e.ended_at),
            e.cause,
            title=getattr(e, "title", ""),
        )
        self._ids()[e.originator_id] = e.incident_id
        self.view.model.put_incident(facts)

    @_apply.register(IncidentResolved)
    def _resolved(self, e: Any) -> None:
        new = replace(self._incident(e), ended_at=to_micros(e.ended_at))
        self.view.model.put_incident(new)

    @_apply.register(IncidentCorrected)
    def _corrected(self, e: Any) -> None:
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

    @_apply.register(IncidentClassified)
    def _classified(self, e: Any) -> None:
        new = replace(self._incident(e), cause=e.cause)
        self.view.model.put_incident(new)

    @_apply.register(IncidentCustomerExcluded)
    def _excluded(self, e: Any) -> None:
        old = self._incident(e)
        new = replace(old, excluded_customers=old.excluded_customers | {e.customer_id})
        self.view.model.put_incident(new, only_customer=e.customer_id)

    @_apply.register(IncidentRetracted)
    def _retracted(self, e: Any) -> None:
        new = replace(self._incident(e), retracted=True)
        self.view.model.put_incident(new)

    @_apply.register(MaintenanceAnnounced)
    def _announced(self, e: Any) -> None:
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

    @_apply.register(MaintenanceCancelled)
    def _cancelled(self, e: Any) -> None:
        old = self.view.model.maintenance[self._ids()[e.originator_id]]
        self.view.model.put_maintenance(replace(old, cancelled=True))

    @_apply.register(ClaimFiled)
    def _filed(self, e: Any) -> None:
        self.view.model.put_claim(ClaimRow(e.claim_id, e.customer_id, e.month, e.channel, _instant(e.timestamp)))

    @_apply.register(LedgerRunIssued)
    def _run_issued(self, e: Any) -> None:
        self.view.model.put_run(e.run_id, _instant(e.issued_at), _run_parts(e), e.month, e.left, self.position)

    @_apply.register(LedgerAcknowledged)
    def _acknowledged(self, e: Any) -> None:
        self.view.model.put_acknowledgement(e.entry_id, e.invoice_id, _instant(e.applied_at), self.position)


_RUNS_INDEXED: dict[int, tuple[weakref.ref[Any], RunParts]] = {}


def _run_parts(e: Any) -> RunParts:
    """The run fact's parts, indexed once per decoded fact: the as-of answers replay the same
    decoded facts again and again (projections/as_of.py keeps them), and each wants its own
    customer's entries of every run. Keyed by the fact object's identity and held for as long
    as the object lives (a weak reference: the index never keeps a run's megabytes alive; its
    entry goes when the object does, before another object can take its id)."""
    found = _RUNS_INDEXED.get(id(e))
    if found is not None and found[0]() is e:
        return found[1]
    parts = RunParts.of(e.entries, e.covered)
    key = id(e)
    _RUNS_INDEXED[key] = (weakref.ref(e, lambda _: _RUNS_INDEXED.pop(key, None)), parts)
    return parts


def _instant(value: Any) -> str:
    return instant_text(value)
