"""A billing integrator's client, generated with openapi-python-client from the served
/openapi.json, drives a whole story typed end to end; every raw answer also matches our own
answer model with no key it does not document."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api import responses, responses_billing
from api.app import create_app
from tests.api.conftest import KEYS, api_settings
from tests.api.scenario import contract, incident

PACKAGE = "slac_client"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    url = f"sqlite:///{tmp_path_factory.mktemp('client') / 'credits.db'}"
    with TestClient(create_app(api_settings(url)), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def generated(served: TestClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    folder = tmp_path_factory.mktemp("generated")
    schema = folder / "openapi.json"
    schema.write_text(served.get("/openapi.json").text, encoding="utf-8")
    bin_dir = Path(sys.executable).parent
    command = [str(bin_dir / "openapi-python-client"), "generate", "--meta", "none", "--path", str(schema)]
    done = subprocess.run(
        [*command, "--output-path", str(folder / PACKAGE)],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},  # its ruff post-hook
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr  # nothing left out
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


class Roles:
    """One generated AuthenticatedClient per role, each over the in-process app."""

    def __init__(self, served: TestClient) -> None:
        self.served = served
        self.clients: dict[str, Any] = {}
        self.opened: list[TestClient] = []

    def __call__(self, role: str) -> Any:
        if role not in self.clients:
            http = TestClient(self.served.app, headers={"Authorization": f"Bearer {KEYS[role]}"})
            self.opened.append(http)
            client = module("client").AuthenticatedClient(base_url=str(http.base_url), token=KEYS[role])
            client.set_httpx_client(http)
            self.clients[role] = client
        return self.clients[role]


def strictly(model: type[BaseModel], raw: bytes) -> None:
    """The raw answer is exactly our model: every key documented, none missing."""
    model.model_validate(json.loads(raw))


def test_a_whole_story_typed_end_to_end(served: TestClient, generated: ModuleType) -> None:
    as_ = Roles(served)
    models = module("models")
    api = lambda path: module(f"api.{path}")  # noqa: E731

    # sign a contract (admin), open an incident and resolve it later (ingest)
    signed = api("contracts.sign_contract").sync_detailed(
        client=as_("admin"), body=models.ContractSign.from_dict(contract(contract_id="c1", customer_id="acme"))
    )
    assert signed.status_code == 201 and isinstance(signed.parsed, models.ContractPublic), signed.content
    strictly(responses.ContractPublic, signed.content)
    assert signed.parsed.terms.credit_tiers[0].below_percent == "99.9"
    opened = api("ingest.open_incident").sync(
        client=as_("ingest"),
        body=models.IncidentOpen.from_dict({k: v for k, v in incident().items() if k != "ended_at"}),
    )
    assert isinstance(opened, models.IncidentPublic) and opened.ended_at is None
    resolved = api("ingest.resolve_incident").sync_detailed(
        "i1",
        client=as_("ingest"),
        body=models.IncidentResolve.from_dict({"request_id": "r1", "ended_at": "2025-03-10T11:00:00Z"}),
    )
    assert isinstance(resolved.parsed, models.IncidentPublic) and resolved.parsed.ended_at == "2025-03-10T11:00:00Z"
    strictly(responses.IncidentPublic, resolved.content)

    # credits, explanation, a claim (account manager)
    credits = api("credits_.get_credits").sync_detailed(
        "acme", client=as_("account_manager"), from_="2025-03", to="2025-03"
    )
    assert isinstance(credits.parsed, models.CreditsPublic), credits.content
    strictly(responses.CreditsPublic, credits.content)
    (march,) = credits.parsed.periods
    assert (march.lines[0].downtime_seconds, march.credit_minor, march.granted_minor) == ("3600", 10000, 10000)
    explanation = api("credits_.get_explanation").sync_detailed("acme", "2025-03", client=as_("account_manager"))
    assert isinstance(explanation.parsed, models.Explanation)
    strictly(responses.Explanation, explanation.content)
    assert explanation.parsed.periods[0].lines[0].incidents[0].counted is True
    claim = api("credits_.file_claim").sync_detailed(
        "acme",
        client=as_("account_manager"),
        body=models.ClaimFile.from_dict({"claim_id": "cl1", "month": "2025-03", "channel": "email"}),
    )
    assert isinstance(claim.parsed, models.ClaimAnswer) and claim.parsed.entitlement.periods[0].granted_minor == 10000
    strictly(responses.ClaimAnswer, claim.content)
    found = api("credits_.list_customers").sync_detailed(client=as_("account_manager"), q="acm")
    assert isinstance(found.parsed, models.CustomersPage) and found.parsed.customers[0].claims == 1
    strictly(responses.CustomersPage, found.content)

    # a billing run, the ledger a page at a time, an acknowledgement (billing)
    run = api("billing.run_billing").sync_detailed(client=as_("billing"), body=models.RunRequest(month="2025-03"))
    assert isinstance(run.parsed, models.BillingRun), run.content
    strictly(responses_billing.BillingRun, run.content)
    assert [(e.contract_id, e.kind, e.amount_minor) for e in run.parsed.entries if e.month == "2025-03"] == [
        ("c1", models.IssuedEntryKind.CREDIT, 10000)
    ]
    entries, cursor = [], None
    while True:
        page = api("billing.list_ledger_entries").sync_detailed(client=as_("billing"), limit=1, after=cursor)
        assert isinstance(page.parsed, models.LedgerPage)
        strictly(responses_billing.LedgerPage, page.content)
        if not page.parsed.entries:
            break
        entries += page.parsed.entries
        cursor = page.parsed.next_cursor
    assert [e.entry_id for e in entries] == [e.entry_id for e in run.parsed.entries]
    ack = api("billing.acknowledge_ledger_entry").sync_detailed(
        entries[0].entry_id, client=as_("billing"), body=models.Acknowledgement(invoice_id="INV-1")
    )
    assert isinstance(ack.parsed, models.AcknowledgementAnswer) and ack.parsed.recorded is True
    strictly(responses_billing.AcknowledgementAnswer, ack.content)
    runs = api("billing.list_runs").sync_detailed(client=as_("billing"))
    assert isinstance(runs.parsed, models.RunsPage)
    strictly(responses_billing.RunsPage, runs.content)
    one = api("billing.get_run").sync_detailed(run.parsed.run_id, client=as_("billing"))
    assert isinstance(one.parsed, models.RunDetail) and one.parsed.entries_issued[0].invoice_id == "INV-1"
    strictly(responses_billing.RunDetail, one.content)
    unbilled = api("billing.list_unbilled_periods").sync_detailed(client=as_("billing"))
    assert isinstance(unbilled.parsed, models.UnbilledPage) and unbilled.parsed.billing_started_with == "2025-03"
    strictly(responses_billing.UnbilledPage, unbilled.content)

    # the audit feed and verification (auditor)
    feed = api("audit.list_audit_events").sync_detailed(client=as_("auditor"), limit=1000)
    assert isinstance(feed.parsed, models.AuditPage)
    strictly(responses_billing.AuditPage, feed.content)
    assert [e.position for e in feed.parsed.events] == list(range(1, len(feed.parsed.events) + 1))
    verification = api("audit.get_verification").sync_detailed(client=as_("auditor"))
    assert isinstance(verification.parsed, models.Verification)
    strictly(responses_billing.Verification, verification.content)
    assert verification.parsed.mismatch_count == 0 and verification.parsed.first_bad_position is None
    kept = api("audit.get_checkpoint").sync_detailed(client=as_("auditor"))
    assert isinstance(kept.parsed, models.Checkpoint)
    strictly(responses_billing.Checkpoint, kept.content)
    checked = api("audit.verify_checkpoint").sync_detailed(
        client=as_("auditor"),
        body=models.CheckpointIn.from_dict({"position": kept.parsed.position, "digest": kept.parsed.digest}),
    )
    assert isinstance(checked.parsed, models.CheckpointVerification) and checked.parsed.ok is True
    strictly(responses_billing.CheckpointVerification, checked.content)
    ready = api("health.readyz").sync_detailed(client=as_("auditor"))
    assert isinstance(ready.parsed, models.Readiness)
    strictly(responses.Readiness, ready.content)

    # a refusal comes back as a typed Problem naming the field
    refused = api("credits_.get_credits").sync_detailed(
        "acme", client=as_("account_manager"), from_="2025-03", to="2025-03", as_of="0.5"
    )
    assert refused.status_code == 422 and isinstance(refused.parsed, models.Problem), refused.content
    assert [e.field for e in refused.parsed.errors] == ["as_of"]
    unknown = api("contracts.get_contract").sync("nobody", client=as_("admin"))
    assert isinstance(unknown, models.Problem) and unknown.status == 404

    # no typed object collected a key the schema does not name
    for parsed in (signed.parsed, credits.parsed, explanation.parsed, run.parsed, feed.parsed, verification.parsed):
        assert parsed.additional_properties == {}, parsed

    for http in as_.opened:
        http.close()
