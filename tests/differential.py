"""The differential harness: random histories applied to the live projection, compared after
every step with a fresh replay of the log.

Facts arrive in the order production sends them: contracts, amendments and terminations,
incidents opened without an end and resolved a few facts later, corrections, classifications,
exclusions, retractions, maintenance and cancellations, claims and billing runs. The live
projection processes them with random batch boundaries (the store's own batching while it is
behind), restarts (its working state reloaded from the stored rows) and reads in between.

After every step: the stored rows at the view's position equal a replay of the facts up to
that position, row for row; when the view is at the log's head, every customer's credits
answer from the stored views equals the answer from the replay, and a billing run's figures
from the live views equal those from the replay.

Used by tests/unit (in memory), tests/integration (SQLite and PostgreSQL) and `make fuzz`.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse, urlunparse

import psycopg
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from domain.application import APPLICATION_NAME, CreditsApplication
from domain.calendar import Month, months_between, to_micros
from domain.credit import compute_period
from domain.errors import DomainError
from domain.ledger import LEDGER_ID
from domain.terms import AnnualCap, CreditTier, Subscription, Terms
from projections.answer_reads import read_answer
from projections.as_of import customer_model_at, prefix_known_at, world_model_at
from projections.billing import run_figures
from projections.credits_projection import CreditsProjection
from projections.explanation import explain_month
from projections.model import FOREVER, CreditsModel
from projections.queries import claims_periods, claims_report, credits_answer, credits_document
from projections.readers import LedgerAsKnown, ModelReader, SQLReader
from projections.records import answer_json, line_rows
from projections.runner import recorded_events, replay
from projections.stores import new_application, open_view, store_env
from projections.views import CreditsView, MemoryCreditsView, SQLCreditsView

BASE = datetime(2025, 1, 1, tzinfo=UTC)
ZONES = ("UTC", "Asia/Tokyo", "America/New_York", "Europe/Berlin", "Pacific/Kiritimati")
SERVICES = ("compute", "storage")
REGIONS = ("eu", "us")
CUSTOMERS = ("a", "b", "c")
MARCH = Month(2025, 3)
TIERS = (
    CreditTier(Decimal("99.9"), Decimal("10")),
    CreditTier(Decimal("99.0"), Decimal("25")),
    CreditTier(Decimal("95.0"), Decimal("100")),
)
# "now" for the reads: inside the history (some months not begun, incidents still open) and after it
NOWS = (datetime(2025, 3, 20, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))

instants = st.builds(
    lambda hours, minutes: BASE + timedelta(hours=hours, minutes=minutes),
    st.integers(0, 150 * 24),
    st.sampled_from((0, 0, 0, 30)),
)
# short ones as often as long ones: a month's credit moves between tiers (43 min, 7.2 h, 36 h of a
# 30-day month) as its incidents add up; with lengths drawn evenly up to 40 days, the first
# incident of a month nearly always reached the top tier and no later one changed the credit
# (a mutation that kept a year's grants when its credits changed went unseen)
durations = st.builds(
    lambda minutes: timedelta(minutes=minutes), st.integers(1, 12 * 60) | st.integers(1, 40 * 24 * 60)
)
regions = st.lists(st.sampled_from(REGIONS), max_size=2, unique=True)
customers = st.lists(st.sampled_from(CUSTOMERS), max_size=1, unique=True)
# the same tiers written otherwise: every figure is the same, and the answers show each
# contract's credit percent as that contract writes it (the pricing caches share by value)
TIERS_WRITTEN_OTHERWISE = tuple(
    CreditTier(Decimal(f"{t.below_percent}0"), Decimal(f"{t.credit_percent}.0")) for t in TIERS
)
caps = st.sampled_from(
    (None, AnnualCap(amount_minor=30000), AnnualCap(amount_minor=0), AnnualCap(percent_of_annual_fees=Decimal("5")))
)
terms = st.builds(
    lambda tiers, degraded, cap: Terms(tiers, Decimal(degraded), 48, cap),
    st.sampled_from((TIERS, TIERS_WRITTEN_OTHERWISE)),
    st.sampled_from(("0", "0.5", "1")),
    caps,
)
subscriptions = st.lists(
    st.builds(Subscription, st.sampled_from(SERVICES), st.sampled_from(REGIONS), st.sampled_from((100000, 7))),
    min_size=1,
    max_size=2,
    unique_by=lambda s: (s.service, s.region),
).map(tuple)
first_days = st.builds(lambda m: date(2025, m, 1), st.integers(1, 6))
days = st.builds(lambda d: date(2025, 1, 1) + timedelta(days=d), st.just(0) | st.integers(0, 150))


class Store:
    """The log and the live view under test, on one store."""

    def __init__(self, app: CreditsApplication, view: CreditsView, close: Callable[[], None]) -> None:
        self.app = app
        self.view = view
        self.close = close


def memory_store() -> Store:
    app = CreditsApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    return Store(app, MemoryCreditsView(), app.close)


@contextmanager
def sqlite_stores() -> Iterator[Callable[[], Store]]:
    with tempfile.TemporaryDirectory() as folder:
        n = iter(range(10**9))

        def make() -> Store:
            url = f"sqlite:///{folder}/world{next(n)}.db"
            app = new_application(store_env(url, pool_size=2))
            view = open_view(url)

            def close() -> None:
                app.close()
                view.datastore.close()  # type: ignore[attr-defined]

            return Store(app, view, close)

        yield make


@contextmanager
def postgres_stores(admin_url: str) -> Iterator[Callable[[], Store]]:
    """One database per history on the server at `admin_url`, dropped afterwards."""
    names: list[str] = []

    def make() -> Store:
        name = f"slac_world_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        names.append(name)
        url = urlunparse(urlparse(admin_url)._replace(path=f"/{name}"))
        app = new_application(store_env(url, pool_size=2))
        view = open_view(url)

        def close() -> None:
            app.close()
            view.datastore.close()  # type: ignore[attr-defined]

        return Store(app, view, close)

    try:
        yield make
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def model_rows(model: CreditsModel) -> dict[str, Any]:
    """Everything a model stores, comparable with ==."""
    return {
        "contracts": model.contracts,
        "incidents": model.incidents,
        "maintenance": model.maintenance,
        "periods": model.periods,
        "years": model.years,
        "claims": {k: (c.claim_id, c.customer_id, c.month, c.channel) for k, c in model.claims.items()},
        "ledger": model.ledger,
        "ledger_known": model.ledger_known,
        "run_positions": model.run_positions,
        "billed": model.billed,
        "runs": model.runs,
        "chain_head": model.chain_head,
    }


def _world_of(model: CreditsModel) -> dict[str, Any]:
    """What a model as of an instant holds (`model_rows` but the hash chain, which a model that is
    only read leaves out)."""
    return {name: rows for name, rows in model_rows(model).items() if name != "chain_head"}


def first_difference(live: dict[str, Any], fresh: dict[str, Any]) -> str:
    for name in fresh:
        a, b = live[name], fresh[name]
        if a == b:
            continue
        if isinstance(a, dict):
            for key in sorted(set(a) | set(b), key=repr):
                if a.get(key) != b.get(key):
                    return f"{name}[{key!r}]: live {a.get(key)!r} != replay {b.get(key)!r}"
        return f"{name}: live {a!r} != replay {b!r}"
    return ""


class LiveVersusReplay(RuleBasedStateMachine):
    """Set `make_store` on a subclass to choose the store."""

    make_store: Callable[[], Store] = staticmethod(memory_store)

    def __init__(self) -> None:
        super().__init__()
        self.store = self.make_store()
        self.app = self.store.app
        self.view = self.store.view
        self.projection = CreditsProjection(self.view)
        self.cursor = 0  # the last position the live projection was given
        self.lag = 0  # after each fact the live projection is kept this many facts behind the head
        self.batch_limit = 20_000
        self.n = 0
        self.contracts: dict[str, str] = {}  # contract id -> customer id
        self.signed: dict[str, tuple[date, Terms]] = {}  # contract id -> its first day and terms
        self.open: list[str] = []
        self.incidents: list[str] = []
        self.maintenance: list[str] = []
        self.entries: list[str] = []  # the ledger's entries issued so far

    def teardown(self) -> None:
        self.store.close()

    def _id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def _try(self, command: Callable[[], Any]) -> bool:
        """A command the domain refuses records nothing: the history goes on without it."""
        try:
            command()
        except DomainError:
            return False
        return True

    def _follow(self) -> None:
        """The live projection follows the log as production's does: at most `lag` facts behind."""
        head = self.app.recorder.max_notification_id() or 0
        if head - self.cursor > self.lag:
            self._process(head - self.lag - self.cursor, self.batch_limit)

    # -- facts ----------------------------------------------------------------------------------

    @initialize(
        signed=st.lists(
            st.tuples(st.sampled_from(CUSTOMERS), st.sampled_from(ZONES), days, terms, subscriptions),
            min_size=1,
            max_size=3,
        ),
        opened=st.lists(
            st.tuples(st.sampled_from(SERVICES), regions, st.sampled_from(("outage", "degraded")), instants, durations),
            min_size=1,
            max_size=4,
        ),
    )
    def a_world_to_start_from(
        self,
        signed: list[tuple[str, str, date, Terms, tuple[Subscription, ...]]],
        opened: list[tuple[str, list[str], str, datetime, timedelta]],
    ) -> None:
        """Contracts and resolved incidents before any other step: with a score of rules to
        choose from, a history that began empty stored a period in one example of thirty, and a
        period's credit was almost never changed by a later incident (a mutation that kept a
        year's grants when its credits changed went unseen by 150 examples)."""
        for customer, zone, starts_on, contract_terms, subs in signed:
            self.sign(customer, zone, starts_on, None, contract_terms, subs)
        for service, incident_regions, severity, started_at, duration in opened:
            self.open_incident(service, incident_regions, [], severity, started_at, duration, "provider")

    @rule(
        customer=st.sampled_from(CUSTOMERS),
        zone=st.sampled_from(ZONES),
        starts_on=days,
        length=st.none() | st.integers(0, 200),
        terms=terms,
        subscriptions=subscriptions,
    )
    def sign(
        self,
        customer: str,
        zone: str,
        starts_on: date,
        length: int | None,
        terms: Terms,
        subscriptions: tuple[Subscription, ...],
    ) -> None:
        contract_id = self._id("k")
        ends_on = None if length is None else starts_on + timedelta(days=length)
        self.app.sign_contract(
            contract_id=contract_id,
            customer_id=customer,
            customer_name=customer.upper(),
            timezone=zone,
            starts_on=starts_on,
            ends_on=ends_on,
            currency="USD",
            terms=terms,
            subscriptions=subscriptions,
        )
        self.contracts[contract_id] = customer
        self.signed[contract_id] = (starts_on, terms)
        self._follow()

    @precondition(lambda self: self.contracts)
    @rule(
        data=st.data(),
        effective_from=first_days,
        terms=st.none() | terms,
        subscriptions=st.none() | subscriptions,
    )
    def amend(
        self,
        data: st.DataObject,
        effective_from: date,
        terms: Terms | None,
        subscriptions: tuple[Subscription, ...] | None,
    ) -> None:
        contract_id = data.draw(st.sampled_from(sorted(self.contracts)))
        self._try(
            lambda: self.app.amend_contract(
                contract_id=contract_id,
                request_id=self._id("r"),
                effective_from=effective_from,
                terms=terms,
                subscriptions=subscriptions,
            )
        )
        self._follow()

    @precondition(lambda self: self.contracts)
    @rule(data=st.data(), cap=caps)
    def amend_the_cap_alone(self, data: st.DataObject, cap: AnnualCap | None) -> None:
        """The signed terms again from the first day, with another annual cap: no month's credit
        changes, every grant may (the contract years must be re-granted all the same)."""
        contract_id = data.draw(st.sampled_from(sorted(self.signed)))
        starts_on, signed = self.signed[contract_id]
        self._try(
            lambda: self.app.amend_contract(
                contract_id=contract_id,
                request_id=self._id("r"),
                effective_from=starts_on,
                terms=Terms(signed.credit_tiers, signed.degraded_weight, signed.maintenance_notice_hours, cap),
                subscriptions=None,
            )
        )
        self._follow()

    @precondition(lambda self: self.contracts)
    @rule(data=st.data(), ends_on=days)
    def terminate(self, data: st.DataObject, ends_on: date) -> None:
        contract_id = data.draw(st.sampled_from(sorted(self.contracts)))
        self._try(
            lambda: self.app.terminate_contract(contract_id=contract_id, request_id=self._id("r"), ends_on=ends_on)
        )
        self._follow()

    @rule(
        service=st.sampled_from(SERVICES),
        regions=regions,
        customers=customers,
        severity=st.sampled_from(("outage", "outage", "degraded")),
        started_at=instants,
        # mostly resolved when recorded: stored rows count resolved incidents only, and the
        # harness must reach months with credits (and their grants) often; the rest are
        # resolved later by `resolve`
        duration=st.one_of(st.none(), durations, durations),
        cause=st.sampled_from(("provider", "provider", "provider", "force_majeure")),
    )
    def open_incident(
        self,
        service: str,
        regions: list[str],
        customers: list[str],
        severity: str,
        started_at: datetime,
        duration: timedelta | None,
        cause: str,
    ) -> None:
        incident_id = self._id("i")
        self.app.open_incident(
            incident_id=incident_id,
            service=service,
            regions=regions,
            customers=customers,
            severity=severity,
            started_at=started_at,
            ended_at=None if duration is None else started_at + duration,
            cause=cause,
        )
        self.incidents.append(incident_id)
        if duration is None:
            self.open.append(incident_id)
        self._follow()

    @precondition(lambda self: self.open)
    @rule(data=st.data(), duration=durations)
    def resolve(self, data: st.DataObject, duration: timedelta) -> None:
        incident_id = data.draw(st.sampled_from(self.open))
        started_at = self.app.get_incident(incident_id).started_at
        if self._try(
            lambda: self.app.resolve_incident(
                incident_id=incident_id, request_id=self._id("r"), ended_at=started_at + duration
            )
        ):
            self.open.remove(incident_id)
        self._follow()

    @precondition(lambda self: self.incidents)
    @rule(
        data=st.data(),
        started_at=st.none() | instants,
        duration=st.none() | durations,
        severity=st.none() | st.sampled_from(("outage", "degraded")),
        regions=st.none() | regions,
        customers=st.none() | customers,
    )
    def correct(
        self,
        data: st.DataObject,
        started_at: datetime | None,
        duration: timedelta | None,
        severity: str | None,
        regions: list[str] | None,
        customers: list[str] | None,
    ) -> None:
        incident_id = data.draw(st.sampled_from(self.incidents))
        current = self.app.get_incident(incident_id)
        changes: dict[str, Any] = {}
        if started_at is not None:
            changes["started_at"] = started_at
        if duration is not None:
            changes["ended_at"] = (started_at or current.started_at) + duration
        for name, value in (("severity", severity), ("regions", regions), ("customers", customers)):
            if value is not None:
                changes[name] = value
        if (
            self._try(
                lambda: self.app.correct_incident(
                    incident_id=incident_id, request_id=self._id("r"), reason="corrected", changes=changes
                )
            )
            and self.app.get_incident(incident_id).ended_at is not None
            and incident_id in self.open
        ):
            self.open.remove(incident_id)
        self._follow()

    @precondition(lambda self: self.incidents)
    @rule(data=st.data(), cause=st.sampled_from(("provider", "force_majeure")))
    def classify(self, data: st.DataObject, cause: str) -> None:
        incident_id = data.draw(st.sampled_from(self.incidents))
        self._try(
            lambda: self.app.classify_incident(
                incident_id=incident_id, request_id=self._id("r"), cause=cause, reason="classified"
            )
        )
        self._follow()

    @precondition(lambda self: self.incidents)
    @rule(data=st.data(), customer=st.sampled_from(CUSTOMERS))
    def exclude(self, data: st.DataObject, customer: str) -> None:
        incident_id = data.draw(st.sampled_from(self.incidents))
        self._try(
            lambda: self.app.exclude_customer(
                incident_id=incident_id, request_id=self._id("r"), customer_id=customer, reason="customer_caused"
            )
        )
        self._follow()

    @precondition(lambda self: self.incidents)
    @rule(data=st.data())
    def retract(self, data: st.DataObject) -> None:
        incident_id = data.draw(st.sampled_from(self.incidents))
        if self._try(
            lambda: self.app.retract_incident(incident_id=incident_id, request_id=self._id("r"), reason="false alarm")
        ):
            self.incidents.remove(incident_id)
            if incident_id in self.open:
                self.open.remove(incident_id)
        self._follow()

    @rule(
        service=st.sampled_from(SERVICES),
        regions=regions,
        starts_at=instants,
        duration=durations,
        notice_hours=st.sampled_from((0, 47, 48, 200)),
    )
    def announce(
        self, service: str, regions: list[str], starts_at: datetime, duration: timedelta, notice_hours: int
    ) -> None:
        maintenance_id = self._id("m")
        self.app.announce_maintenance(
            maintenance_id=maintenance_id,
            service=service,
            regions=regions,
            starts_at=starts_at,
            ends_at=starts_at + duration,
            announced_at=starts_at - timedelta(hours=notice_hours),
        )
        self.maintenance.append(maintenance_id)
        self._follow()

    @precondition(lambda self: self.maintenance)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        maintenance_id = data.draw(st.sampled_from(self.maintenance))
        self._try(lambda: self.app.cancel_maintenance(maintenance_id=maintenance_id, request_id=self._id("r")))
        self._follow()

    @rule(customer=st.sampled_from(CUSTOMERS), month=st.integers(1, 6))
    def claim(self, customer: str, month: int) -> None:
        self.app.file_claim(
            claim_id=self._id("cl"), customer_id=customer, month=f"2025-{month:02d}", channel="email", message="down"
        )
        self._follow()

    @precondition(lambda self: self.contracts)
    @rule(month=st.integers(1, 5), now=st.sampled_from(NOWS))
    def bill(self, month: int, now: datetime) -> None:
        """Billing reads the live views (caught up first, as the service does) and must plan
        exactly what a replay plans."""
        self._process(None)
        live = self._run_figures(self._live_reader(), month, now)
        fresh = self._run_figures(ModelReader(replay(self.app).model), month, now)
        assert live == fresh, f"billing {month} at {now}: live {live} != replay {fresh}"
        if live is not None:
            self.app.issue_billing_run(
                month=f"2025-{month:02d}", issued_at=now, ended=live.ended, earlier=live.earlier, left=live.left
            )
            self.entries = sorted(self.app.repository.get(LEDGER_ID).entries)
        self._follow()

    @precondition(lambda self: self.entries)
    @rule(data=st.data(), invoice=st.sampled_from(("INV-1", "INV-2")))
    def acknowledge(self, data: st.DataObject, invoice: str) -> None:
        """The billing system acknowledges an entry with the invoice it landed on (once: another
        invoice for it is refused, the same one again records nothing)."""
        entry_id = data.draw(st.sampled_from(self.entries))
        self._try(lambda: self.app.acknowledge_entry(entry_id=entry_id, invoice_id=invoice, applied_at=NOWS[-1]))
        self._follow()

    def _run_figures(self, reader: Any, month: int, now: datetime) -> Any:
        issued = set(self.app.issued_periods())
        try:
            if isinstance(self.view, SQLCreditsView):
                with self.view.reading():
                    return run_figures(reader, Month(2025, month), to_micros(now), issued)
            return run_figures(reader, Month(2025, month), to_micros(now), issued)
        except DomainError:
            return None

    # -- the live projection ----------------------------------------------------------------------

    def _process(self, limit: int | None, batch_limit: int = 20_000) -> None:
        """Give the live projection the next `limit` facts (all when None). While it is behind
        the log's head it batches, exactly as the live runner does."""
        head = self.app.recorder.max_notification_id() or 0
        upto = head if limit is None else min(head, self.cursor + limit)
        self.view.latest_position = lambda: head
        self.view.batch_limit = batch_limit
        try:
            for event, tracking in recorded_events(self.app, after=self.cursor, upto=upto):
                self.projection.process_event(event, tracking)
                self.cursor = tracking.notification_id
        finally:
            self.view.latest_position = None

    @rule(lag=st.integers(0, 4), batch_limit=st.sampled_from((1, 2, 3, 20_000)))
    def change_pace(self, lag: int, batch_limit: int) -> None:
        """From now on the projection runs `lag` facts behind, in batches of at most `batch_limit`."""
        self.lag, self.batch_limit = lag, batch_limit

    @rule(limit=st.integers(1, 6), batch_limit=st.integers(1, 5))
    def project_some(self, limit: int, batch_limit: int) -> None:
        self._process(limit, batch_limit)

    @rule()
    def project_all(self) -> None:
        self._process(None)

    @rule()
    def restart(self) -> None:
        """The projection process ends (facts it batched but did not write are lost) and a new
        one starts from the stored rows and the stored position."""
        if isinstance(self.view, MemoryCreditsView):
            return  # the in-memory view keeps nothing but the model: nothing to restart from
        self.view.discard_model()
        self.cursor = self._stored_position()

    def _stored_position(self) -> int:
        return self.view.max_tracking_id(APPLICATION_NAME) or 0

    def _live_reader(self) -> Any:
        if isinstance(self.view, SQLCreditsView):
            return SQLReader(self.view)
        return ModelReader(self.view.model)

    @rule(customer=st.sampled_from(CUSTOMERS), now=st.sampled_from(NOWS))
    def read(self, customer: str, now: datetime) -> None:
        """A read in between changes nothing."""
        self._credits(self._live_reader(), customer, now)

    def _credits(self, reader: Any, customer: str, now: datetime) -> dict[str, Any]:
        if isinstance(self.view, SQLCreditsView) and isinstance(reader, SQLReader):
            with self.view.reading():
                return credits_document(reader, customer, Month(2025, 1), Month(2025, 12), to_micros(now))
        return credits_document(reader, customer, Month(2025, 1), Month(2025, 12), to_micros(now))

    # -- what must hold after every step ------------------------------------------------------------

    def _stored_model(self) -> tuple[CreditsModel, int]:
        if isinstance(self.view, SQLCreditsView):
            return self.view.load_model(), self._stored_position()
        position = self._stored_position()
        if self.view.model.deferred:
            return None, position  # type: ignore[return-value]
        return self.view.model, position

    @invariant()
    def stored_rows_equal_a_replay(self) -> None:
        stored, position = self._stored_model()
        if stored is None:
            return
        fresh = replay(self.app, upto=position or None).model if position else CreditsModel()
        difference = first_difference(model_rows(stored), model_rows(fresh))
        assert not difference, f"after position {position}: {difference}"

    @invariant()
    def stored_periods_equal_the_plain_rules(self) -> None:
        """The fast path (candidates, downtime and tiers shared across contracts) against the
        plain one: each contract-month computed alone from every fact, as the explanation does."""
        fresh = replay(self.app).model
        resolved = [i for i in fresh.incidents.values() if i.ended_at is not None]
        maintenance = list(fresh.maintenance.values())
        for c in fresh.contracts.values():
            for month in months_between(Month(2025, 1), Month(2026, 1)):
                step = compute_period(c, month, resolved, maintenance, FOREVER)
                row = fresh.periods.get((c.contract_id, str(month)))
                if step is None or all(line.downtime.downtime_micros == 0 for line in step.lines):
                    assert row is None, f"{c.contract_id} {month}: stored {row}, plain rules: no downtime"
                    continue
                assert row is not None, f"{c.contract_id} {month}: not stored, plain rules: {step.credit_minor}"
                assert (row.lines, row.credit_minor) == (line_rows(step.lines), step.credit_minor), (
                    f"{c.contract_id} {month}: stored {row}, plain rules {line_rows(step.lines)}"
                )

    @invariant()
    def answers_at_the_head_equal_a_replay(self) -> None:
        head = self.app.recorder.max_notification_id() or 0
        if self.cursor != head or (isinstance(self.view, MemoryCreditsView) and self.view.model.deferred):
            return
        fresh = ModelReader(replay(self.app).model)
        for customer in CUSTOMERS:
            for now in NOWS:
                live = self._credits(self._live_reader(), customer, now)
                expected = self._credits(fresh, customer, now)
                assert live == expected, f"credits of {customer} at {now}: live {live} != replay {expected}"
                if isinstance(self.view, SQLCreditsView):  # the answer as stored, byte for byte
                    with self.view.reading():
                        stored = credits_answer(
                            SQLReader(self.view), customer, Month(2025, 1), Month(2025, 12), to_micros(now)
                        )
                    # the API's reads: one statement (projections/answer_reads.py), its own snapshot
                    reads = read_answer(
                        self.view, self.app.recorder.position_sql(), APPLICATION_NAME, customer, "2025-01", "2025-12"
                    )
                    assert reads.covers_log()  # the views are at the head
                    one_statement = credits_answer(reads, customer, Month(2025, 1), Month(2025, 12), to_micros(now))
                    assert one_statement == stored, f"credits of {customer} at {now}: one statement {one_statement!r}"
                    if stored is not None:
                        assert stored == answer_json(expected).encode(), (
                            f"credits of {customer} at {now}: as stored {stored!r} != replay {expected}"
                        )

    def _filed_facts_equal_a_replay(self, at: datetime, prefix: int, whole: CreditsModel) -> None:
        """Every customer's model from the facts the views filed (the service's, for the pages
        and reports as of an instant that read every customer) and the billing ledger as known
        at `at`, read from the views (decision 26), equal the replay of the log known then: the
        ledger's every entry, those not acknowledged then, one customer's, and a page."""
        world, expected_world = _world_of(world_model_at(self.view, self.app.mapper, prefix, at)), _world_of(whole)
        assert world == expected_world, f"as of {at}: {first_difference(world, expected_world)}"
        full, known = ModelReader(whole), LedgerAsKnown(SQLReader(self.view), prefix)
        for customer, unacknowledged, after, limit in (
            (None, False, 0, 10**6),
            (None, True, 0, 10**6),
            (CUSTOMERS[0], False, 0, 10**6),
            (None, False, 1, 2),
        ):
            want = full.ledger_rows(after, limit, customer, None, None, unacknowledged)
            with self.view.reading():
                got = known.ledger_rows(after, limit, customer, None, None, unacknowledged)
            assert got == want, f"ledger as of {at} ({customer}, {unacknowledged}, {after}): {got} != {want}"

    @invariant()
    def answers_as_of_earlier_instants_equal_a_replay(self) -> None:
        """One customer's figures and explanation as known at an earlier instant, from its own
        facts and the mirror of its services' streams (projections/as_of.py), equal a replay of
        the log known then: the mirror is extended step by step as the history grows. So does
        the claims report from a replay of the periods it reads, and its model widened."""
        head = self.app.recorder.max_notification_id() or 0
        if not isinstance(self.view, SQLCreditsView) or not head or self.cursor != head:
            return
        stamps = [e.timestamp for e, _ in recorded_events(self.app)]
        micro = timedelta(microseconds=1)
        instants = sorted({stamps[len(stamps) // 2] - micro, stamps[len(stamps) // 2], stamps[-1]})
        for at in instants:
            whole = replay(self.app, known_at=at).model
            full = ModelReader(whole)
            now = to_micros(at)
            prefix = prefix_known_at(self.view, now)
            # at the first instant (a fact or more recorded after it, once there are two):
            if at == instants[0]:
                self._filed_facts_equal_a_replay(at, prefix, whole)
            # the claims report as of the instant from a replay of the periods it reads
            # (decision 23), and that model widened (what another request at the instant reads)
            for first, last in ((Month(2025, 1), Month(2025, 12)), (Month(2025, 2), Month(2025, 2))):
                model = replay(self.app, known_at=at, computes=claims_periods(first, last)).model
                got_report = claims_report(ModelReader(model), first, last, now, at)
                assert got_report == claims_report(full, first, last, now, at), f"claims {first}..{last} as of {at}"
                wide = model.widened()
                assert (wide.periods, wide.years) == (whole.periods, whole.years), f"widened as of {at}"
                if first == last or at != instants[0]:
                    continue  # the filed facts for one report (the whole model's hold every period)
                filed = world_model_at(self.view, self.app.mapper, prefix, at, claims_periods(first, last))
                assert (filed.periods, filed.years) == (model.periods, model.years), f"report's model as of {at}"
            for customer in CUSTOMERS:
                own = ModelReader(customer_model_at(self.view, self.app.mapper, customer, at, figures_only=True))
                expected = credits_document(full, customer, Month(2025, 1), Month(2025, 12), now, at)
                got = credits_document(own, customer, Month(2025, 1), Month(2025, 12), now, at)
                assert got == expected, f"credits of {customer} as of {at}: {got} != replay {expected}"
                if not full.contracts_of(customer):
                    continue
                explained = ModelReader(customer_model_at(self.view, self.app.mapper, customer, at, explained=MARCH))
                assert explain_month(explained, customer, MARCH, now) == explain_month(full, customer, MARCH, now), (
                    f"explanation of {customer} as of {at}"
                )
