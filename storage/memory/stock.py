"""In-memory repositories for inventory: locations, levels, the stock-move ledger, the game state."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

from domain.errors import AlreadyExists, InsufficientStock, NotFound, VersionConflict
from domain.model import ProductQuery
from domain.model.catalog import ProductCursor, fold_case
from domain.model.dashboard import DailyTrade, TopSeller, fold_trade, trade_sign
from domain.model.stock import (
    INTERNAL,
    PENDING,
    SELL,
    GameState,
    Location,
    NewStockMove,
    StockLevel,
    StockMove,
    StockRow,
    Valuation,
)
from storage.memory.base import Repo, is_listed

_GAME = "state"


class MemoryLocations(Repo):
    def add(self, name: str, kind: str) -> Location:
        if self.get_by_name(name) is not None:
            raise AlreadyExists(f"location {name!r} already exists", field="name")
        location = Location(self._store._next_id("location"), name, kind, 1)
        self._undo.set_item(self._data.locations, location.id, location)
        return location

    def get(self, location_id: int) -> Location | None:
        return self._data.locations.get(location_id)

    def get_by_name(self, name: str) -> Location | None:
        wanted = fold_case(name)
        return next((loc for loc in self._data.locations.values() if fold_case(loc.name) == wanted), None)

    def first_of_kind(self, kind: str) -> Location | None:
        return next((loc for loc in sorted(self._data.locations.values(), key=lambda x: x.id) if loc.kind == kind), None)

    def list(self) -> list[Location]:
        return sorted(self._data.locations.values(), key=lambda x: (x.kind != INTERNAL, x.id))


class MemoryStock(Repo):
    def apply(self, product_id: int, location_id: int, *, on_hand: int = 0, incoming: int = 0, outgoing: int = 0) -> int | None:
        key = (product_id, location_id)
        old = self._data.levels.get(key) or StockLevel(product_id, location_id, 0, 0, 0)
        new = old._replace(on_hand=old.on_hand + on_hand, incoming=old.incoming + incoming, outgoing=old.outgoing + outgoing)
        if min(new.on_hand, new.incoming, new.outgoing) < 0 or new.outgoing > new.on_hand:
            return None
        self._undo.set_item(self._data.levels, key, new)
        if on_hand:
            product = self._data.products[product_id]
            self._undo.set_item(self._data.products, product_id, replace(product, quantity=product.quantity + on_hand))
        return new.on_hand

    def level(self, product_id: int, location_id: int) -> StockLevel | None:
        return self._data.levels.get((product_id, location_id))

    def _levels(self, product_id: int) -> list[StockLevel]:
        """A product's levels, looked up per location (few) rather than by scanning every level."""
        levels = self._data.levels
        return [levels[(product_id, loc)] for loc in self._data.locations if (product_id, loc) in levels]

    def _row(self, product_id: int) -> StockRow:
        p = self._data.products[product_id]
        cat = self._data.categories.get(p.category_id) if p.category_id is not None else None
        cost, reorder = self._data.planning.get(product_id, (0, 0))
        incoming = sum(lv.incoming for lv in self._levels(product_id))
        return StockRow(p.id, p.sku, p.name, cat.name if cat else None, p.quantity, incoming, reorder, cost, p.price_minor)

    def row(self, product_id: int) -> StockRow | None:
        return self._row(product_id) if product_id in self._data.products else None

    def levels_of(self, product_ids: Iterable[int]) -> list[StockLevel]:
        return [lv for pid in dict.fromkeys(product_ids) for lv in self._levels(pid)]

    def all_levels(self) -> Iterator[StockLevel]:
        yield from list(self._data.levels.values())

    def add_move(self, move: NewStockMove) -> StockMove:
        if move.idempotency_key is not None and move.idempotency_key in self._data.move_keys:
            raise AlreadyExists(f"idempotency key {move.idempotency_key!r} was used already", field="idempotency_key")
        if move.pending_id is not None and move.pending_id in self._data.move_resolutions:
            raise AlreadyExists(f"stock move {move.pending_id} is already resolved")
        new = StockMove(self._store._next_id("move"), *move)
        self._undo.set_item(self._data.moves, new.id, new)
        if new.idempotency_key is not None:
            self._undo.set_item(self._data.move_keys, new.idempotency_key, new.id)
        if new.pending_id is not None:
            self._undo.set_item(self._data.move_resolutions, new.pending_id, new.id)
        return new

    def get_move(self, move_id: int) -> StockMove | None:
        return self._data.moves.get(move_id)

    def get_move_by_key(self, idempotency_key: str) -> StockMove | None:
        found = self._data.move_keys.get(idempotency_key)
        return None if found is None else self._data.moves[found]

    def paid_by(self, transfer_id: int) -> StockMove | None:
        return next((m for m in self._data.moves.values() if m.transfer_id == transfer_id), None)

    def resolution(self, pending_id: int) -> StockMove | None:
        found = self._data.move_resolutions.get(pending_id)
        return None if found is None else self._data.moves[found]

    def pending_moves(self, product_id: int | None = None, due_by_day: int | None = None) -> list[StockMove]:
        return [
            m for m in sorted(self._data.moves.values(), key=lambda m: m.id)
            if m.kind == PENDING and m.id not in self._data.move_resolutions
            and (product_id is None or m.product_id == product_id)
            and (due_by_day is None or (m.due_day is not None and m.due_day <= due_by_day))
        ]

    def history(self, product_id: int, before_id: int | None, limit: int, include_archive: bool = False, *,
                backward: bool = False, skip: int = 0) -> list[StockMove]:
        moves = self._product_moves(product_id, include_archive)  # newest first
        if backward:
            if before_id is not None:
                moves = [m for m in moves if m.id > before_id]
            return moves[max(len(moves) - skip - limit, 0):max(len(moves) - skip, 0)]
        if before_id is not None:
            moves = [m for m in moves if m.id < before_id]
        return moves[skip:skip + limit]

    def count_history(self, product_id: int, include_archive: bool = False) -> int:
        return len(self._product_moves(product_id, include_archive))

    def _product_moves(self, product_id: int, include_archive: bool) -> list[StockMove]:
        return [
            m for m in sorted(self._data.moves.values(), key=lambda m: -m.id)
            if m.product_id == product_id and (include_archive or m.id not in self._data.archived_moves)
        ]

    def stream_moves(self) -> Iterator[StockMove]:
        yield from sorted(self._data.moves.values(), key=lambda m: m.id)

    def _matching(self, query: ProductQuery, low_only: bool = False) -> list[int]:
        """The ids of the listed products in list order; the low test needs only the total and the level."""
        planning = self._data.planning
        found = [p for p in self._data.products.values() if is_listed(p, query)
                 and (not low_only or 0 < planning.get(p.id, (0, 0))[1] >= p.quantity)]
        found.sort(key=lambda p: (fold_case(p.name), p.id))
        return [p.id for p in found]

    def rows(self, query: ProductQuery, after: ProductCursor | None, limit: int, low_only: bool = False, *,
             backward: bool = False, skip: int = 0) -> list[StockRow]:
        ids = self._matching(query, low_only)
        if after is not None:
            products = self._data.products

            def key(pid: int) -> tuple[str, int]:
                return fold_case(products[pid].name), pid

            cursor = (after.name_key, after.id)
            ids = [pid for pid in ids if (key(pid) < cursor if backward else key(pid) > cursor)]
        if backward:
            ids = ids[max(len(ids) - skip - limit, 0):max(len(ids) - skip, 0)]
        else:
            ids = ids[skip:skip + limit]
        return [self._row(pid) for pid in ids]

    def count_rows(self, query: ProductQuery, low_only: bool = False) -> int:
        return len(self._matching(query, low_only))

    def count_low(self) -> int:
        return sum(1 for p in self._data.products.values() if p.active and p.deleted_at is None and self._row(p.id).low)

    def needs_reorder(self) -> list[StockRow]:
        rows = (self._row(p.id) for p in sorted(self._data.products.values(), key=lambda p: p.id)
                if p.active and p.deleted_at is None)
        return [r for r in rows if r.reorder_level > 0 and r.on_hand + r.incoming <= r.reorder_level]

    def _trade(self, first_day: int, last_day: int) -> Iterator[tuple[StockMove, int, int]]:
        """Live trade moves on those days with their sign and their bank leg's amount (0 when archived)."""
        transfers, archived = self._data.transfers, self._data.archived_transfers
        for m in self._data.moves.values():
            sign = trade_sign(m)
            if sign and first_day <= m.day <= last_day and m.id not in self._data.archived_moves:
                leg = transfers.get(m.transfer_id) if m.transfer_id not in archived else None  # type: ignore[arg-type]
                yield m, sign, leg.amount_minor if leg is not None else 0

    def daily_trade(self, first_day: int, last_day: int) -> list[DailyTrade]:
        totals: dict[tuple[int, str], list[int]] = {}
        for m, sign, amount in self._trade(first_day, last_day):
            t = totals.setdefault((m.day, m.reason), [0, 0])
            t[0] += sign * m.quantity
            t[1] += sign * amount
        return fold_trade((day, reason, units, money) for (day, reason), (units, money) in totals.items())

    def top_sellers(self, first_day: int, last_day: int, limit: int) -> list[TopSeller]:
        totals: dict[int, list[int]] = {}
        for m, sign, amount in self._trade(first_day, last_day):
            if m.reason == SELL:
                t = totals.setdefault(m.product_id, [0, 0])
                t[0] += sign * m.quantity
                t[1] += sign * amount
        products = self._data.products
        ranked = sorted((-units, pid, money) for pid, (units, money) in totals.items() if units > 0 and pid in products)
        return [TopSeller(pid, products[pid].sku, products[pid].name, -neg, money) for neg, pid, money in ranked[:limit]]

    def valuation_by_category(self) -> list[Valuation]:
        totals: dict[int | None, list[int]] = {}
        for p in self._data.products.values():
            if p.quantity > 0:
                t = totals.setdefault(p.category_id, [0, 0])
                t[0] += p.quantity
                t[1] += p.quantity * self._data.planning.get(p.id, (0, 0))[0]
        result = []
        for cat_id, (qty, value) in totals.items():
            cat = self._data.categories.get(cat_id) if cat_id is not None else None
            result.append(Valuation(cat_id, cat.name if cat else None, qty, value))
        result.sort(key=lambda v: (v.name is None, fold_case(v.name or "")))
        return result

    def valuation_by_location(self) -> list[Valuation]:
        totals: dict[int, list[int]] = {}
        for (pid, loc), lv in self._data.levels.items():
            if lv.on_hand > 0:
                t = totals.setdefault(loc, [0, 0])
                t[0] += lv.on_hand
                t[1] += lv.on_hand * self._data.planning.get(pid, (0, 0))[0]
        return [
            Valuation(loc, self._data.locations[loc].name, qty, value) for loc, (qty, value) in sorted(totals.items())
        ]

    def set_planning(self, product_id: int, cost_minor: int, reorder_level: int) -> None:
        if product_id not in self._data.products:
            raise NotFound(f"product {product_id} does not exist", field="product")
        self._undo.set_item(self._data.planning, product_id, (cost_minor, reorder_level))

    def reconcile(self, skus: Iterable[str], location_id: int, adjustment_id: int, move: NewStockMove) -> int:
        diffs = []
        for sku in dict.fromkeys(skus):
            pid = self._data.sku_index.get(sku)
            if pid is None:
                continue
            total = self._data.products[pid].quantity
            recorded = sum(lv.on_hand for lv in self._levels(pid))
            here = self._data.levels.get((pid, location_id)) or StockLevel(pid, location_id, 0, 0, 0)
            diff = total - recorded
            if diff:
                if here.on_hand + diff < here.outgoing:
                    raise InsufficientStock(
                        f"{sku}: {recorded - here.on_hand} of the {recorded} on hand are at other locations;"
                        f" count them there (at most {here.available} can be taken from here)",
                        field="quantity",
                    )
                diffs.append((pid, diff, here))
        for pid, diff, here in diffs:
            after = here.on_hand + diff
            self._undo.set_item(self._data.levels, (pid, location_id), here._replace(on_hand=after))
            self.add_move(move._replace(
                product_id=pid,
                from_location_id=adjustment_id if diff > 0 else location_id,
                to_location_id=location_id if diff > 0 else adjustment_id,
                quantity=abs(diff),
                idempotency_key=None,
                from_after=None if diff > 0 else after,
                to_after=after if diff > 0 else None,
            ))
        return len(diffs)


class MemoryGame(Repo):
    def get(self) -> GameState:
        return self._data.game.get(_GAME, GameState())

    def save(self, state: GameState, expected_version: int) -> GameState:
        if self.get().version != expected_version:
            raise VersionConflict("the game was saved by someone else; reload and try again")
        saved = replace(state, version=expected_version + 1)
        self._undo.set_item(self._data.game, _GAME, saved)
        return saved
