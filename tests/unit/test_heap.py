"""The collector pause around building large read models (projections/heap.py)."""

from __future__ import annotations

import gc

import pytest

from projections.heap import collector_paused


def test_the_collector_is_paused_inside_and_as_it_was_after() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # a block inside another leaves it to the outer one
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_error_inside_still_enables_it_again() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("failed while loading")
    assert gc.isenabled()


def test_a_collector_turned_off_by_its_owner_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_api_worker_leaves_what_it_made_at_start_out_of_the_collections(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The factory uvicorn calls in each worker freezes the modules and the app it made: a full
    collection pass then walks only what came after (about 50 ms a pass otherwise)."""
    from api.app import create_app_from_environment

    monkeypatch.setenv("SLACREDITS_DATABASE_URL", f"sqlite:///{tmp_path}/credits.db")
    monkeypatch.setenv("SLACREDITS_API_KEYS", "admin:k")
    gc.unfreeze()
    try:
        app = create_app_from_environment()
        frozen = gc.get_freeze_count()
        started = sum(gc.get_count())
    finally:
        gc.unfreeze()  # this test process goes on making and dropping apps
    assert app.title == "sla-credits"
    assert frozen > 50_000 and started < 1_000
