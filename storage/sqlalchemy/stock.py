"""SQLAlchemy repositories for inventory: locations, stock levels, the stock-move ledger, the game state.

Every statement is scoped by tenant_id. Levels change only through one guarded upsert or UPDATE that
re-checks "never below zero" in the statement that changes them; the table's CHECK is the last wall.
The move path (location and key lookups, the level change, the ledger INSERT, the game day) runs Core
statements built once at import and executed on the unit of work's connection; the rest is built per call.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import fields
from functools import partial
from typing import Any

from sqlalchemy import (
    BigInteger,
    Select,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from domain.errors import AlreadyExists, InsufficientStock, NotFound, VersionConflict
from domain.model import MAX_ID, ProductQuery
from domain.model.catalog import ProductCursor
from domain.model.dashboard import TRADE_REASONS, DailyTrade, TopSeller, fold_trade
from domain.model.stock import (
    CANCELLED,
    PURCHASE,
    RECEIVED,
    SELL,
    GameState,
    Location,
    NewStockMove,
    StockLevel,
    StockMove,
    StockRow,
    Valuation,
)
from storage.sqlalchemy.base import STREAM_CHUNK, SqlAlchemyRepo, inline, merged_ids, next_chunk, tenant_in_id_order
from storage.sqlalchemy.catalog import _ACTIVE, SqlAlchemyProducts
from storage.sqlalchemy.errors import translating
from storage.sqlalchemy.tables import (
    CategoryRow,
    GameStateRow,
    LocationRow,
    ProductRow,
    StockLevelRow,
    StockMoveArchiveRow,
    StockMoveRow,
    TransferRow,
)
from storage.sqlite.repositories import _IN_CHUNK

ANALYZE_AFTER = 1_000  # adjustments posted in one unit of work before PostgreSQL's statistics are refreshed

_MOVE_TABLES = (StockMoveRow, StockMoveArchiveRow)
_LOCATION_FIELDS = tuple(f.name for f in fields(Location))
_MOVE_FIELDS = tuple(f.name for f in fields(StockMove))
_LEVEL = StockLevelRow
_CONFLICT = "the game was saved by someone else; reload and try again"


# -- row -> domain mappers (selected columns in the domain type's field order) -------------------


def location_columns() -> tuple[Any, ...]:
    return tuple(getattr(LocationRow, name) for name in _LOCATION_FIELDS)


def level_columns() -> tuple[Any, ...]:
    return tuple(getattr(_LEVEL, name) for name in StockLevel._fields)


def move_columns(table: Any) -> tuple[Any, ...]:
    """The columns of a live or archived stock move in StockMove's field order."""
    return tuple(getattr(table, name) for name in _MOVE_FIELDS)


def location(row: Any) -> Location:
    return Location(*row)


def stock_level(row: Any) -> StockLevel:
    return StockLevel._make(row)


def stock_move(row: Any) -> StockMove:
    return StockMove(*row)


def stock_row(row: Any) -> StockRow:
    return StockRow._make(row)


def valuation(row: Any) -> Valuation:
    return Valuation._make(row)


def _id(name: str) -> Any:
    """A caller's id bound as BIGINT: PostgreSQL refuses an INTEGER bind beyond 2**31 instead of finding nothing."""
    return bindparam(name, type_=BigInteger)


def _total(column: Any) -> Any:
    """SUM as an integer on both dialects (PostgreSQL sums bigints as numeric), 0 over no rows."""
    return func.coalesce(cast(func.sum(column), BigInteger), 0)


# A product's stock in transit towards its internal locations.
_INCOMING = select(_total(_LEVEL.incoming)).where(_LEVEL.product_id == ProductRow.id).correlate(ProductRow).scalar_subquery()
# StockRow's columns: a product, its category's name (joined by the caller) and its totals.
_STOCK_ROW_COLS = (ProductRow.id, ProductRow.sku, ProductRow.name, CategoryRow.name, ProductRow.quantity, _INCOMING,
                   ProductRow.reorder_level, ProductRow.cost_minor, ProductRow.price_minor)
# Spelled as the partial indexes' WHERE has them (a literal 0, `active` bare): with a bound `?` or `active IS 1`
# SQLite does not see that the query implies the index's WHERE, and cannot use it.
_LOW = (ProductRow.reorder_level > literal_column("0"), ProductRow.quantity <= ProductRow.reorder_level)
_LIVE = (_ACTIVE, ProductRow.deleted_at.is_(None))


