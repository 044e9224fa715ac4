"""The edge world of tests/unit/test_totality.py (every canonical zone, the accepted range's
edges) through the live projection of each store: no failure, the views at the log's head,
and verification clean."""

from __future__ import annotations

from projections.runner import catch_up
from projections.service import CreditsService
from projections.verification import verify
from tests.unit.test_totality import record_edge_world


def test_the_edges_of_the_accepted_space_are_projected_on_each_store(store_url: str) -> None:
    service = CreditsService(store_url)
    record_edge_world(service.app)

    position = catch_up(service.app, service.view)

    assert position == service.app.recorder.max_notification_id()
    result = verify(service.app, service.view, position or 0)
    assert (result["mismatch_count"], result["first_bad_position"]) == (0, None), result["mismatches"][:3]
    doc = service.credits("a", "1970-01", "1970-02", catch_up=False)
    assert doc["periods"]
    service.close()
