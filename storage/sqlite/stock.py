"""sqlite3 repositories for inventory: locations, stock levels, the stock-move ledger, the game state.

Every statement is scoped by tenant_id. Levels change only through one guarded UPDATE that
re-checks "never below zero" in the statement that changes them; the table's CHECK is the last wall.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from domain.errors import AlreadyExists, InsufficientStock, NotFound, VersionConflict
from domain.model import MAX_ID, ProductQuery
from domain.model.catalog import ProductCursor
from domain.model.dashboard import DailyTrade, TopSeller, fold_trade
from domain.model.stock import GameState, Location, NewStockMove, StockLevel, StockMove, StockRow, Valuation
from storage.sqlite.errors import translate
from storage.sqlite.repositories import _IN_CHUNK, STREAM_CHUNK, _Repo, _where

_LOCATION_COLS = "id, name, kind, version"
_MOVE_COLS = (
    "id, kind, reason, product_id, from_location_id, to_location_id, quantity, pending_id, transfer_id, due_day,"
    " day, memo, idempotency_key, actor, created_at, from_after, to_after, reverses_id"
)
_INCOMING = "COALESCE((SELECT SUM(l.incoming) FROM stock_levels l WHERE l.product_id = p.id), 0)"


def _row_select(source: str = "products p") -> str:
    """StockRow's columns: each product of `source` (the table, or the table through a named index) with its
    category's name and its stock in transit."""
    return (f"SELECT p.id, p.sku, p.name, c.name, p.quantity, {_INCOMING}, p.reorder_level, p.cost_minor,"
            f" p.price_minor FROM {source} LEFT JOIN categories c ON c.id = p.category_id")


_ROW_SELECT = _row_select()
# The low-stock products' own index (0014) and those with a reorder level (0009), named: SQLite, with no
# statistics, gives a tie to the newest index, and a demo or an import builds the list's indexes last.
_LOW_PRODUCTS = "products p INDEXED BY ix_products_low"
_REORDER_PRODUCTS = "products p INDEXED BY ix_products_reorder"
_LOW = " AND p.reorder_level > 0 AND p.quantity <= p.reorder_level"
# reconcile(): each listed product's recorded total minus what its levels hold, and its level at the location.
_DIFFS = (
    "SELECT p.id AS id, p.sku AS sku,"
    " p.quantity - COALESCE((SELECT SUM(l.on_hand) FROM stock_levels l WHERE l.product_id = p.id), 0) AS diff,"
    " COALESCE(h.on_hand, 0) AS here, COALESCE(h.outgoing, 0) AS out"
    " FROM products p LEFT JOIN stock_levels h ON h.product_id = p.id AND h.location_id = :loc"
    " WHERE p.tenant_id = :tenant AND p.sku IN ({skus})"
)
# MATERIALIZED: flattened, SQLite would evaluate the SUM subquery once per use of `diff` (seven times a row).
_POST_ADJUSTMENTS = (
    "WITH d AS MATERIALIZED ({diffs})"
    " INSERT INTO stock_moves (tenant_id, kind, reason, product_id, from_location_id, to_location_id, quantity, day,"
    " memo, idempotency_key, actor, created_at, from_after, to_after)"
    " SELECT :tenant, :kind, :reason, d.id, CASE WHEN d.diff > 0 THEN :adj ELSE :loc END,"
    " CASE WHEN d.diff > 0 THEN :loc ELSE :adj END, abs(d.diff), :day, :memo, NULL, :actor, :at,"
    " CASE WHEN d.diff > 0 THEN NULL ELSE d.here + d.diff END, CASE WHEN d.diff > 0 THEN d.here + d.diff END"
    " FROM d WHERE d.diff <> 0 ORDER BY d.id"
)
# The adjustments just posted (ids above :last) carry each level's new value.
_SET_LEVELS = (
    "UPDATE stock_levels SET on_hand = (SELECT COALESCE(m.to_after, m.from_after) FROM stock_moves m"
    " WHERE m.tenant_id = :tenant AND m.product_id = stock_levels.product_id AND m.id > :last)"
    " WHERE location_id = :loc AND product_id IN (SELECT product_id FROM stock_moves WHERE id > :last)"
)
_ADD_LEVELS = (
    "INSERT INTO stock_levels (tenant_id, product_id, location_id, on_hand, incoming, outgoing)"
    " SELECT :tenant, m.product_id, :loc, m.to_after, 0, 0 FROM stock_moves m WHERE m.id > :last"
    " AND NOT EXISTS (SELECT 1 FROM stock_levels l WHERE l.product_id = m.product_id AND l.location_id = :loc)"
)


