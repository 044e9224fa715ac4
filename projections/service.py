"""The query side as one object: read models, read-your-writes, as-of replays."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from domain.application import APPLICATION_NAME, CreditsApplication
from domain.calendar import Month, to_micros
from domain.errors import InvalidValueError
from domain.limits import check_instant, check_month
from projections.answer_reads import (
    AnswerReads,
    InProcessAnswerReads,
    PostgresAnswerReads,
    answer_statement,
    read_answer,
)
from projections.as_of import customer_model_at, prefix_known_at, world_model_at
from projections.billing import run_figures
from projections.blocking import current_failure, describe
from projections.heap import collector_paused, keep_out_of_collections
from projections.model import CreditsModel
from projections.queries import claims_periods, claims_report, credits_document
from projections.readers import LedgerAsKnown, LedgerReader, ModelReader, Reader, SQLReader
from projections.runner import catch_up, replay
from projections.self_check import last_self_check
from projections.stores import new_application, open_view, protect_log, store_env
from projections.views import SQLCreditsView

MAX_MONTHS = 120
log = logging.getLogger("sla_credits.billing")


class ProjectionBehindError(Exception):
    """The read model did not reach the caller's write in time (the projection is down or slow)."""


def one_month(text: str, field: str = "month") -> Month:
    """A month asked about (an explanation, either end of a range): within the months any fact
    can reach."""
    m = Month.parse(text, field)
    check_month(m.year, m.month, field)
    return m


def month_range(first: str, last: str) -> tuple[Month, Month]:
    a, b = one_month(first, "from"), one_month(last, "to")
    if a > b:
        raise InvalidValueError("from", "must not be after to")
    if (b.year - a.year) * 12 + b.month - a.month + 1 > MAX_MONTHS:
        raise InvalidValueError("to", f"a range covers at most {MAX_MONTHS} months (10 years)")
    return a, b


def _serves(made_for: tuple[Month, Month] | None, asked: tuple[Month, Month] | None) -> bool:
    """Whether a model made for the claims report of the months `made_for` (None: every period)
    serves a request for the report of `asked` (None: a page that reads every period). A whole
    model serves every request; one for a report serves the reports of the ranges within its
    own: a first month no earlier starts no earlier contract year, and a last month no later
    reads no later month (queries.claims_periods)."""
    if made_for is None:
        return True
    return asked is not None and made_for[0] <= asked[0] and asked[1] <= made_for[1]


