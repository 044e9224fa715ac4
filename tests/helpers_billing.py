"""Running billing at a chosen instant, as POST /v1/billing/runs does at the current one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.application import CreditsApplication
from domain.calendar import Month, to_micros
from projections.billing import run_figures
from projections.readers import Reader


def bill_at(
    app: CreditsApplication, reader: Reader, month: str, now: datetime
) -> tuple[list[dict[str, Any]], list[str]]:
    """Issue the run for `month` as it would be issued at `now`; answers (entries, left contracts)."""
    figures = run_figures(reader, Month.parse(month), to_micros(now), set(app.issued_periods()))
    _, entries, _ = app.issue_billing_run(
        month=month, issued_at=now, ended=figures.ended, earlier=figures.earlier, left=figures.left
    )
    return entries, figures.left
