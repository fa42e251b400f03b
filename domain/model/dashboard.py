"""What the dashboard shows: the shop at a glance, read in one snapshot, plus the series its charts draw."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from domain.model.bank import Transfer
from domain.model.stock import CANCELLED, PURCHASE, RECEIVED, SELL, StockMove, StockRow

# Which moves are trade, and their sign (the SQL stores say the same in their queries): sales and purchases,
# not the receipt that ends a purchase's transit. The sign follows the goods: a sale counts when they go to the
# customers, a purchase when they come from the suppliers (a virtual location: no level after the move);
# the other way is an undo, and an undo of an undo goes the trade's way again. A cancelled delivery undoes.
TRADE_REASONS = (SELL, PURCHASE)


def trade_sign(move: StockMove) -> int:
    """+1 for a sale or purchase (or a redo), -1 for its undoing (a cancelled delivery, a reversal), 0: not trade."""
    if move.reason not in TRADE_REASONS or move.kind == RECEIVED:
        return 0
    if move.kind == CANCELLED:
        return -1
    trade_way = move.to_after is None if move.reason == SELL else move.from_after is None
    return 1 if trade_way else -1


class DailyTrade(NamedTuple):
    """One game day of trade. Units and money are net: an undone sale or a cancelled or undone
    purchase counts against the day it happened on; money is what the bank legs moved."""

    day: int
    sold_units: int
    sales_minor: int
    bought_units: int
    purchases_minor: int


class TopSeller(NamedTuple):
    """A product's net sales over a span of days."""

    product_id: int
    sku: str
    name: str
    units: int
    sales_minor: int


class SeriesPoint(NamedTuple):
    """One point of a chart: a label for the x axis (a day or a time) and the value after that event."""

    label: str
    value: int


@dataclass(frozen=True, slots=True)
class DashboardSummary:
    """The figures of the dashboard, all read in one transaction (they agree with each other)."""

    day: int
    currency: str | None  # the shop account's currency (None: no shop account yet)
    shop_id: int | None
    cash_minor: int  # the shop accounts' posted balance
    stock_value_minor: int  # on hand x unit cost over internal locations
    products: int  # active products
    low_stock_count: int
    low_stock: tuple[StockRow, ...]  # the first few, in name order
    pending_count: int
    pending_minor: int
    pending: tuple[Transfer, ...]  # the oldest few unresolved pending transfers
    top_sellers: tuple[TopSeller, ...]
    trade: tuple[DailyTrade, ...]  # every day of the span, oldest first, days without trade as zeros
    first_day: int  # the span the trade and top sellers cover
    last_change: int  # the newest audit entry's id: a change anywhere makes it grow


def fold_trade(rows: Iterable[tuple[int, str, int, int]]) -> list[DailyTrade]:
    """(day, reason, net units, net money) per day and reason, as the stores group them -> one DailyTrade
    per day, oldest first."""
    days: dict[int, list[int]] = {}
    for day, reason, units, money in rows:
        d = days.setdefault(day, [0, 0, 0, 0])
        at = 0 if reason == SELL else 2
        d[at] += units
        d[at + 1] += money
    return [DailyTrade(day, *days[day]) for day in sorted(days)]
