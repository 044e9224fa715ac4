"""Two processes opening a new SQLite file at once: the loser of the switch to WAL mode waits."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from projections import stores


def test_a_new_file_held_by_another_connection_is_put_in_wal_mode_once_it_is_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "credits.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # as another process creating its tables on the new file
    holder.execute("CREATE TABLE made_by_the_other (x INTEGER)")

    refused = threading.Event()
    sleep = stores.time.sleep

    def noted_sleep(seconds: float) -> None:  # a retry: the switch was refused while it was held
        refused.set()
        sleep(seconds)

    monkeypatch.setattr(stores.time, "sleep", noted_sleep)
    outcome: list[object] = []

    def open_store() -> None:
        try:
            outcome.append(stores.store_env(f"sqlite:///{path}"))
        except Exception as e:
            outcome.append(e)

    opener = threading.Thread(target=open_store)
    opener.start()
    assert refused.wait(60), "the opener never found the file held"
    holder.execute("COMMIT")
    holder.close()
    opener.join(60)

    assert len(outcome) == 1 and isinstance(outcome[0], dict), outcome
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT COUNT(*) FROM made_by_the_other").fetchone()[0] == 0
