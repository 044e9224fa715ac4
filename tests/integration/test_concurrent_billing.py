"""Two billing runs for the same month at once, in two processes, issue nothing twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

from api.importer import import_lines
from bench.dataset import commands
from projections.service import CreditsService


def test_two_processes_billing_the_same_month_at_once_issue_each_credit_once(postgres_url: str) -> None:
    service = CreditsService(postgres_url)
    report = import_lines(service.app, [json.dumps(c) for c in commands(contracts=40, incidents=300, seed=5)])
    assert not report.errors
    service.catch_up()
    env = dict(os.environ, SLACREDITS_DATABASE_URL=postgres_url)

    runs = [
        subprocess.Popen([sys.executable, "-m", "api.cli", "bill", "2024-03"], env=env, stdout=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [json.loads(p.communicate(timeout=120)[0]) for p in runs]
    service.catch_up()

    issued = Counter((e["contract_id"], e["month"], e["kind"]) for o in outputs for e in o["entries"])
    assert issued and max(issued.values()) == 1
    assert sum(len(o["entries"]) for o in outputs) == len(issued)
    ledger = service.reader.ledger_page(0, 10_000)
    by_period: Counter[tuple[str, str]] = Counter()
    for row in ledger:
        by_period[(str(row["contract_id"]), str(row["month"]))] += int(str(row["amount_minor"]))
    granted = {(k[0], k[1]): p.granted_minor for k, p in service.reader.period_amounts({"2024-03"}).items()}
    for key, amount in by_period.items():
        assert amount == granted.get(key, 0)
    service.close()
