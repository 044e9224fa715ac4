"""What the queries read: the same questions answered by the SQL views or an in-memory model."""

from __future__ import annotations

import json
from typing import Any, Protocol

from domain.calendar import Window
from domain.credit import ContractFacts
from domain.downtime import IncidentFacts, MaintenanceFacts
from domain.limits import ID_PATTERN
from projections.model import CreditsModel
from projections.records import (
    ClaimRow,
    ContractFrame,
    PeriodAnswer,
    PeriodRow,
    RunRow,
    YearRow,
    contract_frame_from_text,
    contract_from_text,
    incident_from_doc,
    lines_from_json,
    maintenance_from_doc,
)
from projections.views import CLAIM_ROW, LEDGER_COLUMNS, LEDGER_ROW, PERIOD_ROW, YEAR_ROW, SQLCreditsView


class LedgerReader(Protocol):
    """What reads a page of the billing ledger (live, as known at an instant, or replayed)."""

    def ledger_rows(
        self,
        after: int,
        limit: int,
        customer_id: str | None = None,
        month: str | None = None,
        kind: str | None = None,
        unacknowledged: bool = False,
    ) -> list[dict[str, object]]: ...


class Reader(LedgerReader, Protocol):
    def contracts_of(self, customer_id: str) -> list[ContractFacts]: ...
    def contract(self, contract_id: str) -> ContractFacts | None: ...
    def all_contracts(self) -> list[ContractFacts]: ...
    def contract_frames(self) -> list[ContractFrame]: ...
    def period_amounts(
        self, months: set[str] | None = None, contract_id: str | None = None
    ) -> dict[tuple[str, str], PeriodRow]: ...
    def period_sums(self, first: str, last: str) -> dict[str, tuple[int, int]]: ...
    def customers(self) -> list[str]: ...
    def periods_of(self, customer_id: str) -> dict[tuple[str, str], PeriodRow]: ...
    def years_of(self, customer_id: str) -> dict[tuple[str, str], YearRow]: ...
    def open_incidents(self, services: set[str]) -> list[IncidentFacts]: ...
    def incidents_for(self, service: str, window: Window) -> list[IncidentFacts]: ...
    def maintenance_for(self, service: str, window: Window) -> list[MaintenanceFacts]: ...
    def incidents_of(self, service: str) -> list[IncidentFacts]: ...
    def maintenance_of(self, service: str) -> list[MaintenanceFacts]: ...
    def claims(self) -> list[ClaimRow]: ...
    def billed_of(self, customer_id: str) -> set[tuple[str, str]]: ...
    def ledger_page(self, after: int, limit: int) -> list[dict[str, object]]: ...
    def incidents_page(self, service: str | None, limit: int, offset: int) -> list[IncidentFacts]: ...
    def runs(self, month: str | None = None) -> list[RunRow]: ...
    def services(self) -> list[str]: ...


