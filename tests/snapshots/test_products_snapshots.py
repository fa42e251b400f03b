"""SVG snapshots of the Products screen. Update only after looking at the report:
`pytest tests/snapshots --snapshot-update` then open snapshot_report.html."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from tests.tui.conftest import make_app, settle

SIZE = (120, 40)


def _app(tmp_path: Path, demo: bool = True):
    app = make_app(tmp_path, demo=demo)
    app.notify = lambda *a, **k: None  # toasts time out; keep snapshots about the screen itself
    return app


async def _settled(pilot) -> None:
    await settle(pilot)


def test_products_empty(snap_compare, tmp_path: Path):
    assert snap_compare(_app(tmp_path, demo=False), terminal_size=SIZE, run_before=_settled)


def test_products_filled(snap_compare, tmp_path: Path):
    assert snap_compare(_app(tmp_path), terminal_size=SIZE, run_before=_settled)


def test_product_form_with_validation_error(snap_compare, tmp_path: Path):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        pilot.app.screen.query_one("#sku", Input).value = "HAM-1"
        pilot.app.screen.query_one("#name", Input).value = "Claw hammer"
        pilot.app.screen.query_one("#price", Input).value = "-3"
        await pilot.press("ctrl+s")
        await settle(pilot)

    assert snap_compare(_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_delete_confirm(snap_compare, tmp_path: Path):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)

    assert snap_compare(_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_help(snap_compare, tmp_path: Path):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("f1")
        await settle(pilot)

    assert snap_compare(_app(tmp_path), terminal_size=SIZE, run_before=run_before)
