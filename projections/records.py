"""The rows of the read models and their JSON documents (exact: decimals as strings)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from operator import attrgetter
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from domain.calendar import zone
from domain.credit import ContractFacts, LineStep, TermsVersion, plain_decimal
from domain.downtime import IncidentFacts, MaintenanceFacts, exact_seconds
from domain.terms import Subscription, Terms


def _jsonable(value: Any) -> Any:
    """The JSON form of the values JSON has no form for (a hook of the encoder): exact decimals as
    strings, days (and instants) in ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"no JSON form for {type(value).__name__}")


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_jsonable)


def contract_doc(c: ContractFacts) -> dict[str, Any]:
    return {
        "contract_id": c.contract_id,
        "customer_id": c.customer_id,
        "customer_name": c.customer_name,
        "timezone": c.timezone,
        "starts_on": c.starts_on,
        "ends_on": c.ends_on,
        "currency": c.currency,
        "versions": [
            {
                "effective_from": v.effective_from,
                "sequence": v.sequence,
                "terms": None if v.terms is None else v.terms.to_data(),
                "subscriptions": None if v.subscriptions is None else [s.to_data() for s in v.subscriptions],
            }
            for v in c.versions
        ],
    }


@lru_cache(maxsize=8192)
def contract_from_text(doc: str) -> ContractFacts:
    """A contract from its stored document's text (cached by the text: the contract is a pure
    function of it, and immutable; the reads of one customer decode the same few again and again)."""
    return contract_from_doc(json.loads(doc))


def contract_from_doc(d: dict[str, Any]) -> ContractFacts:
    return ContractFacts(
        d["contract_id"],
        d["customer_id"],
        d["customer_name"],
        d["timezone"],
        date.fromisoformat(d["starts_on"]),
        None if d["ends_on"] is None else date.fromisoformat(d["ends_on"]),
        d["currency"],
        tuple(
            TermsVersion(
                date.fromisoformat(v["effective_from"]),
                v["sequence"],
                None if v["terms"] is None else Terms.from_data(v["terms"]),
                None if v["subscriptions"] is None else tuple(Subscription.from_data(s) for s in v["subscriptions"]),
            )
            for v in d["versions"]
        ),
    )


class ContractFrame(NamedTuple):
    """What a report over every contract reads of each: whose it is and in which currency, when
    and in which zone it is in service, and every (service, region) any of its versions subscribes
    to. Plain values only, so the collector never walks a cache of them (projections/heap.py)."""

    contract_id: str
    customer_id: str
    currency: str
    timezone: str
    starts_on: date
    ends_on: date | None
    pairs: tuple[tuple[str, str], ...]

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)

    @classmethod
    def of(cls, c: ContractFacts) -> ContractFrame:
        pairs = (s for v in c.versions if v.subscriptions for s in v.subscriptions)
        return cls(
            c.contract_id,
            c.customer_id,
            c.currency,
            c.timezone,
            c.starts_on,
            c.ends_on,
            tuple(sorted({(s.service, s.region) for s in pairs})),
        )


def contract_frame_from_text(doc: str) -> ContractFrame:
    """The frame of a stored contract document, read from its JSON without decoding the rest."""
    d = json.loads(doc)
    pairs = (s for v in d["versions"] if v["subscriptions"] for s in v["subscriptions"])
    return ContractFrame(
        d["contract_id"],
        d["customer_id"],
        d["currency"],
        d["timezone"],
        date.fromisoformat(d["starts_on"]),
        None if d["ends_on"] is None else date.fromisoformat(d["ends_on"]),
        tuple(sorted({(s["service"], s["region"]) for s in pairs})),
    )


def incident_doc(i: IncidentFacts) -> dict[str, Any]:
    return {
        "incident_id": i.incident_id,
        "service": i.service,
        "regions": list(i.regions),
        "customers": list(i.customers),
        "severity": i.severity,
        "started_at": i.started_at,
        "ended_at": i.ended_at,
        "cause": i.cause,
        "retracted": i.retracted,
        "excluded_customers": sorted(i.excluded_customers),
        "title": i.title,
    }


def incident_from_doc(d: dict[str, Any]) -> IncidentFacts:
    return IncidentFacts(
        d["incident_id"],
        d["service"],
        tuple(d["regions"]),
        tuple(d["customers"]),
        d["severity"],
        d["started_at"],
        d["ended_at"],
        d["cause"],
        d["retracted"],
        frozenset(d["excluded_customers"]),
        d.get("title", ""),
    )


def maintenance_doc(m: MaintenanceFacts) -> dict[str, Any]:
    return {
        "maintenance_id": m.maintenance_id,
        "service": m.service,
        "regions": list(m.regions),
        "starts_at": m.starts_at,
        "ends_at": m.ends_at,
        "announced_at": m.announced_at,
        "cancelled": m.cancelled,
    }


def maintenance_from_doc(d: dict[str, Any]) -> MaintenanceFacts:
    return MaintenanceFacts(
        d["maintenance_id"],
        d["service"],
        tuple(d["regions"]),
        d["starts_at"],
        d["ends_at"],
        d["announced_at"],
        d["cancelled"],
    )


