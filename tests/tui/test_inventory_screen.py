"""Pilot tests: the Inventory screen (key 3) as a new user meets it — stock per location, the
status bar and low-stock alert, the low view and the filter, the move / stocktake / receive / sell
forms, the next-day key, a product's history with goods in transit, and the CSV exports. Every
check that matters is made against the store, not only against what the screen shows."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

from textual.command import CommandPalette
from textual.widgets import Checkbox, Input, Select, Static

from domain.money import format_grouped
from tests.tui.conftest import settle, until
from tui_app.screens.inventory import HistoryScreen, HistoryTable, InventoryScreen, StockTable, history_cells
from tui_app.widgets.dialogs import ConfirmDialog
from tui_app.widgets.stock_forms import CountForm, MoveForm, ReceiveForm, SellForm
from tui_app.widgets.virtual_table import PAGE

CHISEL = "HAN-0000030"  # Blue Chisel: the first row by name, 105 in the Warehouse, nothing on the shop floor
SANDER = "POW-0000001"  # Heavy-duty Sander: 83 in the Warehouse, the demo's delivery of 3 in transit
SEED_TRAY = "GAR-0000042"  # Pro Seed tray: cheap (4.94), 62 in the Warehouse
SIZE = (120, 40)


# -- helpers -------------------------------------------------------------------------------------


async def open_inventory(pilot) -> InventoryScreen:
    await settle(pilot)
    await pilot.press("3")
    await settle(pilot)
    assert isinstance(pilot.app.screen, InventoryScreen)
    return pilot.app.screen


def inv(app):
    return app.backend.sim.inventory


def loc_ids(app) -> dict[str, int]:
    return {loc.name: loc.id for loc in inv(app).locations()}


def levels(app, sku: str) -> dict[str, tuple[int, int, int]]:
    """(on hand, incoming, outgoing) per internal location, from the store."""
    row = inv(app).stock_row(sku)
    names = {v: k for k, v in loc_ids(app).items()}
    found = {names[lv.location_id]: (lv.on_hand, lv.incoming, lv.outgoing) for lv in inv(app).levels([row.product_id])}
    return {name: found.get(name, (0, 0, 0)) for name in names.values()}


def table(app) -> StockTable:
    """The stock list, also while a form is open over it."""
    screen = next(s for s in reversed(app.screen_stack) if isinstance(s, InventoryScreen))
    return screen.query_one("#stock", StockTable)


def labels(app) -> list[str]:
    return [c.label for c in table(app).columns]


def cell(app, sku: str, column: str) -> str:
    """The text of one cell of a product's row; `column` is a location name or a column key."""
    key = f"loc-{loc_ids(app)[column]}" if column in loc_ids(app) else column
    t = table(app)
    (line,) = [line for line in t.loaded_rows() if line.row.sku == sku]
    index = next(i for i, c in enumerate(t.columns) if c.key == key)
    return str(t.line_cells(line)[index])


def shown_skus(app) -> list[str]:
    """The SKUs of the rows the table has loaded (at most a thousand, the demo's fifty all), in list order."""
    return [line.row.sku for line in table(app).loaded_rows()]


def select(app, sku: str) -> None:
    t = table(app)
    t.move_cursor(shown_skus(app).index(sku))


