"""SQLAlchemy adapter: `sqlalchemy+sqlite:///path.db` and `postgresql+psycopg://user@host/db`.

One engine per store, one connection and ORM session per unit of work; a nested unit of work is a
SAVEPOINT. The schema comes from the same Alembic history as the sqlite3 store.

- SQLite: the driver's own transaction handling is off; a write unit of work starts with BEGIN
  IMMEDIATE (the write lock up front, as in the sqlite3 store), a read with BEGIN.
- PostgreSQL: READ COMMITTED. Every unit of work names its tenant for the transaction
  (`set_config('stockbank.tenant', …, true)`, which row-level security reads), and a write unit of
  work takes a transaction-level advisory lock for its tenant: the audit chain needs a total order
  per tenant (each entry hashes the one before), and it makes ids follow commit order within a tenant
  (what `asof day N` relies on). Writers of different tenants run in parallel; the guarded UPDATEs and
  CHECK constraints stay the wall under the service checks either way.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from domain.errors import DomainError, NotFound, StorageError, UnsupportedVersion, ValidationError
from storage import migrations
from storage.monitor import QueryStats
from storage.sqlalchemy.base import count_statements
from storage.sqlalchemy.errors import translate, translating

SQLITE_PREFIX = "sqlalchemy+sqlite:///"
POSTGRES_PREFIXES = ("postgresql+psycopg://", "postgresql://", "postgres://")
# The async store (storage/sqlalchemy/asyncio.py): the same options, asyncio drivers.
ASYNC_SQLITE_PREFIX = "sqlite+aiosqlite:///"
ASYNC_POSTGRES_PREFIX = "postgresql+psycopg_async://"
# Our options in the URL's query; everything else is passed on to the driver.
_OPTIONS = {"attachments", "busy_timeout", "synchronous", "migrate", "saves", "files"}
_SYNC_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")
APP_ROLE = "stockbank_app"  # made by migration 0006 (PostgreSQL): no superuser, no BYPASSRLS
ALL_TENANTS = "*"  # the tenant a maintenance unit of work names to see every tenant's rows (row-level security)
_MIGRATION_LOCK = 0x5B0C_B4A7  # pg_advisory_lock key: one process migrates a PostgreSQL database at a time


@dataclass(frozen=True)
class SqlAlchemyOptions:
    engine_url: str  # what SQLAlchemy connects to (our options stripped)
    dialect: str  # "sqlite" or "postgresql"
    path: str | None = None  # the SQLite file
    synchronous: str = "FULL"
    busy_timeout_ms: int = 5000
    migrate: bool = True
    attachments: str = "file"  # where new attachment bytes go: "file" (content-addressed folder) or "blob"
    saves: str | None = None  # the folder for save slots (PostgreSQL; SQLite keeps them next to the file)
    files: str | None = None  # the folder for attachment files (PostgreSQL; SQLite: next to the file)


def parse_url(url: str) -> SqlAlchemyOptions:
    """Raises: ValidationError for another scheme, a missing path or an unknown option."""
    driver = ""
    if url.startswith((SQLITE_PREFIX, ASYNC_SQLITE_PREFIX)):
        rest = url.split(":///", 1)[1]
        dialect = "sqlite"
        driver = "+aiosqlite" if url.startswith(ASYNC_SQLITE_PREFIX) else ""
    elif url.startswith((*POSTGRES_PREFIXES, ASYNC_POSTGRES_PREFIX)):
        rest = url.split("://", 1)[1]
        dialect = "postgresql"
        driver = "+psycopg_async" if url.startswith(ASYNC_POSTGRES_PREFIX) else "+psycopg"
    else:
        raise ValidationError(f"not a SQLAlchemy URL: {url!r}", field="db")
    base, _, query = rest.partition("?")
    opts: dict[str, Any] = {}
    passthrough: list[tuple[str, str]] = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in _OPTIONS:
            if dialect == "sqlite":
                raise ValidationError(f"unknown sqlalchemy+sqlite URL option {key}={value!r}", field="db")
            passthrough.append((key, value))  # libpq options (sslmode, connect_timeout, ...)
        elif key == "synchronous" and value.upper() in _SYNC_LEVELS and dialect == "sqlite":
            opts["synchronous"] = value.upper()
        elif key == "busy_timeout" and value.isdigit():
            opts["busy_timeout_ms"] = int(value)
        elif key == "migrate" and value.lower() in ("yes", "no", "true", "false", "1", "0"):
            opts["migrate"] = value.lower() in ("yes", "true", "1")
        elif key == "attachments" and value.lower() in ("file", "blob"):
            opts["attachments"] = value.lower()
        elif key in ("saves", "files") and value and dialect == "postgresql":
            opts[key] = os.path.expanduser(value)
        else:
            raise ValidationError(f"unknown or bad {dialect} URL option {key}={value!r}", field="db")
    if dialect == "sqlite":
        if not base or base == ":memory:":
            raise ValidationError("sqlalchemy+sqlite URL needs a file path, e.g. sqlalchemy+sqlite:///shop.db", field="db")
        path = os.path.expanduser(base)
        return SqlAlchemyOptions(engine_url=f"sqlite{driver}:///{path}", dialect=dialect, path=path, **opts)
    if "/" not in base or not base.rsplit("/", 1)[1]:
        raise ValidationError("PostgreSQL URL needs a database name, e.g. postgresql+psycopg://127.0.0.1/shop", field="db")
    opts.setdefault("attachments", "blob")  # no file next to a server database: bytes live in the rows
    engine_url = f"postgresql{driver}://" + base + (f"?{urlencode(passthrough)}" if passthrough else "")
    return SqlAlchemyOptions(engine_url=engine_url, dialect=dialect, **opts)


def _data_dir() -> Path:
    """Where a server database's save slots and attachment files go on this machine."""
    override = os.environ.get("STOCKBANK_DATA_DIR")
    if override:
        return Path(override)
    from platformdirs import user_data_path

    return user_data_path("stockbank")


