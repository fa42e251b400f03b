"""Raw sqlite3 adapter: URL options, a small connection pool, schema check, unit of work.

Writes take the lock up front with BEGIN IMMEDIATE (a deferred read-then-write fails with
SQLITE_BUSY even with a busy timeout); reads use BEGIN for one consistent snapshot. Writer threads of
one store share write transactions and their fsync (group commit, storage/sqlite/group.py) unless the
URL says `group_commit=off`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from domain.errors import Busy, Corrupt, DomainError, NotFound, StorageError, UnsupportedVersion, ValidationError
from storage import migrations
from storage.monitor import QueryStats, now_ns
from storage.sqlite.errors import translate, translating
from storage.sqlite.group import WRITE_CACHE as _WRITE_CACHE, GroupCommit
from storage.sqlite.audit import SqliteAudit
from storage.sqlite.repositories import (
    SqliteAccounts,
    SqliteCategories,
    SqliteProducts,
    SqliteTransfers,
    SqliteUsers,
)

_SYNC_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")
_READ_CACHE = "PRAGMA cache_size=-2000"
_SWITCH = {"on": True, "off": False, "yes": True, "no": False, "true": True, "false": False, "1": True, "0": False}


@dataclass(frozen=True)
class SqliteOptions:
    path: str
    synchronous: str = "FULL"
    busy_timeout_ms: int = 5000
    migrate: bool = True
    attachments: str = "file"  # where new attachment bytes go: "file" (content-addressed, next to the db) or "blob"
    group_commit: bool = True  # writer threads share write transactions and their fsync (storage/sqlite/group.py)


def parse_url(url: str) -> SqliteOptions:
    """`sqlite:///relative.db`, `sqlite:////abs/path.db`, options as query: synchronous, busy_timeout, migrate,
    attachments (file|blob), group_commit (on|off).

    Raises: ValidationError for an unknown option or value.
    """
    if not url.startswith("sqlite:///"):
        raise ValidationError(f"not a sqlite URL: {url!r} (expected sqlite:///path.db)", field="db")
    rest = url[len("sqlite:///"):]
    path, _, query = rest.partition("?")
    if not path:
        raise ValidationError("sqlite URL has no file path", field="db")
    if path == ":memory:":
        # every pooled connection would get its own empty database (and Alembic a file named ':memory:')
        raise ValidationError(f"sqlite URL needs a file path, not {path!r}; use memory:// for a throwaway store", field="db")
    opts: dict[str, object] = {"path": os.path.expanduser(path)}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "synchronous" and value.upper() in _SYNC_LEVELS:
            opts["synchronous"] = value.upper()
        elif key == "busy_timeout" and value.isdigit():
            opts["busy_timeout_ms"] = int(value)
        elif key == "migrate" and value.lower() in ("yes", "no", "true", "false", "1", "0"):
            opts["migrate"] = value.lower() in ("yes", "true", "1")
        elif key == "attachments" and value.lower() in ("file", "blob"):
            opts["attachments"] = value.lower()
        elif key == "group_commit" and value.lower() in _SWITCH:
            opts["group_commit"] = _SWITCH[value.lower()]
        else:
            raise ValidationError(f"unknown sqlite URL option {key}={value!r}", field="db")
    return SqliteOptions(**opts)  # type: ignore[arg-type]


class _TimedConnection(sqlite3.Connection):
    """Counts and times every statement for the database monitor (storage/monitor.py): about 1 us on a
    statement of 30-300 us. The time is the driver's execute (for a query: up to its first row)."""

    stats: QueryStats

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        start = now_ns()
        try:
            return super().execute(sql, parameters)
        finally:
            self.stats.add(now_ns() - start)

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        start = now_ns()
        try:
            return super().executemany(sql, parameters)
        finally:
            self.stats.add(now_ns() - start)