def text(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def summary(app) -> str:
    return text(app, "#inventory-summary")


def toasts(app, title: str | None = None) -> list[str]:
    """Every toast shown so far (with `keep_toasts`), or those still on screen."""
    shown = getattr(app, "toasts_shown", None)
    if shown is None:
        shown = [(str(n.message), n.title) for n in app._notifications]
    return [message for message, t in shown if title is None or t == title]


def keep_toasts(app):
    """Record toasts as they are shown: a slow run outlives their few seconds on screen."""
    app.toasts_shown = []
    notify = app.notify

    def recording(message, *, title: str = "", **kwargs):
        app.toasts_shown.append((str(message), title))
        return notify(message, title=title, **kwargs)

    app.notify = recording
    return app


def cash(app) -> int:
    return sum(a.balance for a in app.backend.sim.bank.accounts() if a.kind == "shop")


def balance(app, name: str) -> int:
    return app.backend.sim.bank.get_account(name).balance


def counts(app) -> tuple[int, int]:
    """(stock moves, transfers) in the store: what a refused form must not change."""
    checked = app.backend.sim.check().checked
    return checked["stock_moves"], checked["transfers"]


def error(app, field: str) -> str:
    return text(app, f"#error-{field}")


async def open_form(pilot, key: str, form_type: type, **values: str):
    await pilot.press(key)
    await settle(pilot)
    form = pilot.app.screen
    assert isinstance(form, form_type)
    for name, value in values.items():
        form.query_one(f"#{name}", Input).value = value
    return form


async def submit(pilot) -> None:
    await pilot.press("ctrl+s")
    await settle(pilot)


async def palette(pilot, command: str) -> None:
    """Run a command-palette entry by its name, as a user would."""
    await pilot.press("ctrl+p")
    await settle(pilot)
    assert isinstance(pilot.app.screen, CommandPalette)
    pilot.app.screen.query_one(Input).value = command
    await pilot.pause(0.2)  # the palette searches as it is typed into
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


def history_table(app) -> HistoryTable:
    return app.screen.query_one("#history", HistoryTable)


def history_rows(app) -> list[list[str]]:
    """The cells of the moves the history has loaded, newest first."""
    return [[str(c) for c in history_cells(line)] for line in history_table(app).loaded_rows()]


def read_csv(folder: Path, pattern: str) -> list[list[str]]:
    (file,) = folder.glob(pattern)
    with file.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


async def wait_for_export(pilot, count: int = 1) -> None:
    """Until the `count`th export toast (the file is written by a thread, then delivered)."""
    await until(pilot, lambda: len(toasts(pilot.app, "Export CSV")) >= count, f"export {count}")


# -- the screen as it opens ------------------------------------------------------------------------


async def test_key_3_shows_stock_per_location_status_low_stock_alert_low_view_filter_and_next_day(
        app_factory, tmp_path: Path):
    app = keep_toasts(app_factory())
    async with app.run_test(size=SIZE) as pilot:
        await open_inventory(pilot)
        t = table(app)
        assert labels(app) == ["SKU", "Name", "Warehouse", "Shop floor", "Transit", "Total", "Reorder", "Value"]
        stored = inv(app).stock(limit=200)
        assert t.row_count == t.total == len(stored) == 50
        assert shown_skus(app) == [r.sku for r in stored]  # name order, like the store
        # The demo moved 5 Compact Rakes to the shop floor and left it low (12 <= 25):
        rake = "GAR-0000002"
        assert levels(app, rake)["Warehouse"][0] == 7 and levels(app, rake)["Shop floor"][0] == 5
        assert [cell(app, rake, c) for c in ("Warehouse", "Shop floor", "transit", "total", "reorder")] == [
            "7", "5", "·", "12", "LOW ≤25"]
        # The demo's delivery in transit: 3 Sanders on their way to the shop floor
        assert [cell(app, SANDER, c) for c in ("Warehouse", "Shop floor", "transit", "total")] == ["83", "·", "3", "83"]
        assert cell(app, CHISEL, "value") == format_grouped(inv(app).stock_row(CHISEL).value_minor)
        assert text(app, "#stock-status").startswith("50 products · all products")

        # The status bar, and a toast about low stock (alerts are on by default)
        low = inv(app).count_low()
        assert low == 6
        bar = summary(app)
        assert "Day 0" in bar
        assert f"cash {format_grouped(cash(app))}" in bar
        assert f"stock value {format_grouped(inv(app).stock_value())}" in bar
        assert f"{low} low" in bar
        assert app.low_stock_alerts is True
        (alert,) = toasts(app, "Low stock")
        assert alert.startswith(f"{low} product(s) at or below their reorder level") and "Press l" in alert

        # l: only the low rows; the Export CSV button exports what is shown; l again: all
        await pilot.press("l")
        await settle(pilot)
        assert shown_skus(app) == [r.sku for r in inv(app).low_stock()] and table(app).row_count == low
        assert all(cell(app, sku, "reorder").startswith("LOW") for sku in shown_skus(app))
        assert "low stock only" in text(app, "#stock-status")
        await pilot.click("#stock-export")
        await wait_for_export(pilot)
        rows = read_csv(tmp_path / "downloads", "stock-*.csv")
        assert [r[0] for r in rows[1:]] == shown_skus(app) and {r[-1] for r in rows[1:]} == {"yes"}
        await pilot.press("l")
        await settle(pilot)
        assert table(app).row_count == 50
        assert len(toasts(app, "Low stock")) == 1  # nothing new ran low: no second toast

        # /: the filter narrows the rows as one types
        await pilot.press("slash")
        box = app.screen.query_one("#stock-filter", Input)
        assert box.has_focus
        await pilot.press(*"chis")  # typed into the box: "s" does not open the Sell form
        # after a pause in the typing (under load the pause may come mid-word: wait for the whole of it)
        await until(pilot, lambda: "filter “chis”" in text(app, "#stock-status"), "filtering")
        assert box.value == "chis"
        names = [line.row.name for line in table(app).loaded_rows()]
        assert names == ["Blue Chisel", "Heavy-duty Chisel", "Oak Chisel"]
        assert "filter “chis”" in text(app, "#stock-status")
        await pilot.press("enter")  # back to the list, the filter stays
        await settle(pilot)
        assert table(app).has_focus

        # One more product runs low: the alert comes again; the low view and the filter combine
        inv(app).count_stock(CHISEL, 2, memo="broken shelf")  # 2 <= 9
        await pilot.press("l")
        await settle(pilot)
        assert shown_skus(app) == [CHISEL]
        assert "low stock only" in text(app, "#stock-status") and "filter “chis”" in text(app, "#stock-status")
        assert toasts(app, "Low stock")[-1].startswith("7 product(s)")
        await pilot.press("l")
        await settle(pilot)

        # Alerts turned off in the command palette: the badge still counts, no toast
        await palette(pilot, "Toggle low-stock alerts")
        assert isinstance(app.screen, InventoryScreen)
        assert app.low_stock_alerts is False
        assert "Low-stock alerts off" in toasts(app)
        inv(app).count_stock(SEED_TRAY, 1)  # an 8th
        await pilot.press("f5")
        await settle(pilot)
        assert len(toasts(app, "Low stock")) == 2
        assert "8 low" in summary(app)

        # escape in the filter box clears it
        await pilot.press("slash")
        await pilot.press("escape")
        await until(pilot, lambda: table(app).row_count == 50, "clearing the filter")
        assert box.value == "" and table(app).has_focus
        assert "filter" not in text(app, "#stock-status")

        # ]: the next day of the simulation
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert app.backend.sim.simulation.state().day == 1
        assert "Day 1" in summary(app) and f"cash {format_grouped(cash(app))}" in summary(app)
        assert any(t.startswith("Day 1: ") for t in toasts(app, "Simulation"))
        assert table(app).row_count == 50


# -- the move form ------------------------------------------------------------------------------------


async def test_move_form_refuses_inline_then_moves_once_with_one_key_per_dialog(app_factory):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await open_inventory(pilot)
        select(app, CHISEL)
        before, written = levels(app, CHISEL), counts(app)
        form = await open_form(pilot, "m", MoveForm, quantity="500")
        assert form.query_one("#product", Input).value == CHISEL  # the selected row
        assert form.query_one("#source", Select).value == loc_ids(app)["Warehouse"]
        assert form.query_one("#target", Select).value == loc_ids(app)["Shop floor"]
        assert form.query_one("#pending", Checkbox).value is False
        await submit(pilot)
        assert app.screen is form
        message = error(app, "quantity")
        assert "insufficient_stock" in message and "Warehouse has 105" in message and "500 needed" in message
        assert form.query_one("#quantity", Input).has_focus
        assert levels(app, CHISEL) == before

        for bad in ("0", "1.5", "-3"):
            form.query_one("#quantity", Input).value = bad
            await submit(pilot)
            assert "[validation]" in error(app, "quantity"), bad
            assert "whole number greater than zero" in error(app, "quantity"), bad

        form.query_one("#quantity", Input).value = "4"
        form.query_one("#target", Select).value = loc_ids(app)["Warehouse"]
        await submit(pilot)
        assert "same_location" in error(app, "target")
        assert error(app, "quantity") == ""  # the earlier error went away

        form.query_one("#target", Select).value = loc_ids(app)["Shop floor"]
        form.query_one("#product", Input).value = "NOPE-1"
        await submit(pilot)
        assert "not_found" in error(app, "product")
        assert app.screen is form
        assert levels(app, CHISEL) == before and counts(app) == written
        assert cell(app, CHISEL, "Warehouse") == "105"

        # Fixed: the move goes through, the form closes and the row shows it
        form.query_one("#product", Input).value = CHISEL.lower()  # a SKU in any case
        form.query_one("#memo", Input).value = "front shelf"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, InventoryScreen)
        assert levels(app, CHISEL) == {"Warehouse": (101, 0, 0), "Shop floor": (4, 0, 0)}
        assert [cell(app, CHISEL, c) for c in ("Warehouse", "Shop floor", "transit", "total")] == [
            "101", "4", "·", "105"]
        (move, *_) = inv(app).history(CHISEL)
        assert (move.reason, move.kind, move.quantity, move.memo) == ("move", "posted", 4, "front shelf")
        assert move.idempotency_key == form.idempotency_key  # the dialog's one key, through every refusal
        assert f"Move #{move.id} move: 4 units Warehouse → Shop floor (posted)" in toasts(app)
        assert table(app).cursor_row == 0 and table(app).has_focus  # back on the same row

        # Saved twice in a row: one move
        await open_form(pilot, "m", MoveForm, quantity="2", memo="twice")
        await pilot.press("ctrl+s", "ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, InventoryScreen)
        assert [m.memo for m in inv(app).history(CHISEL)].count("twice") == 1
        assert levels(app, CHISEL)["Shop floor"] == (6, 0, 0)

        # The answer of a first submit got lost; the user presses Enter again: the first move comes back
        form = await open_form(pilot, "m", MoveForm, quantity="1", memo="lost answer")
        first = inv(app).move_stock(CHISEL, "1", loc_ids(app)["Warehouse"], loc_ids(app)["Shop floor"],
                                    memo="lost answer", idempotency_key=form.idempotency_key)
        await submit(pilot)
        assert isinstance(app.screen, InventoryScreen)
        assert [m.id for m in inv(app).history(CHISEL) if m.memo == "lost answer"] == [first.id]
        assert levels(app, CHISEL)["Shop floor"] == (7, 0, 0)


# -- receive, stocktake, sell -----------------------------------------------------------------------------


async def test_receive_stocktake_and_purchase_of_goods_in_transit_then_cancel_it_in_the_history(app_factory):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await open_inventory(pilot)
        select(app, SEED_TRAY)
        shop, acme = cash(app), balance(app, "Acme Supplies")
        # Receive without a supplier: stock in now, nobody paid (so lead days make no sense)
        form = await open_form(pilot, "r", ReceiveForm, quantity="7", memo="free samples", lead_days="3")
        await submit(pilot)
        assert "only a purchase from a supplier arrives later" in error(app, "lead_days")
        assert inv(app).history(SEED_TRAY)[0].reason != "receive"
        form.query_one("#lead_days", Input).value = "0"
        await submit(pilot)
        assert isinstance(app.screen, InventoryScreen)
        assert levels(app, SEED_TRAY)["Warehouse"] == (69, 0, 0)
        assert (cell(app, SEED_TRAY, "Warehouse"), cell(app, SEED_TRAY, "total")) == ("69", "69")
        assert cash(app) == shop
        assert inv(app).history(SEED_TRAY)[0].reason == "receive"

        # A stocktake: the counted quantity replaces the recorded one through an adjustment
        form = await open_form(pilot, "a", CountForm)
        counted = form.query_one("#quantity", Input)
        assert counted.value == "69"  # what is recorded at the first location
        form.query_one("#location", Select).value = loc_ids(app)["Shop floor"]
        await pilot.pause()
        assert counted.value == "0"
        form.query_one("#location", Select).value = loc_ids(app)["Warehouse"]
        await pilot.pause()
        assert counted.value == "69"
        counted.value = "66"
        form.query_one("#memo", Input).value = "shelf count"
        await submit(pilot)
        assert isinstance(app.screen, InventoryScreen)
        assert levels(app, SEED_TRAY)["Warehouse"] == (66, 0, 0)
        assert cell(app, SEED_TRAY, "Warehouse") == "66"
        (adjust, *_) = inv(app).history(SEED_TRAY)
        assert (adjust.reason, adjust.quantity) == ("adjust", 3)
        assert adjust.memo == "counted 66 (was 69) by tester, day 0; shelf count"
        assert f"Move #{adjust.id} adjust: 3 units Warehouse → Inventory adjustment (posted)" in toasts(app)
        # A count that matches changes nothing and says so
        await open_form(pilot, "a", CountForm)
        await submit(pilot)
        assert "The count matches what is recorded; nothing to adjust" in toasts(app)
        assert inv(app).history(SEED_TRAY)[0].id == adjust.id

        # An unknown supplier is refused under its field; then a purchase: paid now, arriving in 3 days
        form = await open_form(pilot, "r", ReceiveForm, quantity="4", supplier="Acme", lead_days="3")
        await submit(pilot)
        assert "not_found" in error(app, "supplier")
        cost = inv(app).stock_row(SEED_TRAY).cost_minor
        form.query_one("#supplier", Input).value = "Acme Supplies"
        form.query_one("#location", Select).value = loc_ids(app)["Shop floor"]
        await submit(pilot)
        assert isinstance(app.screen, InventoryScreen)
        assert levels(app, SEED_TRAY) == {"Warehouse": (66, 0, 0), "Shop floor": (0, 4, 0)}
        assert [cell(app, SEED_TRAY, c) for c in ("Shop floor", "transit", "total")] == ["·", "4", "66"]
        (pending,) = inv(app).pending_moves(SEED_TRAY)
        assert (pending.reason, pending.quantity, pending.due_day) == ("purchase", 4, 3)
        assert cash(app) == shop - 4 * cost
        assert balance(app, "Acme Supplies") == acme + 4 * cost
        assert f"cash {format_grouped(shop - 4 * cost)}" in summary(app)
        assert any("(in transit)" in t and f"{format_grouped(4 * cost)} EUR paid" in t for t in toasts(app))

        # The history shows all of it, newest first; cancelling the delivery refunds the shop
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)
        rows = history_rows(app)
        assert [r[3] for r in rows[:3]] == ["purchase", "adjust", "receive"]
        assert rows[0][4:7] == ["IN TRANSIT", "Suppliers → Shop floor", "4"]
        assert rows[1][4:7] == ["posted", "Warehouse → Inventory adjustment", "3"]
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot)
        assert inv(app).pending_moves(SEED_TRAY) == []
        assert (cash(app), balance(app, "Acme Supplies")) == (shop, acme)
        assert levels(app, SEED_TRAY)["Shop floor"] == (0, 0, 0)
        assert history_rows(app)[0][3:5] == ["purchase", "cancelled"]