class ModelReader:
    """Reads a projection's in-memory model (as-of replays, verification)."""

    def __init__(self, model: CreditsModel) -> None:
        self.model = model

    def contracts_of(self, customer_id: str) -> list[ContractFacts]:
        ids = self.model.contracts_by_customer.get(customer_id, set())
        return [self.model.contracts[i] for i in sorted(ids)]

    def contract(self, contract_id: str) -> ContractFacts | None:
        return self.model.contracts.get(contract_id)

    def customers(self) -> list[str]:
        return sorted(k for k, v in self.model.contracts_by_customer.items() if v)

    def all_contracts(self) -> list[ContractFacts]:
        return [self.model.contracts[k] for k in sorted(self.model.contracts)]

    def contract_frames(self) -> list[ContractFrame]:
        return [ContractFrame.of(c) for c in self.all_contracts()]

    def period_amounts(
        self, months: set[str] | None = None, contract_id: str | None = None
    ) -> dict[tuple[str, str], PeriodRow]:
        """Periods' amounts (their lines left out) in `months`, or every period of a contract."""
        if contract_id is not None:
            return {
                (contract_id, m): self.model.periods[(contract_id, m)]
                for m in self.model.periods_by_contract.get(contract_id, set())
            }
        return {k: p._replace(lines=()) for k, p in self.model.periods.items() if months is None or k[1] in months}

    def period_sums(self, first: str, last: str) -> dict[str, tuple[int, int]]:
        """Per contract, the credit and the grant of its stored periods in months first..last."""
        sums: dict[str, tuple[int, int]] = {}
        for (contract_id, month), p in self.model.periods.items():
            if first <= month <= last:
                credit, granted = sums.get(contract_id, (0, 0))
                sums[contract_id] = (credit + p.credit_minor, granted + p.granted_minor)
        return sums

    def periods_of(self, customer_id: str) -> dict[tuple[str, str], PeriodRow]:
        ids = self.model.contracts_by_customer.get(customer_id, set())
        return {
            (cid, m): self.model.periods[(cid, m)]
            for cid in ids
            for m in self.model.periods_by_contract.get(cid, set())
        }

    def years_of(self, customer_id: str) -> dict[tuple[str, str], YearRow]:
        ids = self.model.contracts_by_customer.get(customer_id, set())
        return {k: v for k, v in self.model.years.items() if k[0] in ids}

    def open_incidents(self, services: set[str]) -> list[IncidentFacts]:
        return [i for s in sorted(services) for i in self.model.open_incidents_for(s)]

    def incidents_for(self, service: str, window: Window) -> list[IncidentFacts]:
        return self.model.incidents_for(service, window)

    def maintenance_for(self, service: str, window: Window) -> list[MaintenanceFacts]:
        return self.model.maintenance_for(service, window)

    def incidents_of(self, service: str) -> list[IncidentFacts]:
        return sorted((i for i in self.model.incidents.values() if i.service == service), key=lambda i: i.incident_id)

    def maintenance_of(self, service: str) -> list[MaintenanceFacts]:
        found = (m for m in self.model.maintenance.values() if m.service == service)
        return sorted(found, key=lambda m: m.maintenance_id)

    def claims(self) -> list[ClaimRow]:
        return sorted(self.model.claims.values(), key=lambda r: r.claim_id)

    def billed_of(self, customer_id: str) -> set[tuple[str, str]]:
        ids = self.model.contracts_by_customer.get(customer_id, set())
        return {k for k in self.model.billed if k[0] in ids}

    def ledger_rows(
        self,
        after: int,
        limit: int,
        customer_id: str | None = None,
        month: str | None = None,
        kind: str | None = None,
        unacknowledged: bool = False,
    ) -> list[dict[str, object]]:
        rows = [
            r
            for r in self.ledger_page(after, 10**12)
            if (customer_id is None or r["customer_id"] == customer_id)
            and (month is None or r["month"] == month)
            and (kind is None or r["kind"] == kind)
            and (not unacknowledged or r["invoice_id"] is None)
        ]
        return rows[:limit]

    def runs(self, month: str | None = None) -> list[RunRow]:
        return sorted((r for r in self.model.runs.values() if month in (None, r.month)), key=lambda r: r.seq)

    def incidents_page(self, service: str | None, limit: int, offset: int) -> list[IncidentFacts]:
        found = [i for i in self.model.incidents.values() if service is None or i.service == service]
        found.sort(key=lambda i: (-i.started_at, i.incident_id))
        return found[offset : offset + limit]

    def services(self) -> list[str]:
        return sorted({i.service for i in self.model.incidents.values()})

    def ledger_page(self, after: int, limit: int) -> list[dict[str, object]]:
        rows = sorted(
            (r for r in self.model.ledger.values() if int(str(r["seq"])) > after), key=lambda r: int(str(r["seq"]))
        )
        return rows[:limit]


