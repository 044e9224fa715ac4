"""The Incident aggregate: opened, resolved, corrected, classified, exclusions, retracted."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.calendar import to_micros
from domain.contract import _require_id, check_request
from domain.downtime import DEGRADED, FORCE_MAJEURE, OUTAGE, PROVIDER, IncidentFacts
from domain.errors import InvalidValueError, StateError
from domain.idempotency import fingerprint
from domain.identity import named_uuid
from domain.limits import check_id, check_instant, check_text

SEVERITIES = (OUTAGE, DEGRADED)
CAUSES = (PROVIDER, FORCE_MAJEURE)


def incident_uuid(incident_id: str) -> UUID:
    return named_uuid("incident", incident_id)


def _names(values: list[str] | tuple[str, ...], field: str) -> tuple[str, ...]:
    for i, v in enumerate(values):
        check_id(v, f"{field}[{i}]")
    return tuple(sorted(set(values)))


def _check_span(started_at: datetime, ended_at: datetime | None, field: str = "ended_at") -> None:
    if ended_at is not None and ended_at <= started_at:
        raise InvalidValueError(field, "must be after started_at")


def _check_choice(value: str, choices: tuple[str, ...], field: str) -> None:
    if value not in choices:
        raise InvalidValueError(field, f"must be one of {', '.join(choices)}")


class Incident(Aggregate):
    @staticmethod
    def create_id(incident_id: str) -> UUID:
        return incident_uuid(incident_id)

    @classmethod
    def open(
        cls,
        *,
        incident_id: str,
        service: str,
        regions: list[str],
        customers: list[str],
        severity: str,
        started_at: datetime,
        ended_at: datetime | None,
        cause: str,
        title: str,
    ) -> Incident:
        _require_id(incident_id, "incident_id")
        _require_id(service, "service")
        fields = cls.normalise(
            incident_id=incident_id,
            service=service,
            regions=regions,
            customers=customers,
            severity=severity,
            started_at=started_at,
            ended_at=ended_at,
            cause=cause,
            title=title,
        )
        return cls(**fields)

    @staticmethod
    def normalise(**f: Any) -> dict[str, Any]:
        """Validated, canonical opening fields (UTC instants, sorted unique names)."""
        started = check_instant(f["started_at"], "started_at")
        ended = None if f["ended_at"] is None else check_instant(f["ended_at"], "ended_at")
        check_text(f["title"], "title", 500, blank=True)
        _check_span(started, ended)
        _check_choice(f["severity"], SEVERITIES, "severity")
        _check_choice(f["cause"], CAUSES, "cause")
        return dict(
            f,
            regions=list(_names(f["regions"], "regions")),
            customers=list(_names(f["customers"], "customers")),
            started_at=started,
            ended_at=ended,
        )

    @event("Opened")
    def __init__(
        self,
        incident_id: str,
        service: str,
        regions: list[str],
        customers: list[str],
        severity: str,
        started_at: datetime,
        ended_at: datetime | None,
        cause: str,
        title: str,
    ) -> None:
        self.incident_id = incident_id
        self.service = service
        self.regions = tuple(regions)
        self.customers = tuple(customers)
        self.severity = severity
        self.started_at = started_at
        self.ended_at = ended_at
        self.cause = cause
        self.title = title
        self.retracted = False
        self.excluded: dict[str, str] = {}
        self.requests: dict[str, str] = {}
        self._opened = dict(
            service=service,
            regions=list(regions),
            customers=list(customers),
            severity=severity,
            started_at=started_at,
            ended_at=ended_at,
            cause=cause,
            title=title,
        )

    @property
    def opened_print(self) -> str:
        """The fingerprint of the opening command (computed only to compare a repeat)."""
        return fingerprint("open_incident", **self._opened)

    def _writable(self) -> None:
        if self.retracted:
            raise StateError("incident_id", "the incident was retracted; it cannot change any more")

    def resolve(self, *, request_id: str, ended_at: datetime) -> bool:
        ended = check_instant(ended_at, "ended_at")
        if check_request(self.requests, request_id, fingerprint("resolve", ended_at=ended)):
            return False
        self._writable()
        if self.ended_at is not None:
            raise StateError("ended_at", "the incident is already resolved; send a correction instead")
        _check_span(self.started_at, ended)
        self._resolve(request_id, ended)
        return True

    @event("Resolved")
    def _resolve(self, request_id: str, ended_at: datetime) -> None:
        self.requests[request_id] = fingerprint("resolve", ended_at=ended_at)
        self.ended_at = ended_at

    def correct(self, *, request_id: str, reason: str, changes: dict[str, Any]) -> bool:
        """Replace any of started_at, ended_at, severity, regions, customers."""
        allowed = {"started_at", "ended_at", "severity", "regions", "customers"}
        unknown = set(changes) - allowed
        if unknown:
            raise InvalidValueError(sorted(unknown)[0], "cannot be corrected")
        clean: dict[str, Any] = {}
        for name, value in changes.items():
            if name in ("started_at", "ended_at"):
                if value is None:
                    raise InvalidValueError(name, "must be an instant")
                clean[name] = check_instant(value, name)
            elif name in ("regions", "customers"):
                clean[name] = list(_names(value, name))
            else:
                _check_choice(value, SEVERITIES, "severity")
                clean[name] = value
        if check_request(self.requests, request_id, fingerprint("correct", reason=reason, **clean)):
            return False
        self._writable()
        if not clean:
            raise InvalidValueError("started_at", "a correction must change at least one field")
        check_text(reason, "reason", 1000)
        _check_span(
            clean.get("started_at", self.started_at),
            clean.get("ended_at", self.ended_at),
            "ended_at" if "ended_at" in clean else "started_at",
        )
        self._correct(request_id, reason, clean)
        return True

    @event("Corrected")
    def _correct(self, request_id: str, reason: str, changes: dict[str, Any]) -> None:
        self.requests[request_id] = fingerprint("correct", reason=reason, **changes)
        for name, value in changes.items():
            setattr(self, name, tuple(value) if isinstance(value, list) else value)

    def classify(self, *, request_id: str, cause: str, reason: str) -> bool:
        if check_request(self.requests, request_id, fingerprint("classify", cause=cause, reason=reason)):
            return False
        self._writable()
        _check_choice(cause, CAUSES, "cause")
        check_text(reason, "reason", 1000)
        self._classify(request_id, cause, reason)
        return True

    @event("Classified")
    def _classify(self, request_id: str, cause: str, reason: str) -> None:
        self.requests[request_id] = fingerprint("classify", cause=cause, reason=reason)
        self.cause = cause

    def exclude_customer(self, *, request_id: str, customer_id: str, reason: str) -> bool:
        print_ = fingerprint("exclude", customer_id=customer_id, reason=reason)
        if check_request(self.requests, request_id, print_):
            return False
        self._writable()
        _require_id(customer_id, "customer_id")
        check_text(reason, "reason", 1000)
        self._exclude(request_id, customer_id, reason)
        return True

    @event("CustomerExcluded")
    def _exclude(self, request_id: str, customer_id: str, reason: str) -> None:
        self.requests[request_id] = fingerprint("exclude", customer_id=customer_id, reason=reason)
        self.excluded[customer_id] = reason

    def retract(self, *, request_id: str, reason: str) -> bool:
        if check_request(self.requests, request_id, fingerprint("retract", reason=reason)):
            return False
        self._writable()
        check_text(reason, "reason", 1000)
        self._retract(request_id, reason)
        return True

    @event("Retracted")
    def _retract(self, request_id: str, reason: str) -> None:
        self.requests[request_id] = fingerprint("retract", reason=reason)
        self.retracted = True

    def facts(self) -> IncidentFacts:
        return IncidentFacts(
            incident_id=self.incident_id,
            service=self.service,
            regions=tuple(self.regions),
            customers=tuple(self.customers),
            severity=self.severity,
            started_at=to_micros(self.started_at),
            ended_at=None if self.ended_at is None else to_micros(self.ended_at),
            cause=self.cause,
            retracted=self.retracted,
            excluded_customers=frozenset(self.excluded),
            title=self.title,
        )
