"""The one logical schema of a save, for every codec: Pydantic models per format version, the
upgraders that bring an older file to the current version, and the mapping to and from GameWorld.

Format history:
- v1: products carry `price` (minor units); no plan per product; no users.
- v2: `price` renamed `price_minor`; new per-product `cost_minor` and `reorder_level` (a v1 file's
  products get cost = price and no reorder level, as schema migration 0004 did); new `users`.
A file is validated against the model of its own version, then upgraded one step at a time, then
validated again as the current version: an upgrader never sees unchecked data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError as PydanticError, model_validator

from domain.errors import Corrupt, UnsupportedVersion
from domain.model.bank import ACCOUNT_KINDS, CLOSED, EXPIRE, FROZEN, OPEN, PENDING, POST, POSTED, VOID, Account, Transfer
from domain.model.catalog import Category, Product, fold_case
from domain.model.snapshot import ProductPlan, TenantSnapshot
from domain.model.stock import (
    CANCELLED,
    LOCATION_KINDS,
    PENDING as MOVE_PENDING,
    POSTED as MOVE_POSTED,
    REASONS,
    RECEIVED,
    GameState,
    Location,
    StockLevel,
    StockMove,
)
from domain.model.users import User
from domain.model.world import REDACTED, GameWorld, UserNode

CURRENT_VERSION = 2

Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
Count = Annotated[int, Field(ge=0, le=2**63 - 1)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(max_length=2000)]
When = Annotated[str, Field(min_length=1, max_length=40)]
Secret = Literal["<redacted>"] | None  # the marker, never the value: REDACTED


class _Row(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class CategoryRow(_Row):
    id: Id
    name: Name
    parent: Id | None = None
    version: Count = 1


class _ProductFields(_Row):
    """What a product row has in every format version."""

    id: Id
    sku: Name
    name: Name
    category: Id | None = None
    quantity: Count
    active: bool = True
    version: Count = 1
    deleted_at: When | None = None


class ProductRowV1(_ProductFields):
    price: Count


class ProductRow(_ProductFields):
    price_minor: Count
    cost_minor: Count = 0
    reorder_level: Count = 0


class AccountRow(_Row):
    id: Id
    name: Name
    kind: Literal[ACCOUNT_KINDS]  # type: ignore[valid-type]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    debits_posted: Count
    credits_posted: Count
    debits_pending: Count
    credits_pending: Count
    overdraft_limit: Count = 0
    status: Literal[OPEN, FROZEN, CLOSED] = OPEN  # type: ignore[valid-type]
    version: Count = 1
    deleted_at: When | None = None


class TransferRow(_Row):
    id: Id
    kind: Literal[POSTED, PENDING, POST, VOID, EXPIRE]  # type: ignore[valid-type]
    debit_account: Id
    credit_account: Id
    amount_minor: Annotated[int, Field(ge=1, le=2**63 - 1)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    pending_id: Id | None = None
    expires_at: When | None = None
    memo: Text = ""
    idempotency_key: Text
    actor: Name
    created_at: When
    debit_balance_after: Int64
    credit_balance_after: Int64
    reverses_id: Id | None = None
    archived: bool = False


class LocationRow(_Row):
    id: Id
    name: Name
    kind: Literal[LOCATION_KINDS]  # type: ignore[valid-type]
    version: Count = 1


class LevelRow(_Row):
    product: Id
    location: Id
    on_hand: Count
    incoming: Count = 0
    outgoing: Count = 0


class MoveRow(_Row):
    id: Id
    kind: Literal[MOVE_POSTED, MOVE_PENDING, RECEIVED, CANCELLED]  # type: ignore[valid-type]
    reason: Literal[REASONS]  # type: ignore[valid-type]
    product: Id
    from_location: Id
    to_location: Id
    quantity: Annotated[int, Field(ge=1, le=2**63 - 1)]
    pending_id: Id | None = None
    transfer_id: Id | None = None
    due_day: Count | None = None
    day: Count
    memo: Text = ""
    idempotency_key: Text | None = None
    actor: Name
    created_at: When
    from_after: Int64 | None = None
    to_after: Int64 | None = None
    reverses_id: Id | None = None
    archived: bool = False


class RandomState(_Row):
    """random.Random.getstate() as data: version 3, 625 words (the last one a position), no gauss value."""

    version: Literal[3]
    internal: Annotated[list[Annotated[int, Field(ge=0, le=2**32 - 1)]], Field(min_length=625, max_length=625)]
    gauss: None = None

    @model_validator(mode="after")
    def _position(self) -> RandomState:
        if self.internal[-1] > 624:
            raise ValueError("the generator's position (last word) must be at most 624")
        return self


class GameRow(_Row):
    day: Count = 0
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 1
    rng: RandomState | None = None


class UserRow(_Row):
    name: Name
    created_at: When | None = None
    pin: Secret = None
    api_token: Secret = None


class _Save(_Row):
    tenant: Name
    saved_by: Name
    source: Text = ""
    game: GameRow = GameRow()
    categories: list[CategoryRow] = []
    accounts: list[AccountRow] = []
    transfers: list[TransferRow] = []
    locations: list[LocationRow] = []
    levels: list[LevelRow] = []
    moves: list[MoveRow] = []

    @model_validator(mode="after")
    def _references(self) -> _Save:
        """Every id a row names must be a row of the save: a load never writes a dangling reference."""
        categories = _unique("category", [c.id for c in self.categories])
        products = _unique("product", [p.id for p in self.products])  # type: ignore[attr-defined]
        accounts = _unique("account", [a.id for a in self.accounts])
        transfers = _unique("transfer", [t.id for t in self.transfers])
        locations = _unique("location", [x.id for x in self.locations])
        moves = _unique("stock move", [m.id for m in self.moves])
        _unique("SKU", [fold_case(p.sku) for p in self.products])  # type: ignore[attr-defined]
        _unique("account name", [fold_case(a.name) for a in self.accounts])
        _unique("category name", [fold_case(c.name) for c in self.categories])
        _unique("location name", [fold_case(x.name) for x in self.locations])
        for c in self.categories:
            _known(c.parent, categories, f"category {c.id} parent")
        for p in self.products:  # type: ignore[attr-defined]
            _known(p.category, categories, f"product {p.sku} category")
        for t in self.transfers:
            _known(t.debit_account, accounts, f"transfer {t.id} debit account")
            _known(t.credit_account, accounts, f"transfer {t.id} credit account")
            _known(t.pending_id, transfers, f"transfer {t.id} pending_id")
            _known(t.reverses_id, transfers, f"transfer {t.id} reverses_id")
        for lv in self.levels:
            _known(lv.product, products, "stock level product")
            _known(lv.location, locations, "stock level location")
        for m in self.moves:
            _known(m.product, products, f"stock move {m.id} product")
            _known(m.from_location, locations, f"stock move {m.id} from_location")
            _known(m.to_location, locations, f"stock move {m.id} to_location")
            _known(m.pending_id, moves, f"stock move {m.id} pending_id")
            _known(m.transfer_id, transfers, f"stock move {m.id} transfer_id")
            _known(m.reverses_id, moves, f"stock move {m.id} reverses_id")
        return self


class SaveV1(_Save):
    products: list[ProductRowV1] = []


class SaveV2(_Save):
    products: list[ProductRow] = []
    users: list[UserRow] = []


MODELS: dict[int, type[_Save]] = {1: SaveV1, 2: SaveV2}


def _unique(what: str, values: list) -> set:
    seen: set = set()
    for v in values:
        if v in seen:
            raise ValueError(f"{what} {v!r} appears twice")
        seen.add(v)
    return seen


def _known(ref: int | None, ids: set, what: str) -> None:
    if ref is not None and ref not in ids:
        raise ValueError(f"{what} names {ref}, which is not in the save")


# -- upgraders: plain data of version N in, plain data of version N+1 out -------------------------


def _v1_to_v2(doc: dict[str, Any]) -> dict[str, Any]:
    products = []
    for p in doc["products"]:
        row = {k: v for k, v in p.items() if k != "price"}
        row.update(price_minor=p["price"], cost_minor=p["price"], reorder_level=0)
        products.append(row)
    return {**doc, "products": products, "users": []}


UPGRADERS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def validate(payload: dict[str, Any], version: int) -> SaveV2:
    """Check a decoded payload against its version's model and upgrade it to the current one.

    Raises: UnsupportedVersion (newer than this stockbank, or unknown), Corrupt (does not fit the schema).
    """
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise Corrupt(f"format version {version!r} is not a version this file format ever had")
    if version > CURRENT_VERSION:
        raise UnsupportedVersion(
            f"the save is format version {version}, newer than this stockbank reads (up to {CURRENT_VERSION}); "
            "upgrade stockbank to load it"
        )
    doc = _checked(MODELS[version], payload, version).model_dump()
    while version < CURRENT_VERSION:
        doc = UPGRADERS[version](doc)
        version += 1
    return _checked(SaveV2, doc, version)  # type: ignore[return-value]


def _checked(model: type[_Save], payload: dict[str, Any], version: int) -> _Save:
    try:
        return model.model_validate(payload)
    except PydanticError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the save"
        raise Corrupt(f"the save does not fit format version {version}: {where}: {first['msg']} "
                      f"({e.error_count()} problem(s))") from e


# -- GameWorld <-> plain data ----------------------------------------------------------------------


def document(world: GameWorld, *, tenant: str, saved_by: str, source: str) -> dict[str, Any]:
    """The world as plain data of the current version: references by id, secrets replaced by a marker."""
    snap = world.to_snapshot()
    plans = {p.product_id: p for p in snap.plans}
    archived_t, archived_m = snap.archived_transfer_ids, snap.archived_move_ids
    return {
        "tenant": tenant,
        "saved_by": saved_by,
        "source": source,
        "game": {"day": snap.game.day, "seed": snap.game.seed, "rng": _rng_data(snap.game.rng_state)},
        "categories": [{"id": c.id, "name": c.name, "parent": c.parent_id, "version": c.version} for c in snap.categories],
        "products": [
            {"id": p.id, "sku": p.sku, "name": p.name, "category": p.category_id, "price_minor": p.price_minor,
             "quantity": p.quantity, "active": p.active, "version": p.version, "deleted_at": p.deleted_at,
             "cost_minor": plans[p.id].cost_minor, "reorder_level": plans[p.id].reorder_level}
            for p in snap.products
        ],
        "accounts": [
            {"id": a.id, "name": a.name, "kind": a.kind, "currency": a.currency, "debits_posted": a.debits_posted,
             "credits_posted": a.credits_posted, "debits_pending": a.debits_pending,
             "credits_pending": a.credits_pending, "overdraft_limit": a.overdraft_limit, "status": a.status,
             "version": a.version, "deleted_at": a.deleted_at}
            for a in snap.accounts
        ],
        "transfers": [
            {"id": t.id, "kind": t.kind, "debit_account": t.debit_account_id, "credit_account": t.credit_account_id,
             "amount_minor": t.amount_minor, "currency": t.currency, "pending_id": t.pending_id,
             "expires_at": t.expires_at, "memo": t.memo, "idempotency_key": t.idempotency_key, "actor": t.actor,
             "created_at": t.created_at, "debit_balance_after": t.debit_balance_after,
             "credit_balance_after": t.credit_balance_after, "reverses_id": t.reverses_id,
             "archived": t.id in archived_t}
            for t in snap.transfers
        ],
        "locations": [{"id": x.id, "name": x.name, "kind": x.kind, "version": x.version} for x in snap.locations],
        "levels": [{"product": lv.product_id, "location": lv.location_id, "on_hand": lv.on_hand,
                    "incoming": lv.incoming, "outgoing": lv.outgoing} for lv in snap.levels],
        "moves": [
            {"id": m.id, "kind": m.kind, "reason": m.reason, "product": m.product_id,
             "from_location": m.from_location_id, "to_location": m.to_location_id, "quantity": m.quantity,
             "pending_id": m.pending_id, "transfer_id": m.transfer_id, "due_day": m.due_day, "day": m.day,
             "memo": m.memo, "idempotency_key": m.idempotency_key, "actor": m.actor, "created_at": m.created_at,
             "from_after": m.from_after, "to_after": m.to_after, "reverses_id": m.reverses_id,
             "archived": m.id in archived_m}
            for m in snap.moves
        ],
        "users": [{"name": u.name, "created_at": u.created_at,
                   **{s: (REDACTED if getattr(u, s) else None) for s in UserNode.SECRETS}} for u in world.users],
    }


def world_from(save: SaveV2) -> GameWorld:
    """Rebuild the object graph from a validated save (identity restored by id)."""
    snap = TenantSnapshot(
        categories=tuple(Category(c.id, c.name, c.parent, c.version) for c in save.categories),
        products=tuple(Product(p.id, p.sku, p.name, p.category, p.price_minor, p.quantity, p.active, p.version,
                               p.deleted_at) for p in save.products),
        plans=tuple(ProductPlan(p.id, p.cost_minor, p.reorder_level) for p in save.products),
        accounts=tuple(Account(a.id, a.name, a.kind, a.currency, a.debits_posted, a.credits_posted,
                               a.debits_pending, a.credits_pending, a.overdraft_limit, a.status, a.version,
                               a.deleted_at) for a in save.accounts),
        transfers=tuple(Transfer(t.id, t.kind, t.debit_account, t.credit_account, t.amount_minor, t.currency,
                                 t.pending_id, t.expires_at, t.memo, t.idempotency_key, t.actor, t.created_at,
                                 t.debit_balance_after, t.credit_balance_after, t.reverses_id)
                        for t in save.transfers),
        archived_transfer_ids=frozenset(t.id for t in save.transfers if t.archived),
        locations=tuple(Location(x.id, x.name, x.kind, x.version) for x in save.locations),
        levels=tuple(StockLevel(lv.product, lv.location, lv.on_hand, lv.incoming, lv.outgoing) for lv in save.levels),
        moves=tuple(StockMove(m.id, m.kind, m.reason, m.product, m.from_location, m.to_location, m.quantity,
                              m.pending_id, m.transfer_id, m.due_day, m.day, m.memo, m.idempotency_key, m.actor,
                              m.created_at, m.from_after, m.to_after, m.reverses_id) for m in save.moves),
        archived_move_ids=frozenset(m.id for m in save.moves if m.archived),
        game=GameState(save.game.day, save.game.seed, _rng_text(save.game.rng)),
        users=tuple(User(0, u.name, u.created_at) for u in save.users),
    )
    try:
        return GameWorld.from_snapshot(snap)
    except KeyError as e:
        raise Corrupt(f"the save's catalog does not hold together: {e.args[0]}") from e


def _rng_data(state: str | None) -> dict[str, Any] | None:
    if state is None:
        return None
    version, internal, gauss = json.loads(state)
    return {"version": version, "internal": list(internal), "gauss": gauss}


def _rng_text(rng: RandomState | None) -> str | None:
    return None if rng is None else json.dumps([rng.version, list(rng.internal), rng.gauss])