class LineRow(NamedTuple):
    """Per subscription, per month: the downtime and the figures derived from it."""

    service: str
    region: str
    monthly_fee_minor: int
    measured_seconds: str
    month_seconds: str
    downtime_seconds: str
    uptime_percent: str
    credit_percent: str
    fee_minor: int
    credit_minor: int

    @classmethod
    def of(cls, line: LineStep) -> LineRow:
        return cls(
            line.subscription.service,
            line.subscription.region,
            line.subscription.monthly_fee_minor,
            seconds_text(line.measured_micros),
            seconds_text(line.month_micros),
            seconds_text(line.downtime.downtime_micros),
            line.tier.uptime_text,
            str(line.tier.credit_percent),  # as the contract writes it
            line.fee_minor,
            line.credit_minor,
        )

    def doc(self) -> dict[str, Any]:
        return self._asdict()


@lru_cache(maxsize=65536)
def _line_json(row: LineRow) -> str:
    """A line's stored document (every field a string or an integer). Cached: contracts sharing a
    subscription, window and downtime store the same document."""
    return json.dumps(row._asdict(), sort_keys=True, separators=(",", ":"))


def whole_or_decimal(text: str) -> int | str:
    """Seconds as every answer gives them: an integer when whole, else the exact decimal string."""
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() else text


def line_json(line: LineRow) -> dict[str, Any]:
    """A period's line as the credits answer gives it (API.md)."""
    return {
        "service": line.service,
        "region": line.region,
        "measured_seconds": whole_or_decimal(line.measured_seconds),
        "downtime_seconds": line.downtime_seconds,
        "uptime_percent": line.uptime_percent,
        "credit_percent": line.credit_percent,
        "fee_minor": line.fee_minor,
        "credit_minor": line.credit_minor,
    }


