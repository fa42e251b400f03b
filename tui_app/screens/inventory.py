"""Inventory screen (key 3): stock by product x location, moves, stocktakes, receipts, sales, a
low-stock view and alert, and the simulation's day key. `enter` opens a product's move history;
`A` shows the stock as of a past moment (read-only). Every write refreshes the rows and the status
bar (day, cash, stock value, low count)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, DataTable, Footer, Header, Input, Static

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

PAGE_SIZE = 200
PREFETCH_MARGIN = 40
HISTORY_PAGE = 200


@dataclass(frozen=True)
class InventoryStatus:
    day: int
    cash_minor: int  # the shop accounts' balance
    stock_value_minor: int
    low: int


@dataclass
class InventoryLoaded(Message):
    generation: int
    rows: list[StockRow]
    levels: list[StockLevel]
    append: bool
    locations: list[Location] | None = None
    accounts: list[Account] | None = None
    as_of: AsOf | None = None
    past: dict[int, list[StockLevel]] | None = None  # as of then, by product (first page of a past view)
    past_cash_minor: int | None = None  # the shop accounts' balance then


@dataclass
class StatusLoaded(Message):
    status: InventoryStatus


class StockTable(DataTable):
    BINDINGS = [Binding("enter", "select_cursor", "History", id="inventory.history")]


def qty(n: int, style: str = "") -> Text:
    return Text(f"{n:,}" if n else "·", justify="right", style=style or ("" if n else "dim"))


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
        self._rows: list[StockRow] = []
        self._levels: dict[tuple[int, int], StockLevel] = {}
        self._locations: list[Location] = []  # internal ones: the columns and the forms' choices
        self._all_locations: list[Location] = []  # with the virtual ones, for naming moves
        self._accounts: list[Account] = []
        self._more = False
        self._loading_more = False
        self._known_low: int | None = None
        self._past: dict[int, list[StockLevel]] = {}  # the past view's levels, by product
        self._past_as_of: AsOf | None = None  # the moment `_past` was read for: a filter reuses it
        self._columns_shown: tuple[tuple[int, ...], bool] | None = None  # (locations, past) of the columns

    @property
    def inventory(self):
        return self.app.backend.sim.inventory  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield Header()
        yield AsOfBanner(id="asof-banner")
        yield FilterBox(placeholder="Filter by name or SKU  ( / )", id="stock-filter")
        yield StockTable(id="stock", cursor_type="row", zebra_stripes=True)
        yield Static("", id="stock-status")
        with Horizontal(id="inventory-bar"):
            yield Static("", id="inventory-summary")
            yield Button("Export CSV", id="stock-export", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(StockTable).focus()
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()  # another screen may have sold, counted or imported

    # -- loading ----------------------------------------------------------------------------

    def reload(self) -> None:
        self._generation += 1
        past = self._past if self.as_of is not None and self._past_as_of == self.as_of else None
        self._load(self._query, self._low_only, None, self._generation, self.as_of, past)
        if self.as_of is None:
            self._load_status()  # a past view's status comes with its first page

    @work(thread=True, exclusive=True, group="inventory-load", exit_on_error=False)
    def _load(self, query: ProductQuery, low_only: bool, after: ProductCursor | None, generation: int,
              as_of: AsOf | None, past: dict[int, list[StockLevel]] | None) -> None:
        inventory, sim = self.inventory, self.app.backend.sim  # type: ignore[attr-defined]
        first = after is None
        past_cash = None
        if as_of is None:
            rows = inventory.stock(query, after, PAGE_SIZE, low_only=low_only)
            levels = inventory.levels([r.product_id for r in rows])
        else:
            # every product the shop has had, its stock then from the ledgers
            rows = inventory.stock(ProductQuery(text=query.text, include_inactive=True, deleted=None), after, PAGE_SIZE)
            if past is None:
                past = {}
                for lv in sim.lifecycle.stock_asof(as_of.moment):
                    past.setdefault(lv.product_id, []).append(lv)
                past_cash = sum(a.balance for a in sim.lifecycle.balances_asof(as_of.moment) if a.kind == "shop")
            levels = [lv for r in rows for lv in past.get(r.product_id, [])]
        self.post_message(InventoryLoaded(
            generation, rows, levels, not first,
            inventory.locations(include_virtual=True) if first else None,
            sim.bank.accounts() if first else None,
            as_of, past if first else None, past_cash,
        ))

    @work(thread=True, exclusive=True, group="inventory-status", exit_on_error=False)
    def _load_status(self) -> None:
        sim = self.app.backend.sim  # type: ignore[attr-defined]
        cash = sum(a.balance for a in sim.bank.accounts() if a.kind == "shop")
        self.post_message(StatusLoaded(InventoryStatus(
            sim.simulation.state().day, cash, sim.inventory.stock_value(), sim.inventory.count_low(),
        )))

    @on(InventoryLoaded)
    def _show(self, message: InventoryLoaded) -> None:
        if message.generation != self._generation:
            return
        table = self.query_one(StockTable)
        self._loading_more = False
        as_of = message.as_of
        if message.locations is not None:
            self._all_locations = message.locations
            internal = [loc for loc in message.locations if loc.internal]
            self._locations = internal
            shape = (tuple(loc.id for loc in internal), as_of is not None)
            if shape != self._columns_shown or not table.columns:
                self._columns_shown = shape
                self._columns(table, past=as_of is not None)
        if message.past is not None:
            self._past, self._past_as_of = message.past, as_of
        if message.past_cash_minor is not None:  # the past was read afresh
            self._show_past_status(as_of, message.past or {}, message.past_cash_minor)
        if message.accounts is not None:
            self._accounts = message.accounts
        if not message.append:
            keep = table.cursor_row
            self._rows, self._levels = [], {}
            table.clear()
        else:
            keep = None
        self._rows.extend(message.rows)
        self._levels.update({(lv.product_id, lv.location_id): lv for lv in message.levels})
        self._more = len(message.rows) == PAGE_SIZE
        for row in message.rows:
            table.add_row(*(self._past_cells(row) if as_of else self._cells(row)), key=str(row.product_id))
        if keep is not None and self._rows:
            table.move_cursor(row=min(max(keep, 0), len(self._rows) - 1))
        if as_of is not None:
            view = f"stock as of {as_of.label}, from the ledgers · read-only (escape: back to now)"
        elif self._low_only:
            view = "low stock only (l shows all)"
        else:
            view = "all products (l shows low stock)"
        shown = f"{len(self._rows):,} product{'' if len(self._rows) == 1 else 's'}" + (
            "+ (scroll for more)" if self._more else "")
        where = f" · filter “{self._query.text.strip()}”" if self._query.text.strip() else ""
        self.query_one("#stock-status", Static).update(Text(f"{shown} · {view}{where}"))

    def _columns(self, table: DataTable, past: bool = False) -> None:
        """Reorder level and value are today's numbers: a past view leaves them out."""
        table.clear(columns=True)
        table.add_column("SKU", key="sku", width=12)
        table.add_column("Name", key="name", width=28)
        for loc in self._locations:
            table.add_column(Text(loc.name[:10], justify="right"), key=f"loc-{loc.id}", width=10)
        table.add_column(Text("Transit", justify="right"), key="transit", width=7)
        table.add_column(Text("Total", justify="right"), key="total", width=7)
        if not past:
            table.add_column(Text("Reorder", justify="right"), key="reorder", width=9)
            table.add_column(Text("Value", justify="right"), key="value", width=11)

    def _past_cells(self, row: StockRow) -> list[Any]:
        cells: list[Any] = [Text(row.sku), Text(row.name)]
        for loc in self._locations:
            level = self._levels.get((row.product_id, loc.id))
            cells.append(qty(level.on_hand if level else 0))
        then = self._past.get(row.product_id, [])
        incoming = sum(lv.incoming for lv in then)
        cells.append(qty(incoming, "cyan" if incoming else ""))
        cells.append(qty(sum(lv.on_hand for lv in then), "bold"))
        return cells

    def _show_past_status(self, as_of: AsOf | None, past: dict[int, list[StockLevel]], cash: int | None) -> None:
        if as_of is None:
            return
        levels = [lv for found in past.values() for lv in found]
        self.query_one("#inventory-summary", Static).update(Text.assemble(
            ("As of ", "bold"), as_of.label, ("  ·  cash ", "bold"), format_grouped(cash or 0),
            ("  ·  on hand ", "bold"), f"{sum(lv.on_hand for lv in levels):,} units",
            ("  ·  in transit ", "bold"), f"{sum(lv.incoming for lv in levels):,}",
        ))

    def _cells(self, row: StockRow) -> list[Any]:
        cells: list[Any] = [Text(row.sku), Text(row.name)]
        for loc in self._locations:
            level = self._levels.get((row.product_id, loc.id))
            cells.append(qty(level.on_hand if level else 0))
        cells.append(qty(row.incoming, "cyan" if row.incoming else ""))
        cells.append(qty(row.on_hand, "bold"))
        if row.low:
            cells.append(Text(f"LOW ≤{row.reorder_level}", justify="right", style="bold yellow"))
        else:
            cells.append(Text(str(row.reorder_level) if row.reorder_level else "—", justify="right", style="dim"))
        cells.append(Text(format_grouped(row.value_minor), justify="right"))
        return cells

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

    @on(DataTable.RowHighlighted, "#stock")
    def _maybe_load_more(self, event: DataTable.RowHighlighted) -> None:
        if self._more and not self._loading_more and event.cursor_row >= len(self._rows) - PREFETCH_MARGIN:
            self._loading_more = True
            last = self._rows[-1]
            self._load(self._query, self._low_only, ProductCursor(fold_case(last.name), last.product_id), self._generation,
                       self.as_of, self._past if self.as_of else None)

    def _selected(self) -> StockRow | None:
        table = self.query_one(StockTable)
        if not self._rows or not 0 <= table.cursor_row < len(self._rows):
            return None
        return self._rows[table.cursor_row]

    # -- filter and views -------------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one("#stock-filter", Input).focus()

    @on(FilterBox.Applied)
    def _apply_filter(self, event: FilterBox.Applied) -> None:
        self._query = ProductQuery(text=event.text)
        self.reload()

    @on(FilterBox.Done)
    def _filter_done(self) -> None:
        self.query_one(StockTable).focus()

    def action_toggle_low(self) -> None:
        if self.as_of is not None:
            self.notify("The low-stock view is of today's reorder levels: press escape to go back to now first",
                        severity="warning", timeout=4)
            return
        self._low_only = not self._low_only
        self.reload()

    def show_as_of(self) -> None:
        as_of = self.as_of
        self.title = f"Inventory — as of {as_of.label}" if as_of else "Inventory"
        self.query_one(AsOfBanner).show(as_of)
        self.query_one("#stock-export", Button).disabled = as_of is not None
        self._past_as_of = None  # another moment: read it afresh
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
        return [r.sku for r in self._rows]

    def action_move(self) -> None:
        if self.read_only():
            return
        from tui_app.widgets.stock_forms import MoveForm

        self.app.push_screen(MoveForm(self._selected(), self._skus(), self._locations), self._after_write)

    def action_count(self) -> None:
        if self.read_only():
            return
        from tui_app.widgets.stock_forms import CountForm

        row = self._selected()
        levels = [lv for (pid, _loc), lv in self._levels.items() if row is not None and pid == row.product_id]
        self.app.push_screen(CountForm(row, self._skus(), self._locations, levels), self._after_write)

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

    @on(DataTable.RowSelected, "#stock")
    def _open_history(self) -> None:
        row = self._selected()
        if row is not None:
            self.app.push_screen(HistoryScreen(row, {loc.id: loc.name for loc in self._locations}))

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