class SQLReader:
    """Reads the stored views (the live read models)."""

    def __init__(self, view: SQLCreditsView) -> None:
        self.view = view
        # each contract's frame read once while its stored document stays the same, by id: a
        # report finds every one again, whatever their number (a cache of a fixed size would
        # lose each before its next turn once there are more contracts than it holds), and the
        # collector never walks them (plain values; docs/performance.md, session 12)
        self._frames: dict[str, tuple[str, ContractFrame]] = {}

    def contracts_of(self, customer_id: str) -> list[ContractFacts]:
        if not ID_PATTERN.fullmatch(customer_id):
            # no contract can have it (ids are checked when signed); and PostgreSQL refuses a
            # text with a NUL byte in a query (a DataError, not an unknown customer)
            return []
        rows = self.view.select(
            "SELECT doc FROM v_contracts WHERE customer_id = ? ORDER BY contract_id", (customer_id,)
        )
        return [contract_from_text(r["doc"]) for r in rows]

    def contract(self, contract_id: str) -> ContractFacts | None:
        rows = self.view.select("SELECT doc FROM v_contracts WHERE contract_id = ?", (contract_id,))
        return contract_from_text(rows[0]["doc"]) if rows else None

    def customers(self) -> list[str]:
        return [r["customer_id"] for r in self.view.select("SELECT DISTINCT customer_id FROM v_contracts ORDER BY 1")]

    def all_contracts(self) -> list[ContractFacts]:
        rows = self.view.select("SELECT doc FROM v_contracts ORDER BY contract_id")
        return [contract_from_text(r["doc"]) for r in rows]

    def contract_frames(self) -> list[ContractFrame]:
        rows = self.view.select("SELECT contract_id, doc FROM v_contracts ORDER BY contract_id")
        frames = []
        for r in rows:
            contract_id, doc = r["contract_id"], r["doc"]
            found = self._frames.get(contract_id)
            if found is None or found[0] != doc:
                found = self._frames[contract_id] = (doc, contract_frame_from_text(doc))
            frames.append(found[1])
        return frames

    def period_sums(self, first: str, last: str) -> dict[str, tuple[int, int]]:
        """Per contract, the credit and the grant of its stored periods in months first..last."""
        rows = self.view.select(
            "SELECT contract_id, SUM(credit_minor) AS credit, SUM(granted_minor) AS granted FROM v_periods "
            "WHERE month >= ? AND month <= ? GROUP BY contract_id",
            (first, last),
        )
        return {r["contract_id"]: (int(r["credit"]), int(r["granted"])) for r in rows}

    def period_amounts(
        self, months: set[str] | None = None, contract_id: str | None = None
    ) -> dict[tuple[str, str], PeriodRow]:
        """Periods' amounts (their lines left out) in `months`, or every period of a contract:
        what a billing run needs, without decoding the downtime of every period."""
        params: tuple[str, ...]
        if contract_id is not None:
            where, params = "WHERE contract_id = ?", (contract_id,)
        elif months is not None:
            where, params = f"WHERE month IN ({', '.join('?' for _ in months)})", tuple(sorted(months))
        else:
            where, params = "", ()
        if months is not None and not months and contract_id is None:
            return {}
        rows = self.view.select(
            "SELECT contract_id, customer_id, month, year_start, credit_minor, granted_minor, capped_minor "
            f"FROM v_periods {where}",
            params,
        )
        return {
            (r["contract_id"], r["month"]): PeriodRow(
                r["contract_id"],
                r["customer_id"],
                r["month"],
                r["year_start"],
                (),
                r["credit_minor"],
                r["granted_minor"],
                r["capped_minor"],
            )
            for r in rows
        }

    def period_answers(self, customer_id: str, first: str, last: str) -> dict[tuple[str, str], PeriodAnswer]:
        """The customer's stored periods in months first..last, in the credits answer's form."""
        rows = self.view.select(
            "SELECT contract_id, month, year_start, credit_minor, granted_minor, capped_minor, lines_answer "
            "FROM v_periods WHERE customer_id = ? AND month >= ? AND month <= ?",
            (customer_id, first, last),
        )
        return {
            (r["contract_id"], r["month"]): PeriodAnswer(
                r["year_start"], r["credit_minor"], r["granted_minor"], r["capped_minor"], r["lines_answer"]
            )
            for r in rows
        }

    def periods_of(self, customer_id: str) -> dict[tuple[str, str], PeriodRow]:
        rows = self.view.select(f"SELECT {PERIOD_ROW} FROM v_periods WHERE customer_id = ?", (customer_id,))
        return {
            (r["contract_id"], r["month"]): PeriodRow(
                r["contract_id"],
                r["customer_id"],
                r["month"],
                r["year_start"],
                lines_from_json(r["lines"]),
                r["credit_minor"],
                r["granted_minor"],
                r["capped_minor"],
            )
            for r in rows
        }

    def years_of(self, customer_id: str) -> dict[tuple[str, str], YearRow]:
        rows = self.view.select(f"SELECT {YEAR_ROW} FROM v_contract_years WHERE customer_id = ?", (customer_id,))
        return {
            (r["contract_id"], r["starts_on"]): YearRow(**{k: r[k] for k in YearRow.__dataclass_fields__}) for r in rows
        }

    def open_incidents(self, services: set[str]) -> list[IncidentFacts]:
        if not services:
            return []
        marks = ", ".join("?" for _ in services)
        rows = self.view.select(
            f"SELECT doc FROM v_incidents WHERE ended_at IS NULL AND service IN ({marks}) ORDER BY incident_id",
            sorted(services),
        )
        return [incident_from_doc(json.loads(r["doc"])) for r in rows]

    def incidents_for(self, service: str, window: Window) -> list[IncidentFacts]:
        rows = self.view.select(
            "SELECT doc FROM v_incidents WHERE service = ? AND started_at < ? AND (ended_at IS NULL OR ended_at > ?) "
            "ORDER BY started_at, incident_id",
            (service, window.end, window.start),
        )
        return [incident_from_doc(json.loads(r["doc"])) for r in rows]

    def maintenance_for(self, service: str, window: Window) -> list[MaintenanceFacts]:
        rows = self.view.select(
            "SELECT doc FROM v_maintenance WHERE service = ? AND starts_at < ? AND ends_at > ? "
            "ORDER BY starts_at, maintenance_id",
            (service, window.end, window.start),
        )
        return [maintenance_from_doc(json.loads(r["doc"])) for r in rows]

    def incidents_of(self, service: str) -> list[IncidentFacts]:
        rows = self.view.select("SELECT doc FROM v_incidents WHERE service = ? ORDER BY incident_id", (service,))
        return [incident_from_doc(json.loads(r["doc"])) for r in rows]

    def maintenance_of(self, service: str) -> list[MaintenanceFacts]:
        rows = self.view.select("SELECT doc FROM v_maintenance WHERE service = ? ORDER BY maintenance_id", (service,))
        return [maintenance_from_doc(json.loads(r["doc"])) for r in rows]

    def claims(self) -> list[ClaimRow]:
        rows = self.view.select(f"SELECT {CLAIM_ROW} FROM v_claims ORDER BY claim_id")
        return [ClaimRow(**{k: r[k] for k in ClaimRow.__dataclass_fields__}) for r in rows]

    def billed_of(self, customer_id: str) -> set[tuple[str, str]]:
        rows = self.view.select(
            "SELECT b.contract_id, b.month FROM v_billed b JOIN v_contracts c ON c.contract_id = b.contract_id "
            "WHERE c.customer_id = ?",
            (customer_id,),
        )
        return {(r["contract_id"], r["month"]) for r in rows}

    def ledger_page(self, after: int, limit: int) -> list[dict[str, object]]:
        rows = self.view.select(f"SELECT {LEDGER_ROW} FROM v_ledger WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit))
        return [{k: r[k] for k in LEDGER_COLUMNS} for r in rows]

    def ledger_rows(
        self,
        after: int,
        limit: int,
        customer_id: str | None = None,
        month: str | None = None,
        kind: str | None = None,
        unacknowledged: bool = False,
        known_upto: int | None = None,
    ) -> list[dict[str, object]]:
        """A page of the ledger in order, live or, with `known_upto`, as known at the prefix of
        the log ending there (`LedgerAsKnown`)."""
        where, params = ["seq > ?"], [after]
        if known_upto is not None:
            where.append("issued_position <= ?")
            params.append(known_upto)
        if unacknowledged and known_upto is not None:
            where.append("(invoice_id IS NULL OR acknowledged_position > ?)")
            params.append(known_upto)
        elif unacknowledged:
            where.append("invoice_id IS NULL")
        if customer_id is not None and not ID_PATTERN.fullmatch(customer_id):
            return []  # no entry can be of it (see contracts_of)
        if any(value is not None and "\x00" in value for value in (month, kind)):
            return []  # no entry has it (and PostgreSQL refuses a NUL byte in a query's text)
        for column, value in (("customer_id", customer_id), ("month", month), ("kind", kind)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)  # type: ignore[arg-type]
        rows = self.view.select(
            f"SELECT {LEDGER_ROW} FROM v_ledger WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?", (*params, limit)
        )
        if known_upto is None:
            return [{k: r[k] for k in LEDGER_COLUMNS} for r in rows]
        return [entry_known_at(r, known_upto) for r in rows]

    def runs(self, month: str | None = None) -> list[RunRow]:
        where, params = ("WHERE month = ?", (month,)) if month else ("", ())
        rows = self.view.select(f"SELECT doc FROM v_runs {where} ORDER BY seq", params)
        return [RunRow.from_doc(json.loads(r["doc"])) for r in rows]

    def incidents_page(self, service: str | None, limit: int, offset: int) -> list[IncidentFacts]:
        if service is not None and "\x00" in service:
            return []  # no incident has it (see ledger_rows)
        where, params = ("WHERE service = ?", (service,)) if service else ("", ())
        rows = self.view.select(
            f"SELECT doc FROM v_incidents {where} ORDER BY started_at DESC, incident_id LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [incident_from_doc(json.loads(r["doc"])) for r in rows]

    def services(self) -> list[str]:
        return [r["service"] for r in self.view.select("SELECT DISTINCT service FROM v_incidents ORDER BY 1")]


class LedgerAsKnown:
    """The billing ledger as known at a prefix of the log, read from the views (decision 26):
    the entries whose run's fact is in the prefix, each acknowledged only if its
    acknowledgement's fact is in it too. A ledger entry never changes but for its one
    acknowledgement (domain/ledger.py), and the views keep the log position of both
    (v_ledger.issued_position, acknowledged_position): so the rows of the prefix are those of a
    replay of it, and a page costs one indexed read, whatever the ledger's size. Valid while the
    views hold every fact of the prefix (CreditsService.ledger_reader_at checks it)."""

    def __init__(self, reader: SQLReader, prefix: int) -> None:
        self._reader = reader
        self.prefix = prefix

    def ledger_rows(
        self,
        after: int,
        limit: int,
        customer_id: str | None = None,
        month: str | None = None,
        kind: str | None = None,
        unacknowledged: bool = False,
    ) -> list[dict[str, object]]:
        return self._reader.ledger_rows(after, limit, customer_id, month, kind, unacknowledged, self.prefix)


def entry_known_at(r: Any, prefix: int) -> dict[str, object]:
    """A v_ledger row whose run is in the prefix of the log ending at `prefix`, as known then:
    acknowledged only if that was in the prefix too (an entry is acknowledged once:
    domain/ledger.py)."""
    row = {k: r[k] for k in LEDGER_COLUMNS}
    acknowledged = r["acknowledged_position"]
    if acknowledged is not None and acknowledged > prefix:  # not acknowledged yet then
        row["invoice_id"] = row["applied_at"] = None
    return row
