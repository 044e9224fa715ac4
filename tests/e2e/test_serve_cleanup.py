"""`serve` removes the metrics folder it made in the temporary folder when it stops."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.processes import Server


def test_serve_leaves_no_metrics_folder_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    server = Server(f"sqlite:///{tmp_path}/credits.db", tmp_path / "serve.log", workers=2)
    made = list(temp.glob("sla-credits-metrics-*"))

    server.stop()

    assert len(made) == 1, made
    assert not list(temp.glob("sla-credits-metrics-*")), server.log.read_text()[-2000:]
