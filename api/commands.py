"""Translating a validated body into one call on the application (shared by HTTP and import)."""

from __future__ import annotations

from datetime import UTC, datetime

from api import schemas as s
from domain.application import CreditsApplication, Recorded, Unit


def sign_contract(app: CreditsApplication, b: s.ContractSign, unit: Unit | None = None) -> Recorded:
    return app.sign_contract(
        contract_id=b.contract_id,
        customer_id=b.customer_id,
        customer_name=b.customer_name,
        timezone=b.timezone,
        starts_on=b.starts_on,
        ends_on=b.ends_on,
        currency=b.currency,
        terms=b.terms.to_domain(),
        subscriptions=s.subscriptions_to_domain(b.subscriptions),
        unit=unit,
    )


def amend_contract(app: CreditsApplication, contract_id: str, b: s.ContractAmend, unit: Unit | None = None) -> Recorded:
    return app.amend_contract(
        contract_id=contract_id,
        request_id=b.request_id,
        effective_from=b.effective_from,
        terms=None if b.terms is None else b.terms.to_domain(),
        subscriptions=None if b.subscriptions is None else s.subscriptions_to_domain(b.subscriptions),
        unit=unit,
    )


def terminate_contract(
    app: CreditsApplication, contract_id: str, b: s.ContractTerminate, unit: Unit | None = None
) -> Recorded:
    return app.terminate_contract(contract_id=contract_id, request_id=b.request_id, ends_on=b.ends_on, unit=unit)


def open_incident(app: CreditsApplication, b: s.IncidentOpen, unit: Unit | None = None) -> Recorded:
    return app.open_incident(
        incident_id=b.incident_id,
        service=b.service,
        regions=list(b.regions),
        customers=list(b.customers or []),
        severity=b.severity,
        started_at=b.started_at,
        ended_at=b.ended_at,
        cause=b.cause,
        title=b.title,
        unit=unit,
    )


def resolve_incident(
    app: CreditsApplication, incident_id: str, b: s.IncidentResolve, unit: Unit | None = None
) -> Recorded:
    return app.resolve_incident(incident_id=incident_id, request_id=b.request_id, ended_at=b.ended_at, unit=unit)


def correct_incident(
    app: CreditsApplication, incident_id: str, b: s.IncidentCorrect, unit: Unit | None = None
) -> Recorded:
    return app.correct_incident(
        incident_id=incident_id, request_id=b.request_id, reason=b.reason, changes=b.changes(), unit=unit
    )


def classify_incident(
    app: CreditsApplication, incident_id: str, b: s.IncidentClassify, unit: Unit | None = None
) -> Recorded:
    return app.classify_incident(
        incident_id=incident_id, request_id=b.request_id, cause=b.cause, reason=b.reason, unit=unit
    )


def exclude_customer(
    app: CreditsApplication, incident_id: str, b: s.IncidentExclude, unit: Unit | None = None
) -> Recorded:
    return app.exclude_customer(
        incident_id=incident_id, request_id=b.request_id, customer_id=b.customer_id, reason=b.reason, unit=unit
    )


def retract_incident(
    app: CreditsApplication, incident_id: str, b: s.IncidentRetract, unit: Unit | None = None
) -> Recorded:
    return app.retract_incident(incident_id=incident_id, request_id=b.request_id, reason=b.reason, unit=unit)


def announce_maintenance(app: CreditsApplication, b: s.MaintenanceAnnounce, unit: Unit | None = None) -> Recorded:
    return app.announce_maintenance(
        maintenance_id=b.maintenance_id,
        service=b.service,
        regions=list(b.regions),
        starts_at=b.starts_at,
        ends_at=b.ends_at,
        announced_at=b.announced_at,
        unit=unit,
    )


def cancel_maintenance(
    app: CreditsApplication, maintenance_id: str, b: s.MaintenanceCancel, unit: Unit | None = None
) -> Recorded:
    return app.cancel_maintenance(maintenance_id=maintenance_id, request_id=b.request_id, unit=unit)


def file_claim(app: CreditsApplication, customer_id: str, b: s.ClaimFile, unit: Unit | None = None) -> Recorded:
    return app.file_claim(
        claim_id=b.claim_id,
        customer_id=customer_id,
        month=b.month,
        channel=b.channel,
        message=b.message,
        filed_at=datetime.now(UTC),
        unit=unit,
    )


def run_import_line(app: CreditsApplication, kind: str, body: s.Body, unit: Unit | None = None) -> Recorded:
    """One line of `sla-credits import`: the same command as the HTTP endpoint."""
    b = body
    match kind:
        case "sign_contract":
            assert isinstance(b, s.ContractSign)
            return sign_contract(app, b, unit)
        case "amend_contract":
            assert isinstance(b, s.ImportAmend)
            return amend_contract(app, b.contract_id, b, unit)
        case "terminate_contract":
            assert isinstance(b, s.ImportTerminate)
            return terminate_contract(app, b.contract_id, b, unit)
        case "open_incident":
            assert isinstance(b, s.IncidentOpen)
            return open_incident(app, b, unit)
        case "resolve_incident":
            assert isinstance(b, s.ImportResolve)
            return resolve_incident(app, b.incident_id, b, unit)
        case "correct_incident":
            assert isinstance(b, s.ImportCorrect)
            return correct_incident(app, b.incident_id, b, unit)
        case "classify_incident":
            assert isinstance(b, s.ImportClassify)
            return classify_incident(app, b.incident_id, b, unit)
        case "exclude_customer":
            assert isinstance(b, s.ImportExclude)
            return exclude_customer(app, b.incident_id, b, unit)
        case "retract_incident":
            assert isinstance(b, s.ImportRetract)
            return retract_incident(app, b.incident_id, b, unit)
        case "announce_maintenance":
            assert isinstance(b, s.MaintenanceAnnounce)
            return announce_maintenance(app, b, unit)
        case "cancel_maintenance":
            assert isinstance(b, s.ImportCancel)
            return cancel_maintenance(app, b.maintenance_id, b, unit)
        case "file_claim":
            assert isinstance(b, s.ImportClaim)
            return file_claim(app, b.customer_id, b, unit)
    raise ValueError(f"unknown kind {kind!r}")
