"""Inventory screen (key 3): stock by product x location, moves, stocktakes, receipts, sales, a
low-stock view and alert, and the simulation's day key. `enter` opens a product's move history;
`A` shows the stock as of a past moment (read-only). Every write refreshes the rows and the status
bar (day, cash, stock value, low count). Both lists are virtual tables: they page from the store
(keyset both ways, an offset for jumps) and render only the visible rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, Header, Input, Static

from domain.model import ProductQuery
from domain.model.bank import Account
from domain.model.catalog import ProductCursor, fold_case
from domain.model.stock import (
    ADJUSTMENT,
    CUSTOMER,
    SCRAP,
    SUPPLIER,
    VIRTUAL_NAMES,
    Location,
    StockLevel,
    StockMove,
    StockRow,
)
from domain.money import format_grouped
from tui_app.widgets.asof import AsOf, AsOfBanner, TimeTravel, asof_bindings
from tui_app.widgets.base import AppScreen
from tui_app.widgets.filter_box import FilterBox
from tui_app.widgets.footer import KeyFooter
from tui_app.widgets.virtual_table import Column, PagedRows, VirtualTable


@dataclass(frozen=True)
class InventoryStatus:
    day: int
    cash_minor: int  # the shop accounts' balance
    stock_value_minor: int
    low: int


@dataclass
class InventoryContext(Message):
    """What the stock list needs besides its rows: the locations (its columns), the accounts (the
    forms' choices) and, in a past view, the levels then."""

    generation: int
    locations: list[Location]
    accounts: list[Account]
    as_of: AsOf | None
    past: dict[int, list[StockLevel]] | None  # as of then, by product (None in the live view)
    past_cash_minor: int | None = None  # the shop accounts' balance then, when the past was read afresh


@dataclass
class StatusLoaded(Message):
    status: InventoryStatus


@dataclass(frozen=True)
class StockLine:
    """One row of the stock list: a product's totals and its levels by internal location (today's,
    or in a past view the levels then)."""

    row: StockRow
    levels: dict[int, StockLevel] = field(default_factory=dict)


def cursor_of(row: StockRow) -> ProductCursor:
    return ProductCursor(fold_case(row.name), row.product_id)


class StockRows(PagedRows[StockLine]):
    """One view's stock rows as the table pages them: keyset pages both ways from a row it has, the
    first or last page, or a page at an offset, each with its levels (every call runs in the table's
    worker thread). A past view takes the levels from the ledgers' reading made once for its moment."""

    def __init__(self, inventory, query: ProductQuery, low_only: bool, past: dict[int, list[StockLevel]] | None):
        self._inventory, self._query, self._low_only, self._past = inventory, query, low_only, past

    def page(self, after: StockLine | None, limit: int, *, backward: bool = False, skip: int = 0) -> list[StockLine]:
        rows = self._inventory.stock(self._query, cursor_of(after.row) if after else None, limit,
                                     low_only=self._low_only, backward=backward, skip=skip)
        by_product: dict[int, dict[int, StockLevel]] = {}
        if self._past is None:
            for lv in self._inventory.levels([r.product_id for r in rows]):
                by_product.setdefault(lv.product_id, {})[lv.location_id] = lv
        else:
            for r in rows:
                by_product[r.product_id] = {lv.location_id: lv for lv in self._past.get(r.product_id, [])}
        return [StockLine(r, by_product.get(r.product_id, {})) for r in rows]

    def count(self) -> int:
        return self._inventory.count_stock_rows(self._query, low_only=self._low_only)



def qty(n: int, style: str = "") -> Text:
    return Text(f"{n:,}" if n else "·", style=style or ("" if n else "dim"))


class StockTable(VirtualTable[StockLine]):
    """A column per internal location; a past view leaves out reorder level and value (today's numbers)."""

    BINDINGS = [Binding("enter", "select", "History", id="inventory.history")]

    def __init__(self, **kwargs) -> None:
        self.locations: list[Location] = []
        self.past = False
        super().__init__(self._columns_for([], False), self.line_cells, key=lambda line: line.row.product_id, **kwargs)

    @staticmethod
    def _columns_for(locations: list[Location], past: bool) -> list[Column]:
        columns = [Column("sku", "SKU", 12), Column("name", "Name", 28)]
        columns += [Column(f"loc-{loc.id}", loc.name[:10], 10, "right") for loc in locations]
        columns += [Column("transit", "Transit", 7, "right"), Column("total", "Total", 7, "right")]
        if not past:
            columns += [Column("reorder", "Reorder", 9, "right"), Column("value", "Value", 11, "right")]
        return columns

    def show_columns(self, locations: list[Location], past: bool) -> None:
        if [loc.id for loc in locations] != [loc.id for loc in self.locations] or past != self.past:
            self.locations, self.past = locations, past
            self.set_columns(self._columns_for(locations, past))

    def line_cells(self, line: StockLine) -> list[Text]:
        """The texts of a row's columns, in the order of `columns`."""
        row, levels = line.row, line.levels
        cells = [Text(row.sku), Text(row.name)]
        for loc in self.locations:
            level = levels.get(loc.id)
            cells.append(qty(level.on_hand if level else 0))
        if self.past:  # the totals then, from the levels then
            incoming = sum(lv.incoming for lv in levels.values())
            cells.append(qty(incoming, "cyan" if incoming else ""))
            cells.append(qty(sum(lv.on_hand for lv in levels.values()), "bold"))
            return cells
        cells.append(qty(row.incoming, "cyan" if row.incoming else ""))
        cells.append(qty(row.on_hand, "bold"))
        if row.low:
            cells.append(Text(f"LOW ≤{row.reorder_level}", style="bold yellow"))
        else:
            cells.append(Text(str(row.reorder_level) if row.reorder_level else "—", style="dim"))
        cells.append(Text(format_grouped(row.value_minor)))
        return cells


class InventoryScreen(TimeTravel, AppScreen):
    TITLE = "Inventory"
    CSS_PATH = "inventory.tcss"
    BINDINGS = [
        Binding("m", "move", "Move", id="inventory.move"),
        Binding("a", "count", "Stocktake", id="inventory.count"),
        Binding("r", "receive", "Receive", id="inventory.receive"),
        Binding("s", "sell", "Sell", id="inventory.sell"),
        Binding("l", "toggle_low", "Low stock", id="inventory.low"),
        Binding("slash", "filter", "Filter", id="inventory.filter"),
        *asof_bindings("inventory"),  # before the writes the footer may cut off in a past view
        Binding("x", "export", "Export CSV", id="inventory.export"),
        Binding("right_square_bracket", "advance_day", "Next day", id="inventory.next_day"),
        Binding("f5", "refresh", "Refresh", id="inventory.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._generation = 0
        self._query = ProductQuery()
        self._low_only = False
        self._locations: list[Location] = []  # internal ones: the columns and the forms' choices
        self._all_locations: list[Location] = []  # with the virtual ones, for naming moves
        self._accounts: list[Account] = []
        self._known_low: int | None = None
        self._past: dict[int, list[StockLevel]] = {}  # the past view's levels, by product
        self._past_as_of: AsOf | None = None  # the moment `_past` was read for: a filter reuses it
        self._shown_as_of: AsOf | None = None  # the view the table's rows are of
        self._to_top = False  # another view is on its way: it starts at its first row

    @property
    def inventory(self):
        return self.app.backend.sim.inventory  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield Header()
        yield AsOfBanner(id="asof-banner")
        yield FilterBox(placeholder="Filter by name or SKU  ( / )", id="stock-filter")
        yield StockTable(id="stock")
        yield Static("", id="stock-status")
        with Horizontal(id="inventory-bar"):
            yield Static("", id="inventory-summary")
            yield Button("Export CSV", id="stock-export", variant="primary")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(StockTable).focus()
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()  # another screen may have sold, counted or imported

    # -- loading ----------------------------------------------------------------------------

    def reload(self, *, keep_position: bool = True) -> None:
        """Show the rows as stored now (after any write, so no view is stale), at the same place in
        the list; another view (a filter, the low view, another moment) starts at the top."""
        self._generation += 1
        self._to_top = self._to_top or not keep_position  # until it is shown: a reload meanwhile keeps it
        past = self._past if self.as_of is not None and self._past_as_of == self.as_of else None
        self._load_context(self._generation, self.as_of, past)
        if self.as_of is None:
            self._load_status()  # a past view's status comes with its levels

    @work(thread=True, exclusive=True, group="inventory-load", exit_on_error=False)
    def _load_context(self, generation: int, as_of: AsOf | None, past: dict[int, list[StockLevel]] | None) -> None:
        sim = self.app.backend.sim  # type: ignore[attr-defined]
        past_cash = None
        if as_of is not None and past is None:
            past = {}
            for lv in sim.lifecycle.stock_asof(as_of.moment):
                past.setdefault(lv.product_id, []).append(lv)
            past_cash = sum(a.balance for a in sim.lifecycle.balances_asof(as_of.moment) if a.kind == "shop")
        self.post_message(InventoryContext(
            generation, sim.inventory.locations(include_virtual=True), sim.bank.accounts(), as_of,
            past if as_of is not None else None, past_cash,
        ))

    @work(thread=True, exclusive=True, group="inventory-status", exit_on_error=False)
    def _load_status(self) -> None:
        sim = self.app.backend.sim  # type: ignore[attr-defined]
        cash = sum(a.balance for a in sim.bank.accounts() if a.kind == "shop")
        self.post_message(StatusLoaded(InventoryStatus(
            sim.simulation.state().day, cash, sim.inventory.stock_value(), sim.inventory.count_low(),
        )))

    @on(InventoryContext)
    def _show(self, message: InventoryContext) -> None:
        if message.generation != self._generation:
            return
        table = self.query_one(StockTable)
        as_of = message.as_of
        self._all_locations = message.locations
        self._locations = [loc for loc in message.locations if loc.internal]
        self._accounts = message.accounts
        if message.past is not None:
            self._past, self._past_as_of = message.past, as_of
        if message.past_cash_minor is not None:  # the past was read afresh
            self._show_past_status(as_of, message.past or {}, message.past_cash_minor)
        table.show_columns(self._locations, past=as_of is not None)
        if as_of is None:
            rows = StockRows(self.inventory, self._query, self._low_only, None)
        else:  # every product the shop has had, its stock then from the ledgers
            query = ProductQuery(text=self._query.text, include_inactive=True, deleted=None)
            rows = StockRows(self.inventory, query, False, message.past)
        self._shown_as_of = as_of
        table.set_source(rows, keep_position=not self._to_top)
        self._to_top = False

    @on(VirtualTable.Changed, "#stock")
    def _show_rows_status(self) -> None:
        table = self.query_one(StockTable)
        as_of = self._shown_as_of
        if as_of is not None:
            view = f"stock as of {as_of.label}, from the ledgers · read-only (escape: back to now)"
        elif self._low_only:
            view = "low stock only (l shows all)"
        else:
            view = "all products (l shows low stock)"
        shown = table.count_text("product", "products")
        where = f" · filter “{self._query.text.strip()}”" if self._query.text.strip() else ""
        self.query_one("#stock-status", Static).update(Text(f"{shown} · {view}{where}"))

    def _show_past_status(self, as_of: AsOf | None, past: dict[int, list[StockLevel]], cash: int | None) -> None:
        if as_of is None:
            return
        levels = [lv for found in past.values() for lv in found]
        self.query_one("#inventory-summary", Static).update(Text.assemble(
            ("As of ", "bold"), as_of.label, ("  ·  cash ", "bold"), format_grouped(cash or 0),
            ("  ·  on hand ", "bold"), f"{sum(lv.on_hand for lv in levels):,} units",
            ("  ·  in transit ", "bold"), f"{sum(lv.incoming for lv in levels):,}",
        ))

    @on(StatusLoaded)
    def _show_status(self, message: StatusLoaded) -> None:
        if self.as_of is not None:
            return  # came back after the screen left the live view
        s = message.status
        badge = (f"  ⚠ {s.low} low  ", "bold black on yellow") if s.low else ("  no low stock", "dim")
        self.query_one("#inventory-summary", Static).update(Text.assemble(
            ("Day ", "bold"), str(s.day), ("  ·  cash ", "bold"), format_grouped(s.cash_minor),
            ("  ·  stock value ", "bold"), format_grouped(s.stock_value_minor), "  ", badge,
        ))
        alerts = getattr(self.app, "low_stock_alerts", True)
        if alerts and s.low and (self._known_low is None or s.low > self._known_low):
            self.notify(f"{s.low} product(s) at or below their reorder level. Press l to list them.",
                        title="Low stock", severity="warning", timeout=5)
        self._known_low = s.low

    def _selected_line(self) -> StockLine | None:
        return self.query_one(StockTable).current_row

    def _selected(self) -> StockRow | None:
        line = self._selected_line()
        return line.row if line is not None else None

    # -- filter and views -------------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one("#stock-filter", Input).focus()

    @on(FilterBox.Applied)
    def _apply_filter(self, event: FilterBox.Applied) -> None:
        self._query = ProductQuery(text=event.text)
        self.reload(keep_position=False)

    @on(FilterBox.Done)
    def _filter_done(self) -> None:
        self.query_one(StockTable).focus()

    def action_toggle_low(self) -> None:
        if self.as_of is not None:
            self.notify("The low-stock view is of today's reorder levels: press escape to go back to now first",
                        severity="warning", timeout=4)
            return
        self._low_only = not self._low_only
        self.reload(keep_position=False)

    def show_as_of(self) -> None:
        as_of = self.as_of
        self.title = f"Inventory — as of {as_of.label}" if as_of else "Inventory"
        self.query_one(AsOfBanner).show(as_of)
        self.query_one("#stock-export", Button).disabled = as_of is not None
        self._past_as_of = None  # another moment: read it afresh
        self._to_top = True
        if as_of is not None:
            self._low_only = False
            self.query_one("#inventory-summary", Static).update(Text(f"Reading the ledgers as of {as_of.label}…"))
        self.query_one(StockTable).focus()

    def action_refresh(self) -> None:
        self._past_as_of = None  # read the past again too
        self.reload()
        self.notify("Refreshed", timeout=1.5)

    # -- actions ----------------------------------------------------------------------------

    def _skus(self) -> list[str]:
        """The forms' SKU suggestions: the rows the table has at hand (at most a thousand around the
        cursor), not the whole list."""
        return [line.row.sku for line in self.query_one(StockTable).loaded_rows()]

    def action_move(self) -> None:
        if self.read_only():
            return
        from tui_app.widgets.stock_forms import MoveForm

        self.app.push_screen(MoveForm(self._selected(), self._skus(), self._locations), self._after_write)

    def action_count(self) -> None:
        if self.read_only():
            return
        from tui_app.widgets.stock_forms import CountForm

        line = self._selected_line()
        levels = list(line.levels.values()) if line is not None else []
        self.app.push_screen(CountForm(line.row if line else None, self._skus(), self._locations, levels), self._after_write)

    def action_receive(self) -> None:
        if self.read_only():
            return
        from tui_app.widgets.stock_forms import ReceiveForm

        suppliers = [a for a in self._accounts if a.kind == "supplier" and a.status == "open"]
        self.app.push_screen(ReceiveForm(self._selected(), self._skus(), self._locations, suppliers), self._after_write)

    def action_sell(self) -> None:
        if self.read_only():
            return
        from tui_app.widgets.stock_forms import SellForm

        customers = [a for a in self._accounts if a.kind == "customer" and a.status == "open"]
        self.app.push_screen(SellForm(self._selected(), self._skus(), self._locations, customers), self._after_write)

    def _after_write(self, result: Any) -> None:
        if result is None:
            return
        self.notify(describe(result, self._all_locations), timeout=5)
        # no reload here: the screen reloads when the form closes (on_screen_resume)

    @on(VirtualTable.RowSelected, "#stock")
    def _open_history(self) -> None:
        row = self._selected()
        if row is not None:
            self.app.push_screen(HistoryScreen(row))

    @on(Button.Pressed, "#stock-export")
    def action_export(self) -> None:
        if self.as_of is not None:
            self.notify("Export CSV writes today's stock: press escape to go back to now first",
                        severity="warning", timeout=4)
            return
        backend, query, low = self.app.backend, self._query, self._low_only  # type: ignore[attr-defined]
        self.app.export_csv("stock", lambda out: backend.export_stock(query, low, out))  # type: ignore[attr-defined]

    def action_advance_day(self) -> None:
        self.simulate(1)

    def action_simulate(self) -> None:
        if self.read_only():
            return
        from tui_app.widgets.stock_forms import SimulateForm

        self.app.push_screen(SimulateForm(), self._after_simulation)

    def simulate(self, days: int) -> None:
        """Advance the simulation `days` days (the next-day key, the command palette)."""
        if not self.read_only():
            self._simulate(days)

    @work(thread=True, exclusive=True, group="simulate", exit_on_error=False)
    def _simulate(self, days: int) -> None:
        def progress(report) -> None:  # each simulated day is committed: show how far it got
            if days > 1:
                self.app.call_from_thread(self._show_progress, report.day, days)

        reports = self.app.backend.sim.simulation.advance(days, progress=progress)  # type: ignore[attr-defined]
        self.app.call_from_thread(self._after_simulation, reports)

    def _show_progress(self, day: int, days: int) -> None:
        self.query_one("#stock-status", Static).update(Text(f"Simulating {days} days… now day {day}", style="bold"))

    def _after_simulation(self, reports: list | None) -> None:
        if not reports:
            return
        sales = sum(r.sales for r in reports)
        revenue = sum(r.revenue_minor for r in reports)
        lost = sum(r.lost_sales for r in reports)
        orders = sum(r.orders for r in reports)
        arrivals = sum(r.arrivals for r in reports)
        days = f"Day {reports[-1].day}" if len(reports) == 1 else f"{len(reports)} days, now day {reports[-1].day}"
        self.notify(f"{days}: {sales} sales ({format_grouped(revenue)}), {lost} lost to empty shelves, "
                    f"{orders} orders placed, {arrivals} deliveries arrived", title="Simulation", timeout=6)
        self.reload()


_OUTSIDE = {"receive": SUPPLIER, "purchase": SUPPLIER, "sell": CUSTOMER, "scrap": SCRAP, "adjust": ADJUSTMENT}


def describe(result: Any, locations: list[Location]) -> str:
    """One line for the toast after a stock form: what moved where (and what was paid)."""
    if result == "unchanged":
        return "The count matches what is recorded; nothing to adjust"
    move: StockMove = getattr(result, "move", result)
    names = {loc.id: loc.name for loc in locations}
    # a virtual location made by this very move is not in the screen's list yet: name it by the reason
    outside = VIRTUAL_NAMES.get(_OUTSIDE.get(move.reason, ""), "outside")
    where = f"{names.get(move.from_location_id, outside)} → {names.get(move.to_location_id, outside)}"
    paid = getattr(result, "transfer", None)
    money = f" · {format_grouped(paid.amount_minor)} {paid.currency} paid" if paid is not None else ""
    state = "in transit" if move.kind == "pending" else move.kind
    units = "unit" if move.quantity == 1 else "units"
    return f"Move #{move.id} {move.reason}: {move.quantity:,} {units} {where} ({state}){money}"


IN_TRANSIT = "IN TRANSIT"


@dataclass(frozen=True)
class HistoryLine:
    """One move of a product's history as shown: its state and where it went are worked out with the
    page (a pending move's resolution may be on another page, or not in memory at all)."""

    move: StockMove
    state: str
    where: str


def move_state(move: StockMove, resolution: StockMove | None) -> str:
    if move.kind == "pending":
        if resolution is None:
            return IN_TRANSIT
        return {"received": "→ arrived", "cancelled": "→ cancelled"}.get(resolution.kind, "resolved")
    return "arrived" if move.kind == "received" else move.kind


class HistoryRows(PagedRows[HistoryLine]):
    """A product's moves, newest first, as the table pages them: keyset pages both ways from a move it
    has (older: before its id; newer: after it), the newest or oldest page, or a page at an offset."""

    def __init__(self, inventory, product_id: int):
        self._inventory, self._product_id = inventory, product_id
        self._names: dict[int, str] | None = None

    def page(self, cursor: HistoryLine | None, limit: int, *, backward: bool = False, skip: int = 0) -> list[HistoryLine]:
        inventory = self._inventory
        moves = inventory.history(self._product_id, cursor.move.id if cursor else None, limit,
                                  backward=backward, skip=skip)
        if self._names is None:  # once per view: a move may have made a virtual location since the last
            self._names = {loc.id: loc.name for loc in inventory.locations(include_virtual=True)}
        names = self._names
        resolved = inventory.resolutions([m.id for m in moves if m.kind == "pending"])
        return [HistoryLine(m, move_state(m, resolved.get(m.id)),
                            f"{names.get(m.from_location_id, '?')} → {names.get(m.to_location_id, '?')}")
                for m in moves]

    def count(self) -> int:
        return self._inventory.count_history(self._product_id)



HISTORY_COLUMNS = (
    Column("id", "#", 6),
    Column("day", "Day", 4, "right"),
    Column("at", "When (UTC)", 16),
    Column("reason", "Reason", 8),
    Column("kind", "State", 10),
    Column("where", "From → To", 26),
    Column("qty", "Qty", 6, "right"),
    Column("memo", "Memo", 28),
)


def history_cells(line: HistoryLine) -> tuple[Text, ...]:
    m = line.move
    in_transit = line.state == IN_TRANSIT
    style = "cyan" if in_transit else ("dim" if m.kind in ("pending", "cancelled") else "")
    return (
        Text(str(m.id)), Text(str(m.day)), Text(m.created_at[:16].replace("T", " ")), Text(m.reason),
        Text(line.state, style=style), Text(line.where), Text(f"{m.quantity:,}"), Text(m.memo),
    )


class HistoryTable(VirtualTable[HistoryLine]):
    def __init__(self, **kwargs) -> None:
        super().__init__(HISTORY_COLUMNS, history_cells, key=lambda line: line.move.id, **kwargs)


@dataclass
class HistoryHead(Message):
    row: StockRow
    open_pending: int  # deliveries of the product still in transit


class HistoryScreen(AppScreen):
    """One product's stock moves, newest first; goods in transit can be received or cancelled here."""

    CSS_PATH = "inventory.tcss"
    BINDINGS = [
        Binding("escape,backspace", "app.pop_screen", "Back", id="history.back"),
        Binding("r", "receive", "Receive", id="history.receive"),
        Binding("c", "cancel_transit", "Cancel transit", id="history.cancel"),
        Binding("x", "export", "Export CSV", id="history.export"),
        Binding("f5", "refresh", "Refresh", id="history.refresh"),
    ]

    def __init__(self, row: StockRow):
        super().__init__()
        self._row = row
        self._open = 0
        self.title = f"History — {row.sku} {row.name}"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="history-head")
        yield HistoryTable(id="history")
        with Horizontal(id="inventory-bar"):
            yield Static("", id="history-status")
            yield Button("Export CSV", id="history-export", variant="primary")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(HistoryTable).focus()
        self.reload(keep_position=False)

    def action_refresh(self) -> None:
        self.reload()

    def reload(self, *, keep_position: bool = True) -> None:
        """The moves as stored now (after a receive or cancel), at the same place in the list."""
        rows = HistoryRows(self.app.backend.sim.inventory, self._row.product_id)  # type: ignore[attr-defined]
        self.query_one(HistoryTable).set_source(rows, keep_position=keep_position)
        self._load_head()

    @work(thread=True, exclusive=True, group="history-head", exit_on_error=False)
    def _load_head(self) -> None:
        inventory = self.app.backend.sim.inventory  # type: ignore[attr-defined]
        row = inventory.stock_row(self._row.product_id)
        self.post_message(HistoryHead(row, len(inventory.pending_moves(self._row.product_id))))

    @on(HistoryHead)
    def _show_head(self, message: HistoryHead) -> None:
        self._row, self._open = message.row, message.open_pending
        r = self._row
        self.query_one("#history-head", Static).update(Text.assemble(
            (f"{r.sku}  {r.name}", "bold"), "   on hand ", (f"{r.on_hand:,}", "bold"), "   in transit ",
            f"{r.incoming:,}", "   reorder at ", str(r.reorder_level or "—"), "   cost ", format_grouped(r.cost_minor),
        ))
        self._show_status()

    @on(VirtualTable.Changed, "#history")
    def _show_status(self) -> None:
        table = self.query_one(HistoryTable)
        shown = table.count_text("move", "moves")
        hint = " · r receives, c cancels the selected delivery in transit" if self._open else ""
        self.query_one("#history-status", Static).update(Text(shown + hint))

    def _selected_transit(self) -> StockMove | None:
        line = self.query_one(HistoryTable).current_row
        if line is not None and line.state == IN_TRANSIT:
            return line.move
        self.notify("Select a move that is in transit", severity="warning")
        return None

    def action_receive(self) -> None:
        move = self._selected_transit()
        if move is not None:
            self._resolve(move.id, True)

    def action_cancel_transit(self) -> None:
        from tui_app.widgets.dialogs import ConfirmDialog

        move = self._selected_transit()
        if move is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._resolve(move.id, False)

        refund = " The supplier refunds its payment." if move.transfer_id is not None else ""
        self.app.push_screen(ConfirmDialog("Cancel delivery", f"Cancel move #{move.id} ({move.quantity:,} units in "
                                           f"transit)? The goods are released.{refund}", "Cancel delivery"), confirmed)

    @work(thread=True, exclusive=True, group="history-edit", exit_on_error=False)
    def _resolve(self, move_id: int, receive: bool) -> None:
        inventory = self.app.backend.sim.inventory  # type: ignore[attr-defined]
        try:
            done = inventory.receive_pending(move_id) if receive else inventory.cancel_pending(move_id)
        finally:
            self.app.call_from_thread(self.reload)
        self.app.call_from_thread(self.notify, f"Move #{move_id} {done.kind}", timeout=3)

    @on(Button.Pressed, "#history-export")
    def action_export(self) -> None:
        backend, product_id = self.app.backend, self._row.product_id  # type: ignore[attr-defined]
        self.app.export_csv(f"history-{self._row.sku}", lambda out: backend.export_history(product_id, out))  # type: ignore[attr-defined]
