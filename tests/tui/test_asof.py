"""The shared "as of" control: what it says about a moment, its WHEN dialog (inline errors, `now`
back to the live view, prefilled with the moment shown) and escape, on both screens that have it."""

from __future__ import annotations

from textual.widgets import Input, Static

from domain.services.lifecycle import Moment
from tests.tui.conftest import settle
from tui_app.screens.bank import BankScreen
from tui_app.screens.inventory import InventoryScreen, StockTable
from tui_app.widgets.asof import AsOf, AsOfBanner, AsOfForm


def test_a_date_reads_as_the_end_of_that_day_and_a_day_as_its_end():
    assert AsOf("2026-01-01", Moment("2026-01-01~", True, "2026-01-01 UTC")).label == "end of 2026-01-01 UTC"
    assert AsOf("2026-01-01 12:00", Moment("2026-01-01T12:00~", True, "2026-01-01 12:00 UTC")).label == "2026-01-01 12:00 UTC"
    assert AsOf("day 3", Moment("2026-01-04T00:00:00.000000Z", False, "end of day 3")).label == "end of day 3"
    assert AsOf("now", Moment("2026-01-04T00:00:00.000000Z", True, "now")).live


def test_includes_is_inclusive_for_a_date_and_strict_for_the_start_of_the_next_day():
    by_date = AsOf("2026-01-01", Moment("2026-01-01~", True, "2026-01-01 UTC"))
    assert by_date.includes("2026-01-01T23:59:59.999999Z")
    assert not by_date.includes("2026-01-02T00:00:00.000000Z")
    assert not by_date.includes(None)
    by_day = AsOf("day 3", Moment("2026-01-04T00:00:00.000000Z", False, "end of day 3"))
    assert by_day.includes("2026-01-03T23:00:00.000000Z")
    assert not by_day.includes("2026-01-04T00:00:00.000000Z")  # day 4 began with that entry


async def ask(pilot, when: str) -> None:
    await pilot.press("A")
    await settle(pilot)
    assert isinstance(pilot.app.screen, AsOfForm)
    pilot.app.screen.query_one("#when", Input).value = when
    await pilot.press("enter")
    await settle(pilot)


def when_error(app) -> str:
    return str(app.screen.query_one("#error-when", Static).render())


async def test_a_bad_when_shows_inline_and_the_screen_stays_live(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("A")
        await settle(pilot)
        for when, says in (("yesterday", "is not a date or time"), ("", "is not a date or time"),
                           ("2026-02-30", "not a real date"), ("day 9", "has not happened yet")):
            app.screen.query_one("#when", Input).value = when
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert isinstance(app.screen, AsOfForm)
            assert says in when_error(app) and "[validation]" in when_error(app)
        await pilot.press("escape")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, BankScreen) and screen.as_of is None
        assert not screen.query_one(AsOfBanner).has_class("-shown")


async def test_the_dialog_opens_with_the_moment_shown_and_now_goes_back_to_the_live_view(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        await ask(pilot, "2026-01-01 09:00:30")
        screen = app.screen
        assert isinstance(screen, InventoryScreen) and screen.as_of is not None
        assert screen.title == "Inventory — as of 2026-01-01 09:00:30 UTC"
        banner = str(screen.query_one(AsOfBanner).render())
        assert "As of 2026-01-01 09:00:30 UTC — read-only · esc: back to now" in banner
        await pilot.press("A")
        await settle(pilot)
        assert app.screen.query_one("#when", Input).value == "2026-01-01 09:00:30"
        app.screen.query_one("#when", Input).value = "now"
        await pilot.press("enter")
        await settle(pilot)
        assert screen.as_of is None and screen.title == "Inventory"
        assert not screen.query_one(AsOfBanner).has_class("-shown")


async def test_escape_in_the_filter_clears_it_before_it_leaves_the_past(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        await ask(pilot, "2026-01-01")
        screen = app.screen
        await pilot.press("slash")
        screen.query_one("#stock-filter", Input).value = "chisel"  # one change: one debounced reload
        await pilot.pause(0.3)
        await settle(pilot)
        assert screen.query_one("#stock", StockTable).row_count == 3
        await pilot.press("escape")
        await settle(pilot)
        assert screen.as_of is not None and screen.query_one("#stock-filter", Input).value == ""
        await pilot.press("escape")
        await settle(pilot)
        assert screen.as_of is None