class SqliteStore:
    """`sqlite:///path.db`: one file, WAL, foreign keys on, synchronous=FULL unless told otherwise."""

    def __init__(self, url: str):
        self.url = url
        self.options = parse_url(url)
        self.path = self.options.path
        self._idle: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self._local = threading.local()
        self._closed = False
        self.query_stats = QueryStats()  # what this process ran through the store, for the monitor
        self.created, self.revision = prepare_schema(self.options)
        self._users_have_created_at = self.revision != "0001"
        self._audit_chained = self.revision >= "0005"  # and soft deletes: both came with revision 0005
        self._group = (GroupCommit(self._checkout, self._checkin, self._discard, self.options.busy_timeout_ms / 1000)
                       if self.options.group_commit else None)

    # -- connections ------------------------------------------------------------------------

    def connect(self) -> sqlite3.Connection:
        """A new connection with this store's pragmas (also used by tools and tests)."""
        try:
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=self.options.busy_timeout_ms / 1000,
                cached_statements=256,
                factory=_TimedConnection,
            )
            conn.stats = self.query_stats
            if self.options.migrate:  # migrate=no means "inspect, change nothing", journal mode included
                conn.execute("PRAGMA journal_mode=WAL")  # persistent; a no-op once set, repairs files made elsewhere
            conn.execute(f"PRAGMA synchronous={self.options.synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={self.options.busy_timeout_ms}")
        except sqlite3.Error as e:
            raise translate(e) from e
        return conn

    def _checkout(self) -> sqlite3.Connection:
        if self._closed:
            raise StorageError("the store is closed")
        with self._pool_lock:
            if self._idle:
                return self._idle.pop()
        return self.connect()

    def _checkin(self, conn: sqlite3.Connection) -> None:
        with self._pool_lock:
            if self._closed:
                conn.close()
            else:
                self._idle.append(conn)

    def _discard(self, conn: sqlite3.Connection) -> None:
        try:
            conn.close()
        except sqlite3.Error:
            pass

    def unit_of_work(self, tenant: str, *, write: bool = False) -> SqliteUnitOfWork:
        return SqliteUnitOfWork(self, tenant, write)

    @cached_property
    def files(self):  # -> FileContentStore: attachment bytes next to the database (the folder appears on first write)
        from storage.blobs import FileContentStore

        return FileContentStore(os.path.abspath(self.path) + ".files")

    def save_slots(self, tenant: str):  # -> FileSaveSlots: `<db>.saves/<tenant>/`, next to the database
        from storage.savefiles.slots import FileSaveSlots, tenant_folder

        return FileSaveSlots(Path(os.path.abspath(self.path) + ".saves") / tenant_folder(tenant), source=self.url)

    def collect_attachment_files(self, min_age_seconds: float = 0.0) -> tuple[int, int]:
        """Delete attachment files no row of any tenant uses (left by removals, product deletes and
        rolled-back uploads); returns (files, bytes) freed. Holds the write lock meanwhile, so no writer
        can be storing a file it is about to reference.

        Raises: Busy, StorageError.
        """
        with self.unit_of_work("", write=True) as uow:
            return self.files.collect(uow.attachments.referenced_files(), min_age_seconds)

    @contextmanager
    def bulk_load(self) -> Iterator[bool]:
        """An optional capability for one long write by a lone process (`demo`, `import`): the block runs
        in rollback-journal mode, so its new pages go into the file once, instead of into the WAL and
        again at the checkpoint (~3 s of a 30 s 1M-product demo). Just as crash-safe: the journal rolls
        an interrupted load back, and the next connect() puts WAL back. Other processes wait instead
        of reading the old snapshot meanwhile. Only when no other connection has the file open (SQLite
        needs that to leave WAL); otherwise nothing changes. Yields whether the switch happened."""
        switched = False
        if self.options.migrate:  # migrate=no changes nothing, the journal mode included
            with self._pool_lock:
                idle, self._idle = self._idle, []
            for other in idle:
                self._discard(other)
            conn = self._checkout()
            try:
                switched = conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
            except sqlite3.OperationalError:  # another connection has the file open: WAL it stays
                pass
            self._checkin(conn)
        try:
            yield switched
        finally:
            if switched:
                conn = self._checkout()
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                except sqlite3.OperationalError:  # busy: the next connect() sets it
                    pass
                self._checkin(conn)

    def close(self) -> None:
        with self._pool_lock:
            self._closed = True
            for conn in self._idle:
                conn.close()
            self._idle.clear()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SqliteUnitOfWork:
    """One transaction on one pooled connection; a nested unit of work becomes a SAVEPOINT. With group
    commit, a top-level write is a turn on the store's shared write transaction instead (its own
    SAVEPOINT when it joins one); commit() returns once that transaction is committed. Do not use a
    unit of work after commit(): the connection may already be another writer's."""

    def __init__(self, store: SqliteStore, tenant: str, write: bool):
        self._store = store
        self._tenant = tenant
        self._write = write
        self._turn = None

    def __enter__(self) -> SqliteUnitOfWork:
        local = self._store._local
        outer = getattr(local, "conn", None)
        self._nested = outer is not None
        if self._nested and self._write and not local.write:
            # SQLite would upgrade the read snapshot to a write lock without waiting: a busy error
            # under load. Services never nest this way; refuse it loudly instead of failing randomly.
            raise StorageError("a write unit of work cannot start inside a read one on the same thread")
        group = self._store._group
        if not self._nested and self._write and group is not None:
            self._turn = group.begin()  # raises Busy, StorageError
            conn = self._conn = self._turn.conn
            local.conn, local.depth, local.write = conn, 0, True
        else:
            conn = self._conn = outer if outer is not None else self._store._checkout()
            try:
                if self._nested:
                    local.depth += 1
                    self._savepoint = f"sp{local.depth}"
                    conn.execute(f"SAVEPOINT {self._savepoint}")
                else:
                    # Writes get 32 MiB of page cache (SQLite's default is 2 MiB): a 1M-row import keeps its
                    # indexes in memory instead of re-reading pages. Reads keep the default, so a streamed
                    # export stays small.
                    conn.execute(_WRITE_CACHE if self._write else _READ_CACHE)
                    conn.execute("BEGIN IMMEDIATE" if self._write else "BEGIN")
                    local.conn, local.depth, local.write = conn, 0, self._write
            except sqlite3.Error as e:
                if not self._nested:
                    self._store._checkin(conn)
                raise translate(e) from e
        self._done = False
        t = self._tenant
        self.categories = SqliteCategories(conn, t)
        self.products = SqliteProducts(conn, t, self._store._audit_chained, self._store.revision >= "0007",
                                       self._store.revision >= "0013")
        self.users = SqliteUsers(conn, t, self._store._users_have_created_at)
        self.audit = SqliteAudit(conn, t, self._store._audit_chained)
        self.accounts = SqliteAccounts(conn, t)
        self.transfers = SqliteTransfers(conn, t)
        return self

    # Built on first use, with their modules: a transaction pays only for the repositories it touches,
    # and start-up (the Products screen) never imports stock, lifecycle or attachment code.

    @cached_property
    def locations(self):
        from storage.sqlite.stock import SqliteLocations

        return SqliteLocations(self._conn, self._tenant)

    @cached_property
    def stock(self):
        from storage.sqlite.stock import SqliteStock

        return SqliteStock(self._conn, self._tenant, self._store.revision)

    @cached_property
    def game(self):
        from storage.sqlite.stock import SqliteGame

        return SqliteGame(self._conn, self._tenant)

    @cached_property
    def lifecycle(self):
        from storage.sqlite.lifecycle import SqliteLifecycle

        return SqliteLifecycle(self._conn, self._tenant)

    @cached_property
    def attachments(self):
        from storage.sqlite.attachments import SqliteAttachments

        return SqliteAttachments(self._conn, self._tenant, self._store.options.attachments, self._store.files)

    @cached_property
    def snapshot(self):
        from storage.sqlite.snapshot import SqliteSnapshot

        return SqliteSnapshot(self._conn, self._tenant)

    def __exit__(self, *exc_info: object) -> None:
        local = self._store._local
        try:
            if not self._done:
                self.rollback()
        finally:
            if self._nested:
                local.depth -= 1
            else:
                local.conn = None
                if self._turn is not None:
                    pass  # the shared transaction's connection goes back to the pool when that transaction ends
                elif self._conn.in_transaction:  # a failed COMMIT/ROLLBACK: never pool a connection mid-transaction
                    self._store._discard(self._conn)
                else:
                    self._store._checkin(self._conn)

    def commit(self) -> None:
        if self._turn is not None:
            self._store._group.commit(self._turn)  # type: ignore[union-attr]
            self._done = True
            return
        with translating():
            if self._nested:
                self._conn.execute(f"RELEASE {self._savepoint}")
            else:
                self._conn.execute("COMMIT")
        self._done = True

    def rollback(self) -> None:
        self._done = True
        if self._turn is not None:
            self._store._group.rollback(self._turn)  # type: ignore[union-attr]
            return
        try:
            if self._nested:
                self._conn.execute(f"ROLLBACK TO {self._savepoint}")
                self._conn.execute(f"RELEASE {self._savepoint}")
            elif self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error as e:
            raise translate(e) from e


