"""The dashboard's reads: the shop at a glance in one consistent snapshot, and the series its charts draw.

Every figure is computed in the store (sums, groups, a page of rows): the dashboard of a shop with a
million products reads a few hundred rows, never the whole books.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.errors import ValidationError
from domain.model import ProductQuery
from domain.model.dashboard import DailyTrade, DashboardSummary, SeriesPoint
from domain.model.stock import POSTED, RECEIVED, StockMove
from domain.services.context import ServiceContext, product_by_ref

if TYPE_CHECKING:
    from domain.services.bank import AccountRef, BankService

MAX_DAYS = 366
MAX_POINTS = 1000
MAX_ROWS = 100


def _whole(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"{field}: a whole number from {low} to {high}", field=field)
    return value


class DashboardService:
    def __init__(self, ctx: ServiceContext, bank: BankService):
        self._ctx = ctx
        self._bank = bank

    def summary(self, days: int = 30, *, rows: int = 5) -> DashboardSummary:
        """Day, cash, stock value, products, low stock, pending transfers, top sellers and the daily trade of
        the last `days` game days (today included), read in one transaction. `rows`: how many of the low-stock
        products, pending transfers and top sellers to list.

        Raises: ValidationError (days, rows).
        """
        days = _whole(days, "days", 1, MAX_DAYS)
        rows = _whole(rows, "rows", 1, MAX_ROWS)
        with self._ctx.reading() as uow:
            today = uow.game.get().day
            first = max(0, today - days + 1)
            shops = [a for a in uow.accounts.list() if a.kind == "shop" and a.deleted_at is None]
            currency = shops[0].currency if shops else None
            pending = uow.transfers.unresolved_pending()
            tail = uow.audit.tail()
            by_day = {t.day: t for t in uow.stock.daily_trade(first, today)}
            return DashboardSummary(
                day=today,
                currency=currency,
                shop_id=shops[0].id if shops else None,
                cash_minor=sum(a.balance for a in shops if a.currency == currency),
                stock_value_minor=sum(v.value_minor for v in uow.stock.valuation_by_location()),
                products=uow.products.count(ProductQuery()),
                low_stock_count=uow.stock.count_low(),
                low_stock=tuple(uow.stock.rows(ProductQuery(), None, rows, low_only=True)),
                pending_count=len(pending),
                pending_minor=sum(t.amount_minor for t in pending),
                pending=tuple(pending[:rows]),
                top_sellers=tuple(uow.stock.top_sellers(first, today, rows)),
                trade=tuple(by_day.get(d, DailyTrade(d, 0, 0, 0, 0)) for d in range(first, today + 1)),
                first_day=first,
                last_change=tail.id if tail is not None else 0,
            )

    def last_change(self) -> int:
        """The newest audit entry's id (0: none). Every change writes one, in this process or another, so a
        view that remembers it knows when to read again; one indexed lookup."""
        with self._ctx.reading() as uow:
            tail = uow.audit.tail()
        return tail.id if tail is not None else 0

    def balance_series(self, account: AccountRef, points: int = 120) -> list[SeriesPoint]:
        """An account's posted balance after each of its last `points` transfers, oldest first; labelled
        with the transfer's time (UTC, MM-DD HH:MM).

        Raises: ValidationError (points, account), NotFound.
        """
        points = _whole(points, "points", 1, MAX_POINTS)
        lines = self._bank.statement(account, limit=points)
        return [SeriesPoint(line.at[5:16].replace("T", " "), line.balance_after) for line in reversed(lines)]

    def stock_series(self, product: object, points: int = 120) -> list[SeriesPoint]:
        """A product's total on hand (over internal locations) after each of its last `points` moves, oldest
        first, labelled with the game day. Walked back from today's total: moves record the level at their
        own locations only, and goods in transit are not on hand.

        Raises: ValidationError (points, product), NotFound.
        """
        points = _whole(points, "points", 1, MAX_POINTS)
        with self._ctx.reading() as uow:
            found = product_by_ref(uow, product, allow_deleted=True)
            internal = {loc.id for loc in uow.locations.list() if loc.internal}
            row = uow.stock.row(found.id)
            moves = uow.stock.history(found.id, None, points)
        level = row.on_hand if row is not None else 0
        series = []
        for move in moves:  # newest first
            series.append(SeriesPoint(f"day {move.day}", level))
            level -= on_hand_change(move, internal)
        series.reverse()
        return series


def on_hand_change(move: StockMove, internal: set[int]) -> int:
    """What a move did to the product's total on hand: goods in transit (pending, cancelled) are not on
    hand; a move between two internal locations changes nothing."""
    if move.kind not in (POSTED, RECEIVED):
        return 0
    return (move.quantity if move.to_location_id in internal else 0) - (
        move.quantity if move.from_location_id in internal else 0)
