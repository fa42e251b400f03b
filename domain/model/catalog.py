"""Catalog entities: categories (a tree) and products."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

_ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold_case(text: str) -> str:
    """Lower-case ASCII letters only, exactly like SQL lower() in SQLite, so that keyset
    cursors and filters agree between Python and every store."""
    return text.translate(_ASCII_FOLD)


@dataclass(frozen=True, slots=True)
class Category:
    id: int
    name: str
    parent_id: int | None = None
    version: int = 1


class NewProduct(NamedTuple):
    """A validated product that has no id yet (a NamedTuple: bulk imports build millions)."""

    sku: str
    name: str
    category_id: int | None
    price_minor: int
    quantity: int = 0
    active: bool = True


@dataclass(frozen=True, slots=True)
class Product:
    id: int
    sku: str
    name: str
    category_id: int | None
    price_minor: int
    quantity: int
    active: bool
    version: int
    deleted_at: str | None = None  # soft-deleted: hidden from lists, restorable, kept for history

    @property
    def value_minor(self) -> int:
        return self.price_minor * self.quantity


class ProductListing(NamedTuple):
    """One row of the product list, with the category name joined in (built straight from SQL rows)."""

    id: int
    sku: str
    name: str
    category: str | None
    price_minor: int
    quantity: int
    value_minor: int
    active: bool
    version: int


class ProductCursor(NamedTuple):
    """Keyset position after the last row of a page: (lower(name), id)."""

    name_key: str
    id: int

    @classmethod
    def after(cls, row: ProductListing) -> ProductCursor:
        return cls(fold_case(row.name), row.id)


@dataclass(frozen=True, slots=True)
class ProductQuery:
    """What the product list shows: a text filter, a category subtree, active only or all; `deleted`
    True shows the soft-deleted products (and only them) instead, None shows both (for `check`)."""

    text: str = ""
    category_ids: tuple[int, ...] = field(default=())
    include_inactive: bool = False
    deleted: bool | None = False

    @property
    def needle(self) -> str:
        return fold_case(self.text.strip())


class CategoryValue(NamedTuple):
    """Stock value of one category's active products (None = uncategorised)."""

    category_id: int | None
    category: str | None
    products: int
    quantity: int
    value_minor: int


def subtree_ids(categories: list[Category], root_id: int) -> tuple[int, ...]:
    """The category and all its descendants (filtering by a branch of the tree)."""
    children: dict[int | None, list[int]] = {}
    for c in categories:
        children.setdefault(c.parent_id, []).append(c.id)
    found: set[int] = set()
    stack = [root_id]
    while stack:
        current = stack.pop()
        if current not in found:
            found.add(current)
            stack.extend(children.get(current, ()))
    return tuple(sorted(found))
