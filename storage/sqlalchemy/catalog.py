"""SQLAlchemy catalog and users: categories, products (keyset lists, export stream, bulk upsert by SKU)
and the actors, every statement scoped by tenant_id; rows are mapped to domain objects here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import (ARRAY, BigInteger, Boolean, Integer, Select, String, any_, bindparam, delete, func, insert, literal,
                        literal_column, or_, select, update)

from domain.errors import AlreadyExists, InUse, NotFound, StorageError, VersionConflict
from domain.model import Category, CategoryValue, NewProduct, Product, ProductListing, ProductQuery, User
from domain.model.catalog import ProductCursor, fold_case
from storage.sqlalchemy.base import STREAM_CHUNK, SqlAlchemyRepo, tenant_in_id_order
from storage.rowfolds import category_values, upsert_by_distinct_sku
from storage.sqlalchemy.errors import translating
from storage.sqlalchemy.tables import CategoryRow, ProductRow, UserRow
from storage.sqlite.repositories import _IN_CHUNK, TEXT_WINDOW

if TYPE_CHECKING:
    from domain.ports import ExportRow

_PG_CHUNK = 10_000  # rows per array parameter on PostgreSQL (SQLite binds each value: _IN_CHUNK at a time)

# -- rows to domain objects --------------------------------------------------------------------

_USER_COLS = (UserRow.id, UserRow.name, UserRow.created_at)
_CATEGORY_COLS = (CategoryRow.id, CategoryRow.name, CategoryRow.parent_id, CategoryRow.version)
_PRODUCT_COLS = (ProductRow.id, ProductRow.sku, ProductRow.name, ProductRow.category_id, ProductRow.price_minor,
                 ProductRow.quantity, ProductRow.active, ProductRow.version, ProductRow.deleted_at)
_NAME_KEY = func.lower(ProductRow.name)  # the list order (lower(name), id), as the index has it
# The active-products index's own predicate, spelled as its WHERE is ("active"): SQLAlchemy writes a boolean
# column as "active = 1" on SQLite and is_(True) as "active IS true|1", and with those neither SQLite nor
# PostgreSQL uses that partial index.
_ACTIVE = literal_column(f"{ProductRow.__tablename__}.active", Integer)
_VALUE = ProductRow.price_minor * ProductRow.quantity  # at most MAX_MINOR: the services refuse more
# Each sort key (domain.model.catalog.PRODUCT_SORTS) as its index has it (migrations 0007 and 0008).
_SORTS: dict[str, Any] = {"name": _NAME_KEY, "sku": ProductRow.sku, "price": ProductRow.price_minor,
                          "quantity": ProductRow.quantity, "value": _VALUE}
# PostgreSQL sorts on stored copies of the two expressions (migration 0011): under row-level security only a
# leakproof condition is an index condition, and lower() and bigint * are not; comparing columns is.
# They are not mapped: SQLite has no such columns.
_PG_SORTS: dict[str, Any] = {**_SORTS, "name": literal_column(f"{ProductRow.__tablename__}.name_key", String),
                             "value": literal_column(f"{ProductRow.__tablename__}.value_minor", BigInteger)}
_LISTING_COLS = (ProductRow.id, ProductRow.sku, ProductRow.name, CategoryRow.name, ProductRow.price_minor,
                 ProductRow.quantity, _VALUE, ProductRow.active, ProductRow.version)
# What an upsert by SKU sets, with the types PostgreSQL's arrays of them have.
_UPSERT_TYPES = (("name", String), ("category_id", BigInteger), ("price_minor", BigInteger), ("quantity", BigInteger),
                 ("active", Boolean))
_UPSERT_FIELDS = tuple(name for name, _ in _UPSERT_TYPES)
_EXPORT_COLS = (ProductRow.sku, ProductRow.name, CategoryRow.name, ProductRow.price_minor, ProductRow.quantity, _VALUE)


def bigint(value: int) -> Any:
    """An id or version as a BIGINT parameter: those are INTEGER columns on PostgreSQL, and a larger value the
    domain accepts must match nothing rather than fail as out of range (int4 = int8 still uses the index)."""
    return literal(value, BigInteger)


# Built once on the mapped tables (Core: no ORM layer to pass) and run with parameters: what every write
# (its actor) and every sale (its product) looks up.
_users, _products = UserRow.__table__.c, ProductRow.__table__.c
_TENANT = bindparam("tenant", type_=String)
_USER_BY_NAME = select(_users.id, _users.name, _users.created_at).where(
    _users.tenant_id == _TENANT, _users.name == bindparam("name", type_=String))
_PRODUCT_BY = {
    key: select(*(_products[c.key] for c in _PRODUCT_COLS)).where(
        _products.tenant_id == _TENANT, _products[key] == bindparam(key, type_=type_))
    for key, type_ in (("id", BigInteger), ("sku", String))
}


def user(row: Any) -> User:
    return User(row[0], row[1], row[2])


def category(row: Any) -> Category:
    return Category(row[0], row[1], row[2], row[3])


def product(row: Any) -> Product:
    pid, sku, name, cat, price, qty, active, version, deleted_at = row
    return Product(pid, sku, name, cat, price, qty, bool(active), version, deleted_at)


_ALL_PRODUCTS = {  # the next chunk of every product in id order (SqlAlchemyRepo._in_chunks)
    pg: select(*_LISTING_COLS).outerjoin(ProductRow.category)
    .where(tenant_in_id_order(ProductRow.tenant_id, bindparam("tenant", type_=String), pg),
           ProductRow.id > bindparam("last", type_=BigInteger))
    .order_by(ProductRow.id).limit(bindparam("chunk", type_=Integer))
    for pg in (False, True)
}


def listing(row: Any) -> ProductListing:
    return ProductListing._make(row)


# -- users -------------------------------------------------------------------------------------


class SqlAlchemyUsers(SqlAlchemyRepo):
    def _one(self, name: str) -> User | None:
        row = self._run(_USER_BY_NAME, {"tenant": self._tenant, "name": name}).first()
        return user(row) if row else None

    def ensure(self, name: str, now: str) -> User:
        # Looked up first: every write transaction ensures its actor, who nearly always exists already.
        found = self._one(name)
        if found is not None:
            return found
        dialect_insert = _dialect_insert(self._pg)
        row = self._execute(
            dialect_insert(UserRow).values(tenant_id=self._tenant, name=name, created_at=now)
            .on_conflict_do_nothing(index_elements=[UserRow.tenant_id, UserRow.name])
            .returning(*_USER_COLS)
        ).first()
        if row is not None:
            return user(row)
        found = self._one(name)  # another transaction created it meanwhile
        if found is None:
            raise StorageError(f"user {name!r} could not be created")
        return found

    def list(self) -> list[User]:
        return [user(r) for r in self._execute(
            select(*_USER_COLS).where(UserRow.tenant_id == self._tenant).order_by(UserRow.id)
        )]


def _dialect_insert(pg: bool) -> Any:
    """`insert` with ON CONFLICT for the dialect at hand."""
    if pg:
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


# -- categories --------------------------------------------------------------------------------


class SqlAlchemyCategories(SqlAlchemyRepo):
    def _select(self) -> Select[Any]:
        return select(*_CATEGORY_COLS).where(CategoryRow.tenant_id == self._tenant)

    def _check_parent(self, parent_id: int | None) -> None:
        if parent_id is not None and self.get(parent_id) is None:
            raise NotFound(f"parent category {parent_id} does not exist", field="parent")

    def add(self, name: str, parent_id: int | None) -> Category:
        self._check_parent(parent_id)
        try:
            with self._savepoint():
                new_id = self._execute(
                    insert(CategoryRow).values(tenant_id=self._tenant, name=name, parent_id=parent_id, version=1)
                    .returning(CategoryRow.id)
                ).scalar_one()
        except AlreadyExists as e:
            raise AlreadyExists(f"category {name!r} already exists", field="name") from e
        return Category(new_id, name, parent_id, 1)

    def get(self, category_id: int) -> Category | None:
        row = self._execute(self._select().where(CategoryRow.id == bigint(category_id))).first()
        return category(row) if row else None

    def get_by_name(self, name: str) -> Category | None:
        # Folded here like SQLite's lower(): on PostgreSQL lower() of a parameter would fold non-ASCII too.
        row = self._execute(self._select().where(func.lower(CategoryRow.name) == fold_case(name))).first()
        return category(row) if row else None

    def list(self) -> list[Category]:
        rows = self._execute(self._select().order_by(func.lower(CategoryRow.name), CategoryRow.id))
        return [category(r) for r in rows]

    def update(self, category: Category, expected_version: int) -> Category:
        self._check_parent(category.parent_id)
        try:
            with self._savepoint():
                row = self._execute(
                    update(CategoryRow)
                    .where(CategoryRow.tenant_id == self._tenant, CategoryRow.id == bigint(category.id),
                           CategoryRow.version == bigint(expected_version))
                    .values(name=category.name, parent_id=category.parent_id, version=CategoryRow.version + 1)
                    .returning(CategoryRow.id)
                ).first()
        except AlreadyExists as e:
            raise AlreadyExists(f"category {category.name!r} already exists", field="name") from e
        if row is None:
            if self.get(category.id) is None:
                raise NotFound(f"category {category.id} does not exist")
            raise VersionConflict(f"category {category.name!r} was changed by someone else; reload and try again")
        return Category(category.id, category.name, category.parent_id, expected_version + 1)

    def delete(self, category_id: int) -> None:
        # One statement asks both questions through the category's relationships (EXISTS subqueries).
        row = self._execute(
            select(
                CategoryRow.name,
                CategoryRow.children.any(CategoryRow.tenant_id == self._tenant),
                CategoryRow.products.any(ProductRow.tenant_id == self._tenant),
            ).where(CategoryRow.tenant_id == self._tenant, CategoryRow.id == bigint(category_id))
        ).first()
        if row is None:
            raise NotFound(f"category {category_id} does not exist")
        name, has_children, has_products = row
        if has_children:
            raise InUse(f"category {name!r} has subcategories; move or delete them first")
        if has_products:
            raise InUse(f"category {name!r} still has products; move or delete them first")
        self._execute(
            delete(CategoryRow).where(CategoryRow.tenant_id == self._tenant, CategoryRow.id == bigint(category_id))
        )


# -- products ----------------------------------------------------------------------------------


class SqlAlchemyProducts(SqlAlchemyRepo):
    def _select(self) -> Select[Any]:
        return select(*_PRODUCT_COLS).where(ProductRow.tenant_id == self._tenant)

    def _with_category(self, *columns: Any) -> Select[Any]:
        """Products of this tenant with their category's name joined in (through the relationship)."""
        return select(*columns).outerjoin(ProductRow.category).where(ProductRow.tenant_id == self._tenant)

    def _filters(self, query: ProductQuery) -> list[Any]:
        clauses: list[Any] = []
        if query.deleted is not None:
            clauses.append(ProductRow.deleted_at.is_not(None) if query.deleted else ProductRow.deleted_at.is_(None))
        if not query.include_inactive:
            clauses.append(_ACTIVE)
        if query.category_ids:
            clauses.append(ProductRow.category_id.in_([bigint(i) for i in query.category_ids]))
        needle = query.needle
        if needle:
            # Substring of the ASCII-folded name or SKU; instr/strpos take the needle literally (no wildcards).
            position = func.strpos if self._pg else func.instr
            clauses.append(or_(position(_NAME_KEY, needle) > 0, position(func.lower(ProductRow.sku), needle) > 0))
        return clauses

    def _check_category(self, category_id: int | None) -> None:
        if category_id is not None and self._execute(
            select(CategoryRow.id).where(CategoryRow.tenant_id == self._tenant, CategoryRow.id == bigint(category_id))
        ).first() is None:
            raise NotFound(f"category {category_id} does not exist", field="category")

    def add(self, product: NewProduct) -> Product:
        self._check_category(product.category_id)
        try:
            with self._savepoint():
                new_id = self._execute(
                    insert(ProductRow).values(
                        tenant_id=self._tenant, sku=product.sku, name=product.name, category_id=product.category_id,
                        price_minor=product.price_minor, quantity=product.quantity, active=product.active, version=1,
                    ).returning(ProductRow.id)
                ).scalar_one()
        except AlreadyExists as e:
            raise AlreadyExists(f"a product with SKU {product.sku} already exists", field="sku") from e
        return Product(new_id, product.sku, product.name, product.category_id, product.price_minor, product.quantity,
                       product.active, 1)

    def get(self, product_id: int) -> Product | None:
        row = self._execute(_PRODUCT_BY["id"], {"tenant": self._tenant, "id": product_id}).first()
        return product(row) if row else None

    def get_by_sku(self, sku: str) -> Product | None:
        row = self._execute(_PRODUCT_BY["sku"], {"tenant": self._tenant, "sku": sku}).first()
        return product(row) if row else None

    def _guarded(self, product_id: int, expected_version: int) -> Any:
        """An UPDATE of one product that changes it only if it is still at `expected_version`."""
        return update(ProductRow).where(ProductRow.tenant_id == self._tenant, ProductRow.id == bigint(product_id),
                                        ProductRow.version == bigint(expected_version))

    def update(self, product: Product, expected_version: int) -> Product:
        self._check_category(product.category_id)
        try:
            with self._savepoint():
                row = self._execute(
                    self._guarded(product.id, expected_version).values(
                        sku=product.sku, name=product.name, category_id=product.category_id,
                        price_minor=product.price_minor, quantity=product.quantity, active=product.active,
                        version=ProductRow.version + 1,
                    ).returning(ProductRow.id)
                ).first()
        except AlreadyExists as e:
            raise AlreadyExists(f"a product with SKU {product.sku} already exists", field="sku") from e
        if row is None:
            if self.get(product.id) is None:
                raise NotFound(f"product {product.id} does not exist")
            raise VersionConflict(f"{product.sku} was changed by someone else; reload and try again")
        return Product(product.id, product.sku, product.name, product.category_id, product.price_minor,
                       product.quantity, product.active, expected_version + 1, product.deleted_at)

    def set_deleted(self, product_id: int, expected_version: int, deleted_at: str | None) -> Product:
        row = self._execute(
            self._guarded(product_id, expected_version)
            .values(deleted_at=deleted_at, version=ProductRow.version + 1)
            .returning(*_PRODUCT_COLS)
        ).first()
        if row is not None:
            return product(row)
        found = self.get(product_id)
        if found is None:
            raise NotFound(f"product {product_id} does not exist")
        raise VersionConflict(f"{found.sku} was changed by someone else; reload and try again")

    def delete(self, product_id: int, expected_version: int | None = None) -> Product:
        current = self.get(product_id)
        if current is None:
            raise NotFound(f"product {product_id} does not exist")
        if expected_version is not None and current.version != expected_version:
            raise VersionConflict(f"{current.sku} was changed by someone else; reload and try again")
        self._execute(
            delete(ProductRow).where(ProductRow.tenant_id == self._tenant, ProductRow.id == bigint(product_id))
        )
        return current

    def _page(self, columns: tuple[Any, ...], query: ProductQuery, after: ProductCursor | None,
              limit: int | None, backward: bool = False, skip: int = 0, *, scan: bool = False) -> Select[Any]:
        """One keyset page in list order (the query's sort key, then id), strictly after the cursor;
        backward: strictly before it, in reverse order (the caller turns the page round). A descending
        list is the ascending one walked the other way (down), on the same index. scan (PostgreSQL): order
        by a copy of the key no index has, so the planner reads the table once and sorts what matches
        instead of walking the whole index for a rare text."""
        stmt = self._with_category(*columns).where(*self._filters(query))
        key = (_PG_SORTS if self._pg else _SORTS)[query.sort]
        down = backward != query.descending
        if after is not None:
            # Spelled out so SQLite seeks into the index; the row value (key, id) > (?, ?) is only filtered.
            at = after.key if isinstance(after.key, str) else literal(after.key, BigInteger)
            if down:
                stmt = stmt.where(key <= at, or_(key < at, ProductRow.id < bigint(after.id)))
            else:
                stmt = stmt.where(key >= at, or_(key > at, ProductRow.id > bigint(after.id)))
        if scan and self._pg:
            key = key.concat("") if query.sort in ("name", "sku") else key + 0
        order = (key.desc(), ProductRow.id.desc()) if down else (key, ProductRow.id)
        stmt = stmt.order_by(*order).limit(limit)
        return stmt.offset(skip) if skip else stmt

    def _window(self, columns: tuple[Any, ...], query: ProductQuery, after: ProductCursor | None, limit: int,
                backward: bool, extra: tuple[Any, ...]) -> Select[Any]:
        """A text filter's page from the first TEXT_WINDOW rows of the list after the cursor (the query
        without its text: a walk of the list's index), as the sqlite3 store reads it. A common word fills
        its page there at once; a rare one is then looked for by one pass over the table (`scan`).
        `columns` begin with the product's id, SKU and name (the list's and the stock list's do)."""
        key = (_PG_SORTS if self._pg else _SORTS)[query.sort]
        listed = (*(c.label(f"c{i}") for i, c in enumerate(columns)), key.label("k"))
        window = self._page(listed, replace(query, text=""), after, TEXT_WINDOW, backward).where(*extra).subquery()
        row = [window.c[f"c{i}"] for i in range(len(columns))]
        position = func.strpos if self._pg else func.instr
        product_id, sku, name = row[:3]
        down = backward != query.descending
        return (select(*row)
                .where(or_(position(func.lower(name), query.needle) > 0, position(func.lower(sku), query.needle) > 0))
                .order_by(*((window.c.k.desc(), product_id.desc()) if down else (window.c.k, product_id)))
                .limit(limit))

    def jump(self, query: ProductQuery, skip: int, extra: tuple[Any, ...] = (),
             on_index: Any = None) -> ProductCursor | None:
        """The cursor `skip` rows into the list (a scrollbar drag), found in the list's index alone; a keyset
        page from it is the page at that offset. An OFFSET over the page's own SELECT read the table for
        every row it skipped: 1.0-1.5 s on PostgreSQL at 500,000 products in, the stock list's 4 s.
        `on_index(stmt)` names an index for the walk (the low-stock view's)."""
        key = (_PG_SORTS if self._pg else _SORTS)[query.sort]
        order = (key.desc(), ProductRow.id.desc()) if query.descending else (key, ProductRow.id)
        walk = (select(ProductRow.id).where(ProductRow.tenant_id == self._tenant, *self._filters(query), *extra)
                .order_by(*order).limit(1).offset(skip - 1))
        found = self._execute(walk if on_index is None else on_index(walk)).scalar()
        if found is None:
            return None
        at = self._execute(select(key).where(ProductRow.tenant_id == self._tenant, ProductRow.id == found)).scalar()
        if at is None:  # purged between the two reads (PostgreSQL reads each statement's own snapshot)
            return self.jump(query, skip, extra, on_index)
        return ProductCursor(at, found)

    def page_rows(self, columns: tuple[Any, ...], query: ProductQuery, after: ProductCursor | None, limit: int,
                  backward: bool = False, skip: int = 0, extra: tuple[Any, ...] = ()) -> list[Any]:
        """One page of `columns` (`_page` with the further conditions `extra`), returned in list order
        whichever way it was read; a text filter's page is read through its window first."""
        if skip and after is None and not backward and not query.needle:
            after = self.jump(query, skip, extra)
            if after is None:
                return []
            skip = 0
        rows: list[Any] = []
        if query.needle and not skip:
            rows = self._execute(self._window(columns, query, after, limit, backward, extra)).all()
        if len(rows) < limit:
            rows = self._execute(self._page(columns, query, after, limit, backward, skip, scan=bool(query.needle))
                                 .where(*extra)).all()
        return rows[::-1] if backward else rows

    def find(self, query: ProductQuery, after: ProductCursor | None, limit: int, *, backward: bool = False,
             skip: int = 0) -> list[ProductListing]:
        return [listing(r) for r in self.page_rows(_LISTING_COLS, query, after, limit, backward, skip)]

    def count(self, query: ProductQuery) -> int:
        return self._execute(
            select(func.count()).select_from(ProductRow).where(ProductRow.tenant_id == self._tenant,
                                                                *self._filters(query))
        ).scalar_one()

    def stream(self, query: ProductQuery) -> Iterator[ExportRow]:
        # One ordered statement read STREAM_CHUNK rows at a time (a server-side cursor on PostgreSQL), not
        # keyset chunks: one walk of the index instead of a seek per chunk.
        stmt = self._page(_EXPORT_COLS, query, None, None).execution_options(yield_per=STREAM_CHUNK)
        with translating():
            for chunk in self._execute(stmt).partitions():
                yield from (tuple(r) for r in chunk)  # type: ignore[misc]

    def all_products(self) -> Iterator[ProductListing]:
        # Keyset chunks in id order, as the ledger streams: one query for a small shop (a server-side
        # cursor cost PostgreSQL's `check` three more round trips each time), id ranges for a big one.
        for rows in self._in_chunks(_ALL_PRODUCTS[self._pg]):
            yield from map(listing, rows)

    def value_by_category(self) -> list[CategoryValue]:
        live = (_ACTIVE, ProductRow.deleted_at.is_(None))
        # PostgreSQL's SUM of a BIGINT is a NUMERIC: exact past 2**63. SQLite's overflows (handled below).
        stmt = (
            self._with_category(ProductRow.category_id, CategoryRow.name, func.count(),
                                func.sum(ProductRow.quantity), func.sum(_VALUE))
            .where(*live)
            .group_by(ProductRow.category_id, CategoryRow.name)
            .order_by(CategoryRow.name.is_(None), func.lower(CategoryRow.name))
        )
        try:
            return [CategoryValue(cat_id, name, n, int(qty), int(value)) for cat_id, name, n, qty, value
                    in self._execute(stmt)]
        except StorageError as e:
            if self._pg or "integer overflow" not in str(e.__cause__):
                raise
        # A total beyond 2**63-1 minor units on SQLite: SUM cannot hold it, Python's int can.
        return category_values(self._execute(
            self._with_category(ProductRow.category_id, CategoryRow.name, ProductRow.quantity, _VALUE).where(*live)
        ))

    def upsert_many(self, rows: Iterable[NewProduct]) -> tuple[int, int]:
        # Look the batch's SKUs up once, INSERT the new in bulk, UPDATE only the changed.
        return upsert_by_distinct_sku(rows, self._upsert_distinct)

    def _chunks(self, values: list[Any]) -> Iterator[list[Any]]:
        """Lookup batches: SQLite binds each value (a bound on parameters), PostgreSQL one array per batch."""
        size = _PG_CHUNK if self._pg else _IN_CHUNK
        for i in range(0, len(values), size):
            yield values[i:i + size]

    def _among(self, column: Any, values: list[Any], item_type: Any) -> Any:
        """`column IN values`: `= ANY(array)` on PostgreSQL (one parameter however many values)."""
        if self._pg:
            return column == any_(literal(values, ARRAY(item_type)))
        return column.in_(bindparam(None, values, type_=item_type, expanding=True))

    def _check_categories(self, category_ids: set[int]) -> None:
        """Every id names a category of this tenant; the smallest missing one is reported."""
        wanted = sorted(category_ids)
        found: set[int] = set()
        for chunk in self._chunks(wanted):
            found.update(self._execute(
                select(CategoryRow.id)
                .where(CategoryRow.tenant_id == self._tenant, self._among(CategoryRow.id, chunk, BigInteger))
            ).scalars())
        for category_id in wanted:
            if category_id not in found:
                raise NotFound(f"category {category_id} does not exist", field="category")

    def _upsert_distinct(self, latest: dict[str, NewProduct]) -> tuple[int, int]:
        if not latest:
            return 0, 0
        self._check_categories({r.category_id for r in latest.values()} - {None})  # type: ignore[misc]
        stored: dict[str, tuple[Any, ...]] = {}
        for chunk in self._chunks(list(latest)):
            for sku, pid, name, cat, price, qty, active, deleted_at in self._execute(
                select(ProductRow.sku, ProductRow.id, ProductRow.name, ProductRow.category_id, ProductRow.price_minor,
                       ProductRow.quantity, ProductRow.active, ProductRow.deleted_at)
                .where(ProductRow.tenant_id == self._tenant, self._among(ProductRow.sku, chunk, String))
            ):
                if deleted_at is not None:
                    raise AlreadyExists(f"SKU {sku} belongs to deleted product {pid}; restore or purge it first",
                                        field="sku")
                stored[sku] = (pid, (name, cat, price, qty, bool(active)))
        inserts: list[tuple[Any, ...]] = []  # (sku, *fields)
        updates: list[tuple[Any, ...]] = []  # (id, *fields)
        for sku, r in latest.items():
            fields = (r.name, r.category_id, r.price_minor, r.quantity, bool(r.active))
            old = stored.get(sku)
            if old is None:
                inserts.append((sku, *fields))
            elif old[1] != fields:
                updates.append((old[0], *fields))
        if self._pg:
            self._write_sets(inserts, updates)
        else:
            self._write_rows(inserts, updates)
        return len(inserts), len(updates)

    def _write_rows(self, inserts: list[tuple[Any, ...]], updates: list[tuple[Any, ...]]) -> None:
        """SQLite: one prepared statement run for every row (executemany), as the sqlite3 store does."""
        if inserts:
            self._execute(insert(ProductRow.__table__), [
                {"tenant_id": self._tenant, "sku": sku, **dict(zip(_UPSERT_FIELDS, fields)), "version": 1}
                for sku, *fields in inserts
            ])
        if updates:
            stmt = (
                update(ProductRow.__table__)
                .where(ProductRow.tenant_id == self._tenant, ProductRow.id == bindparam("pid"))
                .values(**{k: bindparam(f"v_{k}") for k in _UPSERT_FIELDS}, version=ProductRow.version + 1)
            )
            self._execute(stmt, [
                {"pid": pid, **{f"v_{k}": v for k, v in zip(_UPSERT_FIELDS, fields)}} for pid, *fields in updates
            ])

    def _write_sets(self, inserts: list[tuple[Any, ...]], updates: list[tuple[Any, ...]]) -> None:
        """PostgreSQL: one INSERT ... SELECT / UPDATE ... FROM over unnest(arrays) per batch, not a statement a row."""
        for i in range(0, len(inserts), _PG_CHUNK):
            rows = _unnest(inserts[i:i + _PG_CHUNK], ("sku", String), *_UPSERT_TYPES)
            self._execute(insert(ProductRow).from_select(
                ["tenant_id", "sku", *_UPSERT_FIELDS, "version"],
                select(literal(self._tenant, String), rows.c.sku, *(rows.c[k] for k in _UPSERT_FIELDS), literal(1)),
            ))
        for i in range(0, len(updates), _PG_CHUNK):
            rows = _unnest(updates[i:i + _PG_CHUNK], ("id", BigInteger), *_UPSERT_TYPES)
            self._execute(
                update(ProductRow)
                .where(ProductRow.tenant_id == self._tenant, ProductRow.id == rows.c.id)
                .values(**{k: rows.c[k] for k in _UPSERT_FIELDS}, version=ProductRow.version + 1)
            )


def _unnest(rows: list[tuple[Any, ...]], *columns: tuple[str, Any]) -> Any:
    """PostgreSQL: `rows` as a table, sent as one typed array per column."""
    arrays = [literal(list(values), ARRAY(type_)) for values, (_, type_) in zip(zip(*rows), columns)]
    return func.unnest(*arrays).table_valued(*(name for name, _ in columns)).render_derived()
