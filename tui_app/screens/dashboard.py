"""Dashboard screen (key 6): the shop at a glance. Day, cash, stock value, products, low stock and pending
transfers in tiles; top sellers, low stock and pending transfers in small lists; charts (textual-plotext) of
the daily sales and purchases, an account's balance and a product's stock over time; and the database
monitor (seed 004: size, WAL, statements and their mean time, cache hit ratio, connections).

Everything is read in a thread worker. While the screen shows, a timer looks every few seconds at the audit
log's newest id (one indexed read): a write anywhere, in this app or another client, makes it grow and the
figures are read again; the monitor is read on every tick. The UI never waits for either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Header, Label, Static
from textual_plotext import PlotextPlot

from domain.errors import NotFound
from domain.model.bank import Account
from domain.model.dashboard import DashboardSummary, SeriesPoint
from domain.money import format_grouped
from tui_app.widgets.base import AppScreen
from tui_app.widgets.footer import KeyFooter

REFRESH_SECONDS = 3.0
SPANS = (30, 7, 90)  # days of trade shown; `w` cycles
POINTS = 60  # points of the balance and stock charts


class View(NamedTuple):
    """What the screen asks to be shown: a reading answers one view, and one that no longer matches is redone."""

    span: int
    account_id: int | None  # None: the shop account
    product_id: int | None  # None: the top seller (or the first low-stock product)


@dataclass
class DashboardLoaded(Message):
    """A reading for the screen: the summary and charts when they were read again (None: unchanged, or the
    read failed: `error`), and the monitor (None when it could not be read)."""

    view: View
    summary: DashboardSummary | None
    accounts: list[Account] | None
    balance: list[SeriesPoint] | None
    stock: list[SeriesPoint] | None
    charted: tuple[int | None, str]  # the account charted, and the product's label
    monitor: Any
    error: BaseException | None = None


def _money(minor: int, currency: str | None = None) -> str:
    return f"{format_grouped(minor)}{f' {currency}' if currency else ''}"


def _size(n: int | None) -> str:
    if n is None:
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def monitor_text(r: Any) -> Text:
    """The monitor panel's lines for a storage.monitor.DatabaseReading."""
    ratio = f"{r.cache_hit_ratio:.1%}" if r.cache_hit_ratio is not None else "—"
    queries = (f"{r.queries:,} · mean {r.mean_query_ms:.3f} ms" if r.mean_query_ms is not None
               else (f"{r.queries:,}" if r.queries is not None else "— (not counted for this store)"))
    connections = (f"{r.connections} of {r.max_connections}" if r.connections is not None
                   else "— (PostgreSQL only)")
    lines = [("Engine", r.engine), ("Database", _size(r.database_bytes)), ("WAL", _size(r.wal_bytes)),
             ("Queries", queries), ("Cache hits", f"{ratio}  {r.cache_source}"), ("Connections", connections)]
    text = Text()
    for i, (label, value) in enumerate(lines):
        text.append(f"{label:<12}", style="bold")
        text.append(value + ("\n" if i < len(lines) - 1 else ""))
    return text


