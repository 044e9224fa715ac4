"""The live credits answer's reads in one statement: one snapshot, one round trip (decision 20).

`credits_answer` reads five things about a customer: their contracts, the unresolved incidents,
the stored periods of the range, the contract years and the billed months. Read-your-writes adds
two: the log's last position and the position the views cover. Read one by one, that is seven
queries in a read transaction; on PostgreSQL each is a round trip, and with the transaction's
begin, isolation and end about ten per answer. Here the seven are one SELECT (a UNION ALL of
tagged rows): a single statement sees a single snapshot on both stores, so the positions and the
rows agree, and it costs one round trip. `AnswerReads` answers `credits_answer`'s questions from
the rows, the way `SQLReader` answers them from the views (same filters, same order); the tests
compare the two answers byte for byte."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from domain.credit import ContractFacts
from domain.downtime import IncidentFacts
from domain.limits import ID_PATTERN
from projections.records import PeriodAnswer, YearRow, contract_from_text, incident_from_doc
from projections.views import SQLCreditsView

_NO_TEXT = "CAST(NULL AS TEXT)"
_NO_NUMBER = "CAST(NULL AS BIGINT)"


def answer_statement(log_position_sql: str, tracking_table: str) -> str:
    """The statement; its parameters are `answer_parameters(...)`. Every branch gives the same
    columns: kind, three texts (a, b, c), five numbers (n1..n5) and a document (t). Rows come
    ordered by (kind, a, b): contracts by contract id and incidents by incident id, as the
    views' own reads order them (by the database's collation)."""

    def branch(kind: str, a: str, b: str, c: str, numbers: Sequence[str], t: str, rest: str) -> str:
        n = [*numbers, *[_NO_NUMBER] * (5 - len(numbers))]
        return (
            f"SELECT '{kind}' AS kind, {a} AS a, {b} AS b, {c} AS c, "
            + ", ".join(f"{x} AS n{i}" for i, x in enumerate(n, start=1))
            + f", {t} AS t {rest}"
        )

    p = "?"
    none = _NO_TEXT
    branches = [
        branch("log", none, none, none, [f"({log_position_sql})"], none, ""),
        branch(
            "covered",
            none,
            none,
            none,
            [f"(SELECT MAX(notification_id) FROM {tracking_table} WHERE application_name = {p})"],
            none,
            "",
        ),
        branch("contract", "contract_id", none, none, [], "doc", f"FROM v_contracts WHERE customer_id = {p}"),
        branch("incident", "incident_id", "service", none, [], "doc", "FROM v_incidents WHERE ended_at IS NULL"),
        branch(
            "period",
            "contract_id",
            "month",
            "year_start",
            ["credit_minor", "granted_minor", "capped_minor"],
            "lines_answer",
            f"FROM v_periods WHERE customer_id = {p} AND month >= {p} AND month <= {p}",
        ),
        branch(
            "year",
            "contract_id",
            "starts_on",
            "customer_id",
            ["cap_minor", "credit_minor", "granted_minor", "capped_minor", "remaining_minor"],
            none,
            f"FROM v_contract_years WHERE customer_id = {p}",
        ),
        branch(
            "billed",
            "b.contract_id",
            "b.month",
            none,
            [],
            none,
            f"FROM v_billed b JOIN v_contracts c ON c.contract_id = b.contract_id WHERE c.customer_id = {p}",
        ),
    ]
    return " UNION ALL ".join(branches) + " ORDER BY 1, 2, 3"


COLUMNS = ("kind", "a", "b", "c", "n1", "n2", "n3", "n4", "n5", "t")


def answer_parameters(application_name: str, customer_id: str, first: str, last: str) -> tuple[str, ...]:
    return (application_name, customer_id, customer_id, first, last, customer_id, customer_id)


class AnswerReads:
    """The rows of one `answer_statement`, answering what `credits_answer` asks of a reader."""

    def __init__(self, customer_id: str, first: str, last: str, rows: Iterable[Sequence[Any]]) -> None:
        self.customer_id, self.first, self.last = customer_id, first, last
        self.log_position = 0
        self.covered = 0
        self._contracts: list[str] = []
        self._incidents: list[tuple[str, str]] = []  # service, document
        self._periods: dict[tuple[str, str], PeriodAnswer] = {}
        self._years: dict[tuple[str, str], YearRow] = {}
        self._billed: set[tuple[str, str]] = set()
        for kind, a, b, c, n1, n2, n3, n4, n5, t in rows:
            if kind == "period":
                self._periods[(a, b)] = PeriodAnswer(c, n1, n2, n3, t)
            elif kind == "contract":
                self._contracts.append(t)
            elif kind == "incident":
                self._incidents.append((b, t))
            elif kind == "year":
                self._years[(a, b)] = YearRow(a, c, b, n1, n2, n3, n4, n5)
            elif kind == "billed":
                self._billed.add((a, b))
            elif kind == "log":
                self.log_position = int(n1 or 0)
            elif kind == "covered":
                self.covered = int(n1 or 0)

    def covers_log(self) -> bool:
        """Whether the views cover every fact the log held in this snapshot (read-your-writes)."""
        return self.covered >= self.log_position

    def _check(self, customer_id: str) -> None:
        assert customer_id == self.customer_id, "the reads are of one customer"

    def contracts_of(self, customer_id: str) -> list[ContractFacts]:
        self._check(customer_id)
        return [contract_from_text(doc) for doc in self._contracts]

    def open_incidents(self, services: set[str]) -> list[IncidentFacts]:
        return [incident_from_doc(json.loads(doc)) for service, doc in self._incidents if service in services]

    def period_answers(self, customer_id: str, first: str, last: str) -> dict[tuple[str, str], PeriodAnswer]:
        self._check(customer_id)
        assert self.first <= first and last <= self.last, "the months asked were read"
        return {k: v for k, v in self._periods.items() if first <= k[1] <= last}

    def years_of(self, customer_id: str) -> dict[tuple[str, str], YearRow]:
        self._check(customer_id)
        return self._years

    def billed_of(self, customer_id: str) -> set[tuple[str, str]]:
        self._check(customer_id)
        return self._billed


@lru_cache(maxsize=8)
def _statement(log_position_sql: str, tracking_table: str) -> str:
    return answer_statement(log_position_sql, tracking_table)


def read_answer(
    view: SQLCreditsView, log_position_sql: str, application_name: str, customer_id: str, first: str, last: str
) -> AnswerReads:
    """The reads through the views' own connection: one statement, its own snapshot (or, inside
    `view.reading()`, that reading's)."""
    if not answerable(customer_id):
        return AnswerReads(customer_id, first, last, [])
    rows = view.select(
        _statement(log_position_sql, view.tracking_table()),
        answer_parameters(application_name, customer_id, first, last),
    )
    return AnswerReads(customer_id, first, last, ([r[k] for k in COLUMNS] for r in rows))


