"""SVG snapshots of the Audit screen: the log with a new record in the detail pane, the diff of an
update, and a failed chain check after the sqlite file was edited behind the app's back. Same app
as the other snapshots: fixed clock, demo data, no toasts."""

from __future__ import annotations

import itertools
import sqlite3
import uuid
from pathlib import Path

import pytest

from tests.snapshots.test_products_snapshots import SIZE, _app
from tests.tui.conftest import make_app, settle


@pytest.fixture(autouse=True)
def _fixed_uuids(monkeypatch):
    """The demo's opening deposits get random idempotency keys; the hashes the detail pane shows cover
    them, so the snapshots need the same keys on every run."""
    counter = itertools.count(1)
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(counter)))


async def _audit(pilot) -> None:
    await settle(pilot)
    await pilot.press("5")
    await settle(pilot)
    pilot.app.clear_notifications()
    await pilot.pause()


def test_audit_screen(snap_compare, tmp_path: Path):
    assert snap_compare(_app(tmp_path), terminal_size=SIZE, run_before=_audit)


def test_audit_diff_of_an_update(snap_compare, tmp_path: Path):
    async def run_before(pilot) -> None:
        catalog = pilot.app.backend.sim.catalog
        chisel = catalog.get_product_by_sku("HAN-0000030")
        catalog.update_product(chisel.id, chisel.version, name="Red Chisel", price="19.99", active=False)
        await _audit(pilot)

    assert snap_compare(_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_audit_failed_verify(snap_compare, tmp_path: Path):
    db = tmp_path / "shop.db"
    app = make_app(tmp_path, url=f"sqlite:///{db}")
    app.notify = lambda *a, **k: None
    app.sub_title = "default · sqlite:///shop.db"  # not the temp folder's name

    async def run_before(pilot) -> None:
        await _audit(pilot)
        conn = sqlite3.connect(db)
        with conn:
            conn.execute("UPDATE audit_log SET after = replace(after, '\"quantity\":5,', '\"quantity\":50,')"
                         " WHERE id = 80")  # a demo move of 5 units to the shop floor becomes 50
        conn.close()
        await pilot.press("v")
        await settle(pilot)

    try:
        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
    finally:
        app.backend.close()
