"""Renumbering a snapshot's ids before a load writes it: each kind shifted past every id the store
ever gave out, every reference between rows mapped the same way. Pure Python: every adapter uses it."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from operator import attrgetter
from typing import Any, NamedTuple

from domain.errors import Corrupt
from domain.model import Category, Product
from domain.model.bank import Account, Transfer
from domain.model.snapshot import ProductPlan, TenantSnapshot
from domain.model.stock import Location, StockLevel, StockMove

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
