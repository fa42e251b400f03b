"""The Dashboard screen (key 6) driven with Pilot: its figures are the service's, it reads again after a write
(this app's or another client's) and on its timer, its keys change what the charts show, and a slow read
never blocks the keyboard."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from domain import Simulator
from domain.clock import FixedClock
from storage import open_store
from tests.conftest import migrated_sqlite_file
from tests.tui.conftest import settle, until
from tui_app.screens import dashboard as dashboard_module
from tui_app.screens.dashboard import DashboardScreen

pytestmark = pytest.mark.asyncio


@pytest.fixture(autouse=True)
def _fast_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard_module, "REFRESH_SECONDS", 0.2)


def tile(app, key: str) -> str:
    return str(app.screen.query_one(f"#tile-{key}", Static).render())


def text_of(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


def make_reads_slow(app, seconds: float) -> None:
    """Every dashboard read takes this much longer (its monitor reading is the first thing it reads)."""
    real = app.backend.monitor

    def slow():
        time.sleep(seconds)
        return real()

    app.backend.monitor = slow


async def open_dashboard(pilot) -> None:
    await settle(pilot)
    await pilot.press("6")
    await until(pilot, lambda: isinstance(pilot.app.screen, DashboardScreen) and tile(pilot.app, "day") != "…")


async def test_key_6_shows_the_figures_the_service_reads(app_factory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        app.backend.sim.simulation.advance(3, seed=7)
        await open_dashboard(pilot)
        s = app.backend.sim.dashboard.summary()
        assert tile(app, "day") == "3"
        assert tile(app, "products") == f"{s.products:,}"
        assert tile(app, "low") == str(s.low_stock_count)
        top = app.screen.query_one("#top-sellers", DataTable)
        assert [top.get_row_at(i)[0] for i in range(top.row_count)] == [t.sku for t in s.top_sellers]
        assert app.screen.query_one("#low-stock", DataTable).row_count == len(s.low_stock)
        assert "Engine      in memory" in text_of(app, "#monitor")


async def test_a_write_in_this_app_shows_on_the_next_tick(app_factory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_dashboard(pilot)
        before = tile(app, "pending")
        app.backend.sim.bank.transfer("Alice", "Shop", "7.00", pending=True)
        await until(pilot, lambda: tile(app, "pending") != before)
        s = app.backend.sim.dashboard.summary()
        assert tile(app, "pending").startswith(f"{s.pending_count} ·")


async def test_another_clients_write_shows_too(tmp_path: Path, app_factory) -> None:
    url = f"sqlite:///{migrated_sqlite_file(tmp_path / 'db')}"
    app = app_factory(url=url)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_dashboard(pilot)
        assert tile(app, "products") == "50"
        other = open_store(url)
        try:
            Simulator(other, actor="someone-else", clock=FixedClock()).catalog.add_product("NEW-1", "New", "1.00")
        finally:
            other.close()
        await until(pilot, lambda: tile(app, "products") == "51")
        assert "Engine      SQLite" in text_of(app, "#monitor")
        assert "Queries" in text_of(app, "#monitor") and "mean" in text_of(app, "#monitor")


async def test_keys_choose_the_account_the_span_and_the_product_charted(app_factory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        app.backend.sim.simulation.advance(10, seed=3)
        await open_dashboard(pilot)
        screen = app.screen
        assert screen._account_id is None  # the shop's balance first
        await pilot.press("a")
        await until(pilot, lambda: screen._account_id is not None)
        first = screen._account_id
        await pilot.press("a")
        await until(pilot, lambda: screen._account_id not in (None, first))
        assert "Top sellers, days 0–10" in text_of(app, "#top-title")
        await pilot.press("w")  # 30 -> 7 days
        await until(pilot, lambda: "days 4–10" in text_of(app, "#top-title"))
        low = screen.query_one("#low-stock", DataTable)
        low.focus()
        await pilot.pause()
        wanted = low.coordinate_to_cell_key(low.cursor_coordinate).row_key.value
        await pilot.press("enter")
        await until(pilot, lambda: screen._product_id == int(wanted))


async def test_a_slow_read_never_blocks_the_keyboard(app_factory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        held = threading.Event()  # the dashboard's read waits for this: it cannot end before the key is handled
        real = app.backend.monitor
        app.backend.monitor = lambda: held.wait(30) and real()
        deadline = time.monotonic() + 20  # a read on the event loop would hold both keys for 30 s
        await pilot.press("6")
        await pilot.pause()
        await pilot.press("1")  # while the dashboard's read is still running
        while app.current_mode != "products":  # no settle here: it would wait for the held read
            assert time.monotonic() < deadline, "the key waited for the read"
            await pilot.pause(0.05)
        assert time.monotonic() < deadline and not held.is_set()  # there while the read is still held
        held.set()
        await settle(pilot)


async def test_a_key_pressed_during_a_slow_read_is_not_lost(app_factory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        app.backend.sim.simulation.advance(10, seed=3)
        await open_dashboard(pilot)
        make_reads_slow(app, 0.8)
        await pilot.press("r")  # a full read starts and takes a while
        await pilot.pause()
        await pilot.press("w")  # 30 -> 7 days, asked while that read runs
        await until(pilot, lambda: "days 4–10" in text_of(app, "#top-title"))


async def test_a_charted_product_that_is_purged_falls_back_and_the_dashboard_goes_on(app_factory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        sim = app.backend.sim
        sim.simulation.advance(10, seed=3)
        await open_dashboard(pilot)
        screen = app.screen
        low = screen.query_one("#low-stock", DataTable)
        low.focus()
        await pilot.pause()
        charted = int(low.coordinate_to_cell_key(low.cursor_coordinate).row_key.value)
        await pilot.press("enter")
        await until(pilot, lambda: screen._product_id == charted)
        errors: list[BaseException] = []
        app.report_error = errors.append
        product = sim.catalog.get_product(charted)
        sim.catalog.delete_product(product.id)
        sim.catalog.purge_product(product.id)
        sim.simulation.advance(1)
        await until(pilot, lambda: tile(app, "day") == "11")  # still reading: the figures moved on
        assert product.sku not in text_of(app, "#stock-chart")
        assert errors == []


async def test_a_failing_read_is_shown_once_and_the_monitor_still_updates(app_factory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_dashboard(pilot)
        errors: list[BaseException] = []
        app.report_error = errors.append
        dashboard = app.backend.sim.dashboard

        def down() -> int:
            raise RuntimeError("the server went away")

        dashboard.last_change = down  # every read of the figures now fails
        ticks = iter(range(1, 1000))
        real = app.backend.monitor
        app.backend.monitor = lambda: _numbered(real(), next(ticks))
        await until(pilot, lambda: _ticks_shown(text_of(app, "#monitor")) >= 5)  # five ticks went by
        assert [str(e) for e in errors] == ["the server went away"]  # shown once, not on every tick
        del dashboard.last_change  # the server is back: the figures follow the books again
        before = tile(app, "cash")
        app.backend.sim.bank.deposit("Shop", "1.00")
        await until(pilot, lambda: tile(app, "cash") != before)


def _ticks_shown(monitor: str) -> int:
    """The tick number `_numbered` put in the monitor's query count (a busy machine may skip a frame or two)."""
    found = re.search(r"Queries\s+(\d+)", monitor)
    return int(found.group(1)) if found else 0


def _numbered(reading, n: int):
    """The monitor's reading with its query count replaced by a tick number: proof that the ticks go on."""
    from dataclasses import replace

    return replace(reading, queries=n, mean_query_ms=None)