@dataclass
class HistoryLoaded(Message):
    moves: list[StockMove]
    open_pending: set[int]
    append: bool


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

    def __init__(self, row: StockRow, location_names: dict[int, str]):
        super().__init__()
        self._row = row
        self._names = location_names
        self._moves: list[StockMove] = []
        self._open: set[int] = set()
        self._more = False
        self._loading = False
        self.title = f"History — {row.sku} {row.name}"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="history-head")
        yield DataTable(id="history", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="inventory-bar"):
            yield Static("", id="history-status")
            yield Button("Export CSV", id="history-export", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#history", DataTable)
        table.add_column("#", key="id", width=6)
        table.add_column(Text("Day", justify="right"), key="day", width=4)
        table.add_column("When (UTC)", key="at", width=16)
        table.add_column("Reason", key="reason", width=8)
        table.add_column("State", key="kind", width=10)
        table.add_column("From → To", key="where", width=26)
        table.add_column(Text("Qty", justify="right"), key="qty", width=6)
        table.add_column("Memo", key="memo", width=28)
        table.focus()
        self._load(None)

    def action_refresh(self) -> None:
        self._load(None)

    @work(thread=True, exclusive=True, group="history-load", exit_on_error=False)
    def _load(self, before: int | None) -> None:
        inventory = self.app.backend.sim.inventory  # type: ignore[attr-defined]
        moves = inventory.history(self._row.product_id, before, HISTORY_PAGE)
        names = {loc.id: loc.name for loc in inventory.locations(include_virtual=True)}
        self._names = names
        open_pending = {m.id for m in inventory.pending_moves(self._row.product_id)}
        self._row = inventory.stock_row(self._row.product_id)
        self.post_message(HistoryLoaded(moves, open_pending, before is not None))

    @on(HistoryLoaded)
    def _show(self, message: HistoryLoaded) -> None:
        table = self.query_one("#history", DataTable)
        self._loading = False
        if not message.append:
            self._moves = []
            table.clear()
        self._open = message.open_pending
        self._moves.extend(message.moves)
        self._more = len(message.moves) == HISTORY_PAGE
        outcome = {m.pending_id: m.kind for m in self._moves if m.pending_id is not None}
        for m in message.moves:
            in_transit = m.id in self._open
            if in_transit:
                state = "IN TRANSIT"
            elif m.kind == "pending":  # its arrival or cancellation is a later row
                state = {"received": "→ arrived", "cancelled": "→ cancelled"}.get(outcome.get(m.id, ""), "resolved")
            else:
                state = "arrived" if m.kind == "received" else m.kind
            style = "cyan" if in_transit else ("dim" if m.kind in ("pending", "cancelled") else "")
            where = f"{self._names.get(m.from_location_id, '?')} → {self._names.get(m.to_location_id, '?')}"
            table.add_row(
                str(m.id), Text(str(m.day), justify="right"), m.created_at[:16].replace("T", " "), m.reason,
                Text(state, style=style), Text(where), Text(f"{m.quantity:,}", justify="right"), Text(m.memo),
                key=str(m.id),
            )
        r = self._row
        self.query_one("#history-head", Static).update(Text.assemble(
            (f"{r.sku}  {r.name}", "bold"), "   on hand ", (f"{r.on_hand:,}", "bold"), "   in transit ",
            f"{r.incoming:,}", "   reorder at ", str(r.reorder_level or "—"), "   cost ", format_grouped(r.cost_minor),
        ))
        shown = f"{len(self._moves):,} moves" + (" (scroll for more)" if self._more else "")
        hint = " · r receives, c cancels the selected delivery in transit" if self._open else ""
        self.query_one("#history-status", Static).update(Text(shown + hint))

    @on(DataTable.RowHighlighted, "#history")
    def _maybe_more(self, event: DataTable.RowHighlighted) -> None:
        if self._more and not self._loading and event.cursor_row >= len(self._moves) - PREFETCH_MARGIN:
            self._loading = True
            self._load(self._moves[-1].id)

    def _selected_transit(self) -> StockMove | None:
        table = self.query_one("#history", DataTable)
        if 0 <= table.cursor_row < len(self._moves) and self._moves[table.cursor_row].id in self._open:
            return self._moves[table.cursor_row]
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
            self.app.call_from_thread(self._load, None)
        self.app.call_from_thread(self.notify, f"Move #{move_id} {done.kind}", timeout=3)

    @on(Button.Pressed, "#history-export")
    def action_export(self) -> None:
        backend, product_id = self.app.backend, self._row.product_id  # type: ignore[attr-defined]
        self.app.export_csv(f"history-{self._row.sku}", lambda out: backend.export_history(product_id, out))  # type: ignore[attr-defined]
