"""PostgreSQL's statistics of the view tables, kept current by the writer itself.

PostgreSQL plans each read from its statistics of the tables it reads. A table never analyzed
(autovacuum turned off, as on this project's machine, or not yet run after a bulk write) is
planned from guesses, and a guess can turn one customer's read into a scan of a whole table: the
live credits answer's billed months (a join of v_billed and v_contracts) read all 120,000 rows
of v_billed at ten times the reference dataset, 10.8 ms instead of 0.9 ms, growing with the
number of other customers (docs/performance.md, session 13). So the writer analyzes what it
wrote, as autovacuum would: every view table after a rebuild (a bulk load), a table that was
never analyzed when it first writes, and a table whose rows written since its last analysis
reach a tenth of its size then (at least ANALYZE_AFTER_ROWS). ANALYZE reads a sample of each
table and blocks neither reads nor writes; a failure to analyze is logged, never raised: the
rows are written, only the plans may be worse."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
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
        self._written: dict[str, int] = {}
        self._size: dict[str, float] | None = None  # rows at the last analysis (unknown until read)

    def wrote(self, table: str, rows: int) -> None:
        self._written[table] = self._written.get(table, 0) + rows

    def keep_current(self) -> None:
        """After a write: analyze the tables that are due (a failure is logged, see `analyze`)."""
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
        return [
            t
            for t, n in self._written.items()
            if n >= max(ANALYZE_AFTER_ROWS, ANALYZE_FRACTION * max(self._size.get(t, 0), 0))
        ]

    def analyze(self, tables: Iterable[str]) -> None:
        names = [t for t in tables if t in self.tables]
        if not names:
            return
        try:
            with self._cursor() as c:
                c.execute("ANALYZE " + ", ".join(names))
            sizes = dict(self._sizes(names))
        except Exception:
            log.warning("could not analyze %s; the reads are planned from older statistics", names, exc_info=True)
            for t in names:  # not retried at every write: after as many rows again
                self._written[t] = 0
            return
        if self._size is None:
            self._size = {}
        self._size.update(sizes)
        for t in names:
            self._written.pop(t, None)

    def _sizes(self, tables: Iterable[str]) -> Iterator[tuple[str, float]]:
        """The planner's count of rows of each table (-1: never analyzed)."""
        with self._cursor() as c:
            c.execute("SELECT relname, reltuples FROM pg_class WHERE relname = ANY(%s)", (list(tables),))
            for row in c.fetchall():
                yield str(row["relname"]), float(row["reltuples"])