def _stock_rows() -> Select[Any]:
    return select(*_STOCK_ROW_COLS).outerjoin(ProductRow.category)


# -- the move path's statements, built once ------------------------------------------------------

_DIALECTS = {False: sqlite, True: postgresql}  # by "is PostgreSQL"
_loc = LocationRow.__table__
_lv = StockLevelRow.__table__
_products = ProductRow.__table__
_game = GameStateRow.__table__
_TENANT = bindparam("tenant")

_SELECT_LOCATION = select(*(_loc.c[n] for n in _LOCATION_FIELDS)).where(_loc.c.tenant_id == _TENANT)
_LOCATION_BY_ID = _SELECT_LOCATION.where(_loc.c.id == _id("id"))
_LOCATION_BY_NAME = _SELECT_LOCATION.where(func.lower(_loc.c.name) == func.lower(bindparam("name")))
_FIRST_OF_KIND = _SELECT_LOCATION.where(_loc.c.kind == bindparam("kind")).order_by(_loc.c.id).limit(1)
# ON CONFLICT DO NOTHING: a taken name returns no row instead of aborting PostgreSQL's transaction.
_ADD_LOCATION = {pg: d.insert(_loc).on_conflict_do_nothing().returning(_loc.c.id) for pg, d in _DIALECTS.items()}

_LEVEL_BY_KEY = select(*(_lv.c[n] for n in StockLevel._fields)).where(
    _lv.c.tenant_id == _TENANT, _lv.c.product_id == _id("pid"), _lv.c.location_id == _id("loc")
)
_dq, _di, _do = (bindparam(n, type_=BigInteger) for n in ("d_on_hand", "d_incoming", "d_outgoing"))
# "Never below zero, never more outgoing than on hand", re-checked by the statement that changes the level.
_GUARD = and_(
    _lv.c.tenant_id == _TENANT, _lv.c.on_hand + _dq >= 0, _lv.c.incoming + _di >= 0, _lv.c.outgoing + _do >= 0,
    _lv.c.outgoing + _do <= _lv.c.on_hand + _dq,
)


def _change_level(pg: bool, fresh: bool) -> Any:
    """The guarded level change RETURNING (on_hand, product_id). `fresh`: the deltas alone make a valid
    level, so a missing one is inserted with them; otherwise only a stored level can change."""
    if fresh:
        ins = _DIALECTS[pg].insert(_lv).values(tenant_id=_TENANT, product_id=_id("pid"),
                                              location_id=_id("loc"), on_hand=_dq, incoming=_di, outgoing=_do)
        stmt: Any = ins.on_conflict_do_update(
            index_elements=[_lv.c.product_id, _lv.c.location_id],
            set_={n: _lv.c[n] + ins.excluded[n] for n in ("on_hand", "incoming", "outgoing")},
            where=_GUARD,
        )
    else:
        stmt = update(_lv).where(_lv.c.product_id == _id("pid"), _lv.c.location_id == _id("loc"),
                                 _GUARD).values({n: _lv.c[n] + p for n, p in (("on_hand", _dq), ("incoming", _di),
                                                                               ("outgoing", _do))})
    return stmt.returning(_lv.c.on_hand, _lv.c.product_id)


_ADD_TO_TOTAL = update(_products).where(_products.c.tenant_id == _TENANT, _products.c.id == _id("pid")).values(
    quantity=_products.c.quantity + _dq
)


def _change_level_and_total(pg: bool, fresh: bool) -> Any:
    """PostgreSQL in one round trip: the product's total changes only if the level did (joined to its row)."""
    changed = _change_level(pg, fresh).cte("changed")
    return _ADD_TO_TOTAL.where(_products.c.id == changed.c.product_id).returning(changed.c.on_hand)


_APPLY = {(pg, fresh): _change_level(pg, fresh) for pg in (False, True) for fresh in (False, True)}
_APPLY_WITH_TOTAL = {fresh: _change_level_and_total(True, fresh) for fresh in (False, True)}

# Executed with a dict of every column: the VALUES clause follows its keys. A taken idempotency key,
# resolution or reversal returns no row (ON CONFLICT DO NOTHING) instead of aborting the transaction.
_ADD_MOVE = {pg: d.insert(StockMoveRow.__table__).on_conflict_do_nothing().returning(StockMoveRow.__table__.c.id)
             for pg, d in _DIALECTS.items()}


