"""The Maintenance aggregate: a window announced for a service, possibly cancelled."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.calendar import to_micros
from domain.contract import _require_id, check_request
from domain.downtime import MaintenanceFacts
from domain.errors import InvalidValueError, StateError
from domain.idempotency import fingerprint
from domain.identity import named_uuid
from domain.limits import check_id, check_instant


def maintenance_uuid(maintenance_id: str) -> UUID:
    return named_uuid("maintenance", maintenance_id)


class Maintenance(Aggregate):
    @staticmethod
    def create_id(maintenance_id: str) -> UUID:
        return maintenance_uuid(maintenance_id)

    @classmethod
    def announce(
        cls,
        *,
        maintenance_id: str,
        service: str,
        regions: list[str],
        starts_at: datetime,
        ends_at: datetime,
        announced_at: datetime,
    ) -> Maintenance:
        _require_id(maintenance_id, "maintenance_id")
        _require_id(service, "service")
        starts = check_instant(starts_at, "starts_at")
        ends = check_instant(ends_at, "ends_at")
        announced = check_instant(announced_at, "announced_at")
        if ends <= starts:
            raise InvalidValueError("ends_at", "must be after starts_at")
        for i, r in enumerate(regions):
            check_id(r, f"regions[{i}]")
        return cls(maintenance_id, service, sorted(set(regions)), starts, ends, announced)

    @staticmethod
    def announcing_print(
        service: str, regions: list[str], starts_at: datetime, ends_at: datetime, announced_at: datetime
    ) -> str:
        return fingerprint(
            "announce",
            service=service,
            regions=regions,
            starts_at=starts_at,
            ends_at=ends_at,
            announced_at=announced_at,
        )

    @event("Announced")
    def __init__(
        self,
        maintenance_id: str,
        service: str,
        regions: list[str],
        starts_at: datetime,
        ends_at: datetime,
        announced_at: datetime,
    ) -> None:
        self.maintenance_id = maintenance_id
        self.service = service
        self.regions = tuple(regions)
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.announced_at = announced_at
        self.cancelled = False
        self.requests: dict[str, str] = {}
        self.announced_print = self.announcing_print(service, list(regions), starts_at, ends_at, announced_at)

    def cancel(self, *, request_id: str) -> bool:
        if check_request(self.requests, request_id, fingerprint("cancel")):
            return False
        if self.cancelled:
            raise StateError("maintenance_id", "the maintenance window was already cancelled")
        self._cancel(request_id)
        return True

    @event("Cancelled")
    def _cancel(self, request_id: str) -> None:
        self.requests[request_id] = fingerprint("cancel")
        self.cancelled = True

    def facts(self) -> MaintenanceFacts:
        return MaintenanceFacts(
            self.maintenance_id,
            self.service,
            tuple(self.regions),
            to_micros(self.starts_at),
            to_micros(self.ends_at),
            to_micros(self.announced_at),
            self.cancelled,
        )
