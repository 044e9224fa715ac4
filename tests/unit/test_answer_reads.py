"""The one-statement reads of the live credits answer (projections/answer_reads.py), from rows
as the statement returns them: read-your-writes, the filters, and the guard on the months read.
(Against the stores and byte for byte: tests/integration/test_credits_answer.py.)"""

from __future__ import annotations

import pytest

from projections.answer_reads import AnswerReads, answerable

NONE = (None, None, None, None, None)


def _rows(log: int | None, covered: int | None) -> list[tuple[object, ...]]:
    return [
        ("billed", "c1", "2025-02", None, *NONE, None),
        ("covered", None, None, None, covered, None, None, None, None, None),
        ("incident", "i1", "compute", None, *NONE, '{"doc": 1}'),
        ("log", None, None, None, log, None, None, None, None, None),
        ("period", "c1", "2025-02", "2025-01-01", 100, 80, 20, None, None, "[]"),
        ("period", "c1", "2025-03", "2025-01-01", 50, 0, 50, None, None, "[]"),
        ("year", "c1", "2025-01-01", "cust", 80, 150, 80, 70, 0, None),
    ]


@pytest.mark.parametrize(
    ("log", "covered", "current"), [(None, None, True), (7, 7, True), (7, 6, False), (7, None, False), (6, 7, True)]
)
def test_current_when_the_views_cover_the_log(log: int | None, covered: int | None, current: bool) -> None:
    assert AnswerReads("cust", "2025-01", "2025-12", _rows(log, covered)).covers_log() is current


def test_the_rows_answer_by_kind_and_by_month() -> None:
    reads = AnswerReads("cust", "2025-01", "2025-12", _rows(3, 3))
    assert set(reads.period_answers("cust", "2025-03", "2025-12")) == {("c1", "2025-03")}
    assert reads.period_answers("cust", "2025-01", "2025-12")[("c1", "2025-02")].granted_minor == 80
    assert reads.billed_of("cust") == {("c1", "2025-02")}
    (year,) = reads.years_of("cust").values()
    assert (year.customer_id, year.starts_on, year.cap_minor, year.remaining_minor) == ("cust", "2025-01-01", 80, 0)
    assert reads.contracts_of("cust") == []


def test_months_or_a_customer_that_were_not_read_are_a_programming_error() -> None:
    reads = AnswerReads("cust", "2025-02", "2025-06", _rows(3, 3))
    with pytest.raises(AssertionError):
        reads.period_answers("cust", "2025-01", "2025-06")  # January was not read: not "no downtime"
    with pytest.raises(AssertionError):
        reads.billed_of("another")


def test_ids_no_contract_can_have_are_not_read() -> None:
    assert answerable("cust-1.a")
    assert not answerable("a\x00b")
    assert not answerable("")
