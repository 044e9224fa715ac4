"""The `sla-credits` command line: serve, load data, rebuild views and ask for credits."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from api.settings import Settings

cli = typer.Typer(
    help=(
        "sla-credits: service credits decided by rule, not by volume.\n\n"
        "Every command reads SLACREDITS_DATABASE_URL (default: a SQLite file under ./data/). "
        "Start with `sla-credits quickstart` for a demo service; `sla-credits COMMAND --help` tells more."
    ),
    no_args_is_help=True,
    add_completion=False,
)
err = Console(stderr=True)
out = Console()


def _settings() -> Settings:
    return Settings()


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="API processes (the projection always runs in its own process).")] = 1,
    migrate_first: Annotated[
        bool, typer.Option("--migrate", help="Run `sla-credits migrate` before serving (SLACREDITS_MIGRATE_URL).")
    ] = False,
) -> None:
    """Start the HTTP API (uvicorn) and the projection process. Open http://HOST:PORT/docs."""
    import tempfile

    import uvicorn

    from api.observability import configure_logging

    settings = _settings()
    configure_logging(settings)
    if not settings.api_key_list():
        err.print(
            "[bold red]No API keys are set[/]: every call but /healthz, /readyz and /metrics will answer 401.\n"
            "Set SLACREDITS_API_KEYS to role:key pairs (roles: admin, ingest, account_manager, billing, auditor),\n"
            "e.g. SLACREDITS_API_KEYS=admin:$(openssl rand -hex 16), or run `sla-credits quickstart` for a demo."
        )
    if migrate_first:
        _migrate(settings)
    # metrics from every worker process, summed at /metrics (prometheus-client multiprocess mode)
    metrics_dir: str | None = None
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="sla-credits-metrics-")
    # SIGTERM (and uvicorn re-raising the signal that stopped it once it has shut down) ends this
    # process through its clean-up below: stop the children, remove the metrics folder. While the
    # children start, a signal is only noted (an exception raised inside the start of a child could
    # be swallowed and leave a lock held); it takes effect just before serving.
    starting = True
    stopped_by: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stopped_by.append(signum)
        if not starting:
            raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    from api.supervisor import ChildSupervisor, stop_all  # after PROMETHEUS_MULTIPROC_DIR: its counter goes to a file

    os.environ["SLACREDITS_PARENT_PID"] = str(os.getpid())  # the children end with this process
    projector: ChildSupervisor | None = None
    dispatcher: ChildSupervisor | None = None
    try:
        if settings.run_projection:
            projector = ChildSupervisor("projection", [sys.executable, "-m", "api.cli", "project"]).start()
            os.environ["SLACREDITS_RUN_PROJECTION"] = "false"
        if settings.run_dispatcher:
            dispatcher = ChildSupervisor("dispatch", [sys.executable, "-m", "api.cli", "dispatch"]).start()
        starting = False
        if stopped_by:
            raise SystemExit(128 + stopped_by[0])
        uvicorn.run(
            "api.app:create_app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level.lower(),
            # longer than a client's or load balancer's idle time, so that the server never
            # closes a kept-alive connection just as a request is sent on it
            timeout_keep_alive=settings.keep_alive_seconds,
            log_config=None,  # our JSON logging (api/observability.py) for uvicorn's loggers too
            access_log=False,  # one line per request is written by our middleware, with its request id
        )
    finally:
        stop_all([s for s in (projector, dispatcher) if s is not None])
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _die_with_parent() -> None:
    """In a child of `serve` (the projection, the dispatcher): end with `serve`, however `serve`
    ends. Set by the child itself at its start, not between fork and exec (Python code there runs
    the interpreter's fork hooks, where a signal can leave a lock held); a `serve` that ended
    before this point is noticed by its pid."""
    parent = os.environ.get("SLACREDITS_PARENT_PID")
    if parent is None:
        return
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != int(parent):
        raise SystemExit(0)  # `serve` is gone already


@cli.command()
def project() -> None:
    """Run the projection that keeps the read models (`serve` starts one; a second one waits)."""
    _die_with_parent()
    from api.app import live_projection
    from api.observability import configure_logging

    settings = _settings()
    configure_logging(settings)
    live = live_projection(settings).start()
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    err.print(f"projection running on {_redact(settings.database_url)}; Ctrl-C stops it")
    while not stop:
        time.sleep(0.2)
    live.stop()


