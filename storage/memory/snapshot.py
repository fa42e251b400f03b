"""In-memory save/load of a tenant's whole books (the SnapshotRepository port), plus `renumber`, the
id shift every adapter applies to a snapshot before writing it (pure Python, no driver: the SQLite
adapter imports it from here).

A replace swaps each of the tenant's dicts for a freshly built one and records the swap back in the
undo log: a rollback puts every old dict (and every index over it) back at once.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass, replace
from operator import attrgetter
from typing import Any, NamedTuple

from domain.errors import Corrupt
from domain.model import Category, Product
from domain.model.bank import Account, Transfer
from domain.model.snapshot import ProductPlan, TenantSnapshot
from domain.model.stock import GameState, Location, StockLevel, StockMove
from domain.model.users import User
from storage.memory.base import Repo

# The kinds of row whose ids a load renumbers (the memory store's id counters use the same names).
KINDS = ("category", "product", "account", "transfer", "location", "move")
ENTITIES: dict[str, Any] = {"category": Category, "product": Product, "account": Account, "transfer": Transfer,
                            "location": Location, "move": StockMove, "level": StockLevel, "plan": ProductPlan}
_GONE_OK = "product?"  # a product that may have been purged: its stock moves outlive it
# Per kind, the fields that name another row, and that row's kind.
REFERENCES: dict[str, dict[str, str]] = {
    "category": {"parent_id": "category"},
    "product": {"category_id": "category"},
    "account": {},
    "transfer": {"debit_account_id": "account", "credit_account_id": "account", "pending_id": "transfer",
                 "reverses_id": "transfer"},
    "location": {},
    "move": {"product_id": _GONE_OK, "from_location_id": "location", "to_location_id": "location",
             "pending_id": "move", "transfer_id": "transfer", "reverses_id": "move"},
    "level": {"product_id": "product", "location_id": "location"},
    "plan": {"product_id": "product"},
}
_GAME = "state"  # the key storage/memory/stock.py keeps the game state under


def field_names(kind: str) -> tuple[str, ...]:
    """The fields of a kind's entity in order (SQL stores name their columns alike)."""
    cls = ENTITIES[kind]
    return tuple(f.name for f in fields(cls)) if is_dataclass(cls) else cls._fields


class Renumbered(NamedTuple):
    """A snapshot's rows as lists of field values (in `field_names` order) with new ids, per kind
    (levels and plans too), the new ids of the archived rows, and the highest new id of each kind (0 when
    none), which the store's id counter must reach so it never hands those ids out again."""

    rows: dict[str, list[list[Any]]]
    archived_transfer_ids: frozenset[int]
    archived_move_ids: frozenset[int]
    top: dict[str, int]


def renumber(snapshot: TenantSnapshot, next_free: dict[str, int]) -> Renumbered:
    """Shift each kind's ids so its lowest becomes `next_free[kind]`, keeping their order, gaps and every
    reference. Plain value lists, not entities: a SQL store inserts them as they are.

    A stock move may name a purged product (its history outlives the row): that id is shifted like the
    others, never refused. Any other reference to an id the snapshot lacks is refused.

    Raises: Corrupt (an id repeated within a kind, or a reference to a row not in the snapshot).
    """
    s = snapshot
    rows_of = {"category": s.categories, "product": s.products, "account": s.accounts, "transfer": s.transfers,
               "location": s.locations, "move": s.moves, "level": s.levels, "plan": s.plans}
    known: dict[str, set[int]] = {}
    shift: dict[str, int] = {}
    top: dict[str, int] = {}
    for kind in KINDS:
        ids = [r.id for r in rows_of[kind]]
        known[kind] = set(ids)
        if len(known[kind]) != len(ids):
            raise Corrupt(f"the snapshot repeats a {kind} id")
        named = [*ids, *(m.product_id for m in s.moves)] if kind == "product" else ids
        shift[kind] = next_free[kind] - min(named) if named else 0
        top[kind] = max(named) + shift[kind] if named else 0
    shift[_GONE_OK] = shift["product"]

    def archived(kind: str, ids: frozenset[int]) -> frozenset[int]:
        if not ids <= known[kind]:
            raise Corrupt(f"the snapshot archives {kind} {min(ids - known[kind])}, which is not in the snapshot")
        return frozenset(i + shift[kind] for i in ids)

    rows: dict[str, list[list[Any]]] = {}
    for kind, entities in rows_of.items():
        names = field_names(kind)
        get = attrgetter(*names)
        patches = [(names.index(name), target) for name, target in REFERENCES[kind].items()]
        renamed = []
        for entity in entities:
            values = list(get(entity))
            if kind in shift:
                values[0] += shift[kind]
            for i, target in patches:
                old = values[i]
                if old is None:
                    continue
                if target != _GONE_OK and old not in known[target]:
                    raise Corrupt(f"{_describe(kind, entity)} names {target} {old}, which is not in the snapshot")
                values[i] = old + shift[target]
            renamed.append(values)
        rows[kind] = renamed
    return Renumbered(
        rows,
        archived("transfer", frozenset(s.archived_transfer_ids)),
        archived("move", frozenset(s.archived_move_ids)),
        top,
    )


