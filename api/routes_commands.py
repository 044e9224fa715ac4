"""Commands over HTTP: contracts (admin), incidents and maintenance (admin, ingest)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from api import commands, public
from api import schemas as s
from api.deps import INGEST, READ_ALL, READ_CONTRACTS, WRITE_CONTRACTS, Service
from api.responses import ContractPublic, IncidentPublic, MaintenancePublic, errors
from domain.application import Recorded
from domain.maintenance import Maintenance, maintenance_uuid

contracts = APIRouter(prefix="/v1/contracts", tags=["contracts"])
incidents = APIRouter(prefix="/v1/incidents", tags=["ingest"])
maintenance = APIRouter(prefix="/v1/maintenance", tags=["ingest"])

WRITE_ERRORS = errors(401, 403, 404, 409, 413, 422, 503)


def writes(model: type) -> dict[int | str, dict[str, Any]]:
    """201 recorded; 200 the same command again (nothing new recorded); the problems."""
    return {200: {"model": model, "description": "The same command again: nothing new was recorded"}, **WRITE_ERRORS}


def _answer(result: Recorded, body: dict[str, Any]) -> JSONResponse:
    """201 when recorded, 200 when the same command was already recorded."""
    headers = {"X-Log-Position": str(result.position)} if result.position is not None else None
    return JSONResponse(body, status_code=201 if result.created else 200, headers=headers)


def _contract(service: Service, contract_id: str) -> dict[str, Any]:
    c = service.app.get_contract(contract_id)
    return public.contract_public(service.app, c, datetime.now(UTC).date())


def _incident(service: Service, incident_id: str) -> dict[str, Any]:
    return public.incident_public(service.app, service.app.get_incident(incident_id))


def _maintenance(service: Service, maintenance_id: str) -> dict[str, Any]:
    m: Maintenance = service.app.repository.get(maintenance_uuid(maintenance_id))
    return {
        "maintenance_id": m.maintenance_id,
        "service": m.service,
        "regions": list(m.regions),
        "starts_at": public.jsonable(m.starts_at),
        "ends_at": public.jsonable(m.ends_at),
        "announced_at": public.jsonable(m.announced_at),
        "cancelled": m.cancelled,
    }


@contracts.post("", status_code=201, response_model=ContractPublic, responses=writes(ContractPublic))
def sign_contract(body: s.ContractSign, service: Service, _: Annotated[str, Depends(WRITE_CONTRACTS)]) -> JSONResponse:
    """Record a signed contract (admin). The same body again answers 200 and records nothing."""
    result = commands.sign_contract(service.app, body)
    return _answer(result, _contract(service, body.contract_id))


@contracts.post(
    "/{contract_id}/amendments", status_code=201, response_model=ContractPublic, responses=writes(ContractPublic)
)
def amend_contract(
    contract_id: str, body: s.ContractAmend, service: Service, _: Annotated[str, Depends(WRITE_CONTRACTS)]
) -> JSONResponse:
    """Amend terms and/or subscriptions from the 1st of a month (admin)."""
    result = commands.amend_contract(service.app, contract_id, body)
    return _answer(result, _contract(service, contract_id))


@contracts.post(
    "/{contract_id}/termination", status_code=201, response_model=ContractPublic, responses=writes(ContractPublic)
)
def terminate_contract(
    contract_id: str, body: s.ContractTerminate, service: Service, _: Annotated[str, Depends(WRITE_CONTRACTS)]
) -> JSONResponse:
    """Terminate a contract: its new last day of service (admin)."""
    result = commands.terminate_contract(service.app, contract_id, body)
    return _answer(result, _contract(service, contract_id))


@contracts.get("/{contract_id}", response_model=ContractPublic, responses=errors(401, 403, 404))
def get_contract(contract_id: str, service: Service, _: Annotated[str, Depends(READ_CONTRACTS)]) -> dict[str, Any]:
    """The terms in force today and the history of amendments (all roles but ingest)."""
    return _contract(service, contract_id)


@incidents.post("", status_code=201, response_model=IncidentPublic, responses=writes(IncidentPublic))
def open_incident(body: s.IncidentOpen, service: Service, _: Annotated[str, Depends(INGEST)]) -> JSONResponse:
    """Record an incident (admin, ingest). The same body again answers 200."""
    result = commands.open_incident(service.app, body)
    return _answer(result, _incident(service, body.incident_id))


@incidents.post(
    "/{incident_id}/resolution", status_code=201, response_model=IncidentPublic, responses=writes(IncidentPublic)
)
def resolve_incident(
    incident_id: str, body: s.IncidentResolve, service: Service, _: Annotated[str, Depends(INGEST)]
) -> JSONResponse:
    """Set the end of an unresolved incident (admin, ingest)."""
    return _answer(commands.resolve_incident(service.app, incident_id, body), _incident(service, incident_id))


@incidents.post(
    "/{incident_id}/corrections", status_code=201, response_model=IncidentPublic, responses=writes(IncidentPublic)
)
def correct_incident(
    incident_id: str, body: s.IncidentCorrect, service: Service, _: Annotated[str, Depends(INGEST)]
) -> JSONResponse:
    """Replace any of started_at, ended_at, severity, regions, customers, with a reason."""
    return _answer(commands.correct_incident(service.app, incident_id, body), _incident(service, incident_id))


@incidents.post(
    "/{incident_id}/classification", status_code=201, response_model=IncidentPublic, responses=writes(IncidentPublic)
)
def classify_incident(
    incident_id: str, body: s.IncidentClassify, service: Service, _: Annotated[str, Depends(INGEST)]
) -> JSONResponse:
    """Change the cause (provider or force_majeure), with a reason."""
    return _answer(commands.classify_incident(service.app, incident_id, body), _incident(service, incident_id))


@incidents.post(
    "/{incident_id}/exclusions", status_code=201, response_model=IncidentPublic, responses=writes(IncidentPublic)
)
def exclude_customer(
    incident_id: str, body: s.IncidentExclude, service: Service, _: Annotated[str, Depends(INGEST)]
) -> JSONResponse:
    """This incident does not count for this customer (e.g. customer_caused)."""
    return _answer(commands.exclude_customer(service.app, incident_id, body), _incident(service, incident_id))


@incidents.post(
    "/{incident_id}/retraction", status_code=201, response_model=IncidentPublic, responses=writes(IncidentPublic)
)
def retract_incident(
    incident_id: str, body: s.IncidentRetract, service: Service, _: Annotated[str, Depends(INGEST)]
) -> JSONResponse:
    """The incident never happened (false alarm): it counts for nobody."""
    return _answer(commands.retract_incident(service.app, incident_id, body), _incident(service, incident_id))


@incidents.get("/{incident_id}", response_model=IncidentPublic, responses=errors(401, 403, 404))
def get_incident(incident_id: str, service: Service, _: Annotated[str, Depends(READ_ALL)]) -> dict[str, Any]:
    """The incident's current state and every fact recorded about it (all roles)."""
    return _incident(service, incident_id)


@maintenance.post("", status_code=201, response_model=MaintenancePublic, responses=writes(MaintenancePublic))
def announce_maintenance(
    body: s.MaintenanceAnnounce, service: Service, _: Annotated[str, Depends(INGEST)]
) -> JSONResponse:
    """Record a maintenance window; it qualifies only by its own announced_at."""
    return _answer(commands.announce_maintenance(service.app, body), _maintenance(service, body.maintenance_id))


@maintenance.post(
    "/{maintenance_id}/cancellation",
    status_code=201,
    response_model=MaintenancePublic,
    responses=writes(MaintenancePublic),
)
def cancel_maintenance(
    maintenance_id: str, body: s.MaintenanceCancel, service: Service, _: Annotated[str, Depends(INGEST)]
) -> JSONResponse:
    """Cancel a maintenance window, whenever it is recorded."""
    return _answer(
        commands.cancel_maintenance(service.app, maintenance_id, body), _maintenance(service, maintenance_id)
    )