# -- schema: check cheaply, migrate only when needed ---------------------------------------


def current_revision(conn: sqlite3.Connection) -> str | None:
    """The Alembic revision stamped in the file, or None for an empty database.

    Raises: Corrupt (not a database), UnsupportedVersion (tables but no stockbank stamp).
    """
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "alembic_version" not in tables:
            if tables - {"sqlite_sequence"}:
                raise UnsupportedVersion(
                    "this SQLite file holds other tables but no stockbank schema; open another file"
                )
            return None
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as e:
        raise _unreadable(e) from e
    if row is None and tables - {"sqlite_sequence", "alembic_version"}:
        raise UnsupportedVersion("this SQLite file has tables but an empty schema stamp (alembic_version); open another file")
    return row[0] if row else None


def _unreadable(e: sqlite3.DatabaseError) -> DomainError:
    """A lock held by another process is `busy`, not damage; anything else unreadable is `corrupt`."""
    translated = translate(e)
    return translated if isinstance(translated, Busy) else Corrupt(f"cannot read the database: {e}")


def prepare_schema(options: SqliteOptions) -> tuple[bool, str]:
    """Make sure the file is at the head revision; returns (created, revision).

    An older file is backed up next to itself before upgrading. A newer one is refused.
    Raises: UnsupportedVersion, Corrupt, StorageError.
    """
    path = options.path
    if path != ":memory:":
        parent = Path(path).resolve().parent
        if not parent.is_dir():
            raise StorageError(f"folder {parent} does not exist", field="db")
    if not options.migrate and (not os.path.exists(path) or os.path.getsize(path) == 0):
        raise NotFound(f"no database at {path} (migrate=no opens an existing file and changes nothing)", field="db")
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=options.busy_timeout_ms / 1000)
    except sqlite3.Error as e:
        raise StorageError(f"cannot open {path}: {e}") from e
    try:
        revision = current_revision(conn)
        if revision == migrations.HEAD:
            return False, revision
        _check_known(revision)
        if revision is not None and not options.migrate:
            return False, revision
        with _migration_lock(path):
            revision = current_revision(conn)  # another process may have migrated meanwhile
            if revision == migrations.HEAD:
                return False, revision
            _check_known(revision)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
            except sqlite3.DatabaseError as e:
                raise _unreadable(e) from e
            if revision is not None:
                backup_file(conn, f"{path}.pre-{migrations.HEAD}-{time.strftime('%Y%m%d-%H%M%S')}.bak")
            try:
                migrations.upgrade(f"sqlite:///{os.path.abspath(path)}?timeout={options.busy_timeout_ms / 1000}")
            except Exception as e:  # sqlalchemy/alembic errors must not cross the storage boundary
                orig = getattr(e, "orig", None)
                if isinstance(orig, sqlite3.Error) and isinstance(translate(orig), Busy):
                    raise Busy("the database is busy with another writer; the schema upgrade did not run") from e
                raise StorageError(
                    f"the schema upgrade to revision {migrations.HEAD} failed and was rolled back: {orig or e}"
                ) from e
            if revision is not None:
                _audit_upgrade(conn, revision, migrations.HEAD)
            return revision is None, migrations.HEAD
    finally:
        conn.close()


