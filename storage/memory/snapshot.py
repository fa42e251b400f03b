"""In-memory save/load of a tenant's whole books (the SnapshotRepository port); ids are shifted by
storage/renumbering.py, as in every adapter.

A replace swaps each of the tenant's dicts for a freshly built one and records the swap back in the
undo log: a rollback puts every old dict (and every index over it) back at once.
"""

from __future__ import annotations

from dataclasses import replace

from domain.model import Category, Product
from domain.model.bank import Account, Transfer
from domain.model.snapshot import ProductPlan, TenantSnapshot
from domain.model.stock import GameState, Location, StockLevel, StockMove
from domain.model.users import User
from storage.memory.base import Repo
from storage.renumbering import KINDS, renumber

_GAME = "state"  # the key storage/memory/stock.py keeps the game state under


class MemorySnapshot(Repo):
    """The tenant's books as one TenantSnapshot, and a replace that an undo puts back whole."""

    def counts(self) -> dict[str, int]:
        """As TenantSnapshot.counts() names them (archived rows stay in the dicts)."""
        d = self._data
        return {"categories": len(d.categories), "products": len(d.products), "accounts": len(d.accounts),
                "transfers": len(d.transfers), "locations": len(d.locations), "stock_moves": len(d.moves)}

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
