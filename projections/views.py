"""The credits read model: one view interface, kept in memory, in SQLite or in PostgreSQL.

Each store writes the rows changed by one event and that event's tracking position in one
transaction, so a crash between two events neither skips nor repeats one.
"""

from __future__ import annotations

import json
import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import (
    IntegrityError,
    InternalError,
    OperationalError,
    ProgrammingError,
    Tracking,
    TrackingRecorder,
)
from eventsourcing.popo import POPOTrackingRecorder
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from psycopg.pq import TransactionStatus

from domain.application import APPLICATION_NAME
from projections.heap import collector_paused
from projections.model import CreditsModel
from projections.pg_recorders import fail_fast
from projections.pg_statistics import TableStatistics
from projections.records import (
    ClaimRow,
    LinesTexts,
    PeriodRow,
    RunRow,
    YearRow,
    contract_doc,
    contract_from_doc,
    dumps,
    incident_doc,
    incident_from_doc,
    lines_from_json,
    lines_texts,
    maintenance_doc,
    maintenance_from_doc,
)

VIEW_TABLES = (
    "v_contracts",
    "v_incidents",
    "v_maintenance",
    "v_periods",
    "v_contract_years",
    "v_claims",
    "v_ledger",
    "v_billed",
    "v_runs",
    "v_chain",
    "v_facts",
)