async def test_a_refused_sale_changes_neither_ledger_a_sale_reduces_stock_and_raises_cash_once(app_factory):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        bank = app.backend.sim.bank
        bank.freeze("Bob", bank.get_account("Bob").version)
        await open_inventory(pilot)
        select(app, SEED_TRAY)
        price = inv(app).stock_row(SEED_TRAY).price_minor
        shop, alice = cash(app), balance(app, "Alice")
        before = (levels(app, SEED_TRAY), shop, alice, balance(app, "Bob"), counts(app))
        form = await open_form(pilot, "s", SellForm, customer="Bob")
        assert form.query_one("#product", Input).value == SEED_TRAY
        assert form.query_one("#quantity", Input).value == "1"
        assert "Bob" not in form._customers and "Alice" in form._customers  # a frozen account is not offered
        # A frozen customer, then more than the customer can pay: refused in the form, nothing written
        await submit(pilot)
        assert app.screen is form
        assert "account_frozen" in error(app, "customer") and "Bob is frozen" in error(app, "customer")
        form.query_one("#customer", Input).value = "Alice"
        form.query_one("#quantity", Input).value = "50"  # 247.00; Alice has 212.50
        await submit(pilot)
        assert app.screen is form
        assert "insufficient_funds" in error(app, "quantity")
        assert (levels(app, SEED_TRAY), cash(app), balance(app, "Alice"), balance(app, "Bob"), counts(app)) == before

        # Three: stock out of the Warehouse, Alice pays the shop, the status bar shows the cash
        form.query_one("#quantity", Input).value = "3"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, InventoryScreen)
        assert levels(app, SEED_TRAY)["Warehouse"] == (59, 0, 0)
        assert cell(app, SEED_TRAY, "total") == "59"
        assert (cash(app), balance(app, "Alice")) == (shop + 3 * price, alice - 3 * price)
        assert f"cash {format_grouped(shop + 3 * price)}" in summary(app)
        sale = inv(app).history(SEED_TRAY)[0]
        assert (sale.reason, sale.quantity, sale.memo) == ("sell", 3, f"sale {SEED_TRAY} x3")
        assert sale.idempotency_key == form.idempotency_key

        # The answer of a first submit got lost; Enter again returns that sale: one move, one payment
        shop, moves = cash(app), counts(app)
        form = await open_form(pilot, "s", SellForm, quantity="2", customer="Alice", memo="sold once")
        first = inv(app).sell(SEED_TRAY, "2", "Alice", location=loc_ids(app)["Warehouse"], memo="sold once",
                              idempotency_key=form.idempotency_key)
        await submit(pilot)
        assert isinstance(app.screen, InventoryScreen)
        assert counts(app) == (moves[0] + 1, moves[1] + 1)
        assert cash(app) == shop + first.transfer.amount_minor == shop + 2 * price
        assert [m.id for m in inv(app).history(SEED_TRAY) if m.memo == "sold once"] == [first.move.id]
        assert cell(app, SEED_TRAY, "total") == "57"


