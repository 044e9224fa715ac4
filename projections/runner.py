"""Running the credits projection: live (supervised), replayed up to an instant, rebuilt."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.persistence import IntegrityError, Notification, Tracking
from eventsourcing.projection import ProjectionRunner

from domain.application import APPLICATION_NAME, CreditsApplication
from domain.calendar import Month
from domain.credit import ContractFacts
from projections.blocking import clear_failure, record_failure
from projections.credits_projection import CreditsProjection
from projections.heap import collector_paused, keep_out_of_collections
from projections.runner_lock import RunnerLock
from projections.stores import new_application, open_view, store_env
from projections.views import CreditsView, MemoryCreditsView, PostgresCreditsView, SQLCreditsView, SQLiteCreditsView

log = logging.getLogger("sla_credits.projection")
PAGE = 2000


def recorded_events(app: CreditsApplication, after: int = 0, upto: int | None = None) -> Iterator[tuple[Any, Tracking]]:
    """Every stored fact after position `after` (up to `upto`), decoded, with its tracking."""
    for _, event, tracking in recorded_facts(app, after, upto):
        yield event, tracking


def recorded_facts(
    app: CreditsApplication, after: int = 0, upto: int | None = None
) -> Iterator[tuple[Notification, Any, Tracking]]:
    """Every stored fact after position `after` (up to `upto`): as stored, decoded, its tracking."""
    position = after
    while True:
        notifications = app.recorder.select_notifications(
            start=position, limit=PAGE, stop=upto, inclusive_of_start=False
        )
        if not notifications:
            return
        for n in notifications:
            yield n, app.mapper.to_domain_event(n), Tracking(APPLICATION_NAME, n.id)
        position = notifications[-1].id


def replay(
    app: CreditsApplication,
    known_at: datetime | None = None,
    upto: int | None = None,
    figures_only: bool = False,
    computes: Callable[[ContractFacts, Month], bool] | None = None,
) -> MemoryCreditsView:
    """The read model from the log alone: every fact, or those known at `known_at`: the longest
    prefix of the log whose facts were all recorded at or before it (FactRow.known_from).

    With `figures_only`, the audit's rows (the hash chain and the index of facts) are left out:
    a model that is read, never written, needs only the figures (a page as of an instant).
    With `computes`, only the periods it keeps are computed (CreditsModel.computes: a model for
    one report)."""
    view = MemoryCreditsView()
    view.model.record_log = not figures_only
    view.model.computes = computes
    # one batch: every period is computed once, from the final facts, at the end
    last = upto if upto is not None else app.recorder.max_notification_id() or 0
    view.latest_position = lambda: last
    view.batch_limit, view.batch_seconds = 2**62, float("inf")
    projection = CreditsProjection(view)
    with collector_paused():
        for stored, event, tracking in recorded_facts(app, upto=upto):
            if known_at is not None and event.timestamp > known_at:
                break  # this fact, and every later one, was not known yet
            projection.stored = stored  # chained and filed as read, not encoded again
            projection.process_event(event, tracking)
        view.model.flush()
    view.latest_position = None
    return view


class LogAlteredError(Exception):
    """The stored log disagrees with the hash chain recorded when its facts were first processed."""

    def __init__(self, position: int) -> None:
        super().__init__(
            f"the stored fact at position {position} is not the one the projection recorded: the log was "
            "changed after it was written. Nothing was rebuilt (a rebuild would hide it); see docs/audit.md"
        )
        self.position = position


def rebuild(url: str) -> int:
    """Drop every view row and rebuild from position 0; answers the number of facts read.
    Refuses (LogAlteredError) when a recorded chain link disagrees with the log as it is now."""
    app = new_application(store_env(url))
    try:
        upto = app.recorder.max_notification_id() or 0
        with collector_paused():  # the replayed model, then its rows written (projections/heap.py)
            memory = replay(app, upto=upto)
            view = open_view(url)
            assert isinstance(view, SQLCreditsView)
            view.upgrade_model()  # views of an older projection: tables recreated (the chain's links stay)
            recorded = {int(r["position"]): r["link"] for r in view.select("SELECT position, link FROM v_chain")}
            for position, link in memory.model.full_chain:
                if recorded.get(position, link) != link:
                    raise LogAlteredError(position)
            view.replace_all(memory.model, upto or None)
            # freed here, by reference counting: once the collector runs again, its first pass
            # would otherwise walk the whole replayed model
            del memory
        return upto
    finally:
        app.close()


class LiveProjection:
    """The library's ProjectionRunner in a supervising thread: restarted after a failure,
    each restart reloading the view's state from the stored rows."""

    def __init__(
        self,
        url: str,
        batch_seconds: float = 10.0,
        self_check_customers: int = 0,
        self_check_pause: float = 1.0,
        self_check_cpu_share: float = 1.0,
    ) -> None:
        self.url = url
        self.batch_seconds = batch_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="credits-projection", daemon=True)
        self.failures = 0
        self.ready = threading.Event()
        self.self_check_customers = self_check_customers
        self.self_check_pause = self_check_pause
        self.self_check_cpu_share = self_check_cpu_share
        self.first_backoff, self.max_backoff = 0.1, 60.0
        self._checker = threading.Thread(target=self._self_check, name="credits-self-check", daemon=True)

    def start(self) -> LiveProjection:
        self._thread.start()
        if self.self_check_customers > 0:
            self._checker.start()
        return self

    def _self_check(self) -> None:
        """A slice of customers, then a pause of at least `self_check_pause` seconds and long
        enough that the checks take no more than their share of one core, once this runner
        projects."""
        from projections.self_check import SelfCheck, pause_after

        while not self.ready.wait(0.2):
            if self._stop.is_set():
                return
        view = open_view(self.url)
        assert isinstance(view, SQLCreditsView)
        check = SelfCheck(view, self.self_check_customers)
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                check.step()
            except Exception:
                log.exception("the self-check failed; trying again")
                self._stop.wait(5.0)
            spent = time.perf_counter() - started
            self._stop.wait(pause_after(spent, self.self_check_pause, self.self_check_cpu_share))
        view.datastore.close()  # type: ignore[attr-defined]

    def _supervise(self) -> None:
        """Run, and after a failure run again after a back-off that doubles up to
        `max_backoff` seconds. A failure is logged once with its traceback (the same failure
        again only at DEBUG) and recorded for every API process (projections/blocking.py)."""
        delay = self.first_backoff
        env = store_env(self.url, pool_size=2)
        lock = RunnerLock(env)
        status_view: SQLCreditsView | None = None
        last: tuple[object, ...] | None = None
        since = ""
        attempts = 0
        failing_at: int | None = None
        while not self._stop.is_set():
            view: CreditsView | None = None
            try:
                if not lock.acquire(self._stop):
                    return
                upgrade_view(self.url)
                with ProjectionRunner(
                    application_class=CreditsApplication,
                    projection_class=CreditsProjection,
                    view_class=SQLiteCreditsView if self.url.startswith("sqlite") else PostgresCreditsView,
                    env=env,
                ) as runner:
                    view = runner.view
                    runner.view.latest_position = runner.app.recorder.max_notification_id
                    runner.view.batch_seconds = self.batch_seconds
                    runner.view.model  # load the working state now, not on the first fact  # noqa: B018
                    # the working state lives as long as the process: kept out of the collector's
                    # full passes, which otherwise walk all of it every second or so under load
                    keep_out_of_collections()
                    self.ready.set()
                    while not self._stop.is_set():
                        runner.run_forever(timeout=0.2)
                        if not lock.held():
                            raise RuntimeError("lost the projection lock (database connection ended)")
                        if last is not None and (runner.view.max_tracking_id(APPLICATION_NAME) or 0) >= (
                            failing_at or 0
                        ):
                            log.warning("credits projection: moved on after %d failed attempts", attempts)
                            last, attempts, delay = None, 0, self.first_backoff
                            if status_view is not None:
                                clear_failure(status_view)
            except Exception as e:
                self.failures += 1
                attempts += 1
                where = view.current if view is not None else None
                failing_at = where[0] if where else None
                key = (where, type(e).__name__, str(e))
                now = datetime.now(UTC)
                if key != last:
                    last, since = key, now.isoformat().replace("+00:00", "Z")
                    log.error(
                        "credits projection failed %s: %s: %s; retrying with back-off (up to %.0fs)",
                        f"at position {where[0]} ({where[1]} of stream {where[2]})" if where else "",
                        type(e).__name__,
                        e,
                        self.max_backoff,
                        exc_info=True,
                        extra={"position": where[0] if where else None},
                    )
                else:
                    log.debug("credits projection failed again (attempt %d): %s", attempts, e)
                failure: dict[str, Any] = {
                    "position": where[0] if where else None,
                    "fact_type": where[1] if where else None,
                    "stream_id": where[2] if where else None,
                    "error": f"{type(e).__name__}: {e}"[:500],
                    "since": since,
                    "attempts": attempts,
                    "failures_total": self.failures,
                    "backoff_seconds": delay,
                    "next_attempt_at": (now + timedelta(seconds=delay)).isoformat().replace("+00:00", "Z"),
                }
                try:
                    if status_view is None:
                        opened = open_view(self.url)
                        assert isinstance(opened, SQLCreditsView)
                        status_view = opened
                    record_failure(status_view, failure)
                except Exception:
                    log.debug("could not record the failure (the database may be down)", exc_info=True)
                lock.release()
                self._stop.wait(delay)
                delay = min(delay * 2, self.max_backoff)
        lock.release()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self._checker.is_alive():
            self._checker.join(timeout=10)