# Counted on ix_products_low (0014) alone: its WHERE is these terms but `active`, a column of it.
_COUNT_LOW = "SELECT COUNT(*) FROM {source} WHERE p.tenant_id = ? AND p.active AND p.deleted_at IS NULL" + _LOW
# From the levels, each product's cost by its key (CROSS JOIN keeps that order): driven from the products' name
# index instead, the join read the products table in name order, 7 s at 1,000,000 products against 0.4 s.
_VALUE_BY_LOCATION = (
    "SELECT loc.id, loc.name, SUM(l.on_hand), SUM(l.on_hand * p.cost_minor)"
    " FROM stock_levels l CROSS JOIN products p ON p.id = l.product_id JOIN locations loc ON loc.id = l.location_id"
    " WHERE l.tenant_id = ? AND l.on_hand > 0 GROUP BY loc.id ORDER BY loc.id"
)
# Net units and money of the live trade moves on a span of days: the rule of domain.model.dashboard.trade_sign.
_SIGN = ("CASE WHEN m.kind = 'cancelled' THEN -1 WHEN (m.reason = 'sell' AND m.to_after IS NULL)"
         " OR (m.reason = 'purchase' AND m.from_after IS NULL) THEN 1 ELSE -1 END")
_TRADE = (
    "SELECT {by}, SUM({sign} * m.quantity) AS units, SUM({sign} * COALESCE(t.amount_minor, 0)) AS money"
    " FROM stock_moves m LEFT JOIN transfers t ON t.id = m.transfer_id"
    " WHERE m.tenant_id = ? AND m.day BETWEEN ? AND ? AND m.reason IN ('sell', 'purchase') AND m.kind <> 'received'"
    " {extra} GROUP BY {by}"
)
_DAILY_TRADE = _TRADE.format(by="m.day, m.reason", sign=_SIGN, extra="")
_TOP_SELLERS = (
    "SELECT p.id, p.sku, p.name, s.units, s.money FROM ({sold}) s JOIN products p ON p.id = s.product_id"
    " WHERE s.units > 0 ORDER BY s.units DESC, p.id LIMIT ?"
).format(sold=_TRADE.format(by="m.product_id", sign=_SIGN, extra="AND m.reason = 'sell'"))


class SqliteLocations(_Repo):
    def add(self, name: str, kind: str) -> Location:
        try:
            cur = self._conn.execute(
                "INSERT INTO locations (tenant_id, name, kind, version) VALUES (?, ?, ?, 1)", (self._tenant, name, kind)
            )
        except sqlite3.IntegrityError as e:
            if "UNIQUE" in str(e):
                raise AlreadyExists(f"location {name!r} already exists", field="name") from e
            raise translate(e) from e
        return Location(cur.lastrowid, name, kind, 1)  # type: ignore[arg-type]

    def _one(self, where: str, params: tuple[Any, ...]) -> Location | None:
        row = self._run(
            f"SELECT {_LOCATION_COLS} FROM locations WHERE tenant_id = ? AND {where}", (self._tenant, *params)
        ).fetchone()
        return Location(*row) if row else None

    def get(self, location_id: int) -> Location | None:
        return self._one("id = ?", (location_id,))

    def get_by_name(self, name: str) -> Location | None:
        return self._one("lower(name) = lower(?)", (name,))

    def first_of_kind(self, kind: str) -> Location | None:
        return self._one("kind = ? ORDER BY id LIMIT 1", (kind,))

    def list(self) -> list[Location]:
        return [
            Location(*r)
            for r in self._run(
                f"SELECT {_LOCATION_COLS} FROM locations WHERE tenant_id = ? ORDER BY kind <> 'internal', id",
                (self._tenant,),
            )
        ]