def _one_move(column: str, param: Any) -> Any:
    """Live first, then archived: an id or an idempotency key still finds its move after archiving.
    One statement, so a miss (the usual case for a new key) costs one round trip."""
    sides = [
        select(*(t.c[n] for n in _MOVE_FIELDS), literal_column(rank).label("rank"))
        .where(t.c.tenant_id == _TENANT, t.c[column] == param)
        for rank, t in (("0", StockMoveRow.__table__), ("1", StockMoveArchiveRow.__table__))
    ]
    both = union_all(*sides).subquery()
    return select(*(both.c[n] for n in _MOVE_FIELDS)).order_by(both.c.rank).limit(1)


_MOVE_BY = {
    "id": _one_move("id", _id("value")),
    "idempotency_key": _one_move("idempotency_key", bindparam("value")),
    "pending_id": _one_move("pending_id", _id("value")),
    "transfer_id": _one_move("transfer_id", _id("value")),
}

_STREAM_MOVES = {pg: next_chunk(_MOVE_TABLES, move_columns, partial(tenant_in_id_order, pg=pg)) for pg in (False, True)}
_GET_GAME = select(_game.c.day, _game.c.seed, _game.c.rng_state, _game.c.version).where(_game.c.tenant_id == _TENANT)
# A state saved meanwhile returns no row: a conflict, not an aborted transaction.
_ADD_GAME = {pg: d.insert(_game).on_conflict_do_nothing().returning(_game.c.version) for pg, d in _DIALECTS.items()}
_SAVE_GAME = (
    update(_game).where(_game.c.tenant_id == _TENANT, _game.c.version == bindparam("expected"))
    .values(day=bindparam("new_day"), seed=bindparam("new_seed"), rng_state=bindparam("new_rng_state"),
            version=_game.c.version + 1)
    .returning(_game.c.version)
)


class SqlAlchemyLocations(SqlAlchemyRepo):
    def add(self, name: str, kind: str) -> Location:
        new_id = self._run(_ADD_LOCATION[self._pg], tenant_id=self._tenant, name=name, kind=kind, version=1).scalar()
        if new_id is None:
            raise AlreadyExists(f"location {name!r} already exists", field="name")
        return Location(new_id, name, kind, 1)

    def _one(self, stmt: Any, **params: Any) -> Location | None:
        row = self._run(stmt, tenant=self._tenant, **params).first()
        return location(row) if row else None

    def get(self, location_id: int) -> Location | None:
        return self._one(_LOCATION_BY_ID, id=location_id)

    def get_by_name(self, name: str) -> Location | None:
        return self._one(_LOCATION_BY_NAME, name=name)

    def first_of_kind(self, kind: str) -> Location | None:
        return self._one(_FIRST_OF_KIND, kind=kind)

    def list(self) -> list[Location]:
        stmt = (
            select(*location_columns()).where(LocationRow.tenant_id == self._tenant)
            .order_by(LocationRow.kind != "internal", LocationRow.id)
        )
        return [location(r) for r in self._execute(stmt)]