# One row of pg_stat_database (readable by any role) for the database monitor.
_PG_STATS = (
    "SELECT pg_database_size(current_database()), d.blks_hit, d.blks_read, d.numbackends,"
    " current_setting('max_connections')::int, current_setting('server_version')"
    " FROM pg_stat_database d WHERE d.datname = current_database()"
)


class SqlAlchemyStore:
    """A SQLAlchemy engine over SQLite or PostgreSQL, with units of work for one tenant at a time."""

    def __init__(self, url: str):
        self.url = url
        self.options = parse_url(url)
        self.dialect = self.options.dialect
        self.path = self.options.path
        self._local = threading.local()
        self._closed = False
        self.engine = self._create_engine()
        try:
            self.created, self.revision = self._prepare_schema()
        except BaseException:
            self.engine.dispose()
            raise

    # -- engine -------------------------------------------------------------------------------

    def _create_engine(self):
        o = self.options
        if o.dialect == "sqlite":
            parent = Path(o.path).resolve().parent  # type: ignore[arg-type]
            if not parent.is_dir():
                raise StorageError(f"folder {parent} does not exist", field="db")
        engine = self._new_engine()
        _install_events(engine, o)
        self.query_stats = QueryStats()
        count_statements(engine, self.query_stats)
        return engine

    def _new_engine(self):
        """The (sync) engine; the async store hands in its async engine's `sync_engine` instead."""
        from sqlalchemy import create_engine

        return create_engine(self.options.engine_url, **engine_arguments(self.options))

    def _prepare_schema(self) -> tuple[bool, str]:
        """Make sure the database is at the head revision; returns (created, revision).

        Raises: UnsupportedVersion (newer or foreign schema), NotFound (migrate=no and nothing there),
        Corrupt, StorageError (cannot reach the server, upgrade failed).
        """
        if self.dialect == "sqlite":
            # The same file format as the sqlite3 store: its checks, backup-before-upgrade and audit entry.
            from storage.sqlite.store import SqliteOptions, prepare_schema

            o = self.options
            return prepare_schema(SqliteOptions(path=o.path, synchronous=o.synchronous,  # type: ignore[arg-type]
                                                busy_timeout_ms=o.busy_timeout_ms, migrate=o.migrate))
        from sqlalchemy import text

        with translating(), self.engine.connect() as conn:
            revision = _pg_revision(conn)
            if revision == migrations.HEAD:
                return False, revision
            _check_known(revision)
            if not self.options.migrate:
                if revision is None:
                    raise NotFound("no stockbank schema in this database (migrate=no changes nothing)", field="db")
                return False, revision
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
            conn.commit()
            try:
                revision = _pg_revision(conn)  # another process may have migrated meanwhile
                conn.commit()
                if revision == migrations.HEAD:
                    return False, revision
                _check_known(revision)
                try:
                    migrations.upgrade(self.options.engine_url.replace("+psycopg_async://", "+psycopg://", 1))
                except DomainError:
                    raise
                except Exception as e:  # sqlalchemy/alembic errors must not cross the storage boundary
                    raise StorageError(
                        f"the schema upgrade to revision {migrations.HEAD} failed and was rolled back: "
                        f"{getattr(e, 'orig', None) or e}"
                    ) from e
                self.engine.dispose()  # pooled connections made before the role existed would bypass the policies
                if revision is not None:
                    self._audit_upgrade(revision, migrations.HEAD)
                return revision is None, migrations.HEAD
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
                conn.commit()

    def _audit_upgrade(self, old: str, new: str) -> None:
        """Every tenant's audit log records the schema upgrade (actor `migration`), chained like any entry."""
        from datetime import datetime, timezone

        from sqlalchemy import select, union

        from domain.audit_chain import chained_entry
        from domain.clock import utc_iso
        from domain.services.context import canonical_json
        from storage.sqlalchemy.tables import AuditRow, UserRow

        now = utc_iso(datetime.now(timezone.utc))
        with self.unit_of_work(ALL_TENANTS) as uow:
            tenants = [r[0] for r in uow.session.execute(union(select(AuditRow.tenant_id), select(UserRow.tenant_id)))]
        for tenant in tenants:
            with self.unit_of_work(tenant, write=True) as uow:
                uow.users.ensure("migration", now)
                uow.audit.append(chained_entry(uow.audit.tail(), now, "migration", "schema", new, "migrate",
                                               canonical_json({"revision": old}), canonical_json({"revision": new})))
                uow.commit()

    # -- units of work ------------------------------------------------------------------------

    def unit_of_work(self, tenant: str, *, write: bool = False) -> SqlAlchemyUnitOfWork:
        if self._closed:
            raise StorageError("the store is closed")
        return SqlAlchemyUnitOfWork(self, tenant, write)

    @cached_property
    def files(self):  # -> FileContentStore: attachment bytes stored as files
        from storage.blobs import FileContentStore

        if self.path is not None:
            return FileContentStore(os.path.abspath(self.path) + ".files")
        return FileContentStore(self.options.files or _data_dir() / "files" / self._server_folder())

    def _server_folder(self) -> str:
        """A folder name for this server database: host_port_database, safe on any file system."""
        from sqlalchemy.engine import make_url

        u = make_url(self.options.engine_url)
        raw = f"{u.host or 'local'}_{u.port or 5432}_{u.database}"
        return "".join(c if c.isalnum() or c in "._-" else "_" for c in raw)

    def save_slots(self, tenant: str):  # -> FileSaveSlots
        """`<db>.saves/<tenant>/` next to a SQLite file; for PostgreSQL, a folder per server database in the
        user data folder (or `?saves=/path`)."""
        from storage.savefiles.slots import FileSaveSlots, tenant_folder

        if self.path is not None:
            root = Path(os.path.abspath(self.path) + ".saves")
        else:
            root = Path(self.options.saves) if self.options.saves else _data_dir() / "saves" / self._server_folder()
        return FileSaveSlots(root / tenant_folder(tenant), source=self.url)

    def server_statistics(self) -> tuple[int, int, int, int, int, str, int | None]:
        """PostgreSQL's figures for the database monitor (storage/monitor.py): database size, shared-buffer
        hits and reads, sessions on this database, max_connections, server version, and the WAL folder's
        size when this role may list it (pg_ls_waldir: superusers and pg_monitor; else None).

        Raises: SQLAlchemy errors (the server is down or refuses us); StorageError on SQLite.
        """
        if self.dialect != "postgresql":
            raise StorageError("server statistics are PostgreSQL's")
        from sqlalchemy import text

        with self.engine.connect() as conn:
            row = conn.execute(text(_PG_STATS)).one()
            try:
                with conn.begin_nested():
                    wal = conn.execute(text("SELECT COALESCE(SUM(size), 0) FROM pg_ls_waldir()")).scalar()
            except Exception:  # insufficient privilege: the figure stays unknown
                wal = None
        return (*row, wal)

    def collect_attachment_files(self, min_age_seconds: float = 0.0) -> tuple[int, int]:
        """Delete attachment files no row of any tenant uses; returns (files, bytes) freed.

        Raises: Busy, StorageError.
        """
        with self.unit_of_work(ALL_TENANTS if self.dialect == "postgresql" else "", write=True) as uow:
            return self.files.collect(uow.attachments.referenced_files(), min_age_seconds)

    def close(self) -> None:
        self._closed = True
        self.engine.dispose()

    def __enter__(self) -> SqlAlchemyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SqlAlchemyUnitOfWork:
    """One transaction: a connection and an ORM session; a nested unit of work becomes a SAVEPOINT."""

    def __init__(self, store: SqlAlchemyStore, tenant: str, write: bool):
        self._store = store
        self._tenant = tenant
        self._write = write

    def __enter__(self) -> SqlAlchemyUnitOfWork:
        from sqlalchemy import text
        from sqlalchemy.orm import Session

        local = self._store._local
        outer: SqlAlchemyUnitOfWork | None = getattr(local, "uow", None)
        self._nested = outer is not None
        if outer is not None:
            if self._write and not outer._write:
                raise StorageError("a write unit of work cannot start inside a read one on the same thread")
            if outer._tenant != self._tenant:
                raise StorageError("a unit of work for another tenant cannot start inside this one")
            self._conn, self.session = outer._conn, outer.session
            with translating():
                self._tx = self._conn.begin_nested()
            local.depth += 1
        else:
            with translating():
                conn = self._store.engine.connect()
                try:
                    conn.info["stockbank_write"] = self._write
                    self._tx = conn.begin()
                    if self._store.dialect == "postgresql":
                        if self._write:
                            conn.execute(text("SELECT set_config('stockbank.tenant', :t, true),"
                                              " pg_advisory_xact_lock(hashtextextended(:t, 0))"), {"t": self._tenant})
                        else:
                            conn.execute(text("SELECT set_config('stockbank.tenant', :t, true)"), {"t": self._tenant})
                except BaseException:
                    conn.close()
                    raise
            self._conn = conn
            self.session = Session(bind=conn, autoflush=False, expire_on_commit=False,
                                   join_transaction_mode="rollback_only")
            local.uow, local.depth = self, 0
        self._done = False
        return self

    # Repositories are built on first use, with their modules: a transaction pays only for what it touches.

    def _repo(self, cls):
        return cls(self.session, self._tenant, self._store.dialect)

    @cached_property
    def categories(self):
        from storage.sqlalchemy.catalog import SqlAlchemyCategories

        return self._repo(SqlAlchemyCategories)

    @cached_property
    def products(self):
        from storage.sqlalchemy.catalog import SqlAlchemyProducts

        return self._repo(SqlAlchemyProducts)

    @cached_property
    def users(self):
        from storage.sqlalchemy.catalog import SqlAlchemyUsers

        return self._repo(SqlAlchemyUsers)

    @cached_property
    def audit(self):
        from storage.sqlalchemy.audit import SqlAlchemyAudit

        return self._repo(SqlAlchemyAudit)

    @cached_property
    def accounts(self):
        from storage.sqlalchemy.bank import SqlAlchemyAccounts

        return self._repo(SqlAlchemyAccounts)

    @cached_property
    def transfers(self):
        from storage.sqlalchemy.bank import SqlAlchemyTransfers

        return self._repo(SqlAlchemyTransfers)

    @cached_property
    def locations(self):
        from storage.sqlalchemy.stock import SqlAlchemyLocations

        return self._repo(SqlAlchemyLocations)

    @cached_property
    def stock(self):
        from storage.sqlalchemy.stock import SqlAlchemyStock

        return SqlAlchemyStock(self.session, self._tenant, self._store.dialect, self._store.revision)

    @cached_property
    def game(self):
        from storage.sqlalchemy.stock import SqlAlchemyGame

        return self._repo(SqlAlchemyGame)

    @cached_property
    def lifecycle(self):
        from storage.sqlalchemy.lifecycle import SqlAlchemyLifecycle

        return self._repo(SqlAlchemyLifecycle)

    @cached_property
    def attachments(self):
        from storage.sqlalchemy.attachments import SqlAlchemyAttachments

        return SqlAlchemyAttachments(self.session, self._tenant, self._store.dialect,
                                     self._store.options.attachments, self._store.files)

    @cached_property
    def snapshot(self):
        from storage.sqlalchemy.snapshot import SqlAlchemySnapshot

        return self._repo(SqlAlchemySnapshot)

    def __exit__(self, *exc_info: object) -> None:
        local = self._store._local
        try:
            if not self._done:
                self.rollback()
        finally:
            if self._nested:
                local.depth -= 1
            else:
                local.uow = None
                self.session.close()
                self._conn.close()  # back to the pool (a connection mid-transaction is rolled back first)

    def commit(self) -> None:
        with translating():
            self.session.flush()
            self._tx.commit()
        self._done = True

    def rollback(self) -> None:
        self._done = True
        if self._tx.is_active:
            with translating():
                self._tx.rollback()


