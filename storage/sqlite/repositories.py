"""sqlite3 repositories: plain SQL, every statement scoped by tenant_id (directly or through a
subquery that is)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from domain.errors import AlreadyExists, InUse, NotFound, VersionConflict
from domain.model import Category, CategoryValue, NewProduct, Product, ProductListing, ProductQuery, User
from domain.model import MAX_ID
from domain.model.bank import Account, LedgerTotals, NewAccount, NewTransfer, StatementLine, Transfer
from domain.model.catalog import ProductCursor
from storage.rowfolds import category_values, upsert_by_distinct_sku
from storage.sqlite.errors import translate

if TYPE_CHECKING:
    from domain.model.stock import NewStockMove
    from domain.ports import ExportRow

STREAM_CHUNK = 2000
_IN_CHUNK = 900  # SKUs per IN (...) lookup: well under SQLite's bound-parameter limit


def like_pattern(text: str) -> str:
    """`text` as a LIKE pattern matching it anywhere, with LIKE's wildcards escaped (ESCAPE '\\')."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class _Repo:
    def __init__(self, conn: sqlite3.Connection, tenant: str):
        self._conn = conn
        self._tenant = tenant

    def _run(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.Error as e:
            raise translate(e) from e


class SqliteCategories(_Repo):
    _COLS = "id, name, parent_id, version"

    def _check_parent(self, parent_id: int | None) -> None:
        if parent_id is not None and self.get(parent_id) is None:
            raise NotFound(f"parent category {parent_id} does not exist", field="parent")

    def add(self, name: str, parent_id: int | None) -> Category:
        self._check_parent(parent_id)
        try:
            cur = self._conn.execute(
                "INSERT INTO categories (tenant_id, name, parent_id, version) VALUES (?, ?, ?, 1)",
                (self._tenant, name, parent_id),
            )
        except sqlite3.IntegrityError as e:
            raise AlreadyExists(f"category {name!r} already exists", field="name") from e
        return Category(cur.lastrowid, name, parent_id, 1)  # type: ignore[arg-type]

    def get(self, category_id: int) -> Category | None:
        row = self._run(
            f"SELECT {self._COLS} FROM categories WHERE tenant_id = ? AND id = ?", (self._tenant, category_id)
        ).fetchone()
        return Category(*row) if row else None

    def get_by_name(self, name: str) -> Category | None:
        row = self._run(
            f"SELECT {self._COLS} FROM categories WHERE tenant_id = ? AND lower(name) = lower(?)", (self._tenant, name)
        ).fetchone()
        return Category(*row) if row else None

    def list(self) -> list[Category]:
        rows = self._run(
            f"SELECT {self._COLS} FROM categories WHERE tenant_id = ? ORDER BY lower(name), id", (self._tenant,)
        )
        return [Category(*r) for r in rows]

    def update(self, category: Category, expected_version: int) -> Category:
        self._check_parent(category.parent_id)
        try:
            cur = self._conn.execute(
                "UPDATE categories SET name = ?, parent_id = ?, version = version + 1"
                " WHERE tenant_id = ? AND id = ? AND version = ?",
                (category.name, category.parent_id, self._tenant, category.id, expected_version),
            )
        except sqlite3.IntegrityError as e:
            raise AlreadyExists(f"category {category.name!r} already exists", field="name") from e
        if cur.rowcount == 0:
            if self.get(category.id) is None:
                raise NotFound(f"category {category.id} does not exist")
            raise VersionConflict(f"category {category.name!r} was changed by someone else; reload and try again")
        return Category(category.id, category.name, category.parent_id, expected_version + 1)

    def delete(self, category_id: int) -> None:
        current = self.get(category_id)
        if current is None:
            raise NotFound(f"category {category_id} does not exist")
        if self._run(
            "SELECT 1 FROM categories WHERE tenant_id = ? AND parent_id = ? LIMIT 1", (self._tenant, category_id)
        ).fetchone():
            raise InUse(f"category {current.name!r} has subcategories; move or delete them first")
        if self._run(
            "SELECT 1 FROM products WHERE tenant_id = ? AND category_id = ? LIMIT 1", (self._tenant, category_id)
        ).fetchone():
            raise InUse(f"category {current.name!r} still has products; move or delete them first")
        self._run("DELETE FROM categories WHERE tenant_id = ? AND id = ?", (self._tenant, category_id))


_PRODUCT_COLS = "id, sku, name, category_id, price_minor, quantity, active, version, deleted_at"
_PRODUCT_COLS_0004 = "id, sku, name, category_id, price_minor, quantity, active, version, NULL"
_LISTING_SELECT = (
    "SELECT p.id, p.sku, p.name, c.name, p.price_minor, p.quantity, p.price_minor * p.quantity, p.active, p.version"
    " FROM products p LEFT JOIN categories c ON c.id = p.category_id"
)


def _listing(row: tuple) -> ProductListing:
    """A row of _LISTING_SELECT as the domain's listing (SQLite returns `active` as 0/1)."""
    return ProductListing._make(row[:7] + (bool(row[7]), row[8]))


_EXPORT_SELECT = (
    "SELECT p.sku, p.name, c.name, p.price_minor, p.quantity, p.price_minor * p.quantity"
    " FROM products p LEFT JOIN categories c ON c.id = p.category_id"
)


# Random-order indexes (by name, and the list's other sorts): bulk_insert() builds those the schema has once,
# sorted, after loading an empty table.
_DEFERRED_INDEXES = ("ix_products_active_category", "ix_products_by_price", "ix_products_by_quantity",
                     "ix_products_by_sku", "ix_products_by_value", "ix_products_listed",
                     "ix_products_tenant_lower_name")
_INSERT_PRODUCT = (
    "INSERT INTO products (tenant_id, sku, name, category_id, price_minor, quantity, active, version)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, 1)"
)
# add_new_stocked(): the opening adjustment (adjustment -> location) and the level of every product
# inserted above :last that has stock, as reconcile() posts them for a product with no levels yet. The unary
# + keeps the planner on the rowid range: on tenant_id it would walk an index over the whole catalog.
_OPENING_MOVES = (
    "INSERT INTO stock_moves (tenant_id, kind, reason, product_id, from_location_id, to_location_id, quantity, day,"
    " memo, idempotency_key, actor, created_at, from_after, to_after)"
    " SELECT :tenant, :kind, :reason, id, :adj, :loc, quantity, :day, :memo, NULL, :actor, :at, NULL, quantity"
    " FROM products WHERE id > :last AND +tenant_id = :tenant AND quantity > 0 ORDER BY id"
)
_OPENING_LEVELS = (
    "INSERT INTO stock_levels (tenant_id, product_id, location_id, on_hand, incoming, outgoing)"
    " SELECT :tenant, id, :loc, quantity, 0, 0 FROM products WHERE id > :last AND +tenant_id = :tenant AND quantity > 0"
    " ORDER BY id"
)


def _product(row: tuple[Any, ...]) -> Product:
    pid, sku, name, cat, price, qty, active, version, deleted_at = row
    return Product(pid, sku, name, cat, price, qty, bool(active), version, deleted_at)


def _where(tenant: str, query: ProductQuery, soft_deletes: bool = True,
           with_text: bool = True, with_category: bool = True) -> tuple[str, list[Any]]:
    clauses = ["p.tenant_id = ?"]
    params: list[Any] = [tenant]
    if soft_deletes and query.deleted is not None:  # False only on a file opened with migrate=no below 0005
        clauses.append("p.deleted_at IS NOT NULL" if query.deleted else "p.deleted_at IS NULL")
    if not query.include_inactive:
        clauses.append("p.active")
    loose, loose_params = _loose_filters(query, with_text, with_category)
    # The text and category first: SQLite tests the terms of a scan in the order written, and the
    # text match turns away most rows before the tenant, active and deleted columns are decoded
    # (a filter's scan of 1,000,000 products: 0.22 s instead of 0.32 s).
    return " WHERE " + " AND ".join(loose + clauses), loose_params + params


def _loose_filters(query: ProductQuery, text: bool = True, category: bool = True) -> tuple[list[str], list[Any]]:
    """The category and text clauses (those a window of the list may apply after reading it)."""
    clauses: list[str] = []
    params: list[Any] = []
    if query.category_ids and category:
        clauses.append(f"p.category_id IN ({', '.join('?' * len(query.category_ids))})")
        params.extend(query.category_ids)
    if query.needle and text:
        clauses.append(_TEXT_MATCH)
        params.extend((like_pattern(query.needle),) * 2)
    return clauses, params


def _category_off_index(query: ProductQuery) -> bool:
    """A category filter in another order than the name: no index has both (ix_products_active_category is
    in name order), so it is a filter on the walk of the sort's index, like a text filter."""
    return bool(query.category_ids) and query.sort != "name"


# LIKE folds ASCII letters only, as lower() and domain fold_case do, and is cheaper than instr(lower()).
_TEXT_MATCH = "(p.name LIKE ? ESCAPE '\\' OR p.sku LIKE ? ESCAPE '\\')"
# The SQL of each sort key (domain.model.catalog.PRODUCT_SORTS), spelled as its index has it so SQLite
# walks that index instead of sorting: name ix_products_listed (0007) and ix_products_tenant_lower_name,
# the others ix_products_by_<sort> (0008; value is an expression index, price x quantity being no column).
_SORT_SQL = {"name": "lower(p.name)", "sku": "p.sku", "price": "p.price_minor", "quantity": "p.quantity",
             "value": "p.price_minor * p.quantity"}


def _order_by(query: ProductQuery, down: bool) -> str:
    """The list order (key, id); down: the other way (a backward page, or a descending list)."""
    way = " DESC" if down else ""
    return f" ORDER BY {_SORT_SQL[query.sort]}{way}, p.id{way}"


# How many rows of the list, in list order, a text filter (or a category in another order than the name)
# reads before it scans the whole table instead: a common word or a big category fills its page within the
# first rows of the list (milliseconds), a rare one is found faster by one sequential pass over the table
# than by the index walk, which visits every row's page (2.5 s for an empty category at 1,000,000).
TEXT_WINDOW = 5_000


class SqliteProducts(_Repo):
    def __init__(self, conn: sqlite3.Connection, tenant: str, soft_deletes: bool = True, listed_index: bool = True,
                 deleted_index: bool = True):
        super().__init__(conn, tenant)
        self._soft = soft_deletes
        self._cols = _PRODUCT_COLS if soft_deletes else _PRODUCT_COLS_0004
        self._listed_index = listed_index  # ix_products_listed (revision 0007)
        self._deleted_index = deleted_index and soft_deletes  # ix_products_deleted (revision 0013)

    def _deleted_view(self, query: ProductQuery) -> bool:
        """The deleted products are read from their own index (revision 0013) whatever the filter or the
        order: they are few. Left to the planner, a single category took the category index instead and
        read every live product of it (0.25-0.45 s for a category of 200,000)."""
        return self._deleted_index and query.deleted is True

    def _check_category(self, category_id: int | None) -> None:
        if category_id is not None and not self._run(
            "SELECT 1 FROM categories WHERE tenant_id = ? AND id = ?", (self._tenant, category_id)
        ).fetchone():
            raise NotFound(f"category {category_id} does not exist", field="category")

    def add(self, product: NewProduct) -> Product:
        self._check_category(product.category_id)
        try:
            cur = self._conn.execute(
                "INSERT INTO products (tenant_id, sku, name, category_id, price_minor, quantity, active, version)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
                (self._tenant, product.sku, product.name, product.category_id, product.price_minor,
                 product.quantity, product.active),
            )
        except sqlite3.IntegrityError as e:
            if "UNIQUE" in str(e):
                raise AlreadyExists(f"a product with SKU {product.sku} already exists", field="sku") from e
            raise translate(e) from e
        return Product(cur.lastrowid, product.sku, product.name, product.category_id,  # type: ignore[arg-type]
                       product.price_minor, product.quantity, product.active, 1)

    def get(self, product_id: int) -> Product | None:
        row = self._run(
            f"SELECT {self._cols} FROM products WHERE tenant_id = ? AND id = ?", (self._tenant, product_id)
        ).fetchone()
        return _product(row) if row else None

    def get_by_sku(self, sku: str) -> Product | None:
        row = self._run(
            f"SELECT {self._cols} FROM products WHERE tenant_id = ? AND sku = ?", (self._tenant, sku)
        ).fetchone()
        return _product(row) if row else None

    def update(self, product: Product, expected_version: int) -> Product:
        self._check_category(product.category_id)
        try:
            cur = self._conn.execute(
                "UPDATE products SET sku = ?, name = ?, category_id = ?, price_minor = ?, quantity = ?, active = ?,"
                " version = version + 1 WHERE tenant_id = ? AND id = ? AND version = ?",
                (product.sku, product.name, product.category_id, product.price_minor, product.quantity,
                 product.active, self._tenant, product.id, expected_version),
            )
        except sqlite3.IntegrityError as e:
            if "UNIQUE" in str(e):
                raise AlreadyExists(f"a product with SKU {product.sku} already exists", field="sku") from e
            raise translate(e) from e
        if cur.rowcount == 0:
            if self.get(product.id) is None:
                raise NotFound(f"product {product.id} does not exist")
            raise VersionConflict(f"{product.sku} was changed by someone else; reload and try again")
        return Product(product.id, product.sku, product.name, product.category_id, product.price_minor,
                       product.quantity, product.active, expected_version + 1, product.deleted_at)

    def set_deleted(self, product_id: int, expected_version: int, deleted_at: str | None) -> Product:
        cur = self._run(
            "UPDATE products SET deleted_at = ?, version = version + 1 WHERE tenant_id = ? AND id = ? AND version = ?",
            (deleted_at, self._tenant, product_id, expected_version),
        )
        found = self.get(product_id)
        if found is None:
            raise NotFound(f"product {product_id} does not exist")
        if cur.rowcount == 0:
            raise VersionConflict(f"{found.sku} was changed by someone else; reload and try again")
        return found

    def delete(self, product_id: int, expected_version: int | None = None) -> Product:
        current = self.get(product_id)
        if current is None:
            raise NotFound(f"product {product_id} does not exist")
        if expected_version is not None and current.version != expected_version:
            raise VersionConflict(f"{current.sku} was changed by someone else; reload and try again")
        self._run("DELETE FROM products WHERE tenant_id = ? AND id = ?", (self._tenant, product_id))
        return current

    def find(self, query: ProductQuery, after: ProductCursor | None, limit: int, *, backward: bool = False,
             skip: int = 0) -> list[ProductListing]:
        windowed = (bool(query.needle) or _category_off_index(query)) and not self._deleted_view(query)
        if skip and after is None and not backward and not windowed:
            # A jump: the row before the offset found in the index alone (no table reads), then a keyset page.
            where, params = _where(self._tenant, query, self._soft)
            found = self._run(f"SELECT p.id FROM {self._source(query, ordered=True)}{where}"
                              f"{_order_by(query, query.descending)} LIMIT 1 OFFSET ?", (*params, skip - 1)).fetchone()
            if found is None:
                return []
            key = self._run(f"SELECT {_SORT_SQL[query.sort]} FROM products p WHERE p.id = ?", (found[0],)).fetchone()[0]
            return self.find(query, ProductCursor(key, found[0]), limit)
        if windowed:
            # The list's first TEXT_WINDOW rows from the cursor, filtered; if they hold no full page, a scan.
            page = self._page(query, after, limit, backward, skip, window=True)
            if len(page) == limit:
                return page
        return self._page(query, after, limit, backward, skip)

    def _page(self, query: ProductQuery, after: ProductCursor | None, limit: int, backward: bool, skip: int,
              window: bool = False) -> list[ProductListing]:
        # Spelled out so SQLite seeks into the index; the row value (key, id) > (?, ?) is only filtered.
        # Backward, or a descending list, walks the same index the other way (down); a backward page is
        # turned round here.
        down = backward != query.descending
        keyset, key_params = "", []
        if after is not None:
            op, key = ("<" if down else ">"), _SORT_SQL[query.sort]
            keyset = f" AND {key} {op}= ? AND ({key} {op} ? OR p.id {op} ?)"
            key_params = [after.key, after.key, after.id]
        order_by = _order_by(query, down)
        off_index = _category_off_index(query)
        if window:
            where, params = _where(self._tenant, query, self._soft, with_text=False, with_category=not off_index)
            loose, loose_params = _loose_filters(query, category=off_index)
            sql = (f"{_LISTING_SELECT} WHERE p.id IN (SELECT p.id FROM products p{where}{keyset}{order_by}"
                   f" LIMIT {TEXT_WINDOW}) AND {' AND '.join(loose)}{order_by} LIMIT ? OFFSET ?")
            params = [*params, *key_params, *loose_params]
        else:
            where, params = _where(self._tenant, query, self._soft)
            if self._deleted_view(query):
                source = _LISTING_SELECT.replace("products p", self._source(query))
            elif query.needle or off_index:
                source = _LISTING_SELECT.replace("products p", "products p NOT INDEXED")
            else:
                source = _LISTING_SELECT
            sql = f"{source}{where}{keyset}{order_by} LIMIT ? OFFSET ?"
            params = [*params, *key_params]
        rows = self._run(sql, (*params, limit, skip))
        page = list(map(_listing, rows))
        return page[::-1] if backward else page

    def count(self, query: ProductQuery) -> int:
        where, params = _where(self._tenant, query, self._soft)
        return self._run(f"SELECT COUNT(*) FROM {self._source(query)}{where}", params).fetchone()[0]

    def _source(self, query: ProductQuery, ordered: bool = False) -> str:
        """Where a count or an offset reads: the deleted view from the index of the deleted products
        (revision 0013); the default list (active, not deleted, any category) from its partial index
        alone; a text filter from one sequential pass over the table (it reads every row either way, and
        the index walk would visit the table's pages in name order). An offset in another order than the
        name (`ordered`) is left to the planner: it picks that sort's index (ix_products_by_<sort>,
        revision 0008), and a database opened below 0008 still answers."""
        if self._deleted_view(query):
            return "products p INDEXED BY ix_products_deleted"
        if query.needle:
            return "products p NOT INDEXED"
        if self._listed_index and self._soft and query.deleted is False and not query.include_inactive \
                and not query.category_ids and not (ordered and query.sort != "name"):
            return "products p INDEXED BY ix_products_listed"
        return "products p"

    def stream(self, query: ProductQuery) -> Iterator[ExportRow]:
        where, params = _where(self._tenant, query, self._soft)
        source = _EXPORT_SELECT.replace("products p", self._source(query)) if self._deleted_view(query) \
            else _EXPORT_SELECT
        cur = self._run(f"{source}{where}{_order_by(query, query.descending)}", params)
        try:
            while chunk := cur.fetchmany(STREAM_CHUNK):
                yield from chunk
        except sqlite3.Error as e:
            raise translate(e) from e

    def all_products(self) -> Iterator[ProductListing]:
        # +tenant_id keeps SQLite on the table in rowid order: 2.3 s for 1,000,000 products against 7.4 s for
        # keyset pages of the list, which read the rows in name order.
        cur = self._run(f"{_LISTING_SELECT} WHERE +p.tenant_id = ? ORDER BY p.id", (self._tenant,))
        try:
            while chunk := cur.fetchmany(STREAM_CHUNK):
                yield from map(_listing, chunk)
        except sqlite3.Error as e:
            raise translate(e) from e

    def value_by_category(self) -> list[CategoryValue]:
        live = " AND p.deleted_at IS NULL" if self._soft else ""
        sql = (
            "SELECT p.category_id, c.name, COUNT(*), SUM(p.quantity), SUM(p.price_minor * p.quantity)"
            " FROM products p LEFT JOIN categories c ON c.id = p.category_id"
            f" WHERE p.tenant_id = ? AND p.active{live} GROUP BY p.category_id"
            " ORDER BY c.name IS NULL, lower(c.name)"
        )
        try:
            return [CategoryValue(*r) for r in self._conn.execute(sql, (self._tenant,))]
        except sqlite3.OperationalError as e:
            if "integer overflow" not in str(e):
                raise translate(e) from e
        # A total beyond 2**63-1 minor units: SQLite's SUM cannot hold it, Python's int can.
        return category_values(self._run(
            "SELECT p.category_id, c.name, p.quantity, p.price_minor * p.quantity"
            f" FROM products p LEFT JOIN categories c ON c.id = p.category_id WHERE p.tenant_id = ? AND p.active{live}",
            (self._tenant,),
        ))

    def upsert_many(self, rows: Iterable[NewProduct]) -> tuple[int, int]:
        # Not INSERT ... ON CONFLICT DO UPDATE: with foreign_keys=ON, SQLite's upsert costs twice a
        # plain INSERT per row. Look the batch's SKUs up once, INSERT the new, UPDATE the changed.
        return upsert_by_distinct_sku(rows, self._upsert_distinct)

    def _upsert_distinct(self, latest: dict[str, NewProduct]) -> tuple[int, int]:
        tenant = self._tenant
        if not latest:
            return 0, 0
        for category_id in {r.category_id for r in latest.values()} - {None}:
            self._check_category(category_id)
        stored: dict[str, tuple[Any, ...]] = {}
        skus = list(latest)
        for i in range(0, len(skus), _IN_CHUNK):
            chunk = skus[i:i + _IN_CHUNK]
            for row in self._run(
                f"SELECT sku, id, name, category_id, price_minor, quantity, active, {'deleted_at' if self._soft else 'NULL'}"
                f" FROM products WHERE tenant_id = ? AND sku IN ({', '.join('?' * len(chunk))})",
                (tenant, *chunk),
            ):
                if row[7] is not None:
                    raise AlreadyExists(f"SKU {row[0]} belongs to deleted product {row[1]}; restore or purge it first",
                                        field="sku")
                stored[row[0]] = row[:7]
        inserts, updates = [], []
        for sku, r in latest.items():
            old = stored.get(sku)
            if old is None:
                inserts.append((tenant, sku, r.name, r.category_id, r.price_minor, r.quantity, r.active))
            elif old[2:] != (r.name, r.category_id, r.price_minor, r.quantity, int(r.active)):
                updates.append((r.name, r.category_id, r.price_minor, r.quantity, r.active, old[1]))
        try:
            self._conn.executemany(_INSERT_PRODUCT, inserts)
            self._conn.executemany(
                "UPDATE products SET name = ?, category_id = ?, price_minor = ?, quantity = ?, active = ?,"
                " version = version + 1 WHERE tenant_id = ? AND id = ?",
                [(*u[:-1], self._tenant, u[-1]) for u in updates],
            )
        except sqlite3.Error as e:
            raise translate(e) from e
        return len(inserts), len(updates)

    @contextmanager
    def bulk_insert(self) -> Iterator[Callable[[Sequence[NewProduct], int, int, NewStockMove], tuple[int, int]]]:
        """An optional capability (the catalog's bulk_add looks for it): yields `add_new_stocked` for a
        run of calls in this transaction. When the products table is empty (every tenant's), the indexes
        of the list orders are dropped first and built again from their stored SQL at the end: one sorted build
        each instead of a million random inserts, in the same transaction, so a rollback or a kill
        leaves the schema as it was. The SKU index stays: it refuses repeats."""
        conn = self._conn
        deferred: list[str] = []
        try:
            if conn.execute("SELECT NOT EXISTS (SELECT 1 FROM products)").fetchone()[0]:
                deferred = [sql for (sql,) in conn.execute(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'products'"
                    f" AND name IN ({', '.join('?' * len(_DEFERRED_INDEXES))}) ORDER BY name", _DEFERRED_INDEXES)]
            if deferred:
                conn.execute("SAVEPOINT defer_indexes")
                try:
                    for name in _DEFERRED_INDEXES:
                        conn.execute(f"DROP INDEX IF EXISTS {name}")
                except sqlite3.OperationalError:  # a read still open on this connection: keep them
                    conn.execute("ROLLBACK TO defer_indexes")
                    deferred = []
                conn.execute("RELEASE defer_indexes")
        except sqlite3.Error as e:
            raise translate(e) from e
        try:
            yield self.add_new_stocked
        except BaseException:
            # Normally rolled back with everything else; never left missing should a caller carry on.
            try:
                for sql in deferred:
                    conn.execute(sql)
            except sqlite3.Error:
                pass
            raise
        if not deferred:
            return
        try:
            # A helper thread for the sorts (SQLite's `threads`): a quarter less time per index when a
            # second core is free. The sorter sorts runs of up to the page cache's size: SQLite's default
            # 2 MiB builds the seven indexes of 1M products in 7.3 s, the write transaction's 32 MiB in 8.9 s.
            threads = conn.execute("PRAGMA threads").fetchone()[0]
            cache = conn.execute("PRAGMA cache_size").fetchone()[0]
            conn.execute(f"PRAGMA threads={1 if (os.cpu_count() or 1) > 1 else 0}")
            conn.execute("PRAGMA cache_size=-2000")
            try:
                for sql in deferred:
                    conn.execute(sql)
            finally:
                conn.execute(f"PRAGMA threads={threads}")
                conn.execute(f"PRAGMA cache_size={cache}")
        except sqlite3.Error as e:
            raise translate(e) from e

    def add_new_stocked(self, rows: Sequence[NewProduct], location_id: int, adjustment_id: int,
                        move: NewStockMove) -> tuple[int, int]:
        """Insert `rows` in order as new products, each with its opening stock: for a quantity above zero,
        an adjustment from `adjustment_id` into `location_id` (`move` is the template: kind, reason,
        day, memo, actor, time) and its level there, as `SqliteStock.reconcile` posts them for a
        product with no levels. Returns (products inserted, adjustments posted).

        At the first row whose SKU the tenant already holds (a repeat included) it stops and posts no
        stock at all: the caller upserts the rest and reconciles the whole batch.

        Raises: NotFound (category).
        """
        # No lookups: plain INSERTs until the SKU index refuses one; then the opening stock of what
        # went in, set-based from the rows just written (ids above `last`).
        if not rows:
            return 0, 0
        tenant = self._tenant
        for category_id in {r[2] for r in rows} - {None}:
            self._check_category(category_id)
        conn = self._conn
        try:
            last = conn.execute("SELECT COALESCE(MAX(id), 0) FROM products").fetchone()[0]
            before = conn.total_changes
            try:
                conn.executemany(_INSERT_PRODUCT, map((tenant,).__add__, rows))  # (tenant, *row), at C speed
            except sqlite3.IntegrityError as e:
                if "UNIQUE" not in str(e):
                    raise
            inserted = conn.total_changes - before
            if inserted < len(rows):
                return inserted, 0
            params = {"tenant": tenant, "last": last, "loc": location_id, "adj": adjustment_id, "kind": move.kind,
                      "reason": move.reason, "day": move.day, "memo": move.memo, "actor": move.actor,
                      "at": move.created_at}
            posted = conn.execute(_OPENING_MOVES, params).rowcount
            conn.execute(_OPENING_LEVELS, params)
        except sqlite3.Error as e:
            raise translate(e) from e
        return inserted, posted


class SqliteUsers(_Repo):
    def __init__(self, conn: sqlite3.Connection, tenant: str, has_created_at: bool):
        super().__init__(conn, tenant)
        self._has_created_at = has_created_at  # False on a database still at revision 0001

    def ensure(self, name: str, now: str) -> User:
        if self._has_created_at:
            self._run(
                "INSERT INTO users (tenant_id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (tenant_id, name) DO NOTHING",
                (self._tenant, name, now),
            )
        else:
            self._run(
                "INSERT INTO users (tenant_id, name) VALUES (?, ?) ON CONFLICT (tenant_id, name) DO NOTHING",
                (self._tenant, name),
            )
        return next(u for u in self._select("AND name = ?", (name,)))

    def list(self) -> list[User]:
        return self._select("ORDER BY id", ())

    def _select(self, tail: str, params: tuple[Any, ...]) -> list[User]:
        created = "created_at" if self._has_created_at else "NULL"
        rows = self._run(f"SELECT id, name, {created} FROM users WHERE tenant_id = ? {tail}", (self._tenant, *params))
        return [User(*r) for r in rows]


_ACCOUNT_COLS = (
    "id, name, kind, currency, debits_posted, credits_posted, debits_pending, credits_pending, overdraft_limit,"
    " status, version, deleted_at"
)
_TRANSFER_COLS = (
    "id, kind, debit_account_id, credit_account_id, amount_minor, currency, pending_id, expires_at, memo,"
    " idempotency_key, actor, created_at, debit_balance_after, credit_balance_after, reverses_id"
)


class SqliteAccounts(_Repo):
    def add(self, account: NewAccount) -> Account:
        try:
            cur = self._conn.execute(
                "INSERT INTO accounts (tenant_id, name, kind, currency, overdraft_limit) VALUES (?, ?, ?, ?, ?)",
                (self._tenant, account.name, account.kind, account.currency, account.overdraft_limit),
            )
        except sqlite3.IntegrityError as e:
            if "UNIQUE" in str(e):
                raise AlreadyExists(f"an account named {account.name!r} already exists", field="name") from e
            raise translate(e) from e
        return Account(cur.lastrowid, account.name, account.kind, account.currency, 0, 0, 0, 0,  # type: ignore[arg-type]
                       account.overdraft_limit, "open", 1)

    def _one(self, where: str, params: tuple[Any, ...]) -> Account | None:
        row = self._run(f"SELECT {_ACCOUNT_COLS} FROM accounts WHERE tenant_id = ? AND {where}", (self._tenant, *params)).fetchone()
        return Account(*row) if row else None

    def get(self, account_id: int) -> Account | None:
        return self._one("id = ?", (account_id,))

    def get_by_name(self, name: str) -> Account | None:
        return self._one("lower(name) = lower(?)", (name,))

    def system_account(self, currency: str) -> Account | None:
        return self._one("kind = 'system' AND currency = ? ORDER BY id LIMIT 1", (currency,))

    def first_of_kind(self, kind: str, currency: str) -> Account | None:
        return self._one(
            "kind = ? AND currency = ? AND status = 'open' AND deleted_at IS NULL ORDER BY id LIMIT 1", (kind, currency)
        )

    def list(self, include_deleted: bool = False) -> list[Account]:
        live = "" if include_deleted else " AND deleted_at IS NULL"
        rows = self._run(
            f"SELECT {_ACCOUNT_COLS} FROM accounts WHERE tenant_id = ?{live} ORDER BY lower(name), id", (self._tenant,)
        )
        return [Account(*r) for r in rows]

    def delete(self, account_id: int) -> None:
        self._run("DELETE FROM accounts WHERE tenant_id = ? AND id = ?", (self._tenant, account_id))

    def update(self, account: Account, expected_version: int) -> Account:
        try:
            cur = self._conn.execute(
                "UPDATE accounts SET name = ?, overdraft_limit = ?, status = ?, deleted_at = ?, version = version + 1"
                " WHERE tenant_id = ? AND id = ? AND version = ?",
                (account.name, account.overdraft_limit, account.status, account.deleted_at, self._tenant, account.id,
                 expected_version),
            )
        except sqlite3.IntegrityError as e:
            if "UNIQUE" in str(e):
                raise AlreadyExists(f"an account named {account.name!r} already exists", field="name") from e
            raise translate(e) from e
        if cur.rowcount == 0:
            if self.get(account.id) is None:
                raise NotFound(f"account {account.id} does not exist")
            raise VersionConflict(f"{account.name} was changed by someone else; reload and try again")
        found = self.get(account.id)
        assert found is not None
        return found

    def apply(self, account_id: int, *, debits_posted: int = 0, credits_posted: int = 0, debits_pending: int = 0,
              credits_pending: int = 0, guard: bool = False) -> int | None:
        sql = (
            "UPDATE accounts SET debits_posted = debits_posted + ?, credits_posted = credits_posted + ?,"
            " debits_pending = debits_pending + ?, credits_pending = credits_pending + ?"
            " WHERE tenant_id = ? AND id = ?"
        )
        params: tuple[Any, ...] = (debits_posted, credits_posted, debits_pending, credits_pending, self._tenant, account_id)
        if guard:  # re-checked in the same statement that changes the totals: no race can slip past it
            sql += (
                " AND status = 'open' AND (kind = 'system'"
                " OR debits_posted + ? + debits_pending + ? <= credits_posted + ? + overdraft_limit)"
            )
            params += (debits_posted, debits_pending, credits_posted)
        row = self._run(sql + " RETURNING credits_posted - debits_posted", params).fetchone()
        return None if row is None else row[0]

    def totals(self) -> LedgerTotals:
        # Added up in Python: SQL SUM() fails with "integer overflow" once a tenant's total passes 2**63.
        t = [0, 0, 0, 0]
        for row in self._run(
            "SELECT debits_posted, credits_posted, debits_pending, credits_pending FROM accounts WHERE tenant_id = ?",
            (self._tenant,),
        ):
            t = [x + y for x, y in zip(t, row)]
        return LedgerTotals(*t)


class SqliteTransfers(_Repo):
    def add(self, transfer: NewTransfer) -> Transfer:
        try:
            cur = self._conn.execute(
                "INSERT INTO transfers (tenant_id, kind, debit_account_id, credit_account_id, amount_minor, currency,"
                " pending_id, expires_at, memo, idempotency_key, actor, created_at, debit_balance_after,"
                " credit_balance_after, reverses_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self._tenant, *transfer),
            )
        except sqlite3.IntegrityError as e:
            if "UNIQUE" in str(e):
                raise AlreadyExists(f"transfer already recorded ({e})", field="idempotency_key") from e
            raise translate(e) from e
        return Transfer(cur.lastrowid, *transfer)  # type: ignore[arg-type]

    def _one(self, where: str, params: tuple[Any, ...]) -> Transfer | None:
        """Live first, then archived: an idempotency key or an id still finds its transfer after archiving."""
        for table in ("transfers", "transfers_archive"):
            row = self._run(
                f"SELECT {_TRANSFER_COLS} FROM {table} WHERE tenant_id = ? AND {where}", (self._tenant, *params)
            ).fetchone()
            if row:
                return Transfer(*row)
        return None

    def get(self, transfer_id: int) -> Transfer | None:
        return self._one("id = ?", (transfer_id,))

    def get_by_key(self, idempotency_key: str) -> Transfer | None:
        return self._one("idempotency_key = ?", (idempotency_key,))

    def resolution(self, pending_id: int) -> Transfer | None:
        return self._one("pending_id = ?", (pending_id,))

    def unresolved_pending(self, expired_before: str | None = None) -> list[Transfer]:
        sql = (
            f"SELECT {_TRANSFER_COLS} FROM transfers t WHERE tenant_id = ? AND kind = 'pending'"
            " AND NOT EXISTS (SELECT 1 FROM transfers r WHERE r.pending_id = t.id)"
        )
        params: tuple[Any, ...] = (self._tenant,)
        if expired_before is not None:
            sql += " AND expires_at IS NOT NULL AND expires_at <= ?"
            params += (expired_before,)
        return [Transfer(*r) for r in self._run(sql + " ORDER BY id", params)]

    def count_by_actor_since(self, actor: str, since: str) -> int:
        return self._run(
            "SELECT COUNT(*) FROM transfers WHERE tenant_id = ? AND actor = ? AND created_at >= ?",
            (self._tenant, actor, since),
        ).fetchone()[0]

    def statement(self, account_id: int, before_id: int | None, limit: int,
                  include_archive: bool = False, *, backward: bool = False, skip: int = 0) -> list[StatementLine]:
        tables = ("transfers", "transfers_archive") if include_archive else ("transfers",)
        # Inclusive bounds (the first page has none); backward walks the same indexes the other way and
        # the page is turned round here.
        if backward:
            op, order, bound = ">=", "", 0 if before_id is None else before_id + 1
        else:
            op, order, bound = "<=", " DESC", MAX_ID if before_id is None else before_id - 1
        if skip:  # a jump: the id of the last line skipped, read from the indexes alone, then a keyset page
            # Bare index ranges, merged in id order as they are walked (each in a subquery of its own, SQLite
            # sorted each one again: 0.5 s instead of 0.1 s at 500,000 lines in).
            sides = [f"SELECT id FROM {t} WHERE tenant_id = ? AND {col} = ? AND id {op} ?"
                     for t in tables for col in ("debit_account_id", "credit_account_id")]
            last = self._run(f"{' UNION ALL '.join(sides)} ORDER BY id{order} LIMIT 1 OFFSET ?",
                             (*(self._tenant, account_id, bound) * len(sides), skip - 1)).fetchone()
            if last is None:
                return []
            bound = last[0] + 1 if backward else last[0] - 1
        parts = [self._statement(t, account_id, op, order, bound, limit) for t in tables]
        sql = parts[0][0] if len(parts) == 1 else (  # both tables' lines cut at `limit`, merged
            " UNION ALL ".join(f"SELECT * FROM ({part})" for part, _ in parts) + f" ORDER BY id{order} LIMIT ?")
        params = parts[0][1] if len(parts) == 1 else (*parts[0][1], *parts[1][1], limit)
        lines = [StatementLine(*r[:7], bool(r[7])) for r in self._run(sql, params)]
        return lines[::-1] if backward else lines

    def _statement(self, table: str, account_id: int, op: str, order: str, bound: int,
                   limit: int) -> tuple[str, tuple[Any, ...]]:
        # Two ordered index ranges (as debit, as credit), each cut at `limit`, merged: O(page), not O(history).
        side = (
            f"SELECT id FROM {table} WHERE tenant_id = ? AND {{col}} = ? AND id {op} ? ORDER BY id{order} LIMIT ?"
        )
        sql = (
            "SELECT t.id AS id, t.created_at, t.kind, a.name, t.memo,"
            " CASE WHEN t.credit_account_id = ? THEN t.amount_minor ELSE -t.amount_minor END,"
            " CASE WHEN t.credit_account_id = ? THEN t.credit_balance_after ELSE t.debit_balance_after END,"
            " t.kind = 'pending'"
            f" FROM {table} t JOIN accounts a ON a.id = CASE WHEN t.credit_account_id = ?"
            " THEN t.debit_account_id ELSE t.credit_account_id END"
            f" WHERE t.id IN (SELECT id FROM ({side.format(col='debit_account_id')})"
            f" UNION ALL SELECT id FROM ({side.format(col='credit_account_id')}))"
            f" ORDER BY t.id{order} LIMIT ?"
        )
        return sql, (account_id, account_id, account_id, self._tenant, account_id, bound, limit,
                     self._tenant, account_id, bound, limit, limit)

    def count_statement(self, account_id: int, include_archive: bool = False) -> int:
        # Two index-only counts per table: a transfer never debits and credits the same account.
        tables = ("transfers", "transfers_archive") if include_archive else ("transfers",)
        return sum(
            self._run(
                f"SELECT (SELECT COUNT(*) FROM {t} WHERE tenant_id = ? AND debit_account_id = ?)"
                f" + (SELECT COUNT(*) FROM {t} WHERE tenant_id = ? AND credit_account_id = ?)",
                (self._tenant, account_id, self._tenant, account_id),
            ).fetchone()[0]
            for t in tables
        )

    def stream(self) -> Iterator[Transfer]:
        last = 0
        while True:
            # +tenant_id: each chunk is a rowid range (see stock.stream_moves).
            rows = self._run(
                f"SELECT * FROM (SELECT {_TRANSFER_COLS} FROM transfers WHERE +tenant_id = ? AND id > ? ORDER BY id LIMIT ?)"
                f" UNION ALL SELECT * FROM (SELECT {_TRANSFER_COLS} FROM transfers_archive WHERE +tenant_id = ? AND id > ?"
                " ORDER BY id LIMIT ?) ORDER BY id LIMIT ?",
                (self._tenant, last, STREAM_CHUNK, self._tenant, last, STREAM_CHUNK, STREAM_CHUNK),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield Transfer(*row)
            last = rows[-1][0]

    def names_account(self, account_id: int) -> bool:
        return any(
            self._run(
                f"SELECT 1 FROM {table} WHERE tenant_id = ? AND (debit_account_id = ? OR credit_account_id = ?) LIMIT 1",
                (self._tenant, account_id, account_id),
            ).fetchone()
            for table in ("transfers", "transfers_archive")
        )