@cli.command()
def dispatch() -> None:
    """Deliver webhooks from the log (`serve` starts one; a second one waits). See docs/webhooks.md."""
    _die_with_parent()
    from api.observability import configure_logging
    from webhooks.dispatcher import Dispatcher

    settings = _settings()
    configure_logging(settings)
    dispatcher = Dispatcher(settings.database_url, settings.dispatch_settings()).start()
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    err.print(f"webhook dispatcher running on {_redact(settings.database_url)}; Ctrl-C stops it")
    while not stop:
        time.sleep(0.2)
    dispatcher.stop()


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
    return url


@cli.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(help='JSONL file: one command a line, {"kind": ..., fields}.', exists=True, dir_okay=False)
    ],
) -> None:
    """Record the commands of a JSONL file (API.md "Command line"); bad lines are reported by number."""
    from api.importer import import_lines
    from projections.stores import open_application

    settings = _settings()
    app = open_application(settings.database_url)
    total = sum(1 for _ in file.open(encoding="utf-8"))
    started = time.perf_counter()
    with Progress(
        TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err, transient=True
    ) as bar:
        task = bar.add_task("import", total=total)
        with file.open(encoding="utf-8") as lines:
            report = import_lines(app, lines, progress=lambda n: bar.advance(task, n))
    elapsed = time.perf_counter() - started
    app.close()
    for number, reason in report.errors:
        err.print(f"line {number}: {reason}", markup=False, highlight=False)
    err.print(
        f"{report.lines} lines: {report.recorded} recorded, {report.unchanged} already recorded, "
        f"{len(report.errors)} refused ({elapsed:.2f}s, {report.recorded / elapsed if elapsed else 0:.0f} facts/s)"
    )
    raise typer.Exit(1 if report.errors else 0)


@cli.command()
def rebuild() -> None:
    """Drop every read model and rebuild it from the recorded facts (position 0)."""
    from projections.runner import LogAlteredError
    from projections.runner import rebuild as _rebuild

    started = time.perf_counter()
    try:
        n = _rebuild(_settings().database_url)
    except LogAlteredError as e:
        err.print(f"refused: {e}")
        raise typer.Exit(1) from None
    err.print(f"rebuilt the read models from {n} facts in {time.perf_counter() - started:.2f}s")


def _parse_instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter("must be an RFC 3339 instant, e.g. 2026-03-01T00:00:00Z") from None
    if value.tzinfo is None:
        raise typer.BadParameter("must carry a UTC offset, e.g. 2026-03-01T00:00:00Z")
    return value.astimezone(UTC)