def _audit_upgrade(conn: sqlite3.Connection, old: str, new: str) -> None:
    """Every tenant's audit log records the schema upgrade (actor `migration`), chained like any entry."""
    from datetime import datetime, timezone

    from domain.audit_chain import chained_entry
    from domain.clock import utc_iso
    from domain.services.context import canonical_json

    now = utc_iso(datetime.now(timezone.utc))
    try:
        conn.execute("BEGIN IMMEDIATE")
        tenants = [r[0] for r in conn.execute("SELECT tenant_id FROM audit_log UNION SELECT tenant_id FROM users")]
        for tenant in tenants:
            conn.execute("INSERT INTO users (tenant_id, name, created_at) VALUES (?, 'migration', ?)"
                         " ON CONFLICT (tenant_id, name) DO NOTHING", (tenant, now))
            log = SqliteAudit(conn, tenant)
            log.append(chained_entry(log.tail(), now, "migration", "schema", new, "migrate",
                                     canonical_json({"revision": old}), canonical_json({"revision": new})))
        conn.execute("COMMIT")
    except sqlite3.Error as e:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise StorageError(f"the schema was upgraded to {new} but its audit entry could not be written: {e}") from e


def _check_known(revision: str | None) -> None:
    if revision is not None and revision not in migrations.REVISIONS:
        raise UnsupportedVersion(
            f"the database is at schema revision {revision!r}, newer than this stockbank knows "
            f"(head {migrations.HEAD}); upgrade stockbank to open it"
        )


def backup_file(conn: sqlite3.Connection, target: str) -> str:
    """Copy a live database with the online backup API into `target`, atomically."""
    tmp = f"{target}.tmp"
    dest = sqlite3.connect(tmp)
    try:
        conn.backup(dest)
    finally:
        dest.close()
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    return target


@contextmanager
def _migration_lock(path: str):
    """Only one process migrates a file at a time (an advisory lock on a side file)."""
    try:
        import fcntl
    except ImportError:  # Windows: best effort
        yield
        return
    with open(f"{path}.migrate-lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