def engine_arguments(o: SqlAlchemyOptions) -> dict[str, Any]:
    """Pool and driver settings for either engine (sync or asyncio)."""
    if o.dialect == "sqlite":
        connect = {"timeout": o.busy_timeout_ms / 1000}
        if "aiosqlite" not in o.engine_url:
            connect["check_same_thread"] = False
        return {"connect_args": connect, "pool_size": 5, "max_overflow": 10}
    # No pre-ping (a round trip per unit of work): a connection the server dropped fails once with
    # `storage`, SQLAlchemy then discards the pool, and the next try connects afresh.
    return {"pool_size": 5, "max_overflow": 10, "pool_recycle": 1800,
            "connect_args": {"options": f"-c lock_timeout={o.busy_timeout_ms} -c idle_in_transaction_session_timeout=600000",
                             "connect_timeout": 5}}


def _install_events(engine, o: SqlAlchemyOptions) -> None:
    """SQLite: the driver's own transaction handling off, pragmas, BEGIN IMMEDIATE for writes.
    PostgreSQL: act as the unprivileged role, so row-level security applies even to a superuser login.
    Only cursor(), execute() and commit() are used: the asyncio drivers' adapted connections have them too."""
    from sqlalchemy import event

    if o.dialect == "sqlite":
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # we say BEGIN ourselves (below)
            cur = dbapi_connection.cursor()
            if o.migrate:
                cur.execute("PRAGMA journal_mode=WAL")
            for pragma in (f"synchronous={o.synchronous}", "foreign_keys=ON", f"busy_timeout={o.busy_timeout_ms}"):
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(connection):
            write = connection.info.get("stockbank_write", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
        return

    @event.listens_for(engine, "connect")
    def _act_as_app_role(dbapi_connection, _record):
        """Row-level security does not apply to superusers: a superuser connection acts as the
        unprivileged role migration 0006 made, so the policies are a wall for every client."""
        cur = dbapi_connection.cursor()
        cur.execute(f"SELECT rolsuper OR rolbypassrls, EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
                    f"'{APP_ROLE}') FROM pg_roles WHERE rolname = current_user")
        bypasses, role_exists = cur.fetchone() or (False, False)
        if bypasses and role_exists:
            cur.execute(f"SET ROLE {APP_ROLE}")
        cur.close()
        dbapi_connection.commit()


def _pg_revision(conn) -> str | None:
    """The Alembic revision stamped in the database, or None for one without stockbank tables.

    Raises: UnsupportedVersion (other tables but no stockbank stamp).
    """
    from sqlalchemy import inspect, text

    tables = set(inspect(conn).get_table_names())
    if "alembic_version" not in tables:
        if tables & {"products", "accounts", "transfers"}:
            raise UnsupportedVersion("this PostgreSQL database holds tables named like ours but no stockbank schema stamp")
        return None
    row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return row[0] if row else None


def _check_known(revision: str | None) -> None:
    if revision is not None and revision not in migrations.REVISIONS:
        raise UnsupportedVersion(
            f"the database is at schema revision {revision!r}, newer than this stockbank knows "
            f"(head {migrations.HEAD}); upgrade stockbank to open it"
        )


__all__ = ["SqlAlchemyStore", "SqlAlchemyUnitOfWork", "parse_url", "translate"]