async def test_receive_refuses_a_customer_account_as_supplier(app_factory):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await open_inventory(pilot)
        select(app, SEED_TRAY)
        shop = cash(app)
        await open_form(pilot, "r", ReceiveForm, quantity="2", supplier="Alice")
        await submit(pilot)
        assert cash(app) == shop, "the shop paid a customer for goods"
        assert isinstance(app.screen, ReceiveForm) and "Alice" in error(app, "supplier")


# -- history and exports -------------------------------------------------------------------------------------


async def test_x_exports_stock_and_history_whose_goods_in_transit_are_received_or_cancelled(
        app_factory, tmp_path: Path):
    app = keep_toasts(app_factory())
    downloads = tmp_path / "downloads"
    async with app.run_test(size=SIZE) as pilot:
        await open_inventory(pilot)
        await pilot.press("x")
        await wait_for_export(pilot)
        rows = read_csv(downloads, "stock-*.csv")
        assert rows[0] == ["sku", "name", "category", "Warehouse", "Shop floor", "in_transit", "on_hand",
                           "reorder_level", "unit_cost", "value", "low"]
        assert len(rows) - 1 == 50
        assert [r[0] for r in rows[1:]] == shown_skus(app)
        rake = next(r for r in rows if r[0] == "GAR-0000002")
        assert rake[1:7] == ["Compact Rake", "Garden", "7", "5", "0", "12"] and rake[-1] == "yes"
        sander = next(r for r in rows if r[0] == SANDER)
        assert sander[5:7] == ["3", "83"] and sander[8] == "84.73"  # unit cost: a plain number
        assert any(t.startswith("Exported 50 rows to ") for t in toasts(app, "Export CSV"))

        # A delivery of our own to the shop floor, in transit until received
        select(app, SANDER)
        form = await open_form(pilot, "m", MoveForm, quantity="2", memo="maybe")
        assert form.query_one("#product", Input).value == SANDER
        form.query_one("#pending", Checkbox).value = True
        await submit(pilot)
        assert levels(app, SANDER) == {"Warehouse": (83, 0, 5), "Shop floor": (0, 5, 0)}  # reserved, announced
        assert [cell(app, SANDER, c) for c in ("Warehouse", "Shop floor", "transit", "total")] == ["83", "·", "5", "83"]
        (mine, demo) = sorted(inv(app).pending_moves(SANDER), key=lambda m: m.id, reverse=True)

        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)
        assert app.screen.title == "History — POW-0000001 Heavy-duty Sander"
        moves = inv(app).history(SANDER)
        rows = history_rows(app)
        assert [int(r[0]) for r in rows] == [m.id for m in moves] == sorted((m.id for m in moves), reverse=True)
        assert [r[0] for r in rows] == [str(mine.id), str(demo.id), rows[2][0]]
        assert rows[0][3:8] == ["move", "IN TRANSIT", "Warehouse → Shop floor", "2", "maybe"]
        assert rows[1][3:7] == ["move", "IN TRANSIT", "Warehouse → Shop floor", "3"]
        assert rows[2][3] == "adjust"
        assert "r receives, c cancels" in text(app, "#history-status")
        assert "in transit 5" in text(app, "#history-head")

        await pilot.press("x")
        await wait_for_export(pilot, 2)
        history = read_csv(downloads, f"history-{SANDER}-*.csv")
        assert history[0] == [
            "move", "day", "at", "reason", "state", "from", "to", "quantity", "transfer", "actor", "memo"]
        assert [int(r[0]) for r in history[1:]] == [m.id for m in moves]
        assert history[2][3:8] == ["move", "pending", "Warehouse", "Shop floor", "3"]

        # c on our delivery: asked first; n keeps it, y cancels it
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        await settle(pilot)
        assert len(inv(app).pending_moves(SANDER)) == 2
        await pilot.press("c")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)
        assert inv(app).pending_moves(SANDER) == [demo]
        assert levels(app, SANDER) == {"Warehouse": (83, 0, 3), "Shop floor": (0, 3, 0)}
        assert history_rows(app)[0][4] == "cancelled"

        # r on a row that is not in transit: a warning, nothing happens
        history_table(app).move_cursor(len(history_rows(app)) - 1)
        await pilot.press("r")
        await settle(pilot)
        assert "Select a move that is in transit" in toasts(app)
        # r on the demo delivery: it arrives
        history_table(app).move_cursor([line.move.id for line in history_table(app).loaded_rows()].index(demo.id))
        await pilot.press("r")
        await settle(pilot)
        assert inv(app).pending_moves(SANDER) == []
        assert levels(app, SANDER) == {"Warehouse": (80, 0, 0), "Shop floor": (3, 0, 0)}
        assert [r[4] for r in history_rows(app)[:4]] == ["arrived", "cancelled", "→ cancelled", "→ arrived"]
        assert "r receives" not in text(app, "#history-status")

        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, InventoryScreen)
        assert [cell(app, SANDER, c) for c in ("Warehouse", "Shop floor", "transit", "total")] == ["80", "3", "·", "83"]


