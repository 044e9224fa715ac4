"""PostgreSQL's statistics of the view tables, kept current by the writer itself.

PostgreSQL plans each read from its statistics of the tables it reads. A table never analyzed
(autovacuum turned off, as on this project's machine, or not yet run after a bulk write) is
planned from guesses, and a guess can turn one customer's read into a scan of a whole table: the
live credits answer's billed months (a join of v_billed and v_contracts) read all 120,000 rows
of v_billed at ten times the reference dataset, 10.8 ms instead of 0.9 ms, growing with the
number of other customers (docs/performance.md, session 13). So the writer has what it wrote
analyzed, as autovacuum would: every view table after a rebuild (a bulk load, at once), a table
never analyzed at the first write, and a table whose rows written since its last analysis reach
a tenth of its size then (at least ANALYZE_AFTER_ROWS). After a write the analyses run on a
thread of their own, one at a time, so that the writer never waits for them (ANALYZE reads a
sample of each table and blocks neither reads nor writes). A failure to analyze is logged,
never raised: the rows are written, only the plans may be worse."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

log = logging.getLogger("sla_credits.projection")

ANALYZE_AFTER_ROWS = 1_000
ANALYZE_FRACTION = 0.1


class TableStatistics:
    """Rows written per table since it was last analyzed, and when to analyze it again."""

    def __init__(self, tables: Iterable[str], cursor: Callable[[], AbstractContextManager[Any]]) -> None:
        self.tables = tuple(tables)
        self._cursor = cursor  # a cursor in a transaction that commits
        self._lock = threading.Lock()  # the counts: the writer adds, the analyses take
        self._written: dict[str, int] = {}
        self._size: dict[str, float] | None = None  # rows at the last analysis (unknown until read)
        self._worker: ThreadPoolExecutor | None = None
        self._running: Future[None] | None = None

    def wrote(self, table: str, rows: int) -> None:
        with self._lock:
            self._written[table] = self._written.get(table, 0) + rows

    def keep_current(self) -> None:
        """After a write: analyze the tables that are due, on the analyses' thread (unless one
        is still running: the counts keep growing until the next write after it)."""
        if self._running is not None and not self._running.done():
            return
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analyze")
        self._running = self._worker.submit(self._analyze_due)

    def settle(self) -> None:
        """Wait for the analyses under way (tests, and a writer about to stop)."""
        if self._running is not None:
            self._running.result()

    def _analyze_due(self) -> None:
        try:
            due = self.due()
        except Exception:
            log.warning("could not read the tables' statistics; they are looked at again later", exc_info=True)
            self._size = None
            return
        self.analyze(due)

    def due(self) -> list[str]:
        """The tables to analyze now: those never analyzed (at the first look), and those whose
        rows written since their last analysis reach its threshold."""
        if self._size is None:
            self._size = dict(self._sizes(self.tables))
            never = [t for t in self.tables if self._size.get(t, -1) < 0]
            if never:
                return never
        size = self._size
        with self._lock:
            written = list(self._written.items())
        return [t for t, n in written if n >= max(ANALYZE_AFTER_ROWS, ANALYZE_FRACTION * max(size.get(t, 0), 0))]

    def analyze(self, tables: Iterable[str]) -> None:
        """Analyze these tables now, in the caller's thread."""
        names = [t for t in tables if t in self.tables]
        if not names:
            return
        with self._lock:  # rows written from now on count towards the next analysis
            for t in names:
                self._written.pop(t, None)
        try:
            with self._cursor() as c:
                c.execute("ANALYZE " + ", ".join(names))
            sizes = dict(self._sizes(names))
        except Exception:
            log.warning("could not analyze %s; the reads are planned from older statistics", names, exc_info=True)
            return  # looked at again after as many rows again
        self._size = {**(self._size or {}), **sizes}

    def _sizes(self, tables: Iterable[str]) -> Iterator[tuple[str, float]]:
        """The planner's count of rows of each table (-1: never analyzed)."""
        with self._cursor() as c:
            c.execute("SELECT relname, reltuples FROM pg_class WHERE relname = ANY(%s)", (list(tables),))
            for row in c.fetchall():
                yield str(row["relname"]), float(row["reltuples"])