@cli.command()
def credits(
    customer_id: Annotated[str, typer.Argument(help="The customer whose credits to print.")],
    from_: Annotated[str, typer.Option("--from", help="First month, YYYY-MM.")],
    to: Annotated[str, typer.Option("--to", help="Last month, YYYY-MM.")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Figures as known at this instant (RFC 3339).")] = None,
) -> None:
    """Print the credits answer of API.md for a customer as JSON."""
    from domain.errors import DomainError
    from projections.service import CreditsService

    settings = _settings()
    service = CreditsService(settings.database_url)
    try:
        document = service.credits(customer_id, from_, to, _parse_instant(as_of))
    except DomainError as e:
        err.print(f"{e.field}: {e.reason}")
        raise typer.Exit(2) from None
    finally:
        service.close()
    out.print_json(json.dumps(document))


@cli.command()
def bill(month: Annotated[str, typer.Argument(help="The month to bill, YYYY-MM.")]) -> None:
    """Run billing for a month (as POST /v1/billing/runs) and print the run as JSON."""
    from domain.calendar import Month
    from domain.errors import DomainError

    service = _service()
    try:
        m = Month.parse(month)
        service.catch_up()
        run = service.bill(m)
    except DomainError as e:
        err.print(f"{e.field}: {e.reason}")
        raise typer.Exit(2) from None
    finally:
        service.close()
    run.pop("position")
    if run["view_mismatches"]:
        err.print(f"{run['view_mismatches']} stored periods disagreed with the facts; the fresh figures were issued")
    out.print_json(json.dumps(run))


@cli.command()
def verify(
    against: Annotated[
        Path | None,
        typer.Option("--against", help="A checkpoint file kept earlier: check the log still yields its digest."),
    ] = None,
) -> None:
    """Rebuild every read model from the log into a scratch store, compare, and print the digest
    (with --against, also check the log against a checkpoint kept outside the service)."""
    from projections.verification import check_against
    from projections.verification import verify as _verify

    kept = json.loads(against.read_text(encoding="utf-8")) if against is not None else None
    service = _service()
    try:
        position = service.catch_up() or 0
        result = _verify(service.app, service.view, position)
        if kept is not None:
            result["checkpoint"] = check_against(service.app, kept)
    finally:
        service.close()
    out.print_json(json.dumps(result))
    bad = (
        result["mismatch_count"]
        or result["first_bad_position"]
        or (kept is not None and not result["checkpoint"]["ok"])
    )
    raise typer.Exit(1 if bad else 0)


@cli.command()
def checkpoint(
    file: Annotated[Path | None, typer.Argument(help="Also write the checkpoint to this file.")] = None,
) -> None:
    """Print the log's digest at its last position, recomputed from the stored facts: keep it
    outside the service, and check later with `sla-credits verify --against FILE`."""
    from projections.stores import open_application
    from projections.verification import checkpoint as _checkpoint

    app = open_application(_settings().database_url)
    try:
        result = _checkpoint(app)
    finally:
        app.close()
    if file is not None:
        file.write_text(json.dumps(result) + "\n", encoding="utf-8")
    out.print_json(json.dumps(result))


def _migrate(settings: Settings) -> None:
    from projections.migrations import migrate as _run
    from webhooks.store import create_webhook_tables

    url = settings.migrate_url or settings.database_url
    for step in _run(url, settings.service_role, settings.service_password, also=[create_webhook_tables]):
        err.print(f"migrate: {step}")


@cli.command()
def migrate(
    service_role: Annotated[
        str | None, typer.Option(help="The role the service connects as (created if missing; PostgreSQL).")
    ] = None,
) -> None:
    """Create tables, indexes and the append-only guard; on PostgreSQL the service role and its
    grants (read and append facts, never update or delete them). Idempotent. Connects with
    SLACREDITS_MIGRATE_URL (an owner), else SLACREDITS_DATABASE_URL."""
    settings = _settings()
    if service_role is not None:
        settings = settings.model_copy(update={"service_role": service_role})
    try:
        _migrate(settings)
    except ValueError as e:
        err.print(str(e))
        raise typer.Exit(2) from None


@cli.command("export-events")
def export_events_(
    file: Annotated[Path, typer.Argument(help="The JSON-lines file to write (the event feed's form).")],
) -> None:
    """Write every recorded fact, in order, to FILE.jsonl (the feed's form plus the stored bytes)."""
    from projections.event_log import export_events
    from projections.stores import open_application

    app = open_application(_settings().database_url)
    try:
        with file.open("w", encoding="utf-8") as f:
            count, digest = export_events(app, f)
    finally:
        app.close()
    err.print(f"exported {count} facts to {file}")
    out.print_json(json.dumps({"events": count, "digest": digest}))


@cli.command("import-events")
def import_events_(
    file: Annotated[Path, typer.Argument(help="A file written by `sla-credits export-events`.")],
    replay_webhooks: Annotated[
        bool,
        typer.Option(
            "--replay-webhooks",
            help="Send the webhook events of every imported fact again (default: only those of later facts).",
        ),
    ] = False,
) -> None:
    """Load an export into an empty store, each fact at its original position, all or nothing.

    Every line is checked first (its data against its stored bytes, and the hash chain);
    the read models are then rebuilt, and the digest printed must equal the export's. The
    webhook dispatcher starts after the imported facts (see docs/webhooks.md)."""
    from projections.event_log import EventLogError, import_events, read_export
    from projections.runner import rebuild
    from projections.stores import open_application

    settings = _settings()
    try:
        with file.open(encoding="utf-8") as f:
            facts, digest = read_export(f)
    except (OSError, EventLogError) as e:
        err.print(f"{file}: {e}")
        raise typer.Exit(2) from None
    from webhooks.dispatcher import skip_to_head

    app = open_application(settings.database_url)
    try:
        count = import_events(app, facts)
        if not replay_webhooks:
            skip_to_head(app)
    except ValueError as e:
        err.print(str(e))
        raise typer.Exit(2) from None
    finally:
        app.close()
    rebuild(settings.database_url)
    err.print(f"imported {count} facts into {_redact(settings.database_url)} and rebuilt the read models")
    out.print_json(json.dumps({"events": count, "digest": digest}))


def _service():  # type: ignore[no-untyped-def]
    from projections.service import CreditsService

    return CreditsService(_settings().database_url)


@cli.command()
def openapi(
    output: Annotated[Path | None, typer.Option(help="Write the document to this file (default: print it).")] = None,
) -> None:
    """The HTTP contract as an OpenAPI document (what /openapi.json serves; docs/openapi.json is a copy)."""
    from api.app import create_app

    text = openapi_text(create_app(Settings(api_keys="")).openapi())
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}")


