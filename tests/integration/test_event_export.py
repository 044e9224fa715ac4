"""`sla-credits export-events` and `import-events`: an export loaded into an empty store gives
the same credits, ledger and digest; a tampered export is refused and nothing is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from projections.service import CreditsService
from tests.conftest import fresh_postgres_database


@pytest.fixture
def target_url(store_url: str, tmp_path: Path) -> Iterator[str]:
    """A second empty store of the same kind as `store_url`."""
    if store_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path}/imported.db"
    else:
        yield from fresh_postgres_database()


def _cli(url: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SLACREDITS_DATABASE_URL": url, "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def _figures(url: str) -> tuple[dict[str, list[tuple[object, ...]]], dict[str, object]]:
    service = CreditsService(url)
    try:
        service.catch_up()
        return service.view.dump_rows(), service.credits("northwind", "2025-01", "2026-10")
    finally:
        service.close()


def test_an_export_imported_into_an_empty_store_gives_the_same_credits_ledger_and_digest(
    store_url: str, target_url: str, tmp_path: Path
) -> None:
    _cli(store_url, "demo")
    _cli(store_url, "bill", "2025-03")
    _cli(store_url, "bill", "2025-04")
    export = tmp_path / "log.jsonl"

    exported = json.loads(_cli(store_url, "export-events", str(export)).stdout)
    imported = json.loads(_cli(target_url, "import-events", str(export)).stdout)
    original = json.loads(_cli(store_url, "verify").stdout)
    copy = json.loads(_cli(target_url, "verify").stdout)

    assert exported == imported == {"events": original["events"], "digest": original["digest"]}
    assert (copy["events"], copy["digest"], copy["mismatch_count"]) == (original["events"], original["digest"], 0)
    rows, credits = _figures(store_url)
    assert _figures(target_url) == (rows, credits)
    assert len(rows["v_ledger"]) > 0 and original["events"] > 100
    first = json.loads(export.read_text(encoding="utf-8").splitlines()[0])
    assert set(first) == {"position", "recorded_at", "stream_id", "version", "type", "data", "link", "stored_state"}


def test_a_tampered_export_is_refused_naming_the_line_and_nothing_is_written(
    store_url: str, target_url: str, tmp_path: Path
) -> None:
    _cli(store_url, "demo")
    export = tmp_path / "log.jsonl"
    _cli(store_url, "export-events", str(export))
    lines = export.read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if '"title"' in line)
    fact = json.loads(lines[at])
    fact["stored_state"] = fact["stored_state"].replace(fact["data"]["title"], "something else")
    fact["data"]["title"] = "something else"
    lines[at] = json.dumps(fact)
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")

    refused = _cli(target_url, "import-events", str(export), ok=False)
    after = _cli(target_url, "verify")

    assert refused.returncode == 2
    assert f"line {at + 1}: link does not match" in refused.stderr
    assert json.loads(after.stdout)["events"] == 0


def test_an_export_whose_stored_bytes_were_rewritten_is_refused(
    store_url: str, target_url: str, tmp_path: Path
) -> None:
    """The same data and the same links, but a stored state written again in another form (here
    with spaces): the live projection would file the fact encoded again, a rebuild the bytes as
    read, and the two would differ (decision 22). The import refuses it, naming the line."""
    _cli(store_url, "demo")
    export = tmp_path / "log.jsonl"
    _cli(store_url, "export-events", str(export))
    lines = export.read_text(encoding="utf-8").splitlines()
    fact = json.loads(lines[3])
    fact["stored_state"] = json.dumps(json.loads(fact["stored_state"]))  # same JSON, with spaces
    lines[3] = json.dumps(fact)
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")

    refused = _cli(target_url, "import-events", str(export), ok=False)

    assert refused.returncode == 2
    assert "line 4: stored_state is not in the form this service writes" in refused.stderr
    assert json.loads(_cli(target_url, "verify").stdout)["events"] == 0