class SqliteStock(_Repo):
    def __init__(self, conn: sqlite3.Connection, tenant: str, revision: str):
        super().__init__(conn, tenant)
        self._low_index = revision >= "0014"  # ix_products_low
        self._reorder_source = _REORDER_PRODUCTS if revision >= "0009" else "products p"

    def _low_source(self, query: ProductQuery) -> str:
        """Where a low-stock read finds its products: the index of the low ones when the query's terms
        imply its WHERE (live products: not the deleted view), else the planner's choice."""
        return _LOW_PRODUCTS if self._low_index and query.deleted is False else "products p"

    def apply(self, product_id: int, location_id: int, *, on_hand: int = 0, incoming: int = 0, outgoing: int = 0) -> int | None:
        tenant = self._tenant
        self._run(
            "INSERT INTO stock_levels (tenant_id, product_id, location_id, on_hand, incoming, outgoing)"
            " VALUES (?, ?, ?, 0, 0, 0) ON CONFLICT (product_id, location_id) DO NOTHING",
            (tenant, product_id, location_id),
        )
        row = self._run(
            "UPDATE stock_levels SET on_hand = on_hand + ?, incoming = incoming + ?, outgoing = outgoing + ?"
            " WHERE tenant_id = ? AND product_id = ? AND location_id = ?"
            " AND on_hand + ? >= 0 AND incoming + ? >= 0 AND outgoing + ? >= 0 AND outgoing + ? <= on_hand + ?"
            " RETURNING on_hand",
            (on_hand, incoming, outgoing, tenant, product_id, location_id, on_hand, incoming, outgoing, outgoing, on_hand),
        ).fetchone()
        if row is None:
            return None
        if on_hand:
            self._run("UPDATE products SET quantity = quantity + ? WHERE tenant_id = ? AND id = ?", (on_hand, tenant, product_id))
        return row[0]

    def level(self, product_id: int, location_id: int) -> StockLevel | None:
        row = self._run(
            "SELECT product_id, location_id, on_hand, incoming, outgoing FROM stock_levels"
            " WHERE tenant_id = ? AND product_id = ? AND location_id = ?",
            (self._tenant, product_id, location_id),
        ).fetchone()
        return StockLevel(*row) if row else None

    def row(self, product_id: int) -> StockRow | None:
        row = self._run(f"{_ROW_SELECT} WHERE p.tenant_id = ? AND p.id = ?", (self._tenant, product_id)).fetchone()
        return StockRow(*row) if row else None

    def levels_of(self, product_ids: Iterable[int]) -> list[StockLevel]:
        ids = list(product_ids)
        found: list[StockLevel] = []
        for i in range(0, len(ids), _IN_CHUNK):
            chunk = ids[i:i + _IN_CHUNK]
            found.extend(
                StockLevel(*r)
                for r in self._run(
                    "SELECT product_id, location_id, on_hand, incoming, outgoing FROM stock_levels"
                    f" WHERE tenant_id = ? AND product_id IN ({', '.join('?' * len(chunk))})",
                    (self._tenant, *chunk),
                )
            )
        return found

    def all_levels(self) -> Iterator[StockLevel]:
        cur = self._run(
            "SELECT product_id, location_id, on_hand, incoming, outgoing FROM stock_levels WHERE tenant_id = ?",
            (self._tenant,),
        )
        make = StockLevel._make
        try:
            while chunk := cur.fetchmany(STREAM_CHUNK):
                yield from map(make, chunk)
        except sqlite3.Error as e:
            raise translate(e) from e

    def add_move(self, move: NewStockMove) -> StockMove:
        try:
            cur = self._conn.execute(
                "INSERT INTO stock_moves (tenant_id, kind, reason, product_id, from_location_id, to_location_id,"
                " quantity, pending_id, transfer_id, due_day, day, memo, idempotency_key, actor, created_at,"
                " from_after, to_after, reverses_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self._tenant, *move),
            )
        except sqlite3.IntegrityError as e:
            if "UNIQUE" in str(e):
                raise AlreadyExists(f"stock move already recorded ({e})", field="idempotency_key") from e
            raise translate(e) from e
        return StockMove(cur.lastrowid, *move)  # type: ignore[arg-type]

    def _moves(self, where: str, params: tuple[Any, ...], tail: str = "", table: str = "stock_moves") -> list[StockMove]:
        return [
            StockMove(*r)
            for r in self._run(
                f"SELECT {_MOVE_COLS} FROM {table} WHERE tenant_id = ? AND {where}{tail}", (self._tenant, *params)
            )
        ]

    def _one(self, where: str, params: tuple[Any, ...]) -> StockMove | None:
        """Live first, then archived: an id or an idempotency key still finds its move after archiving."""
        for table in ("stock_moves", "stock_moves_archive"):
            found = self._moves(where, params, table=table)
            if found:
                return found[0]
        return None

    def get_move(self, move_id: int) -> StockMove | None:
        return self._one("id = ?", (move_id,))

    def get_move_by_key(self, idempotency_key: str) -> StockMove | None:
        return self._one("idempotency_key = ?", (idempotency_key,))

    def resolution(self, pending_id: int) -> StockMove | None:
        return self._one("pending_id = ?", (pending_id,))

    def paid_by(self, transfer_id: int) -> StockMove | None:
        return self._one("transfer_id = ?", (transfer_id,))

    def pending_moves(self, product_id: int | None = None, due_by_day: int | None = None) -> list[StockMove]:
        where = "kind = 'pending' AND NOT EXISTS (SELECT 1 FROM stock_moves r WHERE r.pending_id = stock_moves.id)"
        params: tuple[Any, ...] = ()
        if product_id is not None:
            where += " AND product_id = ?"
            params += (product_id,)
        if due_by_day is not None:
            where += " AND due_day IS NOT NULL AND due_day <= ?"
            params += (due_by_day,)
        return self._moves(where, params, " ORDER BY id")

    def history(self, product_id: int, before_id: int | None, limit: int, include_archive: bool = False, *,
                backward: bool = False, skip: int = 0) -> list[StockMove]:
        # Both ways walk the index (tenant_id, product_id, id); backward reads oldest first and the page
        # is turned round here.
        tables = ("stock_moves", "stock_moves_archive") if include_archive else ("stock_moves",)
        if backward:
            op, order, bound = ">", "", 0 if before_id is None else before_id
        else:
            op, order, bound = "<=", " DESC", MAX_ID if before_id is None else before_id - 1
        if skip:  # a jump: the id of the last move skipped, read from the indexes alone, then a keyset page
            # (with the archive, each table's first skip + limit full rows were read and sorted again)
            walks = [f"SELECT id FROM {t} WHERE tenant_id = ? AND product_id = ? AND id {op} ?" for t in tables]
            last = self._run(f"{' UNION ALL '.join(walks)} ORDER BY id{order} LIMIT 1 OFFSET ?",
                             (*(self._tenant, product_id, bound) * len(tables), skip - 1)).fetchone()
            if last is None:
                return []
            bound = last[0] if backward else last[0] - 1
        where, tail = f"product_id = ? AND id {op} ?", f" ORDER BY id{order} LIMIT ?"
        if len(tables) == 1:
            found = self._moves(where, (product_id, bound, limit), tail)
        else:  # each table's first `limit` in order, merged
            branch = f"SELECT * FROM (SELECT {_MOVE_COLS} FROM {{}} WHERE tenant_id = ? AND {where}{tail})"
            params = (self._tenant, product_id, bound, limit)
            found = [StockMove(*r) for r in self._run(
                f"{branch.format('stock_moves')} UNION ALL {branch.format('stock_moves_archive')}"
                f" ORDER BY id{order} LIMIT ?", (*params, *params, limit))]
        return found[::-1] if backward else found

    def count_history(self, product_id: int, include_archive: bool = False) -> int:
        tables = ("stock_moves", "stock_moves_archive") if include_archive else ("stock_moves",)
        return sum(self._run(f"SELECT COUNT(*) FROM {table} WHERE tenant_id = ? AND product_id = ?",
                             (self._tenant, product_id)).fetchone()[0] for table in tables)

    def stream_moves(self) -> Iterator[StockMove]:
        last = 0
        while True:
            # +tenant_id keeps SQLite on the rowid range: on tenant_id it picked an index of (tenant_id, ...)
            # and sorted the tenant's every move for each chunk (0.13 s a chunk, 92 s for a million moves).
            rows = self._run(
                f"SELECT * FROM (SELECT {_MOVE_COLS} FROM stock_moves WHERE +tenant_id = ? AND id > ? ORDER BY id LIMIT ?)"
                f" UNION ALL SELECT * FROM (SELECT {_MOVE_COLS} FROM stock_moves_archive WHERE +tenant_id = ? AND id > ?"
                " ORDER BY id LIMIT ?) ORDER BY id LIMIT ?",
                (self._tenant, last, STREAM_CHUNK, self._tenant, last, STREAM_CHUNK, STREAM_CHUNK),
            ).fetchall()
            if not rows:
                return
            yield from (StockMove(*r) for r in rows)
            last = rows[-1][0]

    def rows(self, query: ProductQuery, after: ProductCursor | None, limit: int, low_only: bool = False, *,
             backward: bool = False, skip: int = 0) -> list[StockRow]:
        where, params = _where(self._tenant, query)
        source = "products p"
        if low_only:
            where += _LOW
            source = self._low_source(query)
        if skip and after is None and not backward and not query.needle:
            # A jump (a scrollbar drag): the row before the offset found in the list's index alone, then a
            # keyset page. The offset over the page's own SELECT joined and read every row it skipped:
            # 1.1 s at 500,000 products in.
            found = self._run(f"SELECT p.id FROM {source}{where} ORDER BY lower(p.name), p.id LIMIT 1 OFFSET ?",
                              (*params, skip - 1)).fetchone()
            if found is None:
                return []
            key = self._run("SELECT lower(name) FROM products WHERE id = ?", found).fetchone()[0]
            return self.rows(query, ProductCursor(key, found[0]), limit, low_only)
        # The product list's keyset, spelled out so SQLite seeks into the index (lower(name), id);
        # backward walks it the other way and the page is turned round here.
        op, order = ("<", " DESC") if backward else (">", "")
        if after is not None:
            where += f" AND lower(p.name) {op}= ? AND (lower(p.name) {op} ? OR p.id {op} ?)"
            params.extend((after.name_key, after.name_key, after.id))
        page = [StockRow(*r) for r in self._run(
            f"{_row_select(source)}{where} ORDER BY lower(p.name){order}, p.id{order} LIMIT ? OFFSET ?",
            (*params, limit, skip))]
        return page[::-1] if backward else page

    def count_rows(self, query: ProductQuery, low_only: bool = False) -> int:
        where, params = _where(self._tenant, query)
        if low_only:
            return self._run(f"SELECT COUNT(*) FROM {self._low_source(query)}{where}{_LOW}", params).fetchone()[0]
        return self._run(f"SELECT COUNT(*) FROM products p{where}", params).fetchone()[0]

    def count_low(self) -> int:
        source = _LOW_PRODUCTS if self._low_index else self._reorder_source
        return self._run(_COUNT_LOW.format(source=source), (self._tenant,)).fetchone()[0]

    def needs_reorder(self) -> list[StockRow]:
        return [
            StockRow(*r)
            for r in self._run(
                f"{_row_select(self._reorder_source)} WHERE p.tenant_id = ? AND p.active AND p.deleted_at IS NULL AND p.reorder_level > 0"
                f" AND p.quantity + {_INCOMING} <= p.reorder_level ORDER BY p.id",
                (self._tenant,),
            )
        ]

    def daily_trade(self, first_day: int, last_day: int) -> list[DailyTrade]:
        return fold_trade(self._run(_DAILY_TRADE, (self._tenant, first_day, last_day)))

    def top_sellers(self, first_day: int, last_day: int, limit: int) -> list[TopSeller]:
        return [TopSeller(*r) for r in self._run(_TOP_SELLERS, (self._tenant, first_day, last_day, limit))]

    def valuation_by_category(self) -> list[Valuation]:
        return [
            Valuation(*r)
            for r in self._run(
                "SELECT p.category_id, c.name, SUM(p.quantity), SUM(p.quantity * p.cost_minor)"
                " FROM products p LEFT JOIN categories c ON c.id = p.category_id"
                " WHERE p.tenant_id = ? AND p.quantity > 0 GROUP BY p.category_id ORDER BY c.name IS NULL, lower(c.name)",
                (self._tenant,),
            )
        ]

    def valuation_by_location(self) -> list[Valuation]:
        return [Valuation(*r) for r in self._run(_VALUE_BY_LOCATION, (self._tenant,))]

    def set_planning(self, product_id: int, cost_minor: int, reorder_level: int) -> None:
        cur = self._run(
            "UPDATE products SET cost_minor = ?, reorder_level = ? WHERE tenant_id = ? AND id = ?",
            (cost_minor, reorder_level, self._tenant, product_id),
        )
        if cur.rowcount == 0:
            raise NotFound(f"product {product_id} does not exist", field="product")

    def reconcile(self, skus: Iterable[str], location_id: int, adjustment_id: int, move: NewStockMove) -> int:
        # Set-based, a chunk of SKUs per statement: an import posts one adjustment per product, and
        # INSERT ... SELECT with the constants bound once costs a quarter less than executemany.
        wanted = list(skus)
        posted = 0
        for i in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[i:i + _IN_CHUNK]
            names = {f"s{n}": sku for n, sku in enumerate(chunk)}
            params: dict[str, Any] = {
                **names, "tenant": self._tenant, "loc": location_id, "adj": adjustment_id, "kind": move.kind,
                "reason": move.reason, "day": move.day, "memo": move.memo, "actor": move.actor, "at": move.created_at,
            }
            diffs = _DIFFS.format(skus=", ".join(f":{n}" for n in names))
            refused = self._run(f"WITH d AS MATERIALIZED ({diffs}) SELECT sku, diff, here, out FROM d"
                                " WHERE diff <> 0 AND here + diff < out LIMIT 1", params).fetchone()
            if refused is not None:
                sku, diff, here, out = refused
                raise InsufficientStock(
                    f"{sku}: only {here - out} can be taken from here; the rest of its stock is at other locations"
                    " (count it there)", field="quantity",
                )
            params["last"] = self._run("SELECT COALESCE(MAX(id), 0) FROM stock_moves").fetchone()[0]
            self._run(_POST_ADJUSTMENTS.format(diffs=diffs), params)
            # not cursor.rowcount: for a WITH ... INSERT statement Python 3.11's sqlite3 reports -1
            posted += self._run("SELECT changes()").fetchone()[0]
            self._run(_SET_LEVELS, params)
            self._run(_ADD_LEVELS, params)
        return posted


class SqliteGame(_Repo):
    def get(self) -> GameState:
        row = self._run("SELECT day, seed, rng_state, version FROM game_state WHERE tenant_id = ?", (self._tenant,)).fetchone()
        return GameState(*row) if row else GameState()

    def save(self, state: GameState, expected_version: int) -> GameState:
        if expected_version == 0:
            try:
                self._conn.execute(
                    "INSERT INTO game_state (tenant_id, day, seed, rng_state, version) VALUES (?, ?, ?, ?, 1)",
                    (self._tenant, state.day, state.seed, state.rng_state),
                )
            except sqlite3.IntegrityError as e:
                raise VersionConflict("the game was saved by someone else; reload and try again") from e
        else:
            cur = self._run(
                "UPDATE game_state SET day = ?, seed = ?, rng_state = ?, version = version + 1"
                " WHERE tenant_id = ? AND version = ?",
                (state.day, state.seed, state.rng_state, self._tenant, expected_version),
            )
            if cur.rowcount == 0:
                raise VersionConflict("the game was saved by someone else; reload and try again")
        return GameState(state.day, state.seed, state.rng_state, expected_version + 1)
