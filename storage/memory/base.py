"""What the in-memory repositories share: the tenant's data, the undo log, the repository base."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from domain.model import AuditEntry, Category, Product, ProductQuery, User
from domain.model.catalog import fold_case
from domain.model.attachments import Attachment
from domain.model.bank import Account, Transfer
from domain.model.stock import GameState, Location, StockLevel, StockMove

if TYPE_CHECKING:
    from storage.memory.store import MemoryStore


@dataclass
class TenantData:
    categories: dict[int, Category] = field(default_factory=dict)
    products: dict[int, Product] = field(default_factory=dict)
    sku_index: dict[str, int] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    audit_archive: list[AuditEntry] = field(default_factory=list)
    accounts: dict[int, Account] = field(default_factory=dict)
    transfers: dict[int, Transfer] = field(default_factory=dict)
    transfer_keys: dict[str, int] = field(default_factory=dict)
    resolutions: dict[int, int] = field(default_factory=dict)  # pending id -> resolving transfer id
    locations: dict[int, Location] = field(default_factory=dict)
    planning: dict[int, tuple[int, int]] = field(default_factory=dict)  # product id -> (cost, reorder level)
    levels: dict[tuple[int, int], StockLevel] = field(default_factory=dict)  # (product id, location id)
    moves: dict[int, StockMove] = field(default_factory=dict)
    move_keys: dict[str, int] = field(default_factory=dict)
    move_resolutions: dict[int, int] = field(default_factory=dict)  # pending move id -> resolving move id
    game: dict[str, GameState] = field(default_factory=dict)  # one entry, "state", once saved
    archived_transfers: set[int] = field(default_factory=set)  # ids of transfers moved to the archive
    archived_moves: set[int] = field(default_factory=set)
    attachments: dict[int, Attachment] = field(default_factory=dict)
    attachment_content: dict[int, bytes] = field(default_factory=dict)  # attachment id -> its bytes (the "BLOB")


def is_listed(p: Product, query: ProductQuery) -> bool:
    """Whether the product list (and the stock list) shows this product for the query."""
    needle = query.needle
    return (
        (query.deleted is None or (p.deleted_at is not None) == query.deleted)
        and (query.include_inactive or p.active)
        and (not query.category_ids or p.category_id in query.category_ids)
        and (not needle or needle in fold_case(p.name) or needle in fold_case(p.sku))
    )


class Undo:
    """The inverse operations of one transaction, newest last."""

    def __init__(self) -> None:
        self.ops: list[Callable[[], None]] = []

    def set_item(self, mapping: dict[Any, Any], key: Any, value: Any) -> None:
        if key in mapping:
            old = mapping[key]
            self.ops.append(lambda: mapping.__setitem__(key, old))
        else:
            self.ops.append(lambda: mapping.pop(key, None))
        mapping[key] = value

    def del_item(self, mapping: dict[Any, Any], key: Any) -> None:
        old = mapping.pop(key)
        self.ops.append(lambda: mapping.__setitem__(key, old))

    def append(self, items: list[Any], value: Any) -> None:
        items.append(value)
        self.ops.append(items.pop)

    def mark(self) -> int:
        return len(self.ops)

    def undo_to(self, mark: int) -> None:
        while len(self.ops) > mark:
            self.ops.pop()()


class Repo:
    def __init__(self, store: MemoryStore, data: TenantData):
        self._store = store
        self._data = data

    @property
    def _undo(self) -> Undo:
        assert self._store._undo is not None
        return self._store._undo