def _describe(kind: str, row: Any) -> str:
    """A row as a Corrupt message names it."""
    if kind == "level":
        return f"the level of product {row.product_id} at location {row.location_id}"
    if kind == "plan":
        return f"the plan of product {row.product_id}"
    return f"{'stock move' if kind == 'move' else kind} {row.id}"


class MemorySnapshot(Repo):
    """The tenant's books as one TenantSnapshot, and a replace that an undo puts back whole."""

    def dump(self) -> TenantSnapshot:
        """Copies of every row in id order (archived ones stay in the dicts, marked in the archived sets)."""
        d = self._data
        products = tuple(sorted(d.products.values(), key=lambda p: p.id))
        return TenantSnapshot(
            categories=tuple(sorted(d.categories.values(), key=lambda c: c.id)),
            products=products,
            plans=tuple(ProductPlan(p.id, *d.planning.get(p.id, (0, 0))) for p in products),
            accounts=tuple(sorted(d.accounts.values(), key=lambda a: a.id)),
            transfers=tuple(sorted(d.transfers.values(), key=lambda t: t.id)),
            archived_transfer_ids=frozenset(d.archived_transfers),
            locations=tuple(sorted(d.locations.values(), key=lambda loc: loc.id)),
            levels=tuple(sorted(d.levels.values())),
            moves=tuple(sorted(d.moves.values(), key=lambda m: m.id)),
            archived_move_ids=frozenset(d.archived_moves),
            game=d.game.get(_GAME, GameState()),
            users=tuple(sorted(d.users.values(), key=lambda u: u.id)),
        )

    def replace(self, snapshot: TenantSnapshot) -> None:
        """Renumber past the store's id counters, then swap in new dicts and indexes built from the
        snapshot; attachments follow their product's SKU; users merge by name; the audit log stays.

        Raises: Corrupt (a reference to a row not in the snapshot, before anything is written).
        """
        store, d = self._store, self._data
        new = renumber(snapshot, {kind: store._ids[kind] + 1 for kind in KINDS})
        rows = new.rows
        products = {v[0]: Product(*v) for v in rows["product"]}
        transfers = {v[0]: Transfer(*v) for v in rows["transfer"]}
        moves = {v[0]: StockMove(*v) for v in rows["move"]}
        by_sku = {p.sku: p.id for p in products.values()}
        attachments = {}
        for a in d.attachments.values():
            owner = d.products.get(a.product_id)
            if owner is not None and owner.sku in by_sku:
                attachments[a.id] = replace(a, product_id=by_sku[owner.sku])
        tables = {
            "categories": {v[0]: Category(*v) for v in rows["category"]},
            "products": products,
            "sku_index": by_sku,
            "planning": {product_id: (cost, reorder) for product_id, cost, reorder in rows["plan"]},
            "accounts": {v[0]: Account(*v) for v in rows["account"]},
            "transfers": transfers,
            "transfer_keys": {t.idempotency_key: t.id for t in transfers.values()},
            "resolutions": {t.pending_id: t.id for t in transfers.values() if t.pending_id is not None},
            "archived_transfers": set(new.archived_transfer_ids),
            "locations": {v[0]: Location(*v) for v in rows["location"]},
            "levels": {(v[0], v[1]): StockLevel(*v) for v in rows["level"]},
            "moves": moves,
            "move_keys": {m.idempotency_key: m.id for m in moves.values() if m.idempotency_key is not None},
            "move_resolutions": {m.pending_id: m.id for m in moves.values() if m.pending_id is not None},
            "archived_moves": set(new.archived_move_ids),
            "attachments": attachments,
            "attachment_content": {i: d.attachment_content[i] for i in attachments if i in d.attachment_content},
        }
        for name, value in tables.items():
            self._swap(name, value)
        for kind in KINDS:
            if new.top[kind] > store._ids[kind]:
                self._undo.set_item(store._ids, kind, new.top[kind])
        for user in sorted(snapshot.users, key=lambda u: u.id):
            if user.name not in d.users:
                self._undo.set_item(d.users, user.name, User(store._next_id("user"), user.name, user.created_at))
        stored = d.game.get(_GAME, GameState())
        self._undo.set_item(d.game, _GAME, replace(snapshot.game, version=stored.version + 1))

    def _swap(self, name: str, value: object) -> None:
        """Put a new dict (or set) in place of one of the tenant's; the undo log puts the old one back."""
        d = self._data
        old = getattr(d, name)
        self._undo.ops.append(lambda: setattr(d, name, old))
        setattr(d, name, value)
