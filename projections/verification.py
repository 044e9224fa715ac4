"""Verification: rebuild every read model from the log alone into a scratch store, compare
with the live views, and recompute the hash chain over the stored log."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from domain.application import CreditsApplication
from projections.audit import GENESIS, chain
from projections.runner import replay
from projections.stores import open_view
from projections.views import SQLCreditsView

PAGE = 2000


def notifications(app: CreditsApplication, upto: int | None = None) -> Any:
    """Every stored fact in order (up to position `upto`), a page at a time."""
    position = 0
    while True:
        page = app.recorder.select_notifications(start=position, limit=PAGE, stop=upto, inclusive_of_start=False)
        if not page:
            return
        yield from page
        position = page[-1].id


def verify(app: CreditsApplication, live: SQLCreditsView, upto: int, max_mismatches: int = 100) -> dict[str, Any]:
    """Answer {events, mismatches, digest, first_bad_position} for the log up to `upto`
    (the live views' position)."""
    recorded = {
        r["position"]: r["link"] for r in live.select("SELECT position, link FROM v_chain WHERE position <= ?", (upto,))
    }
    events = 0
    digest = GENESIS
    first_bad: int | None = None
    for position, link, _ in chain(notifications(app, upto)):
        events += 1
        digest = link
        if first_bad is None and recorded.get(position) != link:
            first_bad = position
    memory = replay(app, upto=upto)
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = open_view(f"sqlite:///{Path(scratch_dir) / 'scratch.db'}")
        assert isinstance(scratch, SQLCreditsView)
        scratch.replace_all(memory.model, upto or None)
        expected = scratch.dump_rows()
        scratch.datastore.close()  # type: ignore[attr-defined]
    actual = live.dump_rows()
    mismatches: list[dict[str, Any]] = []
    for table in expected:
        want, have = set(map(tuple, expected[table])), set(map(tuple, actual.get(table, [])))
        for row in sorted(have - want, key=repr):
            mismatches.append({"table": table, "kind": "unexpected_row", "row": list(row)})
        for row in sorted(want - have, key=repr):
            mismatches.append({"table": table, "kind": "missing_row", "row": list(row)})
    return {
        "events": events,
        "position": upto,
        "digest": digest,
        "first_bad_position": first_bad,
        "mismatch_count": len(mismatches),
        "mismatches": mismatches[:max_mismatches],
    }


def checkpoint(app: CreditsApplication) -> dict[str, Any]:
    """The digest of the log as it is now, recomputed from the stored facts: keep it outside
    the service (a file, a ticket, a signed e-mail) and check the log against it later."""
    position, digest = 0, GENESIS
    for position, digest, _ in chain(notifications(app)):  # noqa: B007 (the last one is the answer)
        pass
    return {"position": position, "digest": digest, "made_at": datetime.now(UTC).isoformat().replace("+00:00", "Z")}


def check_against(app: CreditsApplication, kept: dict[str, Any]) -> dict[str, Any]:
    """Whether the log still yields the checkpoint's digest at the checkpoint's position."""
    position = int(kept["position"])
    digest = GENESIS
    last = 0
    for last, digest, _ in chain(notifications(app, position)):  # noqa: B007
        pass
    ok = last == position and digest == kept["digest"]
    return {"position": position, "expected": kept["digest"], "found": digest, "facts_found": last, "ok": ok}