class DashboardScreen(AppScreen):
    TITLE = "Dashboard"
    CSS_PATH = "dashboard.tcss"
    BINDINGS = [
        Binding("a", "next_account", "Next account", id="dashboard.account"),
        Binding("w", "span", "Days shown", id="dashboard.span"),
        Binding("r", "refresh", "Refresh", id="dashboard.refresh"),
    ]

    def __init__(self, refresh_seconds: float | None = None) -> None:
        super().__init__()
        self._refresh_seconds = refresh_seconds or REFRESH_SECONDS
        self._seen_change: int | None = None  # the audit id the figures were read at
        self._span = SPANS[0]
        self._account_id: int | None = None  # charted; None: the shop account
        self._product_id: int | None = None  # charted; None: the top seller (or the first low one)
        self._accounts: list[Account] = []
        self._summary: DashboardSummary | None = None
        self._loading = False
        self._again = False  # asked for a full read while one ran: read again when it is done
        self._failure: str | None = None  # the last failure shown (each is shown once)
        self._timer = None

    @property
    def sim(self):
        return self.app.backend.sim  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="tiles"):
            for key, label in (("day", "Day"), ("cash", "Cash"), ("stock", "Stock value"), ("products", "Products"),
                               ("low", "Low stock"), ("pending", "Pending")):
                with Vertical(classes="tile"):
                    yield Label(label, classes="tile-label")
                    yield Static("…", id=f"tile-{key}", classes="tile-value")
        with Horizontal(id="dashboard-body"):
            with Vertical(id="charts"):
                yield PlotextPlot(id="trade-chart")
                with Horizontal(id="series-charts"):
                    yield PlotextPlot(id="balance-chart")
                    yield PlotextPlot(id="stock-chart")
            with Vertical(id="side"):
                yield Label("Top sellers  (enter: chart its stock)", classes="pane-title", id="top-title")
                yield DataTable(id="top-sellers", cursor_type="row", zebra_stripes=True)
                yield Label("Low stock", classes="pane-title")
                yield DataTable(id="low-stock", cursor_type="row", zebra_stripes=True)
                yield Label("Pending transfers", classes="pane-title")
                yield DataTable(id="pending", cursor_type="row", zebra_stripes=True)
                yield Label("Database monitor", classes="pane-title")
                yield Static("reading…", id="monitor")
        yield KeyFooter()

    def on_mount(self) -> None:
        top = self.query_one("#top-sellers", DataTable)
        top.add_column("SKU", key="sku", width=12)
        top.add_column("Name", key="name", width=15)
        top.add_column(Text("Sold", justify="right"), key="units", width=5)
        top.add_column(Text("Sales", justify="right"), key="money", width=10)
        low = self.query_one("#low-stock", DataTable)
        low.add_column("SKU", key="sku", width=12)
        low.add_column("Name", key="name", width=15)
        low.add_column(Text("On hand", justify="right"), key="on_hand", width=7)
        low.add_column(Text("Reorder", justify="right"), key="level", width=7)
        pending = self.query_one("#pending", DataTable)
        pending.add_column("#", key="id", width=6)
        pending.add_column("Memo", key="memo", width=24)
        pending.add_column(Text("Amount", justify="right"), key="amount", width=12)
        top.focus()

    def on_screen_resume(self) -> None:
        self.action_refresh()  # read everything on every visit
        if self._timer is None:
            self._timer = self.set_interval(self._refresh_seconds, self._tick)
        else:
            self._timer.resume()

    def on_screen_suspend(self) -> None:
        if self._timer is not None:
            self._timer.pause()  # nothing is read while another screen shows

    def _tick(self) -> None:
        """The timer's: nothing while a read runs (a slow one, on a huge shop or a busy server, is never
        queued twice, nor followed by another for nothing)."""
        if not self._loading:
            self._loading = True
            self._load(self._seen_change, self._view())

    def _view(self) -> View:
        return View(self._span, self._account_id, self._product_id)

    def action_refresh(self) -> None:
        """Read everything now, or as soon as the read under way is done (a key pressed meanwhile is kept)."""
        self._seen_change = None
        if self._loading:
            self._again = True
        else:
            self._tick()

    def action_span(self) -> None:
        self._span = SPANS[(SPANS.index(self._span) + 1) % len(SPANS)]
        self.action_refresh()

    def action_next_account(self) -> None:
        """Chart the next account's balance (in name order, as the Bank screen lists them)."""
        if not self._accounts:
            return
        ids = [a.id for a in self._accounts]
        current = self._account_id if self._account_id in ids else (self._summary.shop_id if self._summary else None)
        at = ids.index(current) if current in ids else -1
        self._account_id = ids[(at + 1) % len(ids)]
        self.action_refresh()

    @on(DataTable.RowSelected, "#top-sellers, #low-stock")
    def _chart_product(self, event: DataTable.RowSelected) -> None:
        self._product_id = int(event.row_key.value)  # type: ignore[arg-type]
        self.action_refresh()

    @work(thread=True, exclusive=True, group="dashboard-load", exit_on_error=False)
    def _load(self, seen: int | None, view: View) -> None:
        """Runs in a thread. Never raises: a failed read comes back as `error` (the monitor is read on its own,
        so it still shows, e.g. that the server is unreachable), and the timer tries again."""
        monitor = summary = accounts = balance = stock = error = None
        charted: tuple[int | None, str] = (None, "")
        try:
            monitor = self.app.backend.monitor()  # type: ignore[attr-defined]
        except Exception as e:  # noqa: BLE001 - shown, and read again on the next tick
            error = e
        try:
            dashboard = self.sim.dashboard
            if seen is None or dashboard.last_change() != seen:
                summary = dashboard.summary(view.span)
                accounts = [a for a in self.sim.bank.accounts() if a.kind != "system"]
                balance, account = self._balance(summary, accounts, view.account_id)
                stock, label = self._stock(summary, view.product_id)
                charted = (account, label)
        except Exception as e:  # noqa: BLE001
            error = e
        self.post_message(DashboardLoaded(view, summary, accounts, balance, stock, charted, monitor, error))

    def _balance(self, s: DashboardSummary, accounts: list[Account], wanted: int | None):
        """The series of the account asked for, or of the shop's when it is gone (deleted since)."""
        account = wanted if any(a.id == wanted for a in accounts) else s.shop_id
        if account is None:
            return [], None
        return self.sim.dashboard.balance_series(account, POINTS), account

    def _stock(self, s: DashboardSummary, wanted: int | None):
        """The series of the product asked for, or of the default one when it is gone (purged since)."""
        default = next((r.product_id for r in (*s.top_sellers, *s.low_stock)), None)
        for product in dict.fromkeys(p for p in (wanted, default) if p is not None):
            try:
                series = self.sim.dashboard.stock_series(product, POINTS)
            except NotFound:
                continue
            sku = next((r.sku for r in (*s.top_sellers, *s.low_stock) if r.product_id == product), None)
            return series, sku or f"product {product}"
        return [], "no product"

    @on(DashboardLoaded)
    def _show(self, message: DashboardLoaded) -> None:
        self._loading = False
        if message.monitor is not None:
            self.query_one("#monitor", Static).update(monitor_text(message.monitor))
        if message.error is not None:
            self._show_error(message.error)
        elif message.summary is not None:
            self._failure = None
            self._show_figures(message)
        if self._again or message.view != self._view():  # asked for another view while this one was read
            self._again = False
            self._seen_change = None
            self._tick()

    def _show_error(self, error: BaseException) -> None:
        """Once per distinct failure, not on every tick: the figures stay as last read, the timer retries."""
        text = f"{type(error).__name__}: {error}"
        if text != self._failure:
            self._failure = text
            self.app.report_error(error)  # type: ignore[attr-defined]

    def _show_figures(self, message: DashboardLoaded) -> None:
        s = message.summary
        assert s is not None
        if message.view != self._view():
            return  # the tiles would do, but the charts belong to the old view: the next read brings both
        self._summary, self._seen_change = s, s.last_change
        self._accounts = message.accounts or []
        self._show_tiles(s)
        self._show_lists(s)
        self._show_trade(s)
        self._show_series(s, message.balance or [], message.stock or [], message.charted)

    def _show_tiles(self, s: DashboardSummary) -> None:
        values = {
            "day": str(s.day),
            "cash": _money(s.cash_minor, s.currency) if s.currency else "no shop account",
            "stock": _money(s.stock_value_minor, s.currency),
            "products": f"{s.products:,}",
            "low": f"{s.low_stock_count:,}",
            "pending": f"{s.pending_count:,} · {_money(s.pending_minor)}",
        }
        for key, value in values.items():
            tile = self.query_one(f"#tile-{key}", Static)
            tile.update(value)
            tile.set_class(key == "low" and s.low_stock_count > 0, "warn")

    def _show_lists(self, s: DashboardSummary) -> None:
        top = self.query_one("#top-sellers", DataTable)
        top.clear()
        for t in s.top_sellers:
            top.add_row(t.sku, t.name, Text(str(t.units), justify="right"),
                        Text(format_grouped(t.sales_minor), justify="right"), key=str(t.product_id))
        self.query_one("#top-title", Label).update(
            f"Top sellers, days {s.first_day}–{s.day}" + ("  (enter: chart its stock)" if s.top_sellers else ": none yet"))
        low = self.query_one("#low-stock", DataTable)
        low.clear()
        for r in s.low_stock:
            low.add_row(r.sku, r.name, Text(str(r.on_hand), justify="right"), Text(str(r.reorder_level), justify="right"),
                        key=str(r.product_id))
        pending = self.query_one("#pending", DataTable)
        pending.clear()
        for t in s.pending:
            pending.add_row(str(t.id), t.memo, Text(format_grouped(t.amount_minor), justify="right"))

    def _show_trade(self, s: DashboardSummary) -> None:
        chart = self.query_one("#trade-chart", PlotextPlot)
        plt = chart.plt
        plt.clear_data()
        plt.clear_figure()
        days = [t.day for t in s.trade]
        sales = [t.sales_minor / 100 for t in s.trade]
        purchases = [t.purchases_minor / 100 for t in s.trade]
        plt.title(f"Daily sales and purchases ({s.currency or 'money'}), days {s.first_day}–{s.day}")
        if any(sales) or any(purchases):
            plt.multiple_bar(days, [sales, purchases], labels=["sales", "purchases"])
        else:
            plt.bar(days, [0] * len(days))
        chart.refresh()

    def _show_series(self, s: DashboardSummary, balance: list[SeriesPoint], stock: list[SeriesPoint],
                     charted: tuple[int | None, str]) -> None:
        account_id, product = charted
        account = next((a for a in self._accounts if a.id == account_id), None)
        self._plot_series(self.query_one("#balance-chart", PlotextPlot),
                          f"Balance: {account.name if account else 'no account'} (a: next)",
                          [p.value / 100 for p in balance], [p.label for p in balance])
        self._plot_series(self.query_one("#stock-chart", PlotextPlot), f"Stock on hand: {product}",
                          [p.value for p in stock], [p.label for p in stock])

    @staticmethod
    def _plot_series(chart: PlotextPlot, title: str, values: list[float], labels: list[str]) -> None:
        plt = chart.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        if values:
            xs = list(range(1, len(values) + 1))
            plt.plot(xs, values, marker="braille")
            ends = sorted({1, len(values)})
            plt.xticks(ends, [labels[i - 1] for i in ends])
        chart.refresh()
