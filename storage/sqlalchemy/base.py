"""What the SQLAlchemy repositories share: the session of the unit of work, the tenant, the dialect,
and statement helpers that translate errors and keep PostgreSQL transactions usable after a refused
insert (a savepoint around it)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

from sqlalchemy import String, Table, exc
from sqlalchemy.engine import Connection, Result
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from domain.errors import StorageError
from storage.monitor import QueryStats, now_ns
from storage.sqlalchemy.errors import translate

STREAM_CHUNK = 2000
# Core DML never touches ORM objects in the session: no synchronisation needed (rows are mapped to
# domain objects at once and never kept).
_DML = {"synchronize_session": False}
# ORM selects always read the row as stored now, never a copy from earlier in the transaction.
_FRESH = {"populate_existing": True}


@compiles(Table, "sqlite")
def _table_with_hint(table: Table, compiler: Any, **kw: Any) -> str:
    """A table in a FROM followed by its `with_hint(..., "sqlite")` text (`INDEXED BY <index>`): SQLite has
    the clause, but SQLAlchemy's SQLite compiler renders no table hints."""
    sql = compiler.visit_table(table, **kw)
    hint = (kw.get("fromhints") or {}).get(table) if kw.get("asfrom") else None
    return f"{sql} {hint}" if hint else sql


def inline(*values: str) -> Any:
    """String constants written into the SQL, as a partial index's WHERE has them (`kind = 'pending'`,
    `reason IN ('sell', 'purchase')`). With bound values SQLite tells that the query implies the index's
    WHERE only for some forms (`kind = ?`, not an IN list: daily trade took 0.27 s at 1M products instead
    of 4 ms), and a generic PostgreSQL plan never. One value, or several for IN."""
    from sqlalchemy import literal_column

    quoted = [literal_column("'" + v.replace("'", "''") + "'") for v in values]
    return quoted[0] if len(quoted) == 1 else quoted


def tenant_in_id_order(column: Any, tenant: Any, pg: bool) -> Any:
    """The tenant condition of a read in id order (the ledger streams, a snapshot). SQLite, with no statistics,
    takes `tenant_id = ?` for the better way in and sorts the tenant's every row for each chunk through
    an index of (tenant_id, ...); written `+tenant_id` it keeps to the rowid range. PostgreSQL
    plans from its statistics and has no unary + for text."""
    if pg:
        return column == tenant
    return UnaryExpression(column.expression, operator=custom_op("+"), type_=String()) == tenant


def next_chunk(tables: Sequence[Any], columns: Any, tenant_of: Any) -> Any:
    """The next chunk of a ledger read in id order, live and archived rows merged: each table's rows of the
    tenant after the id `last`, cut at `chunk` (the three parameters); `tenant_of(column, tenant)` is the
    tenant condition. Built once at import and run with `_run` (`_in_chunks`): building it for each chunk cost
    ~7 ms, more than reading a small tenant's whole ledger (`stockbank check` streams both and the products)."""
    from sqlalchemy import BigInteger, Integer, bindparam, select, union_all

    tenant, last = bindparam("tenant", type_=String), bindparam("last", type_=BigInteger)
    size = bindparam("chunk", type_=Integer)
    sides = [select(select(*columns(t)).where(tenant_of(t.tenant_id, tenant), t.id > last)
                    .order_by(t.id).limit(size).subquery()) for t in tables]
    both = union_all(*sides).subquery()
    return select(both).order_by(both.c.id).limit(size)


def merged_ids(branches: list[Any], newest_first: bool) -> Any:
    """The first id of the bare id walks `branches` (SELECTs of one id column, no ORDER BY) merged in id
    order; the caller adds its offset (a jump). Written as one compound SELECT, SQLite merges the walks as
    they go; with each branch in a subquery of its own it sorted each one again (500,000 rows in: 0.4-0.5 s
    instead of ~0.1 s). PostgreSQL merges the index scans either way."""
    from sqlalchemy import union_all

    ids = branches[0] if len(branches) == 1 else union_all(*branches)
    column = ids.selected_columns[0]
    return ids.order_by(column.desc() if newest_first else column).limit(1)


# Each store's statement counter, by its engine (the monitor's queries and mean time, storage/monitor.py).
QUERY_STATS: WeakKeyDictionary[Any, QueryStats] = WeakKeyDictionary()


def count_statements(engine: Any, stats: QueryStats) -> None:
    """Count and time every statement the engine runs through Connection.execute; the hot statements that
    bypass it (SqlAlchemyRepo._run) add themselves."""
    from sqlalchemy import event

    QUERY_STATS[engine] = stats

    @event.listens_for(engine, "before_cursor_execute")
    def _started(_conn, _cursor, _statement, _parameters, context, _executemany):
        if context is not None:
            context.stockbank_started = now_ns()

    @event.listens_for(engine, "after_cursor_execute")
    def _finished(_conn, _cursor, _statement, _parameters, context, _executemany):
        started = getattr(context, "stockbank_started", None)
        if started is not None:
            stats.add(now_ns() - started)


class _Prepared(NamedTuple):
    """A Core statement compiled once for one dialect, ready for the driver's cursor."""

    sql: str
    names: tuple[str, ...]  # bind names in the order the driver wants them (positional) or as its keys
    keys: tuple[str, ...]  # the caller's parameter key behind each name
    defaults: tuple[Any, ...]  # the value of a bind the statement carries itself (a literal, a LIMIT)
    positional: bool
    processors: tuple[Any, ...]  # per name, the type's bind processor (None when the value goes as is)
    result_processors: tuple[Any, ...] | None  # per result column; None when every value comes as is