def upgrade_view(url: str) -> None:
    """Drop views written by an older projection (see MODEL_VERSION); the writer then rebuilds them."""
    view = open_view(url)
    try:
        if isinstance(view, SQLCreditsView) and view.upgrade_model():
            log.warning("the read models were written by an older version of the projection; rebuilding them")
    finally:
        view.datastore.close()  # type: ignore[attr-defined]


def catch_up(app: CreditsApplication, view: CreditsView, attempts: int = 5) -> int | None:
    """Process, in this thread, every fact the view has not seen yet. Writers exclude each other
    by the tracking position: a writer whose working state is behind the stored rows (another
    process wrote them since, e.g. a `bill` command beside the projection) fails its write,
    which writes nothing and discards that state; it then starts again from the stored rows."""
    if isinstance(view, SQLCreditsView):
        view.upgrade_model()
    for attempt in range(attempts):
        projection = CreditsProjection(view)
        after = view.max_tracking_id(APPLICATION_NAME) or 0
        if view.model_position is not None and view.model_position != after:
            view.discard_model()  # rows were written by someone else since this state was loaded
        view.latest_position = app.recorder.max_notification_id
        try:
            for event, tracking in recorded_events(app, after=after):
                projection.process_event(event, tracking)
            break
        except IntegrityError:
            if attempt == attempts - 1:
                raise
            log.info("another writer moved the read models on; catching up again from the stored rows")
        finally:
            view.latest_position = None
    return view.max_tracking_id(APPLICATION_NAME)