def answer_json(value: Any) -> str:
    """JSON text exactly as the API writes its answers (compact, UTF-8 left as is)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class LinesTexts(NamedTuple):
    """A period's lines as the credits answer writes them (stored with the period, so that a live
    credits answer is read, not rebuilt) and as stored (v_periods.lines: each line's document)."""

    answer: str
    stored: str


def lines_texts(lines: tuple[LineRow, ...], written: dict[int, tuple[object, LinesTexts]]) -> LinesTexts:
    """Both texts of a period's lines: JSON arrays of each line's text, made once per line and
    joined (the same bytes as `answer_json` of the list: items joined by a comma).

    `written`, kept by the caller for one write, shares the texts between periods holding the
    same tuple of lines (the model hands one tuple to every contract with the same window and
    downtime), and each line's texts between the tuples holding the same line, keyed by their
    identities: an entry keeps its object alive, so no other takes its id while `written`
    lives. Not kept for the process: a cache living on would keep a whole rebuild's rows alive,
    for the garbage collector to walk."""
    found = written.get(id(lines))
    if found is None:
        answers, stored = [], []
        for line in lines:
            texts = written.get(id(line))
            if texts is None:
                texts = written[id(line)] = (line, LinesTexts(_line_answer_json(line), _line_json(line)))
            answers.append(texts[1].answer)
            stored.append(texts[1].stored)
        found = written[id(lines)] = (lines, LinesTexts("[" + ",".join(answers) + "]", "[" + ",".join(stored) + "]"))
    return found[1]


@lru_cache(maxsize=65536)
def _line_answer_json(line: LineRow) -> str:
    return answer_json(line_json(line))


def lines_from_json(text: str) -> tuple[LineRow, ...]:
    """The stored lines of a period (not cached: a process-wide cache of rows would keep tens of
    thousands of objects for the collector's full passes to walk, for a few microseconds each)."""
    return tuple(LineRow(**d) for d in json.loads(text))


@lru_cache(maxsize=65536)
def seconds_text(micros: int | Decimal) -> str:
    """Microseconds as exact seconds in the stored form ("3600", "2419.2"); cached, since every
    contract sharing a window or a downtime asks for the same figure."""
    return plain_decimal(exact_seconds(micros))


# the one order every answer lists a period's lines in: by service, then region (of a line's row,
# or of a subscription: the stored periods list their subscriptions' lines in it, projections/model.py)
BY_SERVICE_REGION = attrgetter("service", "region")


def line_rows(lines: tuple[LineStep, ...]) -> tuple[LineRow, ...]:
    """A period's lines as rows, in the order every answer lists them (`BY_SERVICE_REGION`)."""
    return tuple(sorted(map(LineRow.of, lines), key=BY_SERVICE_REGION))


class PeriodRow(NamedTuple):
    """A contract's month with downtime, its credit and its grant under the annual cap."""

    contract_id: str
    customer_id: str
    month: str
    year_start: str
    lines: tuple[LineRow, ...]
    credit_minor: int
    granted_minor: int
    capped_minor: int


class PeriodAnswer(NamedTuple):
    """A stored period as the live credits answer needs it: its amounts and its lines already
    written as the answer writes them (v_periods.lines_answer)."""

    year_start: str
    credit_minor: int
    granted_minor: int
    capped_minor: int
    lines_answer: str


@dataclass(frozen=True)
class YearRow:
    contract_id: str
    customer_id: str
    starts_on: str
    cap_minor: int | None
    credit_minor: int
    granted_minor: int
    capped_minor: int
    remaining_minor: int | None


@dataclass(frozen=True)
class FactRow:
    """A recorded fact, filed by what it can reach: ("customer", id) for contract and claim facts,
    ("service", name) for incidents and maintenance, ("ledger", "") for billing. An as-of answer
    for one customer replays only its rows (docs/decisions/0013-as-of-by-customer.md)."""

    position: int
    recorded_at: int  # microseconds since the epoch: the fact's timestamp
    # the latest recorded time of this fact and every one before it: the instant from which the
    # fact is known. It never goes backwards along the log, so "known at T" is always a prefix
    known_from: int
    scope: str
    scope_key: str
    originator_id: str
    originator_version: int
    topic: str
    state: str
    # an incident's or a maintenance window's whole state once this fact is applied (JSON of
    # incident_doc / maintenance_doc), None for other facts: "as known at T" loads the last
    # state of each instead of replaying every fact of its service (projections/as_of.py)
    state_after: str | None = None


@dataclass(frozen=True)
class RunRow:
    """A billing run: its month, when it was issued, what it issued (sums by currency and kind)."""

    run_id: str
    seq: int
    month: str
    issued_at: str
    entries: int
    covered: int
    left_contracts: tuple[str, ...]
    totals: dict[str, dict[str, int]]

    def doc(self) -> dict[str, Any]:
        return {**self.__dict__, "left_contracts": list(self.left_contracts)}

    @classmethod
    def from_doc(cls, d: dict[str, Any]) -> RunRow:
        return cls(**{**d, "left_contracts": tuple(d["left_contracts"])})


@dataclass(frozen=True)
class ClaimRow:
    claim_id: str
    customer_id: str
    month: str
    channel: str
    recorded_at: str


def instant_text(value: datetime) -> str:
    """An instant as the views and answers write it: RFC 3339 in UTC with a Z."""
    return str(value.astimezone(UTC).isoformat().replace("+00:00", "Z"))


def ledger_row(run_id: str, issued_at: str, entry: Mapping[str, Any]) -> dict[str, object]:
    """A ledger entry as the ledger holds it once its run issued it (v_ledger's columns)."""
    entry_id = str(entry["entry_id"])
    return {
        "seq": int(entry_id[1:]),
        "entry_id": entry_id,
        "run_id": run_id,
        "customer_id": entry["customer_id"],
        "contract_id": entry["contract_id"],
        "month": entry["month"],
        "kind": entry["kind"],
        "amount_minor": entry["amount_minor"],
        "currency": entry["currency"],
        "issued_at": issued_at,
        "invoice_id": None,
        "applied_at": None,
    }


def listed_entry(row: Mapping[str, object]) -> dict[str, object]:
    """A ledger entry as GET /v1/billing/ledger lists it (and webhooks send it): the ledger's
    internal order number left out."""
    return {k: v for k, v in row.items() if k != "seq"}


class RunParts(NamedTuple):
    """A billing run's fact, indexed once: its sums, its entries and the contract-months it
    covered, and where in each list every contract's own are (a replay for one customer takes
    its own, instead of walking every customer's)."""

    totals: dict[str, dict[str, int]]
    entries: list[dict[str, object]]
    covered: list[tuple[str, str]]  # (contract_id, month)
    entries_of: dict[str, list[int]]  # contract id -> indexes in `entries`
    covered_of: dict[str, list[int]]  # contract id -> indexes in `covered`

    @classmethod
    def of(cls, entries: list[dict[str, object]], covered: list[str]) -> RunParts:
        pairs = [(contract_id, month) for contract_id, month in (key.split("|") for key in covered)]
        entries_of: dict[str, list[int]] = {}
        for i, e in enumerate(entries):
            entries_of.setdefault(str(e["contract_id"]), []).append(i)
        covered_of: dict[str, list[int]] = {}
        for i, (contract_id, _) in enumerate(pairs):
            covered_of.setdefault(contract_id, []).append(i)
        return cls(run_totals(entries), entries, pairs, entries_of, covered_of)

    def entries_kept(self, kept: set[str] | None) -> list[dict[str, object]]:
        """The entries of these contracts (None: all), in the run's order."""
        if kept is None:
            return self.entries
        return [self.entries[i] for i in sorted(i for c in kept for i in self.entries_of.get(c, ()))]

    def covered_kept(self, kept: set[str] | None) -> list[tuple[str, str]]:
        """The covered contract-months of these contracts (None: all), in the run's order."""
        if kept is None:
            return self.covered
        return [self.covered[i] for i in sorted(i for c in kept for i in self.covered_of.get(c, ()))]


def run_totals(entries: list[dict[str, object]]) -> dict[str, dict[str, int]]:
    """A run's sums by currency and kind."""
    totals: dict[str, dict[str, int]] = {}
    for e in entries:
        by_kind = totals.setdefault(str(e["currency"]), {"credit": 0, "adjustment": 0})
        by_kind[str(e["kind"])] += int(str(e["amount_minor"]))
    return totals
