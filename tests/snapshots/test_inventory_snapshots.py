"""SVG snapshots of the Inventory screen, a refused move, a product's history and the low-stock
view. Same app as the other snapshots: memory store, fixed clock, demo data, no toasts."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from tests.snapshots.test_products_snapshots import SIZE, _app
from tests.tui.conftest import settle


async def _inventory(pilot) -> None:
    await settle(pilot)
    await pilot.press("3")
    await settle(pilot)
    pilot.app.clear_notifications()
    await pilot.pause()


def test_inventory_screen(snap_compare, tmp_path: Path):
    assert snap_compare(_app(tmp_path), terminal_size=SIZE, run_before=_inventory)


def test_move_form_with_insufficient_stock(snap_compare, tmp_path: Path):
    async def run_before(pilot) -> None:
        await _inventory(pilot)
        await pilot.press("m")  # the first row, Blue Chisel: 105 in the Warehouse
        await settle(pilot)
        pilot.app.screen.query_one("#quantity", Input).value = "500"
        pilot.app.screen.query_one("#memo", Input).value = "too many"
        await pilot.press("ctrl+s")
        await settle(pilot)

    assert snap_compare(_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_history_of_a_product_with_several_moves(snap_compare, tmp_path: Path):
    async def run_before(pilot) -> None:
        await settle(pilot)
        inventory = pilot.app.backend.sim.inventory
        sku = "HAN-0000030"  # Blue Chisel, the first row by name
        inventory.move_stock(sku, 10, "Warehouse", "Shop floor", memo="front shelf", idempotency_key="snap-1")
        inventory.sell(sku, 1, "Carol", location="Shop floor", idempotency_key="snap-2")
        inventory.receive(sku, 20, memo="free samples", idempotency_key="snap-3")
        inventory.purchase(sku, 4, "Acme Supplies", lead_days=3, idempotency_key="snap-4")
        inventory.count_stock(sku, 8, location="Shop floor", memo="one missing")
        await _inventory(pilot)
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_low_stock_view(snap_compare, tmp_path: Path):
    async def run_before(pilot) -> None:
        await _inventory(pilot)
        await pilot.press("l")
        await settle(pilot)

    assert snap_compare(_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_inventory_as_of_a_past_day(snap_compare, tmp_path: Path):
    """Two simulated days later, the stock at the end of day 1: past levels per location and in
    transit, no reorder/value columns, the read-only banner."""

    async def run_before(pilot) -> None:
        await settle(pilot)
        pilot.app.backend.sim.simulation.advance(2)
        await _inventory(pilot)
        await pilot.press("A")
        await settle(pilot)
        pilot.app.screen.query_one("#when", Input).value = "day 1"
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(_app(tmp_path), terminal_size=SIZE, run_before=run_before)
