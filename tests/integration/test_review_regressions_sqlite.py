"""SQLite-specific regressions found in review."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from domain import Simulator
from domain.clock import FixedClock
from domain.errors import DomainError
from storage import open_store
from tui_app.__main__ import main


def test_listing_pending_transfers_is_a_read_while_another_process_writes(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    sim = Simulator(store, actor="viewer", clock=FixedClock())
    sim.bank.open_account("A", opening_balance="10.00")
    sim.bank.open_account("B")
    held = sim.bank.transfer("A", "B", "1.00", pending=True)
    blocker = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # e.g. a long CLI import
    try:
        assert [t.id for t in sim.bank.pending_transfers()] == [held.id]
        assert [a.name for a in sim.bank.accounts()][:2] == ["A", "B"]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        store.close()


def test_migrate_status_on_a_missing_file_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "new.db"
    assert main(["--db", f"sqlite:///{path}", "migrate", "--status"]) == 1
    assert "not_found" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_opening_a_missing_file_without_migrating_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(DomainError) as caught:
        open_store(f"sqlite:///{tmp_path / 'none.db'}?migrate=no")
    assert caught.value.code == "not_found"
    assert not (tmp_path / "none.db").exists()


def test_first_launch_demo_data_is_all_or_nothing(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tui_app import bootstrap

    def failing_bank_demo(sim) -> None:
        sim.bank.open_account("Half", opening_balance="1.00")
        raise RuntimeError("power cut")

    monkeypatch.setattr(bootstrap, "seed_demo_bank", failing_bank_demo)
    with pytest.raises(RuntimeError):
        bootstrap.open_backend(sqlite_url, actor="t")
    monkeypatch.undo()
    backend = bootstrap.open_backend(sqlite_url, actor="t")  # pristine again, so the demo is loaded whole
    try:
        assert backend.demo_loaded == 50
        assert [a.name for a in backend.sim.bank.accounts()] == ["Acme Supplies", "Alice", "Bob", "Carol", "Cash EUR", "Shop"]
        assert backend.sim.check().ok
    finally:
        backend.close()
