"""Inventory use cases: stock across locations kept as an append-only ledger of moves, and the
business transactions that change the stock and the bank ledgers together.

Like the bank: the service checks, and the repository's guarded update re-checks "never below
zero" in the statement that changes a level. A sale or purchase is one unit of work calling both
ledgers, so it happens whole or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, TYPE_CHECKING

from domain.errors import (
    DomainError,
    AlreadyCancelled,
    AlreadyReversed,
    AlreadyReceived,
    IdempotencyConflict,
    InsufficientStock,
    NotFound,
    NotPending,
    SameLocation,
    ValidationError,
)
from domain.model import MAX_ID, Product, ProductQuery, is_id
from domain.model.bank import Transfer
from domain.model.catalog import ProductCursor, fold_case
from domain.model.stock import (
    ADJUST,
    ADJUSTMENT,
    CANCELLED,
    CUSTOMER,
    INTERNAL,
    MOVE,
    PENDING,
    POSTED,
    PURCHASE,
    RECEIVE,
    RECEIVED,
    SCRAP,
    SCRAP_REASON,
    SELL,
    SUPPLIER,
    VIRTUAL_NAMES,
    Location,
    NewStockMove,
    StockLevel,
    StockMove,
    StockRow,
    Valuation,
)
from domain.money import MAX_MINOR, format_minor
from domain.services import validation
from domain.services.bank import BankService, undo_key, undo_reason
from domain.services.context import ServiceContext, product_by_ref, same_request
from domain.services.stock_sync import default_location, virtual_location

if TYPE_CHECKING:
    from domain.ports import UnitOfWork

ProductRef = int | str
LocationRef = int | str | None
MAX_MOVE = 10**9  # units in one move: far beyond a shop, keeps quantity x cost inside SQL integers
MAX_LEAD_DAYS = 365


class Sale(NamedTuple):
    """A sale: the stock that left and the payment that came in, written together."""

    move: StockMove
    transfer: Transfer


class Purchase(NamedTuple):
    """A purchase: the payment to the supplier and the (possibly pending) receipt, written together."""

    move: StockMove
    transfer: Transfer


@dataclass(frozen=True)
class _Request:
    quantity: int
    memo: str
    key: str | None
    unit_price: int | None = None
    lead_days: int = 0


def _request(quantity: Any, memo: Any = "", key: Any = None, *, unit_price: Any = None, lead_days: Any = 0,
             allow_zero: bool = False) -> _Request:
    if isinstance(quantity, str) and not quantity.strip():  # a blank is 0 in a CSV cell, never in a move or count
        raise ValidationError("quantity: give a whole number", field="quantity")
    v = validation()
    positive = "quantity: must be a whole number greater than zero"
    try:
        data = v.validate(
            v.StockInput,
            {"quantity": quantity, "memo": memo, "idempotency_key": key, "unit_price": unit_price, "lead_days": lead_days},
        )
    except ValidationError as e:
        if e.field == "quantity" and not allow_zero:
            raise ValidationError(positive, field="quantity") from None
        raise
    if data.quantity <= 0 and not allow_zero:
        raise ValidationError(positive, field="quantity")
    if data.quantity > MAX_MOVE:
        raise ValidationError(f"quantity: at most {MAX_MOVE:,} units in one move", field="quantity")
    if not 0 <= data.lead_days <= MAX_LEAD_DAYS:
        raise ValidationError(f"lead_days: between 0 and {MAX_LEAD_DAYS}", field="lead_days")
    return _Request(data.quantity, data.memo, data.idempotency_key, data.unit_price, data.lead_days)


class InventoryService:
    """Locations, stock levels and stock moves for one tenant, on behalf of one actor."""

    def __init__(self, ctx: ServiceContext, bank: BankService):
        self._ctx = ctx
        self._bank = bank

    # -- locations ---------------------------------------------------------------------------

    def add_location(self, name: str) -> Location:
        """Create an internal location (a shelf, a store room, a second shop).

        Raises: ValidationError (name, or a name reserved for a virtual location), AlreadyExists.
        """
        v = validation()
        data = v.validate(v.LocationInput, {"name": name})
        if fold_case(data.name) in {fold_case(n) for n in VIRTUAL_NAMES.values()}:
            raise ValidationError(f"name: {data.name!r} is reserved for a virtual location", field="name")
        with self._ctx.writing() as uow:
            location = uow.locations.add(data.name, INTERNAL)
            self._ctx.audit(uow, "location", location.id, "create", after=location)
        return location

    def locations(self, *, include_virtual: bool = False) -> list[Location]:
        """Internal locations in creation order (the first is the default), virtual ones after on request."""
        with self._ctx.reading() as uow:
            found = uow.locations.list()
        return [loc for loc in found if include_virtual or loc.internal]

    def default_location(self) -> Location:
        """Where receipts go and sales come from unless told otherwise (created on first use)."""
        with self._ctx.writing() as uow:
            return default_location(self._ctx, uow)

    # -- reads -------------------------------------------------------------------------------

    def stock(
        self, query: ProductQuery = ProductQuery(), after: ProductCursor | None = None, limit: int = 100,
        *, low_only: bool = False, backward: bool = False, skip: int = 0,
    ) -> list[StockRow]:
        """One page of products with their totals (on hand, in transit), in name order, after `after`
        (keyset pagination); backward: the page before it (the last page when None); skip: leave out
        that many first (a jump by offset).

        Raises: ValidationError (limit, skip).
        """
        _check_page(limit, skip)
        with self._ctx.reading() as uow:
            return uow.stock.rows(query, after, limit, low_only, backward=backward, skip=skip)

    def count_stock_rows(self, query: ProductQuery = ProductQuery(), *, low_only: bool = False) -> int:
        """How many rows `stock` pages through for the query (what a list shows as its length)."""
        with self._ctx.reading() as uow:
            return uow.stock.count_rows(query, low_only)

    def stock_row(self, product: ProductRef) -> StockRow:
        """One product's totals, cost and reorder level. Raises: NotFound."""
        with self._ctx.reading() as uow:
            found = uow.stock.row(self._product(uow, product).id)
        assert found is not None
        return found

    def levels(self, product_ids: list[int]) -> list[StockLevel]:
        """Stock of these products at each internal location."""
        with self._ctx.reading() as uow:
            return uow.stock.levels_of(product_ids)

    def level(self, product: ProductRef, location: LocationRef = None) -> StockLevel:
        """Raises: NotFound (product or location)."""
        with self._ctx.reading() as uow:
            p = self._product(uow, product)
            loc = self._location(uow, location, "location") if location is not None else uow.locations.first_of_kind(INTERNAL)
            found = uow.stock.level(p.id, loc.id) if loc is not None else None
        return found or StockLevel(p.id, loc.id if loc else 0, 0, 0, 0)

    def history(self, product: ProductRef, before_id: int | None = None, limit: int = 100,
                include_archive: bool = False, *, backward: bool = False, skip: int = 0) -> list[StockMove]:
        """The product's moves newest first, a page at a time (pass the last id as `before_id`); a
        deleted product's too. backward: the page of moves newer than `before_id` (the oldest moves
        when None), still newest first; skip: leave out that many first (a jump by offset). Archived
        moves are left out unless `include_archive`.

        Raises: NotFound, ValidationError (limit, skip, before_id).
        """
        _check_page(limit, skip)
        if before_id is not None and (isinstance(before_id, bool) or not isinstance(before_id, int)):
            raise ValidationError("before_id: give a move id", field="before_id")
        if before_id is not None and before_id > MAX_ID:  # every move is before it, none after it
            if backward:
                return []
            before_id = None
        elif before_id is not None and before_id < 0:  # every move is after it, none before it
            before_id = 0
        with self._ctx.reading() as uow:
            found = self._product(uow, product, allow_deleted=True)
            return uow.stock.history(found.id, before_id, limit, include_archive, backward=backward, skip=skip)

    def count_history(self, product: ProductRef, include_archive: bool = False) -> int:
        """How many moves `history` pages through for the product. Raises: NotFound."""
        with self._ctx.reading() as uow:
            return uow.stock.count_history(self._product(uow, product, allow_deleted=True).id, include_archive)

    def resolutions(self, pending_ids: list[int]) -> dict[int, StockMove]:
        """The received or cancelled move that resolved each of these pending moves, for those resolved
        (one page of a history at a time: the resolution may be on another page)."""
        with self._ctx.reading() as uow:
            found = {pid: uow.stock.resolution(pid) for pid in dict.fromkeys(pending_ids) if is_id(pid)}
        return {pid: move for pid, move in found.items() if move is not None}

    def pending_moves(self, product: ProductRef | None = None) -> list[StockMove]:
        """Goods in transit (unresolved pending moves), oldest first."""
        with self._ctx.reading() as uow:
            product_id = self._product(uow, product).id if product is not None else None
            return uow.stock.pending_moves(product_id)

    def get_move(self, move_id: int) -> StockMove:
        """Raises: NotFound."""
        with self._ctx.reading() as uow:
            found = uow.stock.get_move(move_id) if is_id(move_id) else None
        if found is None:
            raise NotFound(f"stock move {move_id!r} does not exist", field="move")
        return found

    def low_stock(self, limit: int = 1000) -> list[StockRow]:
        """Active products at or below their reorder level, in name order."""
        return self.stock(limit=limit, low_only=True)

    def count_low(self) -> int:
        with self._ctx.reading() as uow:
            return uow.stock.count_low()

    def valuation(self, by: str = "category") -> list[Valuation]:
        """On hand x unit cost grouped by "category" or "location", computed in the store.

        Raises: ValidationError (by).
        """
        if by not in ("category", "location"):
            raise ValidationError("by: category or location", field="by")
        with self._ctx.reading() as uow:
            return uow.stock.valuation_by_category() if by == "category" else uow.stock.valuation_by_location()

    def stock_value(self) -> int:
        """Total value of stock on hand at cost."""
        return sum(v.value_minor for v in self.valuation("location"))

    # -- planning ----------------------------------------------------------------------------

    def set_planning(self, product: ProductRef, *, cost: str | int | None = None, reorder_level: int | str | None = None) -> StockRow:
        """Set a product's unit cost (for valuation and purchases) and reorder level (0: never low).

        Raises: ValidationError, NotFound.
        """
        with self._ctx.writing() as uow:
            p = self._product(uow, product)
            before = uow.stock.row(p.id)
            assert before is not None
            v = validation()
            data = v.validate(v.PlanningInput, {
                "cost": before.cost_minor if cost is None else cost,
                "reorder_level": before.reorder_level if reorder_level is None else reorder_level,
            })
            if data.reorder_level > MAX_MOVE:
                raise ValidationError(f"reorder_level: at most {MAX_MOVE:,}", field="reorder_level")
            _check_value_fits(uow, p, 0, data.cost, "cost")
            uow.stock.set_planning(p.id, data.cost, data.reorder_level)
            after = uow.stock.row(p.id)
            self._ctx.audit(uow, "product", p.id, "set_planning",
                            before={"cost_minor": before.cost_minor, "reorder_level": before.reorder_level},
                            after={"cost_minor": data.cost, "reorder_level": data.reorder_level})
        assert after is not None
        return after

    # -- stock moves -------------------------------------------------------------------------

    def receive(self, product: ProductRef, quantity: int | str, *, location: LocationRef = None, memo: str = "",
                idempotency_key: str | None = None) -> StockMove:
        """Goods arrive from a supplier (already paid, or free): Suppliers -> location.

        Raises: ValidationError, NotFound, IdempotencyConflict.
        """
        req = _request(quantity, memo, idempotency_key)
        with self._ctx.writing() as uow:
            p = self._product(uow, product)
            target = self._location_or_default(uow, location, "location")
            return self._post(uow, RECEIVE, p, virtual_location(self._ctx, uow, SUPPLIER), target, req)

    def move_stock(self, product: ProductRef, quantity: int | str, source: LocationRef, target: LocationRef, *,
                   pending: bool = False, memo: str = "", idempotency_key: str | None = None) -> StockMove:
        """Move stock between internal locations; with `pending` it is in transit until received.

        Raises: ValidationError, NotFound, SameLocation, InsufficientStock, IdempotencyConflict.
        """
        req = _request(quantity, memo, idempotency_key)
        if not isinstance(pending, bool):
            raise ValidationError("pending: true or false", field="pending")
        with self._ctx.writing() as uow:
            p = self._product(uow, product)
            src = self._location(uow, source, "source")
            dst = self._location(uow, target, "target")
            for role, loc in (("source", src), ("target", dst)):
                if not loc.internal:
                    raise ValidationError(f"{role}: {loc.name} is not a stock location", field=role)
            return self._post(uow, MOVE, p, src, dst, req, pending=pending)

    def scrap(self, product: ProductRef, quantity: int | str, *, location: LocationRef = None, memo: str = "",
              idempotency_key: str | None = None) -> StockMove:
        """Write stock off (broken, lost): location -> Scrap.

        Raises: ValidationError, NotFound, InsufficientStock, IdempotencyConflict.
        """
        req = _request(quantity, memo, idempotency_key)
        with self._ctx.writing() as uow:
            p = self._product(uow, product)
            source = self._location_or_default(uow, location, "location")
            return self._post(uow, SCRAP_REASON, p, source, virtual_location(self._ctx, uow, SCRAP), req)

    def count_stock(self, product: ProductRef, counted: int | str, *, location: LocationRef = None,
                    memo: str = "") -> StockMove | None:
        """A stocktake: set the counted quantity at a location; the difference is posted as an
        adjustment naming the counter and the day. Returns None when the count matches.

        Raises: ValidationError, NotFound, InsufficientStock (fewer counted than are reserved for
            goods in transit from here).
        """
        req = _request(counted, memo, None, allow_zero=True)
        with self._ctx.writing() as uow:
            p = self._product(uow, product)
            loc = self._location_or_default(uow, location, "location")
            level = uow.stock.level(p.id, loc.id) or StockLevel(p.id, loc.id, 0, 0, 0)
            if req.quantity < level.outgoing:
                raise InsufficientStock(
                    f"quantity: {level.outgoing} of {p.sku} at {loc.name} are reserved for goods in transit;"
                    " receive or cancel that move first",
                    field="quantity",
                )
            diff = req.quantity - level.on_hand
            if diff == 0:
                return None
            day = uow.game.get().day
            note = f"counted {req.quantity} (was {level.on_hand}) by {self._ctx.actor}, day {day}"
            adjust = _Request(abs(diff), f"{note}; {req.memo}" if req.memo else note, None)
            adjustment = virtual_location(self._ctx, uow, ADJUSTMENT)
            return self._post(uow, ADJUST, p, adjustment if diff > 0 else loc, loc if diff > 0 else adjustment, adjust)

    def reverse(self, move_id: int, reason: str = "") -> StockMove:
        """Undo a stock move without deleting anything: a posted or received move gets a reversing move
        (the same quantity back, linked by `reverses_id`); a sale's or purchase's payment is reversed with
        it in the same transaction; goods still in transit are cancelled. Once per move.

        Raises: NotFound (also: the product is soft-deleted), AlreadyReversed, ValidationError (a cancelled
        move, a resolved pending one, a purged product), InsufficientStock (the goods have moved on since), InsufficientFunds (the
        refund cannot be paid).
        """
        reason = undo_reason(reason)
        with self._ctx.writing() as uow:
            original = uow.stock.get_move(move_id) if is_id(move_id) else None
            if original is None:
                raise NotFound(f"stock move {move_id!r} does not exist", field="move")
            key = undo_key("move", original.id)
            done = uow.stock.get_move_by_key(key)
            if done is not None:
                raise AlreadyReversed(f"stock move {original.id} was already undone by move {done.id}",
                                      reversal_id=done.id)
            if original.kind == CANCELLED:
                raise ValidationError(f"stock move {original.id} cancelled a delivery; there is nothing to undo",
                                      field="move")
            if original.kind == PENDING:
                resolution = uow.stock.resolution(original.id)
                if resolution is not None:
                    raise ValidationError(f"stock move {original.id} was already {resolution.kind} (move "
                                          f"{resolution.id}); undo that one instead", field="move")
                return self._settle(uow, CANCELLED, original, key)
            product = uow.products.get(original.product_id)
            if product is None:
                raise ValidationError(f"stock move {original.id}: its product was purged", field="move")
            if product.deleted_at is not None:
                raise NotFound(f"product: {product.sku} is deleted; restore it first", field="product")
            paid_by = original
            if original.kind == RECEIVED and original.pending_id is not None:
                paid_by = uow.stock.get_move(original.pending_id) or original
            money = None
            if paid_by.transfer_id is not None:
                transfer_id = paid_by.transfer_id
                money = lambda: self._bank.reverse_within(uow, transfer_id, reason, with_goods=True)  # noqa: E731
            source = uow.locations.get(original.to_location_id)
            target = uow.locations.get(original.from_location_id)
            assert source is not None and target is not None
            memo = (f"undo of move {original.id}" + (f": {reason}" if reason else ""))[:500]
            return self._post(uow, original.reason, product, source, target, _Request(original.quantity, memo, key),
                              money=money, reverses_id=original.id)

    def receive_pending(self, move_id: int, *, idempotency_key: str | None = None) -> StockMove:
        """Goods in transit arrive: the pending move is resolved by a `received` move.

        Raises: NotFound, NotPending, AlreadyReceived, AlreadyCancelled, IdempotencyConflict.
        """
        return self._resolve(RECEIVED, move_id, idempotency_key)

    def cancel_pending(self, move_id: int, *, idempotency_key: str | None = None) -> StockMove:
        """Goods in transit will not arrive: release them. A cancelled purchase is refunded by the
        supplier in the same transaction.

        Raises: NotFound, NotPending, AlreadyReceived, AlreadyCancelled, IdempotencyConflict,
            InsufficientFunds (the supplier cannot refund).
        """
        return self._resolve(CANCELLED, move_id, idempotency_key)

    # -- business transactions across both ledgers -------------------------------------------

    def sell(self, product: ProductRef, quantity: int | str, customer: int | str, *, location: LocationRef = None,
             unit_price: str | int | None = None, memo: str = "", idempotency_key: str | None = None) -> Sale:
        """Sell to a customer: stock leaves (location -> Customers) and the customer pays the shop,
        in one transaction. The same key and request returns the first sale.

        Raises: ValidationError, NotFound (product, location, customer, no shop account),
            InsufficientStock, InsufficientFunds, AccountFrozen, AccountClosed, CurrencyMismatch,
            IdempotencyConflict.
        """
        req = _request(quantity, memo, idempotency_key, unit_price=unit_price)
        with self._ctx.writing() as uow:
            p = self._product(uow, product)
            source = self._location_or_default(uow, location, "location")
            buyer = self._bank.account_within(uow, customer, "customer")
            price = p.price_minor if req.unit_price is None else req.unit_price
            amount = _amount(price, req.quantity)
            if buyer.kind != "customer":
                raise ValidationError(f"customer: {buyer.name} is a {buyer.kind} account; sell to a customer account",
                                      field="customer")
            key = req.key or str(uuid.uuid4())
            memo_text = req.memo or f"sale {p.sku} x{req.quantity}"
            replay = self._replay_trade(uow, key, {"reason": SELL, "kind": POSTED, "product_id": p.id,
                                                   "from_location_id": source.id, "quantity": req.quantity,
                                                   "memo": memo_text}, "debit_account_id", buyer.id,
                                        None if req.unit_price is None else amount)
            if replay is not None:
                return Sale(*replay)
            shop = self._shop(uow, buyer.currency)
            move = self._post(uow, SELL, p, source, virtual_location(self._ctx, uow, CUSTOMER), _Request(req.quantity, memo_text, key),
                              money=lambda: _in_our_terms(SALE_FIELDS, lambda: self._bank.transfer_within(
                                  uow, buyer.id, shop.id, amount, idempotency_key=key, memo=memo_text)))
            return Sale(move, self._bank_leg(uow, move))

    def purchase(self, product: ProductRef, quantity: int | str, supplier: int | str, *, location: LocationRef = None,
                 unit_cost: str | int | None = None, lead_days: int = 0, memo: str = "",
                 idempotency_key: str | None = None) -> Purchase:
        """Buy from a supplier: the shop pays now; the goods arrive now (lead_days=0) or as a
        pending receipt due `lead_days` later. One transaction.

        Raises: ValidationError, NotFound, InsufficientFunds (the shop), AccountFrozen,
            AccountClosed, CurrencyMismatch, IdempotencyConflict.
        """
        req = _request(quantity, memo, idempotency_key, unit_price=unit_cost, lead_days=lead_days)
        with self._ctx.writing() as uow:
            p = self._product(uow, product)
            target = self._location_or_default(uow, location, "location")
            seller = self._bank.account_within(uow, supplier, "supplier")
            row = uow.stock.row(p.id)
            assert row is not None
            cost = row.cost_minor if req.unit_price is None else req.unit_price
            amount = _amount(cost, req.quantity)
            if seller.kind != "supplier":
                raise ValidationError(f"supplier: {seller.name} is a {seller.kind} account; buy from a supplier account",
                                      field="supplier")
            key = req.key or str(uuid.uuid4())
            memo_text = req.memo or f"purchase {p.sku} x{req.quantity}"
            replay = self._replay_trade(uow, key, {"reason": PURCHASE, "kind": PENDING if req.lead_days else POSTED,
                                                   "product_id": p.id, "to_location_id": target.id,
                                                   "quantity": req.quantity, "memo": memo_text},
                                        "credit_account_id", seller.id, None if req.unit_price is None else amount)
            if replay is not None:
                return Purchase(*replay)
            shop = self._shop(uow, seller.currency)
            day = uow.game.get().day
            move = self._post(uow, PURCHASE, p, virtual_location(self._ctx, uow, SUPPLIER), target,
                              _Request(req.quantity, memo_text, key), pending=req.lead_days > 0,
                              due_day=day + req.lead_days if req.lead_days else None,
                              money=lambda: _in_our_terms(PURCHASE_FIELDS, lambda: self._bank.transfer_within(
                                  uow, shop.id, seller.id, amount, idempotency_key=key, memo=memo_text)))
            return Purchase(move, self._bank_leg(uow, move))

    # -- internals ---------------------------------------------------------------------------

    def _product(self, uow: UnitOfWork, ref: ProductRef, allow_deleted: bool = False) -> Product:
        return product_by_ref(uow, ref, allow_deleted=allow_deleted)

    def _location(self, uow: UnitOfWork, ref: LocationRef, field: str) -> Location:
        if isinstance(ref, bool) or not isinstance(ref, (int, str)):
            raise ValidationError(f"{field}: give a location id or name", field=field)
        found = (uow.locations.get(ref) if is_id(ref) else None) if isinstance(ref, int) else uow.locations.get_by_name(ref.strip())
        if found is None:
            raise NotFound(f"{field}: no location {ref!r}", field=field)
        return found

    def _location_or_default(self, uow: UnitOfWork, ref: LocationRef, field: str) -> Location:
        if ref is None or ref == "":
            return default_location(self._ctx, uow)
        loc = self._location(uow, ref, field)
        if not loc.internal:
            raise ValidationError(f"{field}: {loc.name} is not a stock location", field=field)
        return loc

    def _shop(self, uow: UnitOfWork, currency: str):
        shop = uow.accounts.first_of_kind("shop", currency)
        if shop is None:
            raise NotFound(f"no open shop account in {currency}; open an account of kind shop first", field="account")
        return shop

    def _bank_leg(self, uow: UnitOfWork, move: StockMove) -> Transfer:
        transfer = uow.transfers.get(move.transfer_id) if move.transfer_id is not None else None
        assert transfer is not None, f"stock move {move.id} has no payment"
        return transfer

    def _replay(self, uow: UnitOfWork, key: str, expected: dict[str, Any]) -> StockMove | None:
        """The move an idempotency key already made, if its request was the same one."""
        return same_request(uow.stock.get_move_by_key(key), key, expected, "stock move", "move_id")

    def _replay_trade(self, uow: UnitOfWork, key: str, expected: dict[str, Any], side: str, account_id: int,
                      amount: int | None) -> tuple[StockMove, Transfer] | None:
        """The sale or purchase a key already made (move and payment), if its request was the same one
        (`amount` None: the request took the product's price or cost of the day, which may have changed).
        A key that only a bank transfer used is refused: that transfer must not pass for this payment."""
        replay = self._replay(uow, key, expected)
        if replay is None:
            earlier = uow.transfers.get_by_key(key)
            if earlier is not None:
                raise IdempotencyConflict(f"idempotency key {key!r} was used for bank transfer {earlier.id}",
                                          field="idempotency_key", transfer_id=earlier.id)
            return None
        paid = self._bank_leg(uow, replay)
        if getattr(paid, side) != account_id or (amount is not None and paid.amount_minor != amount):
            raise IdempotencyConflict(
                f"idempotency key {key!r} was used for stock move {replay.id} with another account or amount",
                field="idempotency_key", move_id=replay.id,
            )
        return replay, paid

    def _post(self, uow: UnitOfWork, reason: str, product: Product, source: Location, target: Location, req: _Request,
              *, pending: bool = False, due_day: int | None = None, money=None,
              reverses_id: int | None = None) -> StockMove:
        """Write one move: the guarded level changes, the money leg if any, the ledger row, the audit entry."""
        key = req.key or str(uuid.uuid4())
        if req.key is not None and reason not in (SELL, PURCHASE):
            replay = self._replay(uow, key, {"reason": reason, "product_id": product.id, "from_location_id": source.id,
                                             "to_location_id": target.id, "quantity": req.quantity,
                                             "kind": PENDING if pending else POSTED, "memo": req.memo})
            if replay is not None:
                return replay
        if source.id == target.id:
            raise SameLocation(f"target: {product.sku} is already at {source.name}", field="target")
        qty = req.quantity
        from_after = to_after = None
        if source.internal:
            from_after = uow.stock.apply(product.id, source.id, **({"outgoing": qty} if pending else {"on_hand": -qty}))
            if from_after is None:
                level = uow.stock.level(product.id, source.id)
                available = level.available if level else 0
                raise InsufficientStock(
                    f"quantity: {source.name} has {available} of {product.sku} available; {qty} needed",
                    field="quantity", available=available,
                )
        if target.internal and not source.internal:
            _check_value_fits(uow, product, qty)
        if target.internal:
            to_after = uow.stock.apply(product.id, target.id, **({"incoming": qty} if pending else {"on_hand": qty}))
            if to_after is None:  # cannot happen for positive deltas; the guard is there for races
                raise InsufficientStock(f"target: {target.name} refused {qty} of {product.sku}", field="target")
        transfer = money() if money is not None else None
        move = uow.stock.add_move(NewStockMove(
            PENDING if pending else POSTED, reason, product.id, source.id, target.id, qty, None,
            transfer.id if transfer is not None else None, due_day, uow.game.get().day, req.memo, key,
            self._ctx.actor, self._ctx.now(), from_after, to_after, reverses_id,
        ))
        self._ctx.audit(uow, "stock_move", move.id, reason, after=move, request_key=key)
        return move

    def _resolve(self, kind: str, move_id: int, idempotency_key: str | None) -> StockMove:
        v = validation()
        key = v.validate(v.StockInput, {"quantity": 1, "idempotency_key": idempotency_key}).idempotency_key
        with self._ctx.writing() as uow:
            pending = uow.stock.get_move(move_id) if is_id(move_id) else None
            if pending is None:
                raise NotFound(f"stock move {move_id!r} does not exist", field="move")
            if key is not None:
                replay = self._replay(uow, key, {"kind": kind, "pending_id": pending.id})
                if replay is not None:
                    return replay
            if pending.kind != PENDING:
                raise NotPending(f"stock move {pending.id} is not in transit (it is {pending.kind})")
            done = uow.stock.resolution(pending.id)
            if done is not None:
                error = AlreadyReceived if done.kind == RECEIVED else AlreadyCancelled
                raise error(f"stock move {pending.id} was already {done.kind} (move {done.id})")
            return self._settle(uow, kind, pending, key)

    def _settle(self, uow: UnitOfWork, kind: str, pending: StockMove, key: str | None) -> StockMove:
        """Resolve an unresolved pending move: received (stock lands) or cancelled (released, refunded)."""
        qty = pending.quantity
        source = uow.locations.get(pending.from_location_id)
        target = uow.locations.get(pending.to_location_id)
        assert source is not None and target is not None
        from_after = to_after = None
        if source.internal:
            delta = {"outgoing": -qty, "on_hand": -qty} if kind == RECEIVED else {"outgoing": -qty}
            from_after = uow.stock.apply(pending.product_id, source.id, **delta)
        if target.internal:
            delta = {"incoming": -qty, "on_hand": qty} if kind == RECEIVED else {"incoming": -qty}
            to_after = uow.stock.apply(pending.product_id, target.id, **delta)
        if (source.internal and from_after is None) or (target.internal and to_after is None):
            raise InsufficientStock(f"stock move {pending.id} no longer matches the stock levels; run check")
        refund = None
        if kind == CANCELLED and pending.transfer_id is not None:
            paid = uow.transfers.get(pending.transfer_id)
            assert paid is not None
            refund = self._bank.transfer_within(
                uow, paid.credit_account_id, paid.debit_account_id, paid.amount_minor,
                idempotency_key=f"refund {pending.id}", memo=f"refund: {pending.memo}",
            )
        move = uow.stock.add_move(NewStockMove(
            kind, pending.reason, pending.product_id, pending.from_location_id, pending.to_location_id, qty,
            pending.id, refund.id if refund is not None else None, None, uow.game.get().day, pending.memo,
            key or str(uuid.uuid4()), self._ctx.actor, self._ctx.now(), from_after, to_after,
        ))
        self._ctx.audit(uow, "stock_move", move.id, kind, after=move, request_key=key)
        return move


