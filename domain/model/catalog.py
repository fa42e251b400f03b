"""Catalog entities: categories (a tree) and products."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, NamedTuple

from domain.errors import ValidationError

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


# The orders the product list can be sorted in: each sort key's value of a Product or a ProductListing
# (both have these attributes). Ties are broken by id, so every order is total and a keyset cursor is
# (key, id). The SQL stores walk an index for each: the name ones (ix_products_listed, migration 0007) and
# ix_products_by_<sort> (0008).
PRODUCT_SORTS: dict[str, Callable[[Any], str | int]] = {
    "name": lambda row: fold_case(row.name),  # lower(name) in SQL
    "sku": attrgetter("sku"),
    "price": attrgetter("price_minor"),
    "quantity": attrgetter("quantity"),
    "value": attrgetter("value_minor"),  # price x quantity
}


class ProductCursor(NamedTuple):
    """Keyset position after the last row of a page: the sort column's value (lower(name) for the name
    order, an int for price, quantity and value) and the id that breaks ties."""

    key: str | int
    id: int

    @property
    def name_key(self) -> str:
        """The key of a name-ordered cursor (the stock list is always in name order)."""
        return self.key  # type: ignore[return-value]

    @classmethod
    def after(cls, row: Any, sort: str = "name") -> ProductCursor:
        """The cursor just past `row` (a ProductListing or Product) in the `sort` order."""
        return cls(PRODUCT_SORTS[sort](row), row.id)


@dataclass(frozen=True, slots=True)
class ProductQuery:
    """What the product list shows: a text filter, a category subtree, active only or all; `deleted`
    True shows the soft-deleted products (and only them) instead, None shows both (for `check`).
    `sort` is one of PRODUCT_SORTS; `descending` reverses the whole order, ties (by id) included, so a
    descending list is an ascending one read from its end and walks the same index backwards.

    Raises: ValidationError (field `sort`) for a sort key that is not one of PRODUCT_SORTS, (field
    `descending`) for a descending that is not a bool.
    """

    text: str = ""
    category_ids: tuple[int, ...] = field(default=())
    include_inactive: bool = False
    deleted: bool | None = False
    sort: str = "name"
    descending: bool = False

    def __post_init__(self) -> None:
        if self.sort not in PRODUCT_SORTS:
            raise ValidationError(f"sort: must be one of {', '.join(PRODUCT_SORTS)}, not {self.sort!r}",
                                  field="sort")
        if not isinstance(self.descending, bool):
            raise ValidationError("descending: must be true or false", field="descending")

    @property
    def needle(self) -> str:
        return fold_case(self.text.strip())

    def sort_key(self, row: Any) -> tuple[str | int, int]:
        """(key, id) of a row in this query's ascending order (what the cursor compares)."""
        return PRODUCT_SORTS[self.sort](row), row.id

    def cursor_after(self, row: Any) -> ProductCursor:
        return ProductCursor.after(row, self.sort)

    def fits(self, cursor: ProductCursor) -> bool:
        """Whether the cursor's key is of this sort's type (a name cursor cannot position a price list)."""
        return isinstance(cursor.key, str) == (self.sort in ("name", "sku")) and not isinstance(cursor.key, bool)


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