class SqlAlchemyStock(SqlAlchemyRepo):
    def __init__(self, session: Any, tenant: str, dialect: str, revision: str):
        super().__init__(session, tenant, dialect)
        self._revision = revision

    def _on_index(self, stmt: Any, index: str, since: str) -> Any:
        """`stmt` reading the products through `index` (there from revision `since`) on SQLite, as the sqlite3
        store does: with no statistics SQLite gives a tie to the newest index, and a demo or an import builds
        the list's indexes last. PostgreSQL plans from its statistics."""
        if self._pg or self._revision < since:
            return stmt
        return stmt.with_hint(ProductRow.__table__, f"INDEXED BY {index}", "sqlite")

    def _low(self, stmt: Any, query: ProductQuery) -> Any:
        """A low-stock read of `query` on the low products' index (0014), when its terms imply the index's
        WHERE (live products: not the deleted view)."""
        return self._on_index(stmt, "ix_products_low", "0014") if query.deleted is False else stmt

    def apply(self, product_id: int, location_id: int, *, on_hand: int = 0, incoming: int = 0, outgoing: int = 0) -> int | None:
        fresh = on_hand >= 0 and incoming >= 0 and outgoing >= 0 and outgoing <= on_hand
        params = {"tenant": self._tenant, "pid": product_id, "loc": location_id, "d_on_hand": on_hand,
                  "d_incoming": incoming, "d_outgoing": outgoing}
        if not on_hand:
            return self._run(_APPLY[self._pg, fresh], **params).scalar()
        if self._pg:
            return self._run(_APPLY_WITH_TOTAL[fresh], **params).scalar()
        after = self._run(_APPLY[False, fresh], **params).scalar()
        if after is not None:
            self._run(_ADD_TO_TOTAL, tenant=self._tenant, pid=product_id, d_on_hand=on_hand)
        return after

    def level(self, product_id: int, location_id: int) -> StockLevel | None:
        row = self._run(_LEVEL_BY_KEY, tenant=self._tenant, pid=product_id, loc=location_id).first()
        return stock_level(row) if row else None

    def row(self, product_id: int) -> StockRow | None:
        row = self._execute(
            _stock_rows().where(ProductRow.tenant_id == self._tenant, ProductRow.id == literal(product_id, BigInteger))
        ).first()
        return stock_row(row) if row else None

    def levels_of(self, product_ids: Iterable[int]) -> list[StockLevel]:
        ids = list(product_ids)
        found: list[StockLevel] = []
        for i in range(0, len(ids), _IN_CHUNK):
            stmt = select(*level_columns()).where(
                _LEVEL.tenant_id == self._tenant, _LEVEL.product_id.in_(ids[i:i + _IN_CHUNK])
            )
            found.extend(stock_level(r) for r in self._execute(stmt))
        return found

    def all_levels(self) -> Iterator[StockLevel]:
        # One statement read STREAM_CHUNK rows at a time (a server-side cursor on PostgreSQL).
        stmt = (select(*level_columns()).where(_LEVEL.tenant_id == self._tenant)
                .execution_options(yield_per=STREAM_CHUNK))
        with translating():
            for chunk in self._execute(stmt).partitions():
                yield from map(stock_level, chunk)

    def add_move(self, move: NewStockMove) -> StockMove:
        new_id = self._run(_ADD_MOVE[self._pg], tenant_id=self._tenant, **move._asdict()).scalar()
        if new_id is None:
            raise AlreadyExists(
                f"stock move already recorded (idempotency key {move.idempotency_key!r}, resolution of"
                f" {move.pending_id} or reversal of {move.reverses_id} taken)", field="idempotency_key",
            )
        return StockMove(new_id, *move)

    def _moves(self, table: Any, *where: Any) -> Select[Any]:
        return select(*move_columns(table)).where(table.tenant_id == self._tenant, *where)

    def _one(self, column: str, value: Any) -> StockMove | None:
        row = self._run(_MOVE_BY[column], tenant=self._tenant, value=value).first()
        return stock_move(row) if row else None

    def get_move(self, move_id: int) -> StockMove | None:
        return self._one("id", move_id)

    def get_move_by_key(self, idempotency_key: str) -> StockMove | None:
        return self._one("idempotency_key", idempotency_key)

    def resolution(self, pending_id: int) -> StockMove | None:
        return self._one("pending_id", pending_id)

    def paid_by(self, transfer_id: int) -> StockMove | None:
        return self._one("transfer_id", transfer_id)

    def pending_moves(self, product_id: int | None = None, due_by_day: int | None = None) -> list[StockMove]:
        m, r = StockMoveRow, aliased(StockMoveRow)
        where = [m.kind == inline("pending"), ~exists().where(r.pending_id == m.id)]
        if product_id is not None:
            where.append(m.product_id == product_id)
        if due_by_day is not None:
            where.extend((m.due_day.is_not(None), m.due_day <= due_by_day))
        return [stock_move(row) for row in self._execute(self._moves(m, *where).order_by(m.id))]

    def history(self, product_id: int, before_id: int | None, limit: int, include_archive: bool = False, *,
                backward: bool = False, skip: int = 0) -> list[StockMove]:
        # Both ways walk the index (tenant_id, product_id, id); backward reads oldest first and the page
        # is turned round here.
        tables = _MOVE_TABLES if include_archive else _MOVE_TABLES[:1]
        after = 0 if before_id is None else before_id  # backward: newer than this
        through = MAX_ID if before_id is None else before_id - 1  # forward: this one and older

        def in_range(t: Any) -> Any:
            return t.id > literal(after, BigInteger) if backward else t.id <= literal(through, BigInteger)

        if skip:  # a jump: the id of the last move skipped, read from the indexes alone, then a keyset page
            walks = [select(t.id).where(t.tenant_id == self._tenant, t.product_id == product_id, in_range(t))
                     for t in tables]
            last = self._execute(merged_ids(walks, newest_first=not backward).offset(skip - 1)).scalar()
            if last is None:
                return []
            if backward:
                after = last
            else:
                through = last - 1

        def page(t: Any) -> Select[Any]:
            return (self._moves(t, t.product_id == product_id, in_range(t))
                    .order_by(t.id if backward else t.id.desc()).limit(limit))

        if len(tables) == 1:
            stmt = page(tables[0])
        else:  # each table's first `limit` in order, merged
            merged = union_all(*(select(page(t).subquery().c) for t in tables)).subquery()
            stmt = select(merged).order_by(merged.c.id if backward else merged.c.id.desc()).limit(limit)
        found = [stock_move(row) for row in self._execute(stmt)]
        return found[::-1] if backward else found

    def count_history(self, product_id: int, include_archive: bool = False) -> int:
        tables = _MOVE_TABLES if include_archive else _MOVE_TABLES[:1]
        return sum(self._execute(select(func.count()).select_from(t).where(
            t.tenant_id == self._tenant, t.product_id == product_id)).scalar_one() for t in tables)

    def stream_moves(self) -> Iterator[StockMove]:
        for rows in self._in_chunks(_STREAM_MOVES[self._pg]):
            yield from map(stock_move, rows)

    def rows(self, query: ProductQuery, after: ProductCursor | None, limit: int, low_only: bool = False, *,
             backward: bool = False, skip: int = 0) -> list[StockRow]:
        # The product list's own keyset page (same filters, same order, both ways), with the stock columns.
        products = SqlAlchemyProducts(self._session, self._tenant, self._dialect)
        if not low_only:
            return [stock_row(r) for r in products.page_rows(_STOCK_ROW_COLS, query, after, limit, backward, skip)]
        # The few low products, paged as the list is (no text window: the whole index is small).
        if skip and after is None and not backward and not query.needle:
            after = products.jump(query, skip, _LOW, lambda walk: self._low(walk, query))
            if after is None:
                return []
            skip = 0
        page = self._execute(self._low(products._page(_STOCK_ROW_COLS, query, after, limit, backward, skip)
                                       .where(*_LOW), query)).all()
        return [stock_row(r) for r in (page[::-1] if backward else page)]

    def count_rows(self, query: ProductQuery, low_only: bool = False) -> int:
        products = SqlAlchemyProducts(self._session, self._tenant, self._dialect)
        stmt = select(func.count()).select_from(ProductRow).where(ProductRow.tenant_id == self._tenant,
                                                                   *products._filters(query))
        return self._execute(self._low(stmt.where(*_LOW), query) if low_only else stmt).scalar_one()

    def count_low(self) -> int:
        p = ProductRow
        stmt = select(func.count()).select_from(p).where(p.tenant_id == self._tenant, *_LIVE, *_LOW)
        index, since = ("ix_products_low", "0014") if self._revision >= "0014" else ("ix_products_reorder", "0009")
        return self._execute(self._on_index(stmt, index, since)).scalar_one()

    def needs_reorder(self) -> list[StockRow]:
        p = ProductRow
        stmt = _stock_rows().where(
            p.tenant_id == self._tenant, *_LIVE, _LOW[0], p.quantity + _INCOMING <= p.reorder_level,
        ).order_by(p.id)
        stmt = self._on_index(stmt, "ix_products_reorder", "0009")
        return [stock_row(r) for r in self._execute(stmt)]

    def _trade_totals(self, first_day: int, last_day: int, by: Any) -> Select:
        """Net units and money of the live trade moves on those days, grouped `by` (the rule of
        domain.model.dashboard.trade_sign: the sign follows the goods, so undos count negative and redos again)."""
        m, t = StockMoveRow, TransferRow
        trade_way = or_(and_(m.reason == SELL, m.to_after.is_(None)), and_(m.reason == PURCHASE, m.from_after.is_(None)))
        sign = case((m.kind == CANCELLED, -1), (trade_way, 1), else_=-1)
        return (
            select(*by, _total(sign * m.quantity).label("units"),
                   _total(sign * func.coalesce(t.amount_minor, 0)).label("money"))
            .select_from(m)
            .outerjoin(t, t.id == m.transfer_id)
            .where(m.tenant_id == self._tenant, m.day.between(first_day, last_day), m.reason.in_(inline(*TRADE_REASONS)),
                   m.kind != RECEIVED)
            .group_by(*by)
        )

    def daily_trade(self, first_day: int, last_day: int) -> list[DailyTrade]:
        m = StockMoveRow
        return fold_trade(tuple(r) for r in self._execute(self._trade_totals(first_day, last_day, (m.day, m.reason))))

    def top_sellers(self, first_day: int, last_day: int, limit: int) -> list[TopSeller]:
        m, p = StockMoveRow, ProductRow
        sold = self._trade_totals(first_day, last_day, (m.product_id,)).where(m.reason == SELL).subquery()
        units, money = sold.c.units, sold.c.money
        stmt = (select(p.id, p.sku, p.name, units, money).join(sold, sold.c.product_id == p.id)
                .where(units > 0).order_by(units.desc(), p.id).limit(limit))
        return [TopSeller(*r) for r in self._execute(stmt)]

    def valuation_by_category(self) -> list[Valuation]:
        p, c = ProductRow, CategoryRow
        stmt = (
            select(p.category_id, c.name, _total(p.quantity), _total(p.quantity * p.cost_minor))
            .outerjoin(c, c.id == p.category_id)
            .where(p.tenant_id == self._tenant, p.quantity > 0)
            .group_by(p.category_id, c.name)
            .order_by(c.name.is_(None), func.lower(c.name))
        )
        return [valuation(r) for r in self._execute(stmt)]

    def valuation_by_location(self) -> list[Valuation]:
        p, loc = ProductRow, LocationRow
        # Driven from the levels (the tenant on their side, each product found by its key), as the sqlite3
        # store does: with the tenant on the products' side SQLite walked their name index, 5.8 s at 1M.
        stmt = (
            select(loc.id, loc.name, _total(_LEVEL.on_hand), _total(_LEVEL.on_hand * p.cost_minor))
            .select_from(_LEVEL)
            .join(p, p.id == _LEVEL.product_id)
            .join(loc, loc.id == _LEVEL.location_id)
            .where(_LEVEL.tenant_id == self._tenant, _LEVEL.on_hand > 0)
            .group_by(loc.id, loc.name)
            .order_by(loc.id)
        )
        return [valuation(r) for r in self._execute(stmt)]

    def set_planning(self, product_id: int, cost_minor: int, reorder_level: int) -> None:
        done = self._execute(
            update(ProductRow).where(ProductRow.tenant_id == self._tenant, ProductRow.id == product_id)
            .values(cost_minor=cost_minor, reorder_level=reorder_level)
        )
        if done.rowcount == 0:
            raise NotFound(f"product {product_id} does not exist", field="product")

    _posted = 0  # adjustments reconcile() posted in this unit of work
    _analyzed_at = 0  # ... when it last refreshed PostgreSQL's statistics

    def reconcile(self, skus: Iterable[str], location_id: int, adjustment_id: int, move: NewStockMove) -> int:
        # Set-based, a chunk of SKUs per statement: an import posts one adjustment per product.
        wanted = list(skus)
        posted = 0
        for i in range(0, len(wanted), _IN_CHUNK):
            if self._pg:
                self._refresh_statistics()
            done = self._reconcile_chunk(wanted[i:i + _IN_CHUNK], location_id, adjustment_id, move)
            posted += done
            self._posted += done
        return posted

    def _refresh_statistics(self) -> None:
        """PostgreSQL plans the statements of a long bulk transaction (an import, a demo) from statistics
        taken before it: autovacuum cannot see uncommitted rows. Planned for empty tables, each chunk's
        level update walked every stock move of the tenant for every level (over ten minutes for a
        30,000-product demo). Once this unit of work has posted ANALYZE_AFTER adjustments, and each time
        that doubles, the tables an import grows are analyzed (migration 0010: ANALYZE inside the
        transaction samples its own rows), so the next chunk is planned for their real size."""
        if self._posted >= max(ANALYZE_AFTER, 2 * self._analyzed_at):
            self._execute(text("SELECT stockbank_analyze_books()"))
            self._analyzed_at = self._posted

    def _reconcile_chunk(self, skus: list[str], location_id: int, adjustment_id: int, move: NewStockMove) -> int:
        tenant, p, m = self._tenant, ProductRow, StockMoveRow
        here = aliased(StockLevelRow)
        # Each listed product's recorded total minus what its levels hold, and its level at the location.
        # MATERIALIZED: flattened, SQLite would evaluate the SUM subquery once per use of `diff`.
        held = select(_total(_LEVEL.on_hand)).where(_LEVEL.product_id == p.id).correlate(p).scalar_subquery()
        d = (
            select(p.id.label("id"), p.sku.label("sku"), (p.quantity - held).label("diff"),
                   func.coalesce(here.on_hand, 0).label("here"), func.coalesce(here.outgoing, 0).label("out"))
            .outerjoin(here, and_(here.product_id == p.id, here.location_id == location_id))
            .where(p.tenant_id == tenant, p.sku.in_(skus))
            .cte("d").prefix_with("MATERIALIZED")
        )
        refused = self._execute(
            select(d.c.sku, d.c.diff, d.c.here, d.c.out).where(d.c.diff != 0, d.c.here + d.c.diff < d.c.out).limit(1)
        ).first()
        if refused is not None:
            sku, _diff, here_qty, out = refused
            raise InsufficientStock(
                f"{sku}: only {here_qty - out} can be taken from here; the rest of its stock is at other locations"
                " (count it there)", field="quantity",
            )
        into = d.c.diff > 0
        after = d.c.here + d.c.diff
        adjustments = select(
            literal(tenant), literal(move.kind), literal(move.reason), d.c.id,
            case((into, adjustment_id), else_=location_id), case((into, location_id), else_=adjustment_id),
            func.abs(d.c.diff), literal(move.day), literal(move.memo), null(), literal(move.actor),
            literal(move.created_at), case((into, null()), else_=after), case((into, after), else_=null()),
        ).where(d.c.diff != 0).order_by(d.c.id)
        ids = self._execute(
            insert(m).from_select(
                ["tenant_id", "kind", "reason", "product_id", "from_location_id", "to_location_id", "quantity", "day",
                 "memo", "idempotency_key", "actor", "created_at", "from_after", "to_after"],
                adjustments,
            ).returning(m.id)
        ).scalars().all()
        if not ids:
            return 0
        # The adjustments just posted (this tenant's moves from the first new id on) carry each level's new value.
        posted = (m.tenant_id == tenant, m.id >= min(ids))
        self._execute(
            update(_LEVEL).where(
                _LEVEL.tenant_id == tenant, _LEVEL.location_id == location_id,
                _LEVEL.product_id.in_(select(m.product_id).where(*posted)),
            ).values(on_hand=select(func.coalesce(m.to_after, m.from_after))
                     .where(*posted, m.product_id == _LEVEL.product_id).scalar_subquery())
        )
        self._execute(
            insert(_LEVEL).from_select(
                ["tenant_id", "product_id", "location_id", "on_hand", "incoming", "outgoing"],
                select(literal(tenant), m.product_id, literal(location_id), m.to_after, literal(0), literal(0))
                .where(*posted, ~exists().where(here.product_id == m.product_id, here.location_id == location_id)),
            )
        )
        return len(ids)


class SqlAlchemyGame(SqlAlchemyRepo):
    def get(self) -> GameState:
        row = self._run(_GET_GAME, tenant=self._tenant).first()
        return GameState(*row) if row else GameState()

    def save(self, state: GameState, expected_version: int) -> GameState:
        if expected_version == 0:
            saved = self._run(_ADD_GAME[self._pg], tenant_id=self._tenant, day=state.day, seed=state.seed,
                              rng_state=state.rng_state, version=1).scalar()
        else:
            saved = self._run(_SAVE_GAME, tenant=self._tenant, expected=expected_version, new_day=state.day,
                              new_seed=state.seed, new_rng_state=state.rng_state).scalar()
        if saved is None:
            raise VersionConflict(_CONFLICT)
        return GameState(state.day, state.seed, state.rng_state, expected_version + 1)
