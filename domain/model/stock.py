"""Inventory entities: locations, stock levels and the append-only stock-move ledger.

The stock ledger mirrors the bank's: a location is an account, a move is a transfer. Internal
locations (warehouse, shop floor, ...) hold stock and may never go below zero; virtual locations
(suppliers, customers, scrap, inventory adjustment) are the outside world and keep no levels.
A two-phase move is `pending` (goods in transit: reserved at the source as `outgoing`, announced
at the target as `incoming`) until a new move `received` or `cancelled` resolves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

INTERNAL, SUPPLIER, CUSTOMER, SCRAP, ADJUSTMENT = "internal", "supplier", "customer", "scrap", "adjustment"
LOCATION_KINDS = (INTERNAL, SUPPLIER, CUSTOMER, SCRAP, ADJUSTMENT)
# The one virtual location of each kind, created on first use.
VIRTUAL_NAMES = {SUPPLIER: "Suppliers", CUSTOMER: "Customers", SCRAP: "Scrap", ADJUSTMENT: "Inventory adjustment"}
DEFAULT_LOCATION = "Warehouse"

# Move kinds: single-phase `posted`; two-phase `pending` resolved by `received` or `cancelled`.
POSTED, PENDING, RECEIVED, CANCELLED = "posted", "pending", "received", "cancelled"
# Why stock moved.
RECEIVE, SELL, MOVE, ADJUST, SCRAP_REASON, PURCHASE = "receive", "sell", "move", "adjust", "scrap", "purchase"
REASONS = (RECEIVE, SELL, MOVE, ADJUST, SCRAP_REASON, PURCHASE)


@dataclass(frozen=True, slots=True)
class Location:
    id: int
    name: str
    kind: str
    version: int = 1

    @property
    def internal(self) -> bool:
        return self.kind == INTERNAL


class StockLevel(NamedTuple):
    """Stock of one product at one internal location: on hand, plus what is in transit."""

    product_id: int
    location_id: int
    on_hand: int
    incoming: int
    outgoing: int

    @property
    def available(self) -> int:
        """What can still leave: on hand minus what is already on its way out."""
        return self.on_hand - self.outgoing


@dataclass(frozen=True, slots=True)
class StockMove:
    id: int
    kind: str
    reason: str
    product_id: int
    from_location_id: int
    to_location_id: int
    quantity: int
    pending_id: int | None
    transfer_id: int | None  # the money leg of a sale or purchase, in the bank's ledger
    due_day: int | None  # a pending receipt's expected arrival (game day)
    day: int  # the game day it happened on
    memo: str
    idempotency_key: str | None  # None: a bookkeeping adjustment no client asked for (an import's counts)
    actor: str
    created_at: str
    from_after: int | None  # on hand at the source after the move (None: virtual location)
    to_after: int | None
    reverses_id: int | None = None  # undo by compensation: the move this one reverses


class NewStockMove(NamedTuple):
    kind: str
    reason: str
    product_id: int
    from_location_id: int
    to_location_id: int
    quantity: int
    pending_id: int | None
    transfer_id: int | None
    due_day: int | None
    day: int
    memo: str
    idempotency_key: str | None
    actor: str
    created_at: str
    from_after: int | None
    to_after: int | None
    reverses_id: int | None = None


class StockRow(NamedTuple):
    """One product on the Inventory screen: totals over the internal locations."""

    product_id: int
    sku: str
    name: str
    category: str | None
    on_hand: int
    incoming: int
    reorder_level: int
    cost_minor: int
    price_minor: int

    @property
    def low(self) -> bool:
        return self.reorder_level > 0 and self.on_hand <= self.reorder_level

    @property
    def value_minor(self) -> int:
        return self.on_hand * self.cost_minor


class Valuation(NamedTuple):
    """Stock value at cost of one group (a category or a location)."""

    group_id: int | None
    name: str | None
    quantity: int
    value_minor: int


@dataclass(frozen=True, slots=True)
class GameState:
    """The simulation's clock and random generator, stored with the shop so a run can resume."""

    day: int = 0
    seed: int = 1
    rng_state: str | None = None  # JSON of random.Random.getstate(); None: not drawn from yet
    version: int = 0  # 0: never saved