async def test_two_exports_in_the_same_second_keep_both_files(app_factory, tmp_path: Path, monkeypatch):
    monkeypatch.setattr("tui_app.app.time", SimpleNamespace(strftime=lambda fmt: "20260101-090000"))  # one second
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await open_inventory(pilot)
        await pilot.press("x")  # everything ...
        await wait_for_export(pilot)
        await pilot.press("l")
        await settle(pilot)
        await pilot.press("x")  # ... then the low rows
        await wait_for_export(pilot, 2)
        assert len(toasts(app, "Export CSV")) == 2
        files = sorted((tmp_path / "downloads").glob("stock-*.csv"))
        assert len(files) == 2


# -- long lists: paged from the store -------------------------------------------------------------


async def test_the_stock_list_pages_from_the_store_to_the_end_and_back_and_jumps_into_the_middle(app_factory):
    app = app_factory(demo=False)
    from tui_app.bootstrap import seed_demo

    seed_demo(app.backend.sim, products=450)
    in_order = [r.sku for r in inv(app).stock(limit=1000)]
    async with app.run_test(size=SIZE) as pilot:
        await open_inventory(pilot)
        t = table(app)
        assert t.total == 450 and text(app, "#stock-status").startswith("450 products · all products")
        # one page asked for at each end (the last one ahead of `end`), not the whole list
        assert shown_skus(app) == in_order[:PAGE] + in_order[-PAGE:]
        await pilot.press("end")
        await settle(pilot)
        assert t.cursor_row == 449 and t.current_row.row.sku == in_order[-1]
        visible = [line.row.sku for line in t.visible_rows()]
        assert len(visible) > 20 and visible == in_order[-len(visible):]
        assert len(shown_skus(app)) < 450  # the first pages and the last ones, not what lies between
        for _ in range(3):  # back up from the end: keyset pages before the rows it has
            await pilot.press("pageup")
            await settle(pilot)
        assert t.current_row.row.sku == in_order[t.cursor_row] and t.cursor_row < 449 - 2 * 30
        await pilot.press("home")
        await settle(pilot)
        assert t.cursor_row == 0 and t.current_row.row.sku == in_order[0]
        t.scroll_to(y=220, animate=False, immediate=True)  # a scrollbar drag into the middle: a page at an offset
        await settle(pilot)
        shown = [line.row.sku for line in t.visible_rows()]
        assert shown and shown == in_order[220:220 + len(shown)]
        # the stock numbers come with each page, also for a row found at the end
        await pilot.press("end")
        await settle(pilot)
        last = inv(app).stock_row(in_order[-1])
        assert cell(app, in_order[-1], "total") == (f"{last.on_hand:,}" if last.on_hand else "·")
        # a write, then f5 (as after any form): the rows as stored now, where the user was
        visible = [line.row.sku for line in t.visible_rows()]
        inv(app).receive(in_order[-1], 2)
        await pilot.press("f5")
        await settle(pilot)
        assert t.cursor_row == 449 and [line.row.sku for line in t.visible_rows()] == visible
        assert cell(app, in_order[-1], "total") == f"{last.on_hand + 2:,}"
        # the low view pages the same way, with its own count
        low = [r.sku for r in inv(app).stock(limit=1000, low_only=True)]
        await pilot.press("l")
        await settle(pilot)
        assert t.total == len(low) == inv(app).count_stock_rows(low_only=True)
        await pilot.press("end")
        await settle(pilot)
        assert t.current_row.row.sku == low[-1]
        await pilot.press("home")
        await settle(pilot)
        assert t.current_row.row.sku == low[0]


