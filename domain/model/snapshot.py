"""A tenant's whole books as flat rows: what a save file holds and what loading one puts back.

Storage reads it in one transaction (`uow.snapshot.dump()`) and writes it back in one
(`uow.snapshot.replace(...)`); the object graph the saves service works with is built from it.
References between rows are ids of the same snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from domain.model.bank import Account, Transfer
from domain.model.catalog import Category, Product
from domain.model.stock import GameState, Location, StockLevel, StockMove
from domain.model.users import User


class ProductPlan(NamedTuple):
    """A product's unit cost and reorder level (the Inventory screen's planning columns)."""

    product_id: int
    cost_minor: int
    reorder_level: int


@dataclass(frozen=True)
class TenantSnapshot:
    """Every row of one tenant's books, soft-deleted and archived ones included, each list in id order.

    Not in it: the audit log (append-only history, never rewritten by a load) and attachment bytes.
    """

    categories: tuple[Category, ...] = ()
    products: tuple[Product, ...] = ()
    plans: tuple[ProductPlan, ...] = ()  # one per product
    accounts: tuple[Account, ...] = ()
    transfers: tuple[Transfer, ...] = ()
    archived_transfer_ids: frozenset[int] = field(default_factory=frozenset)
    locations: tuple[Location, ...] = ()
    levels: tuple[StockLevel, ...] = ()  # internal locations only; zero levels may be left out
    moves: tuple[StockMove, ...] = ()
    archived_move_ids: frozenset[int] = field(default_factory=frozenset)
    game: GameState = field(default_factory=GameState)
    users: tuple[User, ...] = ()

    def counts(self) -> dict[str, int]:
        """How many rows of each kind: what a load replaces, shown before it does."""
        return {
            "categories": len(self.categories),
            "products": len(self.products),
            "accounts": len(self.accounts),
            "transfers": len(self.transfers),
            "locations": len(self.locations),
            "stock_moves": len(self.moves),
        }