DDL = [
    """CREATE TABLE IF NOT EXISTS v_contracts (
        contract_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, doc TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS v_contracts_customer ON v_contracts (customer_id)",
    """CREATE TABLE IF NOT EXISTS v_incidents (
        incident_id TEXT PRIMARY KEY, service TEXT NOT NULL, started_at BIGINT NOT NULL,
        ended_at BIGINT, doc TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS v_incidents_service_time ON v_incidents (service, started_at)",
    # every live answer asks for the unresolved incidents of the customer's services: a few rows
    # among all incidents ever recorded (core-profile: the scan was a third of a credits answer)
    # (not a partial index: SQLite's planner, without statistics, prefers the one above to it)
    "CREATE INDEX IF NOT EXISTS v_incidents_open ON v_incidents (ended_at, service, incident_id)",
    """CREATE TABLE IF NOT EXISTS v_maintenance (
        maintenance_id TEXT PRIMARY KEY, service TEXT NOT NULL, starts_at BIGINT NOT NULL,
        ends_at BIGINT NOT NULL, doc TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS v_maintenance_service_time ON v_maintenance (service, starts_at)",
    """CREATE TABLE IF NOT EXISTS v_periods (
        contract_id TEXT NOT NULL, month TEXT NOT NULL, customer_id TEXT NOT NULL,
        year_start TEXT NOT NULL, credit_minor BIGINT NOT NULL, granted_minor BIGINT NOT NULL,
        capped_minor BIGINT NOT NULL, lines_answer TEXT NOT NULL, lines TEXT NOT NULL,
        PRIMARY KEY (contract_id, month))""",
    "CREATE INDEX IF NOT EXISTS v_periods_customer ON v_periods (customer_id, month)",
    # the claims report's sums by contract from the index alone, not from the rows and their lines
    "CREATE INDEX IF NOT EXISTS v_periods_sums ON v_periods (contract_id, month, credit_minor, granted_minor)",
    """CREATE TABLE IF NOT EXISTS v_contract_years (
        contract_id TEXT NOT NULL, starts_on TEXT NOT NULL, customer_id TEXT NOT NULL,
        cap_minor BIGINT, credit_minor BIGINT NOT NULL, granted_minor BIGINT NOT NULL,
        capped_minor BIGINT NOT NULL, remaining_minor BIGINT,
        PRIMARY KEY (contract_id, starts_on))""",
    "CREATE INDEX IF NOT EXISTS v_contract_years_customer ON v_contract_years (customer_id)",
    """CREATE TABLE IF NOT EXISTS v_claims (
        claim_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, month TEXT NOT NULL,
        channel TEXT NOT NULL, recorded_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS v_claims_customer ON v_claims (customer_id, month)",
    """CREATE TABLE IF NOT EXISTS v_ledger (
        seq BIGINT PRIMARY KEY, entry_id TEXT NOT NULL UNIQUE, run_id TEXT NOT NULL,
        customer_id TEXT NOT NULL, contract_id TEXT NOT NULL, month TEXT NOT NULL, kind TEXT NOT NULL,
        amount_minor BIGINT NOT NULL, currency TEXT NOT NULL, issued_at TEXT NOT NULL,
        invoice_id TEXT, applied_at TEXT, issued_position BIGINT NOT NULL, acknowledged_position BIGINT)""",
    "CREATE INDEX IF NOT EXISTS v_ledger_run ON v_ledger (run_id)",
    # a customer's entries as known at an instant (projections/as_of.py), and the API's filter
    "CREATE INDEX IF NOT EXISTS v_ledger_customer ON v_ledger (customer_id, seq)",
    """CREATE TABLE IF NOT EXISTS v_billed (
        contract_id TEXT NOT NULL, month TEXT NOT NULL, run_id TEXT NOT NULL,
        PRIMARY KEY (contract_id, month))""",
    "CREATE TABLE IF NOT EXISTS v_chain (position BIGINT PRIMARY KEY, link TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS v_runs (
        run_id TEXT PRIMARY KEY, seq BIGINT NOT NULL UNIQUE, month TEXT NOT NULL, issued_at TEXT NOT NULL,
        doc TEXT NOT NULL, position BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS v_facts (
        position BIGINT PRIMARY KEY, recorded_at BIGINT NOT NULL, known_from BIGINT NOT NULL,
        scope TEXT NOT NULL, scope_key TEXT NOT NULL,
        originator_id TEXT NOT NULL, originator_version BIGINT NOT NULL, topic TEXT NOT NULL, state TEXT NOT NULL,
        state_after TEXT)""",
    "CREATE INDEX IF NOT EXISTS v_facts_scope ON v_facts (scope, scope_key, position)",
    "CREATE INDEX IF NOT EXISTS v_facts_known ON v_facts (known_from)",
    # the services' facts of a stretch of the log, for the mirror of their streams (as_of.py),
    # without walking every customer's facts in it
    "CREATE INDEX IF NOT EXISTS v_facts_scope_position ON v_facts (scope, position)",
    # what an as-of answer reads of its services' facts, from the index alone (projections/as_of.py)
    "CREATE INDEX IF NOT EXISTS v_facts_reach ON v_facts (scope, scope_key, known_from, position, originator_id)",
    "CREATE TABLE IF NOT EXISTS v_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # console sessions ended by signing out, until they would have expired (every worker checks)
    "CREATE TABLE IF NOT EXISTS console_signed_out (session_id TEXT PRIMARY KEY, expires_at DOUBLE PRECISION NOT NULL)",
    # what the projection process reports to every API process: the self-check, a blocking failure
    "CREATE TABLE IF NOT EXISTS projection_status (name TEXT PRIMARY KEY, doc TEXT NOT NULL)",
]


def _columns_of(statement: str) -> tuple[str, ...]:
    """The column names a CREATE TABLE statement of DDL gives, in order."""
    inside = statement[statement.index("(") + 1 : statement.rindex(")")]
    parts, depth, part = [], 0, ""
    for ch in inside:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(part)
            part = ""
        else:
            part += ch
    parts.append(part)
    names = (p.split()[0] for p in parts if p.strip())
    return tuple(n for n in names if n.upper() not in ("PRIMARY", "UNIQUE"))


# Each view table's columns as this version makes them (a table of an older shape is made again).
_COLUMNS = {
    statement.split()[5]: _columns_of(statement)
    for statement in DDL
    if statement.startswith("CREATE TABLE IF NOT EXISTS")
}

# Every table the service writes besides the log (for grants): the views, their meta, the status rows.
SERVICE_TABLES = (*VIEW_TABLES, "v_meta", "projection_status", "console_signed_out")

# What the stored rows mean. Raise it whenever a change of the projection changes any stored
# row for the same facts: the writer then rebuilds every view from the log before it goes on
# (`upgrade_model`), so that no row written by older code survives an upgrade.
# 2: periods count resolved incidents only (docs/decisions/0011); no `provisional` column.
# 3: v_facts, the facts filed by customer and service (docs/decisions/0013).
# 4: v_facts.known_from: "known at T" is a prefix of the log (issue 16).
# 5: v_runs, the billing runs.
# 6: v_incidents docs carry the incident's title (the console's incident list, issue 16).
# 7: v_facts.state_after: each incident's and maintenance window's state after each of its facts;
#    a maintenance window's facts filed under its own service when an incident shares its id.
# 8: v_periods.lines_answer: the period's lines as the credits answer writes them.
# 9: v_periods.lines: the period's lines as stored, with the period (v_downtime, a row per line,
#    retired: decision 22).
# 10: v_ledger.issued_position and acknowledged_position, v_runs.position: the ledger as known at an
#    instant, and a customer's entries and billed months then, are read from the views
#    (docs/decisions/0026).
MODEL_VERSION = "10"

# Tables of older versions that no newer one has: dropped by the writer's upgrade.
RETIRED_TABLES = ("v_downtime",)

LEDGER_COLUMNS = (
    "seq",
    "entry_id",
    "run_id",
    "customer_id",
    "contract_id",
    "month",
    "kind",
    "amount_minor",
    "currency",
    "issued_at",
    "invoice_id",
    "applied_at",
)

# What the reads select, by name: a statement kept prepared on a PostgreSQL connection (decision
# 27) fails if its result's columns change, as `SELECT *` of a table recreated with more columns
# would (an upgrade of the views while a worker of the older release runs)
LEDGER_ROW = ", ".join((*LEDGER_COLUMNS, "issued_position", "acknowledged_position"))
PERIOD_ROW = "contract_id, customer_id, month, year_start, lines, credit_minor, granted_minor, capped_minor"
YEAR_ROW = "contract_id, customer_id, starts_on, cap_minor, credit_minor, granted_minor, capped_minor, remaining_minor"
CLAIM_ROW = "claim_id, customer_id, month, channel, recorded_at"


class CreditsView(TrackingRecorder):
    """The read model written by `CreditsProjection` (one writer) and read by the queries."""

    _model: CreditsModel | None = None
    # Set by the live runner: the log's last position. While the projection is behind it, up
    # to `batch_limit` facts are applied to the model before one write; each write still
    # carries the position of the last fact it covers, so a crash repeats or skips nothing.
    latest_position: Callable[[], int | None] | None = None
    batch_limit = 20_000
    batch_seconds = 10.0
    # the fact being processed: (position, fact type, stream id), named when it fails
    current: tuple[int, str, str] | None = None

    _model_lock = threading.Lock()

    @property
    def model(self) -> CreditsModel:
        """The writer's working state, loaded from the stored rows on first use (once, even
        when the runner's thread and its supervisor ask at the same moment)."""
        model = self._model
        if model is None:
            with self._model_lock:
                if self._model is None:
                    position = self.max_tracking_id(APPLICATION_NAME)
                    with collector_paused():
                        self._model = self.load_model()
                    self.model_position = position or 0
                model = self._model
        return model

    # the position the working state stands at (the last one it loaded or wrote); None: not loaded
    model_position: int | None = None

    def discard_model(self) -> None:
        self._model = None
        self._batched = 0
        self.model_position = None

    @abstractmethod
    def load_model(self) -> CreditsModel: ...

    _batched = 0
    _batch_started = 0.0

    def commit(self, tracking: Tracking) -> None:
        """After each fact: while the projection is behind the log's head, defer (up to
        `batch_limit` facts or `batch_seconds`); then compute what was deferred and write the
        changed rows with the position of the last fact, atomically."""
        model = self.model
        if self.latest_position is not None:
            if self._batched == 0:
                self._batch_started = time.monotonic()
            self._batched += 1
            if (
                self._batched < self.batch_limit
                and time.monotonic() - self._batch_started < self.batch_seconds
                and tracking.notification_id < (self.latest_position() or 0)
            ):
                model.deferred = True
                return
        self._batched = 0
        model.flush()
        self.write(tracking)

    @abstractmethod
    def write(self, tracking: Tracking) -> None:
        """Write the model's changed rows and the tracking position atomically."""

    def wait_for(self, position: int | None, timeout: float) -> bool:
        """Block until the view has processed `position` (read-your-writes); False on timeout."""
        if position is None:
            return True
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            current = self.max_tracking_id(APPLICATION_NAME)
            if current is not None and current >= position:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


class MemoryCreditsView(POPOTrackingRecorder, CreditsView):
    """In memory: as-of replays and verification scratch stores."""

    def __init__(self) -> None:
        super().__init__()
        self._model = CreditsModel()
        self._model.keep_chain = True

    def load_model(self) -> CreditsModel:
        return CreditsModel()

    def write(self, tracking: Tracking) -> None:
        self.model.changes.__init__()  # type: ignore[misc]
        self.insert_tracking(tracking)


class SQLCreditsView(CreditsView):
    """The rows shared by the SQLite and PostgreSQL stores ('?' placeholders)."""

    placeholder = "?"
    # whether a read is work in this process (SQLite: no round trip to wait on), so that a short
    # one costs less done at once than handed to another thread
    reads_in_process = False

    @contextmanager
    @abstractmethod
    def cursor(self, *, commit: bool) -> Iterator[Any]: ...

    @abstractmethod
    def insert_tracking_in(self, cursor: Any, tracking: Tracking) -> None: ...

    @abstractmethod
    def tracking_table(self) -> str: ...

    def sql(self, statement: str) -> str:
        return statement if self.placeholder == "?" else statement.replace("?", self.placeholder)

    def create_view_tables(self) -> None:
        """Create what is missing. An index on a column that a table of an older MODEL_VERSION
        lacks is left for the writer's upgrade (which recreates the table): every process must
        be able to start on an old store, so that the writer can upgrade it."""
        with self.cursor(commit=True) as c:
            for statement in DDL:
                if not statement.startswith("CREATE INDEX"):
                    c.execute(statement)
        for statement in DDL:
            if statement.startswith("CREATE INDEX"):
                try:
                    with self.cursor(commit=True) as c:
                        c.execute(statement)
                except (OperationalError, ProgrammingError):
                    pass  # a column of a newer version: the writer's upgrade creates it

    def upgrade_model(self) -> bool:
        """Called by the one writer before it projects: if the rows were written by a projection
        whose rows meant something else (another MODEL_VERSION), drop every view and its
        position, so that the writer rebuilds them from the log. Answers whether it did."""
        rows = self.select("SELECT value FROM v_meta WHERE name = ?", ("model_version",))
        if rows and rows[0]["value"] == MODEL_VERSION:
            return False
        with self.cursor(commit=True) as c:
            # a write first: SQLite then waits for other writers instead of failing the upgrade
            # of a read transaction
            c.execute(self.sql("DELETE FROM v_meta WHERE name = ?"), ("model_version",))
            c.execute(
                self.sql(f"SELECT COUNT(*) AS n FROM {self.tracking_table()} WHERE application_name = ?"),
                (APPLICATION_NAME,),
            )
            stale = c.fetchone()["n"] > 0
            for table in RETIRED_TABLES:
                if self._has_table(c, table):
                    c.execute(f"DROP TABLE {table}")
            # the chain's recorded links stay: they tell a changed log from the one first processed
            # (without a position, the other views hold no row: only a table of an older shape is
            # made again, so that a store set up by `migrate` needs no owner's rights here)
            for table in VIEW_TABLES:
                if table != "v_chain" and (stale or self._columns(c, table) not in (None, _COLUMNS[table])):
                    c.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in DDL:
                c.execute(statement)
            if stale:
                c.execute(
                    self.sql(f"DELETE FROM {self.tracking_table()} WHERE application_name = ?"), (APPLICATION_NAME,)
                )
            c.execute(self.sql("INSERT INTO v_meta VALUES (?, ?)"), ("model_version", MODEL_VERSION))
        self.discard_model()
        return stale

    def _columns(self, c: Any, table: str) -> tuple[str, ...] | None:
        """The table's columns in order, or None when there is no such table."""
        if not self._has_table(c, table):
            return None
        if self.placeholder == "?":
            c.execute(f"SELECT name FROM pragma_table_info('{table}') ORDER BY cid")
        else:
            c.execute(
                "SELECT column_name AS name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
                (table,),
            )
        return tuple(row["name"] for row in c.fetchall())

    def _has_table(self, c: Any, table: str) -> bool:
        if self.placeholder == "?":
            c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        else:
            c.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = %s",
                (table,),
            )
        return c.fetchone() is not None

    _reading = threading.local()

    @contextmanager
    def read_cursor(self) -> Iterator[Any]:
        """A transaction that only reads, every statement of it in one snapshot (SQLite's read
        transactions always are)."""
        with self.cursor(commit=False) as c:
            yield c

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Answer every select inside from one read transaction: one consistent snapshot of
        the views, and one transaction instead of one per query."""
        if getattr(self._reading, "cursor", None) is not None:
            yield
            return
        with self.read_cursor() as c:
            self._reading.cursor = c
            try:
                yield
            finally:
                self._reading.cursor = None

    def covered_in_reading(self) -> int:
        """The log position the views cover, as the current `reading()`'s snapshot sees it."""
        rows = self.select(
            f"SELECT MAX(notification_id) AS n FROM {self.tracking_table()} WHERE application_name = ?",
            (APPLICATION_NAME,),
        )
        return int(rows[0]["n"] or 0)

    def reading_cursor(self) -> Any:
        """The cursor of the current `reading()` (its one snapshot)."""
        current = getattr(self._reading, "cursor", None)
        assert current is not None, "only inside reading()"
        return current

    def select(self, statement: str, params: tuple[Any, ...] | list[Any] = ()) -> list[Any]:
        current = getattr(self._reading, "cursor", None)
        if current is not None:
            current.execute(self.sql(statement), params)
            return list(current.fetchall())
        return self.select_once(statement, params)

    def select_once(self, statement: str, params: tuple[Any, ...] | list[Any]) -> list[Any]:
        """One read in a transaction of its own."""
        with self.read_cursor() as c:
            c.execute(self.sql(statement), params)
            return list(c.fetchall())

    # -- the writer -----------------------------------------------------------------------

    def load_model(self) -> CreditsModel:
        model = CreditsModel()
        with self.read_cursor() as c:
            c.execute("SELECT doc FROM v_contracts")
            for row in c.fetchall():
                model.load_contract(contract_from_doc(json.loads(row["doc"])))
            c.execute("SELECT doc FROM v_incidents")
            for row in c.fetchall():
                model.load_incident(incident_from_doc(json.loads(row["doc"])))
            c.execute("SELECT doc FROM v_maintenance")
            for row in c.fetchall():
                model.load_maintenance(maintenance_from_doc(json.loads(row["doc"])))
            c.execute(f"SELECT {PERIOD_ROW} FROM v_periods")
            for row in c.fetchall():
                model.load_period(
                    PeriodRow(
                        row["contract_id"],
                        row["customer_id"],
                        row["month"],
                        row["year_start"],
                        lines_from_json(row["lines"]),
                        row["credit_minor"],
                        row["granted_minor"],
                        row["capped_minor"],
                    )
                )
            c.execute(f"SELECT {YEAR_ROW} FROM v_contract_years")
            for row in c.fetchall():
                model.load_year(YearRow(**{k: row[k] for k in YearRow.__dataclass_fields__}))
            c.execute(f"SELECT {CLAIM_ROW} FROM v_claims")
            for row in c.fetchall():
                model.claims[row["claim_id"]] = ClaimRow(**{k: row[k] for k in ClaimRow.__dataclass_fields__})
            c.execute(f"SELECT {LEDGER_ROW} FROM v_ledger")
            for row in c.fetchall():
                model.ledger[row["entry_id"]] = {k: row[k] for k in LEDGER_COLUMNS}
                model.ledger_known[row["entry_id"]] = (row["issued_position"], row["acknowledged_position"])
            c.execute("SELECT doc, position FROM v_runs")
            for row in c.fetchall():
                run = RunRow.from_doc(json.loads(row["doc"]))
                model.runs[run.run_id] = run
                model.run_positions[run.run_id] = row["position"]
            c.execute("SELECT contract_id, month, run_id FROM v_billed")
            for row in c.fetchall():
                model.billed[(row["contract_id"], row["month"])] = row["run_id"]
            c.execute("SELECT MAX(known_from) AS t FROM v_facts")
            model.log_time = c.fetchone()["t"] or 0
            c.execute("SELECT position, link FROM v_chain ORDER BY position DESC LIMIT 1")
            head = c.fetchone()
            if head is not None:
                model.chain_head = (head["position"], head["link"])
        return model

    def write(self, tracking: Tracking) -> None:
        model = self.model
        try:
            with self.cursor(commit=True) as c:
                self.write_changes(c, model)
                self.insert_tracking_in(c, tracking)

        except BaseException:
            # The stored rows are the truth: reload them before processing anything else.
            self.discard_model()
            raise
        model.changes.__init__()  # type: ignore[misc]
        self.model_position = tracking.notification_id

    def write_changes(self, c: Any, model: CreditsModel, everything: bool = False) -> None:
        ch = model.changes
        sql = self.sql

        def put(table: str, statement: str, rows: list[tuple[Any, ...]]) -> None:
            self.put_rows(c, table, statement, rows, emptied=everything)

        contracts = model.contracts.keys() if everything else ch.contracts
        put(
            "v_contracts",
            sql(
                "INSERT INTO v_contracts VALUES (?, ?, ?) ON CONFLICT (contract_id) DO UPDATE "
                "SET customer_id = excluded.customer_id, doc = excluded.doc"
            ),
            [
                (cid, model.contracts[cid].customer_id, dumps(contract_doc(model.contracts[cid])))
                for cid in sorted(contracts)
            ],
        )
        incidents = model.incidents.keys() if everything else ch.incidents
        put(
            "v_incidents",
            sql(
                "INSERT INTO v_incidents VALUES (?, ?, ?, ?, ?) ON CONFLICT (incident_id) DO UPDATE SET "
                "service = excluded.service, started_at = excluded.started_at, "
                "ended_at = excluded.ended_at, doc = excluded.doc"
            ),
            [
                (i.incident_id, i.service, i.started_at, i.ended_at, dumps(incident_doc(i)))
                for i in (model.incidents[k] for k in sorted(incidents))
            ],
        )
        maintenance = model.maintenance.keys() if everything else ch.maintenance
        put(
            "v_maintenance",
            sql(
                "INSERT INTO v_maintenance VALUES (?, ?, ?, ?, ?) ON CONFLICT (maintenance_id) DO UPDATE SET "
                "service = excluded.service, starts_at = excluded.starts_at, "
                "ends_at = excluded.ends_at, doc = excluded.doc"
            ),
            [
                (m.maintenance_id, m.service, m.starts_at, m.ends_at, dumps(maintenance_doc(m)))
                for m in (model.maintenance[k] for k in sorted(maintenance))
            ],
        )
        periods = model.periods.keys() if everything else ch.periods
        gone = [key for key in sorted(periods) if key not in model.periods]
        present = [model.periods[key] for key in sorted(periods) if key in model.periods]
        written: dict[int, tuple[object, LinesTexts]] = {}  # lines texts shared within this write
        if not everything:
            c.executemany(sql("DELETE FROM v_periods WHERE contract_id = ? AND month = ?"), gone)
        put(
            "v_periods",
            sql(
                "INSERT INTO v_periods VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (contract_id, month) DO UPDATE "
                "SET customer_id = excluded.customer_id, year_start = excluded.year_start, "
                "credit_minor = excluded.credit_minor, granted_minor = excluded.granted_minor, "
                "capped_minor = excluded.capped_minor, lines_answer = excluded.lines_answer, "
                "lines = excluded.lines"
            ),
            [
                (
                    p.contract_id,
                    p.month,
                    p.customer_id,
                    p.year_start,
                    p.credit_minor,
                    p.granted_minor,
                    p.capped_minor,
                    *lines_texts(p.lines, written),
                )
                for p in present
            ],
        )
        years = model.years.keys() if everything else ch.years
        if not everything:
            c.executemany(
                sql("DELETE FROM v_contract_years WHERE contract_id = ? AND starts_on = ?"),
                [key for key in sorted(years) if key not in model.years],
            )
        put(
            "v_contract_years",
            sql(
                "INSERT INTO v_contract_years VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (contract_id, starts_on) "
                "DO UPDATE SET customer_id = excluded.customer_id, cap_minor = excluded.cap_minor, "
                "credit_minor = excluded.credit_minor, granted_minor = excluded.granted_minor, "
                "capped_minor = excluded.capped_minor, remaining_minor = excluded.remaining_minor"
            ),
            [
                (
                    y.contract_id,
                    y.starts_on,
                    y.customer_id,
                    y.cap_minor,
                    y.credit_minor,
                    y.granted_minor,
                    y.capped_minor,
                    y.remaining_minor,
                )
                for y in (model.years[k] for k in sorted(years) if k in model.years)
            ],
        )
        ledger = model.ledger.keys() if everything else ch.ledger
        put(
            "v_ledger",
            sql(
                "INSERT INTO v_ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (seq) "
                "DO UPDATE SET invoice_id = excluded.invoice_id, applied_at = excluded.applied_at, "
                "acknowledged_position = excluded.acknowledged_position"
            ),
            [(*(model.ledger[k][col] for col in LEDGER_COLUMNS), *model.ledger_known[k]) for k in sorted(ledger)],
        )
        runs = model.runs.keys() if everything else ch.runs
        put(
            "v_runs",
            sql("INSERT INTO v_runs VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO NOTHING"),
            [
                (r.run_id, r.seq, r.month, r.issued_at, dumps(r.doc()), model.run_positions[r.run_id])
                for r in (model.runs[k] for k in sorted(runs))
            ],
        )
        billed = model.billed.keys() if everything else ch.billed
        put(
            "v_billed",
            sql("INSERT INTO v_billed VALUES (?, ?, ?) ON CONFLICT (contract_id, month) DO NOTHING"),
            [(k[0], k[1], model.billed[k]) for k in sorted(billed)],
        )
        if everything:
            put("v_chain", sql("INSERT INTO v_chain VALUES (?, ?)"), model.full_chain)
        else:
            put("v_chain", sql("INSERT INTO v_chain VALUES (?, ?)"), ch.chain)
        put(
            "v_facts",
            sql("INSERT INTO v_facts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (position) DO NOTHING"),
            [tuple(f.__dict__.values()) for f in (model.all_facts if everything else ch.facts)],
        )
        claims = model.claims.keys() if everything else ch.claims
        put(
            "v_claims",
            sql("INSERT INTO v_claims VALUES (?, ?, ?, ?, ?) ON CONFLICT (claim_id) DO NOTHING"),
            [
                (r.claim_id, r.customer_id, r.month, r.channel, r.recorded_at)
                for r in (model.claims[k] for k in sorted(claims))
            ],
        )

    def put_rows(self, c: Any, table: str, statement: str, rows: list[tuple[Any, ...]], emptied: bool) -> None:
        """Write rows with `statement` (an insert, or an upsert of changed rows). `emptied`: the
        table was emptied in this transaction (a full write), so that no row can conflict."""
        c.executemany(statement, rows)

    def replace_all(self, model: CreditsModel, position: int | None) -> None:
        """Drop every view row and write `model` in its place with its position, atomically."""
        with self.cursor(commit=True) as c:
            for table in VIEW_TABLES:
                c.execute(f"DELETE FROM {table}")
            c.execute(self.sql(f"DELETE FROM {self.tracking_table()} WHERE application_name = ?"), (APPLICATION_NAME,))
            self.write_changes(c, model, everything=True)
            if position is not None:
                self.insert_tracking_in(c, Tracking(APPLICATION_NAME, position))
            c.execute(self.sql("DELETE FROM v_meta WHERE name = ?"), ("model_version",))
            c.execute(self.sql("INSERT INTO v_meta VALUES (?, ?)"), ("model_version", MODEL_VERSION))
        self.discard_model()

    def dump_rows(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every view row, ordered, for comparing a live view with a rebuild."""
        out: dict[str, list[tuple[Any, ...]]] = {}
        with self.read_cursor() as c:
            for table in VIEW_TABLES:
                c.execute(f"SELECT * FROM {table} ORDER BY 1, 2")
                out[table] = sorted(tuple(row[k] for k in row.keys()) for row in c.fetchall())  # noqa: SIM118 (sqlite3.Row)
        return out


def _create_once(create: Any) -> None:
    """Two processes creating the tracking table at once: the loser finds it made and retries."""
    for attempt in range(5):
        try:
            create()
            return
        except (IntegrityError, OperationalError, ProgrammingError, InternalError):
            if attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))


class SQLiteCreditsView(SQLiteTrackingRecorder, SQLCreditsView):
    placeholder = "?"
    reads_in_process = True

    def create_table(self) -> None:
        _create_once(super().create_table)
        _create_once(self.create_view_tables)

    @contextmanager
    def cursor(self, *, commit: bool) -> Iterator[Any]:
        with self.datastore.transaction(commit=commit) as c:
            yield c

    def insert_tracking_in(self, cursor: Any, tracking: Tracking) -> None:
        self._insert_tracking(cursor, tracking)

    def tracking_table(self) -> str:
        return "tracking"


class PostgresCreditsView(PostgresTrackingRecorder, SQLCreditsView):
    placeholder = "%s"
    # give up quickly while the database is down (see projections/pg_recorders.py)
    insert_tracking = fail_fast(PostgresTrackingRecorder.insert_tracking)
    max_tracking_id = fail_fast(PostgresTrackingRecorder.max_tracking_id)
    has_tracking_id = fail_fast(PostgresTrackingRecorder.has_tracking_id)

    def create_table(self) -> None:
        _create_once(super().create_table)
        _create_once(self.create_view_tables)

    @contextmanager
    def cursor(self, *, commit: bool) -> Iterator[Any]:
        with self.datastore.transaction(commit=commit) as c:
            yield c

    def insert_tracking_in(self, cursor: Any, tracking: Tracking) -> None:
        self._insert_tracking(cursor, tracking)

    def tracking_table(self) -> str:
        return self.tracking_table_name

    _statistics: TableStatistics | None = None

    @property
    def statistics(self) -> TableStatistics:
        """The view tables' statistics, kept current by this writer (projections/pg_statistics.py)."""
        if self._statistics is None:
            self._statistics = TableStatistics(VIEW_TABLES, lambda: self.cursor(commit=True))
        return self._statistics

    def write(self, tracking: Tracking) -> None:
        super().write(tracking)
        self.statistics.keep_current()

    def replace_all(self, model: CreditsModel, position: int | None) -> None:
        super().replace_all(model, position)
        self.statistics.analyze(VIEW_TABLES)  # a bulk load: every table's statistics are new

    def put_rows(self, c: Any, table: str, statement: str, rows: list[tuple[Any, ...]], emptied: bool) -> None:
        """Into a table emptied in this transaction (a rebuild), by COPY: the rows stream in one
        command instead of one statement each (the same values, adapted by the same dumpers)."""
        if not emptied:
            super().put_rows(c, table, statement, rows, emptied)
            self.statistics.wrote(table, len(rows))
            return
        with c.copy(f"COPY {table} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def select_once(self, statement: str, params: tuple[Any, ...] | list[Any]) -> list[Any]:
        """One read outside `reading()`: its transaction's BEGIN READ ONLY, the statement and
        the COMMIT sent in one pipeline, so one round trip instead of four (the library's pool
        connections are in autocommit; `read_cursor` says why READ ONLY and COMMIT)."""
        with self.datastore.get_connection() as conn:
            try:
                with conn.pipeline():
                    conn.execute("BEGIN READ ONLY")
                    cursor = conn.execute(self.sql(statement), params)
                    conn.execute("COMMIT")
            except BaseException:
                if conn.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
                    conn.execute("ROLLBACK")  # the statement failed: the COMMIT was not run
                raise
            return list(cursor.fetchall())

    @contextmanager
    def read_cursor(self) -> Iterator[Any]:
        """Read only, and ended by a COMMIT: at a ROLLBACK psycopg forgets every statement it
        prepared on the connection (an object it knew may be gone), so every read ended that way
        had its statements parsed and planned again (about 0.5 ms of the 0.75 ms the API's one
        statement took). A transaction that can write nothing commits what a rollback would.
        REPEATABLE READ: under READ COMMITTED each statement of one answer would see its own
        snapshot."""
        with self.datastore.transaction(commit=True) as c:
            c.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield c