# The bank names the sides of its refusals source/target/amount; a sale's and a purchase's callers
# know them as the customer or supplier and the quantity.
SALE_FIELDS = {"source": "customer", "amount": "quantity"}
PURCHASE_FIELDS = {"target": "supplier", "amount": "quantity"}


def _in_our_terms(fields: dict[str, str], pay: Callable[[], Transfer]) -> Transfer:
    try:
        return pay()
    except DomainError as e:
        ours = fields.get(e.field or "")
        if ours is not None:
            e.message = e.message.replace(f"{e.field}:", f"{ours}:", 1)
            e.field = ours
        raise


def _check_page(limit: Any, skip: Any) -> None:
    """A page's size and offset, as every listing takes them. Raises: ValidationError."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
        raise ValidationError("limit: must be between 1 and 10000", field="limit")
    if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
        raise ValidationError("skip: must be a whole number, 0 or more", field="skip")


def _amount(unit_minor: int, quantity: int) -> int:
    amount = unit_minor * quantity
    if amount <= 0:
        raise ValidationError("unit_price: the amount to pay must be greater than zero", field="unit_price")
    if amount > MAX_MINOR:
        raise ValidationError(f"quantity: the amount would exceed {format_minor(MAX_MINOR)}", field="quantity")
    return amount


def _check_value_fits(uow: UnitOfWork, product: Product, more: int, cost: int | None = None,
                      field: str = "quantity") -> None:
    """Listings and valuations compute quantity x price and quantity x cost in SQL: keep both BIGINTs
    (the catalog's own bound), when stock enters from outside and when a new cost is set."""
    row = uow.stock.row(product.id)
    total = (row.on_hand + row.incoming if row else product.quantity) + more
    unit = max(product.price_minor, (row.cost_minor if row else 0) if cost is None else cost)
    if total * unit > MAX_MINOR:
        raise ValidationError(f"{field}: {total:,} x {format_minor(unit)} would exceed {format_minor(MAX_MINOR)}",
                              field=field)