async def test_a_long_history_pages_from_the_newest_to_the_oldest_move_and_back(app_factory):
    app = app_factory()
    for n in range(240):
        inv(app).receive(SEED_TRAY, 1, memo=f"delivery {n}")
    moves = [m.id for m in inv(app).history(SEED_TRAY, limit=1000)]
    assert len(moves) > 240
    async with app.run_test(size=SIZE) as pilot:
        await open_inventory(pilot)
        select(app, SEED_TRAY)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)
        h = history_table(app)
        assert h.total == len(moves) and text(app, "#history-status").startswith(f"{len(moves):,} moves")
        assert [line.move.id for line in h.loaded_rows()] == moves[:PAGE] + moves[-PAGE:]
        await pilot.press("end")
        await settle(pilot)
        assert h.current_row.move.id == moves[-1]  # the oldest: the demo's opening adjustment
        assert history_rows(app)[-1][3] == "adjust"
        visible = [line.move.id for line in h.visible_rows()]
        assert len(visible) > 20 and visible == moves[-len(visible):]
        await pilot.press("pageup")
        await settle(pilot)
        assert h.current_row.move.id == moves[h.cursor_row]
        await pilot.press("home")
        await settle(pilot)
        assert h.cursor_row == 0 and h.current_row.move.id == moves[0]
        assert history_rows(app)[0][7] == "delivery 239"


