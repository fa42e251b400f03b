"""SVG snapshots of the recovery screen, fed a fixed Recovery (no files, no clock): a damaged
database with a good backup to offer, and one without. Update only after looking at the report."""

from __future__ import annotations

from types import SimpleNamespace

from tests.tui.conftest import settle
from tui_app.recovery import Recovery, RecoveryApp

SIZE = (100, 30)
FOUND = SimpleNamespace(name="shop-20260101-090000.db", created_at="2026-01-01T09:00:00Z", revision="0005",
                        path="/srv/shop/shop.db.backups/shop-20260101-090000.db")


def _app(found) -> RecoveryApp:
    return RecoveryApp(Recovery("/srv/shop/shop.db", "It cannot be opened: cannot read the database: file is not "
                                "a database", lambda: found, lambda b: None))


async def _settled(pilot) -> None:
    await settle(pilot)


def test_recovery_offers_the_newest_good_backup(snap_compare):
    assert snap_compare(_app(FOUND), terminal_size=SIZE, run_before=_settled)


def test_recovery_without_a_good_backup(snap_compare):
    assert snap_compare(_app(None), terminal_size=SIZE, run_before=_settled)