def answerable(customer_id: str) -> bool:
    """Whether a contract can have this customer id (ids are checked when a contract is signed).
    Any other id has no reads: PostgreSQL would refuse a text with a NUL byte in a query."""
    return ID_PATTERN.fullmatch(customer_id) is not None


class InProcessAnswerReads:
    """SQLite: the statement is read in this process, on the event loop, after one turn of it
    (under load, the other connections' reads interleave with these; decision 18)."""

    def __init__(self, read: Callable[[str, str, str], AnswerReads]) -> None:
        self._read = read

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def read(self, customer_id: str, first: str, last: str) -> AnswerReads:
        await asyncio.sleep(0)
        return self._read(customer_id, first, last)


class PostgresAnswerReads:
    """PostgreSQL: the statement through a pool of asynchronous connections, so that the event
    loop awaits its one round trip instead of handing the request to a worker thread. The
    connections are in autocommit: the statement is its own snapshot, with no BEGIN and no end.

    Any failure raises a psycopg.Error, and the caller answers that request the threaded way
    instead (the library's pool checks connections, retries, and reports an outage as 503). So
    waiting here is never needed: a request waits at most WAIT_SECONDS for a connection of this
    pool (a read holds one for a round trip and its turn of the event loop: milliseconds, tens
    under a full load), and a connection broken by a restart,
    which the pool replaces with backoff, is given up after `connect_timeout` so that a new one
    can be made as soon as the server answers again (not at the backoff's next attempt)."""

    APPLICATION_NAME = "sla-credits live reads"  # its connections, by name, in pg_stat_activity
    WAIT_SECONDS = 1.0

    def __init__(self, connection: dict[str, Any], statement: str, application_name: str, size: int) -> None:
        self._statement = statement
        self._application_name = application_name
        connect_timeout = float(connection.get("connect_timeout", 5))
        self._pool = AsyncConnectionPool(
            connection_class=AsyncConnection,
            kwargs={**connection, "autocommit": True, "application_name": self.APPLICATION_NAME},
            min_size=1,
            max_size=max(1, size),
            open=False,
            timeout=self.WAIT_SECONDS,
            reconnect_timeout=connect_timeout,
        )

    async def open(self) -> None:
        await self._pool.open(wait=False)

    async def close(self) -> None:
        await self._pool.close()

    async def read(self, customer_id: str, first: str, last: str) -> AnswerReads:
        if not answerable(customer_id):
            return AnswerReads(customer_id, first, last, [])
        # getconn/putconn, not the pool's `connection()` context: no transaction to end on a
        # connection in autocommit, and a broken one is still checked and replaced on return
        conn = await self._pool.getconn()
        try:
            parameters = answer_parameters(self._application_name, customer_id, first, last)
            cursor = await conn.execute(self._statement, parameters)
            rows = await cursor.fetchall()
        finally:
            await self._pool.putconn(conn)
        return AnswerReads(customer_id, first, last, rows)
