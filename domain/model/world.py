"""The game state in memory as an object graph: what a save holds and what a load rebuilds.

The catalog is a graph with cycles: a category knows its parent and its children, a product knows
its category and the category lists its products. Save files cannot hold object references, so
`GameWorld.to_snapshot()` flattens the graph to rows that name each other by id, and
`GameWorld.from_snapshot()` links the rows back into objects: every reference to the same row is
the same object again (identity preserved, no infinite recursion either way).
The ledgers (accounts, transfers, stock) are already flat, append-only rows and stay domain rows.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field

from domain.model.bank import Account, Transfer
from domain.model.catalog import Category, Product, fold_case
from domain.model.snapshot import ProductPlan, TenantSnapshot
from domain.model.stock import GameState, Location, StockLevel, StockMove
from domain.model.users import User

REDACTED = "<redacted>"  # what a save file holds in place of a secret that was set


class CategoryNode:
    """A category in the tree: `parent`, `children` and `products` are the objects themselves."""

    __slots__ = ("id", "name", "version", "parent", "children", "products")

    def __init__(self, id: int, name: str, version: int = 1, parent: CategoryNode | None = None):
        self.id, self.name, self.version = id, name, version
        self.parent: CategoryNode | None = None
        self.children: list[CategoryNode] = []
        self.products: list[ProductNode] = []
        if parent is not None:
            self.attach_to(parent)

    def attach_to(self, parent: CategoryNode) -> None:
        self.parent = parent
        parent.children.append(self)

    def path(self) -> str:
        """`Tools / Hand tools`: the names from the root down (walks up, so cycles in `children` are never followed)."""
        names, node = [], self
        while node is not None:
            names.append(node.name)
            node = node.parent
        return " / ".join(reversed(names))

    def __repr__(self) -> str:  # the default would recurse into children and products
        return f"CategoryNode({self.id}, {self.name!r})"


class ProductNode:
    """A product with its plan; `category` is the CategoryNode object (which lists this product back)."""

    __slots__ = ("id", "sku", "name", "price_minor", "quantity", "active", "version", "deleted_at",
                 "cost_minor", "reorder_level", "category")

    def __init__(self, product: Product, plan: ProductPlan | None, category: CategoryNode | None):
        self.id, self.sku, self.name = product.id, product.sku, product.name
        self.price_minor, self.quantity, self.active = product.price_minor, product.quantity, product.active
        self.version, self.deleted_at = product.version, product.deleted_at
        self.cost_minor = plan.cost_minor if plan else 0
        self.reorder_level = plan.reorder_level if plan else 0
        self.category = category
        if category is not None:
            category.products.append(self)

    def row(self) -> Product:
        return Product(self.id, self.sku, self.name, self.category.id if self.category else None,
                       self.price_minor, self.quantity, self.active, self.version, self.deleted_at)

    def plan(self) -> ProductPlan:
        return ProductPlan(self.id, self.cost_minor, self.reorder_level)

    def __repr__(self) -> str:
        return f"ProductNode({self.id}, {self.sku!r})"


class SkuIndex(MutableMapping[str, ProductNode]):
    """The products by SKU, case-insensitively (as the stores compare SKUs), in insertion order.

    A custom collection: it round-trips through every save format as a list and is rebuilt as a SkuIndex.
    """

    def __init__(self, products: list[ProductNode] | None = None):
        self._by_key: dict[str, ProductNode] = {}
        for p in products or ():
            self.add(p)

    def add(self, product: ProductNode) -> None:
        self[product.sku] = product

    def __getitem__(self, sku: str) -> ProductNode:
        return self._by_key[fold_case(sku)]

    def __setitem__(self, sku: str, product: ProductNode) -> None:
        if fold_case(sku) != fold_case(product.sku):
            raise KeyError(f"{sku!r} is not the SKU of {product!r}")
        self._by_key[fold_case(sku)] = product

    def __delitem__(self, sku: str) -> None:
        del self._by_key[fold_case(sku)]

    def __iter__(self) -> Iterator[str]:
        return (p.sku for p in self._by_key.values())

    def __len__(self) -> int:
        return len(self._by_key)

    def nodes(self) -> list[ProductNode]:
        return list(self._by_key.values())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SkuIndex):
            return NotImplemented
        return [p.row() for p in self.nodes()] == [p.row() for p in other.nodes()]

    def __repr__(self) -> str:
        return f"SkuIndex({len(self)} products)"


@dataclass
class UserNode:
    """An actor. `pin` and `api_token` are secrets: no save file ever holds them."""

    name: str
    created_at: str | None
    pin: str | None = field(default=None, repr=False)
    api_token: str | None = field(default=None, repr=False)

    SECRETS = ("pin", "api_token")


@dataclass
class GameWorld:
    """A tenant's whole game: the catalog graph, the ledgers, the game clock and random generator."""

    game: GameState = field(default_factory=GameState)
    categories: list[CategoryNode] = field(default_factory=list)  # every category, in id order
    products: SkuIndex = field(default_factory=SkuIndex)
    accounts: list[Account] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)
    archived_transfer_ids: set[int] = field(default_factory=set)
    locations: list[Location] = field(default_factory=list)
    levels: list[StockLevel] = field(default_factory=list)
    moves: list[StockMove] = field(default_factory=list)
    archived_move_ids: set[int] = field(default_factory=set)
    users: list[UserNode] = field(default_factory=list)

    @property
    def day(self) -> int:
        return self.game.day

    def roots(self) -> list[CategoryNode]:
        return [c for c in self.categories if c.parent is None]

    def category(self, name: str) -> CategoryNode:
        """Raises: KeyError."""
        key = fold_case(name)
        for c in self.categories:
            if fold_case(c.name) == key:
                return c
        raise KeyError(name)

    def counts(self) -> dict[str, int]:
        return self.to_snapshot().counts()

    def balances(self) -> dict[str, int]:
        """Posted balance per account name (for comparing two states by what a person sees)."""
        return {a.name: a.balance for a in self.accounts}

    def stock(self) -> dict[str, int]:
        """Total on hand per SKU."""
        return {p.sku: p.quantity for p in self.products.nodes()}

    @classmethod
    def from_snapshot(cls, snap: TenantSnapshot) -> GameWorld:
        """Link flat rows into the graph. Raises: KeyError naming a reference to a row that is not there."""
        categories: dict[int, CategoryNode] = {c.id: CategoryNode(c.id, c.name, c.version) for c in snap.categories}
        for c in snap.categories:
            if c.parent_id is not None:
                parent = categories.get(c.parent_id)
                if parent is None:
                    raise KeyError(f"category {c.id} names parent {c.parent_id}, which is not in the save")
                categories[c.id].attach_to(parent)
        _refuse_category_cycles(categories)
        plans = {p.product_id: p for p in snap.plans}
        products = SkuIndex()
        for p in snap.products:
            category = None
            if p.category_id is not None:
                category = categories.get(p.category_id)
                if category is None:
                    raise KeyError(f"product {p.sku} names category {p.category_id}, which is not in the save")
            products.add(ProductNode(p, plans.get(p.id), category))
        return cls(
            game=snap.game,
            categories=list(categories.values()),
            products=products,
            accounts=list(snap.accounts),
            transfers=list(snap.transfers),
            archived_transfer_ids=set(snap.archived_transfer_ids),
            locations=list(snap.locations),
            levels=list(snap.levels),
            moves=list(snap.moves),
            archived_move_ids=set(snap.archived_move_ids),
            users=[UserNode(u.name, u.created_at) for u in snap.users],
        )

    def to_snapshot(self) -> TenantSnapshot:
        """Flatten the graph to rows that name each other by id (no secrets: users keep name and date only)."""
        nodes = self.products.nodes()
        return TenantSnapshot(
            categories=tuple(Category(c.id, c.name, c.parent.id if c.parent else None, c.version)
                             for c in self.categories),
            products=tuple(p.row() for p in nodes),
            plans=tuple(p.plan() for p in nodes),
            accounts=tuple(self.accounts),
            transfers=tuple(self.transfers),
            archived_transfer_ids=frozenset(self.archived_transfer_ids),
            locations=tuple(self.locations),
            levels=tuple(self.levels),
            moves=tuple(self.moves),
            archived_move_ids=frozenset(self.archived_move_ids),
            game=self.game,
            users=tuple(User(0, u.name, u.created_at) for u in self.users),
        )


def _refuse_category_cycles(categories: dict[int, CategoryNode]) -> None:
    """A parent chain that loops back (1 → 2 → 1) would make every walk up the tree endless."""
    for start in categories.values():
        seen, node = set(), start
        while node is not None:
            if node.id in seen:
                raise KeyError(f"category {start.id}'s parents loop back to category {node.id}")
            seen.add(node.id)
            node = node.parent