def openapi_text(document: dict[str, object]) -> str:
    """The document as docs/openapi.json keeps it: indented, keys in the served order, one final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


@cli.command()
def demo() -> None:
    """Load the demo data set (a dozen customers, two years of incidents) unless already loaded."""
    from api.demo import load_demo

    settings = _settings()
    loaded = load_demo(settings.database_url)
    err.print("demo data loaded" if loaded else "demo data already present; nothing recorded")


@cli.command()
def quickstart(
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Load the demo once, create API keys for every role (kept in data/api-keys.env), and serve."""
    from api.demo import demo_instant, load_demo
    from projections.stores import open_application

    keys_file = Path("data/api-keys.env")
    keys_file.parent.mkdir(parents=True, exist_ok=True)
    if not keys_file.exists():
        pairs = ",".join(
            f"{r}:{r[:3]}-{secrets.token_urlsafe(18)}"
            for r in ("admin", "ingest", "account_manager", "billing", "auditor")
        )
        keys_file.write_text(f"SLACREDITS_API_KEYS={pairs}\n", encoding="utf-8")
        keys_file.chmod(0o600)
    os.environ.setdefault("SLACREDITS_API_KEYS", keys_file.read_text(encoding="utf-8").strip().split("=", 1)[1])
    os.environ.setdefault("SLACREDITS_LOG_FORMAT", "text")  # readable in a terminal; JSON is for production
    settings = _settings()
    app = open_application(settings.database_url)
    try:
        if load_demo(settings.database_url, app):
            err.print("loaded the demo data")
        example = demo_instant(app)
    finally:
        app.close()
    err.print(f"\n[bold]sla-credits[/] on {_redact(settings.database_url)}")
    err.print(
        f"Open http://127.0.0.1:{port}/ui/ (the console) or http://127.0.0.1:{port}/docs (the API, press Authorize)",
        soft_wrap=True,
    )
    err.print("and use one of these keys:")
    keys = settings.api_key_list()
    for key in keys:
        err.print(f"  {key.role:16} {key.key}", markup=False, highlight=False)
    err.print("(kept in data/api-keys.env)")
    reader = next((k.key for k in keys if k.role == "account_manager"), keys[0].key if keys else "KEY")
    if example is not None:
        base = f"http://127.0.0.1:{port}"
        for line in (
            f"\nAs of an instant: the demo's facts were recorded in two phases, {example.instant_text} between them",
            "(after it: a correction of a month already billed, the end of an outage, a contract recorded late).",
            f"{example.customer_id}'s credits as known then, and now:",
            f'  curl -H "Authorization: Bearer {reader}" "{base}{example.path()}"',
            f'  curl -H "Authorization: Bearer {reader}" "{base}{example.path(as_of=False)}"',
            f"In the console: {base}/ui/customers/{example.customer_id}?as_of={example.instant_text}",
        ):
            err.print(line, markup=False, highlight=False, soft_wrap=True)
    err.print("")
    serve(host="127.0.0.1", port=port, workers=1)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