_PREPARED: dict[tuple[int, str, tuple[str, ...]], _Prepared] = {}
_REQUIRED = object()


def _prepare(stmt: Any, dialect: Any, keys: tuple[str, ...]) -> _Prepared:
    """Compile `stmt` for `dialect` with the caller's keys (an INSERT sets just those columns)."""
    compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
    if compiled.literal_execute_params or compiled.post_compile_params:
        raise NotImplementedError("a hot statement must not need rendering at execution time")
    by_name = {name: bind for bind, name in compiled.bind_names.items()}
    names = tuple(compiled.positiontup) if compiled.positional else tuple(by_name)
    binds = [by_name[n] for n in names]
    bind_processors = compiled._bind_processors
    results = tuple(col.type._cached_result_processor(dialect, None) for col in compiled._result_columns)
    return _Prepared(
        sql=compiled.string, names=names, keys=tuple(b.key for b in binds),
        defaults=tuple(_REQUIRED if b.required else b.effective_value for b in binds),
        positional=compiled.positional, processors=tuple(bind_processors.get(n) for n in names),
        result_processors=results if any(results) else None,
    )


class _Rows:
    """The rows of a hot statement, with the three Result methods the repositories use."""

    __slots__ = ("_rows",)

    def __init__(self, rows: Sequence[Any]):
        self._rows = rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def all(self) -> Sequence[Any]:
        return self._rows

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        if len(self._rows) != 1:
            raise StorageError(f"expected one row, got {len(self._rows)}")
        return self._rows[0][0]


class SqlAlchemyRepo:
    """Bound to one tenant and one unit of work's session."""

    def __init__(self, session: Session, tenant: str, dialect: str):
        self._session = session
        self._tenant = tenant
        self._dialect = dialect  # "sqlite" or "postgresql"

    @property
    def _pg(self) -> bool:
        return self._dialect == "postgresql"

    def _tenant_in_id_order(self, table: Any) -> Any:
        return tenant_in_id_order(table.tenant_id, self._tenant, self._pg)

    def _in_chunks(self, next_chunk: Any, after_id: int = 0, id_at: int = 0) -> Iterator[Sequence[Any]]:
        """The rows of a `next_chunk` statement (whose column `id_at` is the id), chunk after chunk, to the end."""
        last = after_id
        while rows := self._run(next_chunk, tenant=self._tenant, last=last, chunk=STREAM_CHUNK).all():
            yield rows
            last = rows[-1][id_at]

    @cached_property
    def _connection(self) -> Connection:
        return self._session.connection()

    def _run(self, stmt: Any, params: dict[str, Any] | None = None, /, **named: Any) -> _Rows:
        """A prebuilt Core statement (the hot paths), compiled once per dialect by SQLAlchemy and run on
        the driver's cursor of the unit of work's connection, inside its transaction. Connection.execute
        costs ~20 us per statement over the driver's ~5 (cache key, parameter and result set-up, events);
        a transfer runs eleven statements, so that alone decides whether this store keeps up."""
        values = {**(params or {}), **named}
        connection = self._connection
        dialect = connection.dialect
        cache_key = (id(stmt), dialect.name, tuple(values))
        prepared = _PREPARED.get(cache_key)
        if prepared is None:
            prepared = _PREPARED.setdefault(cache_key, _prepare(stmt, dialect, cache_key[2]))
        args = []
        for key, default, process in zip(prepared.keys, prepared.defaults, prepared.processors):
            value = values[key] if default is _REQUIRED else values.get(key, default)
            args.append(value if process is None else process(value))
        dbapi_connection = connection.connection
        cursor = dbapi_connection.cursor()
        start = now_ns()
        try:
            cursor.execute(prepared.sql, tuple(args) if prepared.positional else dict(zip(prepared.names, args)))
            rows = cursor.fetchall() if cursor.description else []
            stats = QUERY_STATS.get(connection.engine)
            if stats is not None:
                stats.add(now_ns() - start)
        except Exception as e:
            if dialect.is_disconnect(e, dbapi_connection, cursor):
                connection.invalidate(e)
            wrapped = exc.DBAPIError.instance(prepared.sql, args, e, dialect.loaded_dbapi.Error)
            raise translate(wrapped) from e
        finally:
            cursor.close()
        if prepared.result_processors is not None:
            rows = [tuple(v if p is None else p(v) for v, p in zip(row, prepared.result_processors)) for row in rows]
        return _Rows(rows)

    def _execute(self, stmt: Any, params: Any = None) -> Result[Any]:
        """Run a statement (ORM-enabled select or Core DML); errors come out as domain errors."""
        try:
            return self._session.execute(stmt, params, execution_options={**_DML, **_FRESH})
        except exc.SQLAlchemyError as e:
            raise translate(e) from e

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        """Around a statement whose refusal the caller turns into another error (AlreadyExists with a
        field, NotFound) and then goes on: on PostgreSQL a failed statement aborts the whole transaction
        unless it ran in a savepoint. SQLite undoes just the failed statement, so it pays no savepoint."""
        if not self._pg:
            yield
            return
        nested = self._session.begin_nested()
        try:
            yield
        except BaseException:
            nested.rollback()
            raise
        nested.commit()