class CreditsService:
    def __init__(
        self, url: str, app: CreditsApplication | None = None, pool_size: int = 5, world_keep_seconds: float = 600.0
    ) -> None:
        self.url = url
        self.app = app or new_application(store_env(url, pool_size=pool_size))
        protect_log(self.app)
        view = open_view(url)
        assert isinstance(view, SQLCreditsView)
        self.view = view
        self.reader = SQLReader(view)
        recorder: Any = self.app.recorder
        self._log_position_sql: str = recorder.position_sql()
        # the whole read model as known at an instant, for the as-of pages that need every
        # customer: the last one asked, by the log position it covers (see world_at)
        self._world_lock = threading.Lock()
        self._world: tuple[int, tuple[Month, Month] | None, CreditsModel] | None = None
        self._world_keep = world_keep_seconds
        self._world_timer: threading.Timer | None = None
        self._world_asked = 0  # requests for it so far: a timer set before the last one does nothing

    def close(self) -> None:
        self._forget_world()
        self.app.close()

    def position(self) -> int | None:
        return self.view.max_tracking_id(APPLICATION_NAME)

    def catch_up(self) -> int | None:
        """Bring the views up to date in this thread (CLI use, when no projection runs)."""
        return catch_up(self.app, self.view)

    def projection_status(self) -> dict[str, Any]:
        """The log's position, the view's, and how far behind the view is (in facts and in
        seconds: the age of the oldest fact not yet in it)."""
        log_position = self.app.recorder.max_notification_id() or 0
        position = self.position() or 0
        lag_seconds = 0.0
        if position < log_position:
            (first,) = self.app.recorder.select_notifications(start=position, limit=1, inclusive_of_start=False)
            recorded: datetime = self.app.mapper.to_domain_event(first).timestamp  # type: ignore[attr-defined]
            lag_seconds = max(0.0, (datetime.now(UTC) - recorded).total_seconds())
        return {
            "log_position": log_position,
            "projection_position": position,
            "lag_events": log_position - position,
            "lag_seconds": round(lag_seconds, 3),
        }

    def sign_out(self, session_id: str, expires_at: float) -> None:
        """End a console session on every worker (kept until it would have expired)."""
        with self.view.cursor(commit=True) as c:
            c.execute(self.view.sql("DELETE FROM console_signed_out WHERE expires_at < ?"), (time.time(),))
            c.execute(
                self.view.sql("INSERT INTO console_signed_out VALUES (?, ?) ON CONFLICT (session_id) DO NOTHING"),
                (session_id, expires_at),
            )

    def signed_out(self, session_id: str) -> bool:
        return bool(self.view.select("SELECT 1 FROM console_signed_out WHERE session_id = ?", (session_id,)))

    def projection_failure(self) -> dict[str, Any] | None:
        """The stored fact the projection fails on now (None when nothing blocks it)."""
        return current_failure(self.view)

    def self_check_status(self) -> dict[str, Any] | None:
        """The projection's self-check: last full cycle, and stored rows that differed from the
        facts the last time their customer was checked (None before its first slice)."""
        state = last_self_check(self.view)
        if state is None:
            return None
        examples = [d for found in state["mismatched"].values() for d in found][:10]
        return {
            "mismatch_count": state["mismatch_count"],
            "mismatches": examples,
            "last_full_cycle_at": state["last_full_cycle_at"],
            "last_full_cycle_seconds": state["last_full_cycle_seconds"],
            "last_slice_at": state["last_slice_at"],
            "customers_checked_this_cycle": state["checked_this_cycle"],
        }

    def answer_reads(self, customer_id: str, first: str, last: str) -> AnswerReads:
        """What the live credits answer reads about a customer, with the log's position and the
        views', in one statement: one snapshot (projections/answer_reads.py, decision 20)."""
        return read_answer(self.view, self._log_position_sql, APPLICATION_NAME, customer_id, first, last)

    def live_answer_reads(self, pool_size: int) -> InProcessAnswerReads | PostgresAnswerReads:
        """Where the API reads the live credits answer from: this process on SQLite, a pool of
        asynchronous connections on PostgreSQL (opened and closed by the caller, in its loop)."""
        if self.view.reads_in_process:
            return InProcessAnswerReads(self.answer_reads)
        env = store_env(self.url)
        connection = {
            "dbname": env["POSTGRES_DBNAME"],
            "host": env["POSTGRES_HOST"],
            "port": env["POSTGRES_PORT"],
            "user": env["POSTGRES_USER"],
            "password": env["POSTGRES_PASSWORD"],
            "connect_timeout": env["POSTGRES_CONNECT_TIMEOUT"],
        }
        statement = self.view.sql(answer_statement(self._log_position_sql, self.view.tracking_table()))
        return PostgresAnswerReads(connection, statement, APPLICATION_NAME, pool_size)

    def _position_to_wait_for(self) -> int | None:
        """Inside `view.reading()`: None when its snapshot of the views covers every fact its
        snapshot of the log holds (the views and the log are one database), else the log's
        last position in it."""
        log_position: int = self.app.recorder.position_in(self.view.reading_cursor())  # type: ignore[attr-defined]
        return None if self.view.covered_in_reading() >= log_position else log_position

    def covers_log(self) -> bool:
        """Inside `view.reading()`: whether its snapshot of the views covers the log's."""
        return self._position_to_wait_for() is None

    @contextmanager
    def reading_current(self, timeout: float) -> Iterator[None]:
        """One read snapshot of the views that covers every fact recorded before it began
        (read-your-writes). Usually the first snapshot does: one transaction in all. When the
        projection is behind, waits for it to reach the log's position of then (up to `timeout`,
        else ProjectionBehindError) and reads a later snapshot."""
        with self.view.reading():
            waiting = self._position_to_wait_for()
            if waiting is None:
                yield
                return
        self.wait_for(waiting, timeout)
        with self.view.reading():
            yield

    def wait_for(self, position: int | None, timeout: float) -> None:
        if not self.view.wait_for(position, timeout):
            failure = current_failure(self.view)
            if failure is not None:
                raise ProjectionBehindError(describe(failure))
            raise ProjectionBehindError(f"the read model has not reached position {position} after {timeout}s")

    def reader_at(
        self,
        as_of: datetime | None,
        customer_id: str | None = None,
        figures_only: bool = False,
        explained: Month | None = None,
    ) -> tuple[Reader, int]:
        """The reader and "now" for live figures or for figures as known at `as_of`: of one
        customer (its facts only, projections/as_of.py; `figures_only`: without the incidents
        of other regions, which an explanation lists; `explained`: with those of other regions
        that overlap this month only, for its explanation) or, without one, of the whole log."""
        now = datetime.now(UTC)
        if as_of is None:
            return self.reader, to_micros(now)
        as_of = self._past(as_of)
        if customer_id is not None:
            model = customer_model_at(self.view, self.app.mapper, customer_id, as_of, figures_only, explained)
            return ModelReader(model), to_micros(as_of)
        return ModelReader(self.world_at(as_of)), to_micros(as_of)

    def world_at(self, as_of: datetime, report: tuple[Month, Month] | None = None) -> CreditsModel:
        """Every customer's read model as known at `as_of`: a replay of the longest prefix of the
        log whose facts were all recorded by then (what every page or report as of an instant
        that needs every customer reads: the claims report, the customers and incidents lists).
        While the views cover the log, the replay is of the facts they filed: the customers' and
        the ledger's, with the incidents and windows as they stood then (as_of.world_model_at).
        With `report` (its first and last month), only the periods the claims report for those
        months reads are computed (queries.claims_periods): a model for that report alone.

        Shared: the last one computed is kept, keyed by the position its prefix ends at and the
        report it was made for (it serves the reports of the ranges within that report's, a whole
        model every request). Another request at the same instant that it cannot serve (another
        range, a console list) takes its facts as they are and has the periods it left out
        computed (`CreditsModel.widened`): the whole model, kept then for every later request at
        that instant. So an auditor paging through the console at one instant, or asking other
        reports at it, waits for one replay, not one per page. One is computed at a time per
        process: a burst of such requests costs one replay's memory and CPU, not one each;
        forgotten after `world_keep_seconds` without a request for it. Keyed by position only
        while the views cover the whole log (their index of facts gives the prefix); otherwise
        the replay stops at the first fact recorded later, as before, and is not kept."""
        computes = None if report is None else claims_periods(*report)
        with self._world_lock:
            head = self.app.recorder.max_notification_id() or 0
            if (self.view.max_tracking_id(APPLICATION_NAME) or 0) < head:
                return replay(self.app, known_at=as_of, figures_only=True, computes=computes).model
            upto = self.position_known_at(as_of)
            kept = self._world
            if kept is None or kept[0] != upto:
                model = CreditsModel()
                if upto:
                    model = world_model_at(self.view, self.app.mapper, upto, as_of, computes=computes)
                kept = (upto, report if upto else None, model)
            elif not _serves(kept[1], report):
                with collector_paused():  # as a replay's model is made (projections/heap.py)
                    kept = (upto, None, kept[2].widened())
            if kept is not self._world:
                self._world = kept
                # kept for later requests: the collector's full passes leave it out, as they
                # leave out each worker's start-up state (projections/heap.py); the garbage other
                # requests left meanwhile is collected first (a full pass over the new model:
                # about 60 ms on the reference dataset, once)
                keep_out_of_collections(collect_first=True)
            self._keep_world()
            return kept[2]

    def _keep_world(self) -> None:
        """Forget the kept model after `world_keep_seconds` without a request for it (it holds
        every customer's periods: about 130 MB on the reference dataset, growing with the data)."""
        if self._world_timer is not None:
            self._world_timer.cancel()
        self._world_asked += 1
        self._world_timer = threading.Timer(self._world_keep, self._forget_world, (self._world_asked,))
        self._world_timer.daemon = True
        self._world_timer.start()

    def _forget_world(self, asked: int | None = None) -> None:
        """Forget it (`asked`: only if no request came after the one that set this timer)."""
        with self._world_lock:
            if asked is not None and asked != self._world_asked:
                return
            self._world = None
            if self._world_timer is not None:
                self._world_timer.cancel()
                self._world_timer = None

    @staticmethod
    def _past(as_of: datetime) -> datetime:
        as_of = check_instant(as_of, "as_of")
        if as_of > datetime.now(UTC):
            raise InvalidValueError("as_of", "must not be in the future: nothing is known about it yet")
        return as_of

    def ledger_reader_at(self, as_of: datetime | None) -> LedgerReader:
        """The reader of the billing ledger, live or as known at `as_of`: read from the views
        when they hold every fact known then (the log's head read first, then, in one snapshot of
        the views, their position and the prefix known at `as_of`: LedgerAsKnown); otherwise a
        replay of the log known then (the views' index of facts may lack some of them)."""
        if as_of is None:
            return self.reader
        as_of = self._past(as_of)
        head = self.app.recorder.max_notification_id() or 0
        with self.view.reading():
            covered = self.view.covered_in_reading()
            known = self.position_known_at(as_of)
        if covered >= head:
            return LedgerAsKnown(self.reader, known)
        return ModelReader(replay(self.app, known_at=as_of, figures_only=True).model)

    def credits(
        self, customer_id: str, first: str, last: str, as_of: datetime | None = None, catch_up: bool = True
    ) -> dict[str, Any]:
        a, b = month_range(first, last)
        if catch_up:  # as-of answers read the views' index of facts too
            self.catch_up()
        reader, now = self.reader_at(as_of, customer_id, figures_only=True)
        with self.view.reading():
            return credits_document(reader, customer_id, a, b, now, as_of)

    def bill(self, month: Month, now: datetime | None = None) -> dict[str, Any]:
        """Issue the month's billing run at `now` (default: the current instant): the month's
        credits and the adjustments of earlier issued periods. Answers the run and the log
        position of its fact."""
        check_month(month.year, month.month, "month")
        now = now or datetime.now(UTC)
        with self.view.reading():
            figures = run_figures(self.reader, month, to_micros(now), set(self.app.issued_periods()))
        for m in figures.mismatches:
            log.error(
                "billing %s: the stored period %s %s of customer %s disagrees with the facts "
                "(stored %s, fresh %s); the fresh figure is issued",
                month,
                m.contract_id,
                m.key,
                m.customer_id,
                m.summary()["stored"],
                m.summary()["fresh"],
                extra={"contract_id": m.contract_id, "month": m.key, "customer_id": m.customer_id},
            )
        run_id, entries, position = self.app.issue_billing_run(
            month=str(month), issued_at=now, ended=figures.ended, earlier=figures.earlier, left=figures.left
        )
        return {
            "run_id": run_id,
            "month": str(month),
            "entries": entries,
            "left_contracts": sorted(figures.left),
            "position": position,
            "view_mismatches": len(figures.mismatches),
        }

    def claims_report(self, first: Month, last: Month, as_of: datetime | None = None) -> dict[str, Any]:
        """Per customer: claims filed in the months, against the credit the rules entitle."""
        if as_of is None:
            reader, now = self.reader_at(None)
        else:
            as_of = self._past(as_of)
            head = self.app.recorder.max_notification_id() or 0
            with self.view.reading():
                covered = self.view.covered_in_reading()
                if head and covered >= head and self.position_known_at(as_of) == covered:
                    # every fact the views hold was known at `as_of`, and every fact recorded by
                    # then is in them (the log's head was read first; a fact recorded since came
                    # after `as_of`): they are the replay of the prefix known at `as_of`, so the
                    # report reads them, with `as_of` as "now"
                    return claims_report(self.reader, first, last, to_micros(as_of), as_of)
            reader, now = ModelReader(self.world_at(as_of, (first, last))), to_micros(as_of)
        with self.view.reading():
            return claims_report(reader, first, last, now, as_of)

    def position_known_at(self, at: datetime) -> int:
        """The last position of the log known at `at`: the longest prefix whose facts were all
        recorded at or before it (FactRow.known_from; the views must be caught up)."""
        return prefix_known_at(self.view, to_micros(at))

    def recorded_links(self, after: int, last: int) -> dict[int, str]:
        """The hash chain's links the projection recorded for positions after..last."""
        rows = self.view.select(
            "SELECT position, link FROM v_chain WHERE position > ? AND position <= ?", (after, last)
        )
        return {int(r["position"]): str(r["link"]) for r in rows}