# -- as of a past day (time travel) --------------------------------------------------------------


async def as_of(pilot, when: str) -> None:
    await pilot.press("A")
    await settle(pilot)
    pilot.app.screen.query_one("#when", Input).value = when
    await pilot.press("enter")
    await settle(pilot)


async def test_as_of_a_past_day_shows_the_stock_then_refuses_writes_and_escape_returns_to_now(app_factory):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        app.backend.sim.simulation.advance(1)
        inv(app).move_stock(CHISEL, 10, "Warehouse", "Shop floor", memo="on day 1", idempotency_key="asof-1")
        app.backend.sim.simulation.advance(1)
        screen = await open_inventory(pilot)
        assert [cell(app, CHISEL, c) for c in ("Warehouse", "Shop floor")] == ["95", "10"]
        then = {(lv.product_id, lv.location_id): lv for lv in app.backend.sim.lifecycle.stock_asof("day 0")}
        await as_of(pilot, "day 0")
        assert screen.as_of is not None and screen.title == "Inventory — as of end of day 0"
        assert "As of end of day 0 — read-only · esc: back to now" in text(app, "#asof-banner")
        assert labels(app) == [
            "SKU", "Name", "Warehouse", "Shop floor", "Transit", "Total"]  # reorder level and value are today's
        assert [cell(app, CHISEL, c) for c in ("Warehouse", "Shop floor", "transit", "total")] == ["105", "·", "·", "105"]
        for sku in (SANDER, SEED_TRAY, "GAR-0000002"):  # every location, what was in transit
            pid, ids = inv(app).stock_row(sku).product_id, loc_ids(app)
            past = {name: then.get((pid, loc)) for name, loc in ids.items()}
            assert [cell(app, sku, name) for name in ids] == [
                f"{lv.on_hand:,}" if lv and lv.on_hand else "·" for lv in past.values()]
            incoming = sum(lv.incoming for lv in past.values() if lv)
            assert cell(app, sku, "transit") == (f"{incoming:,}" if incoming else "·")
        assert table(app).row_count == 50
        assert "stock as of end of day 0" in text(app, "#stock-status")
        shop_then = sum(a.balance for a in app.backend.sim.lifecycle.balances_asof("day 0") if a.kind == "shop")
        assert summary(app).startswith("As of end of day 0") and f"cash {format_grouped(shop_then)}" in summary(app)
        assert shop_then != cash(app)

        moves, transfers = counts(app)
        for key in ("m", "a", "r", "s", "right_square_bracket"):
            app.clear_notifications()
            await pilot.press(key)
            await settle(pilot)
            assert app.screen is screen, key
            assert any("the past is read-only" in t for t in toasts(app, "Read-only")), key
        screen.simulate(3)  # what the command palette's "Simulate 3 days" calls
        await settle(pilot)
        assert app.backend.sim.simulation.state().day == 2 and counts(app) == (moves, transfers)

        # the filter narrows the past view too
        await pilot.press("slash")
        screen.query_one("#stock-filter", Input).value = "chis"  # one change: one debounced reload
        await until(pilot, lambda: "filter “chis”" in text(app, "#stock-status"), "filtering the past")
        assert table(app).row_count == 3
        await pilot.press("enter")
        await settle(pilot)
        assert cell(app, CHISEL, "Warehouse") == "105"

        await pilot.press("escape")
        await settle(pilot)
        assert screen.as_of is None and screen.title == "Inventory"
        assert labels(app)[-2:] == ["Reorder", "Value"]
        assert [cell(app, CHISEL, c) for c in ("Warehouse", "Shop floor")] == ["95", "10"]
        assert "Day 2" in summary(app)


async def test_as_of_a_date_before_the_demo_shows_no_stock(app_factory):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_inventory(pilot)
        await as_of(pilot, "2025-12-31")
        assert screen.title == "Inventory — as of end of 2025-12-31 UTC"
        assert cell(app, CHISEL, "total") == "·" and "on hand 0 units" in summary(app)
        await pilot.press("l")
        await settle(pilot)
        assert table(app).row_count == 50 and "low stock only" not in text(app, "#stock-status")
        assert any("low-stock view is of today's reorder levels" in t for t in toasts(app))
        await pilot.press("x")
        await settle(pilot)
        assert any("Export CSV writes today's stock" in t for t in toasts(app))
