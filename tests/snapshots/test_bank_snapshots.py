"""SVG snapshots of the Bank screen, a refused transfer and a statement."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from tests.snapshots.test_products_snapshots import SIZE, _app
from tests.tui.conftest import settle


def test_bank_screen(snap_compare, tmp_path: Path):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)

    assert snap_compare(_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_transfer_form_with_an_error(snap_compare, tmp_path: Path):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        pilot.app.screen.query_one("#source", Input).value = "Bob"
        pilot.app.screen.query_one("#target", Input).value = "Shop"
        pilot.app.screen.query_one("#amount", Input).value = "5000.00"
        await pilot.press("ctrl+s")
        await settle(pilot)

    assert snap_compare(_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_statement(snap_compare, tmp_path: Path):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("down", "enter")  # Alice
        await settle(pilot)

    assert snap_compare(_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_bank_as_of_a_past_moment(snap_compare, tmp_path: Path):
    """After the customers' purchases, before the restock and the reserved drill: Acme holds nothing
    yet; a transfer made since does not show; read-only banner, no pending list."""

    async def run_before(pilot) -> None:
        await settle(pilot)
        pilot.app.backend.sim.bank.transfer("Alice", "Shop", "12.50", memo="after the moment")
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("A")
        await settle(pilot)
        pilot.app.screen.query_one("#when", Input).value = "2026-01-01 09:00:42"
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_bank_with_deleted_accounts_shown(snap_compare, tmp_path: Path):
    async def run_before(pilot) -> None:
        await settle(pilot)
        bank = pilot.app.backend.sim.bank
        dave = bank.open_account("Dave", kind="customer")
        bank.delete_account(dave.id, dave.version)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("D")
        await settle(pilot)

    assert snap_compare(_app(tmp_path), terminal_size=SIZE, run_before=run_before)
