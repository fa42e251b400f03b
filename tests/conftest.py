"""Shared fixtures. `store_url` is parametrized over every adapter: a new adapter joins the
contract suite by adding one entry to STORE_FACTORIES."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from domain import Simulator
from domain.clock import FixedClock
from domain.ports import Store
from storage import open_store
from tests import shared_state

REQUIRE_SERVERS = os.environ.get("STOCKBANK_REQUIRE_SERVERS") == "1"

PG_ADMIN_URL = os.environ.get("STOCKBANK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
_session_state, _pg_created = shared_state.session_state, shared_state.pg_created


def pg_available() -> bool:
    """Whether the test PostgreSQL server answers (asked once per process)."""
    if "available" not in _session_state:
        try:
            import psycopg

            psycopg.connect(PG_ADMIN_URL, connect_timeout=2).close()
            _session_state["available"] = True
        except Exception as e:  # noqa: BLE001 (any failure means: no server to test against)
            _session_state["available"], _session_state["why"] = False, str(e)
    return bool(_session_state["available"])


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def _drop_databases_of_dead_runs() -> None:
    """Test databases left by a run that was killed (names carry the pid of the process that made them):
    dropped when that process is gone. Only on a local server, where those pids are this machine's."""
    import psycopg

    if "@127.0.0.1" not in PG_ADMIN_URL and "@localhost" not in PG_ADMIN_URL:
        return
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'sbt\\_%'")]
    for name in names:
        parts = name.split("_")
        pid = parts[3] if parts[1] == "template" and len(parts) > 3 else parts[2] if len(parts) > 2 else ""
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            _pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        except PermissionError:
            pass  # alive, another user's


def new_pg_database(tmp: Path) -> str:
    """A fresh database at the head schema for one test (a copy of this worker's migrated template, so
    migrations run once per worker); it is dropped after the test. Skips when no server answers."""
    require_server(pg_available(), f"PostgreSQL at {PG_ADMIN_URL}")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    template = f"sbt_template_{worker}_{os.getpid()}"  # per process: two pytest runs at once never share one
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    if "template" not in _session_state:
        _drop_databases_of_dead_runs()
        _pg_admin(f"DROP DATABASE IF EXISTS {template} WITH (FORCE)")
        _pg_admin(f"CREATE DATABASE {template}")
        from storage import migrations

        migrations.upgrade(f"postgresql+psycopg://{base.split('://', 1)[1]}/{template}")
        _session_state["template"] = template
    name = f"sbt_{worker}_{os.getpid()}_{len(_pg_created)}_{abs(hash(str(tmp))) % 10**8}"
    _pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    _pg_admin(f"CREATE DATABASE {name} TEMPLATE {template}")
    # A test database's commits do not wait for the server's WAL flush (no test crashes the server itself,
    # and a commit is still visible to every session at once): the PostgreSQL contract tests ran ~10 % faster.
    _pg_admin(f"ALTER DATABASE {name} SET synchronous_commit = off")
    _pg_created.append(name)
    return f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}?saves={tmp / 'saves'}&files={tmp / 'files'}"


def reused_pg_database(tmp: Path) -> str:
    """The contract suites' PostgreSQL store: one database per worker, emptied before each test instead of
    a new copy of the template. A DELETE of every table and a restart of every sequence, in one
    transaction, takes ~12 ms; TRUNCATE ... RESTART IDENTITY took ~140 ms (new files for every table and
    index) and a template copy ~5 times that. As the superuser, row-level security and the foreign key
    triggers (`session_replication_role = replica`) do not stand in the way. Falls back to a fresh
    database when a leftover connection of an earlier test holds a lock."""
    require_server(pg_available(), f"PostgreSQL at {PG_ADMIN_URL}")
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    shared = _session_state.get("shared")
    if shared is None:
        fresh = new_pg_database(tmp)
        shared = _pg_created.pop()  # kept for the whole session, not dropped after this test
        _session_state["shared"] = shared
        return fresh
    import psycopg

    try:
        with psycopg.connect(f"{base}/{shared}", autocommit=True) as conn:
            conn.execute("SET lock_timeout = '2s'")
            tables = [r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'alembic_version'")]
            sequences = [r[0] for r in conn.execute(
                "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")]
            with conn.transaction():
                conn.execute("SET LOCAL session_replication_role = replica; "  # type: ignore[arg-type]
                             + "".join(f"DELETE FROM {t}; " for t in tables)
                             + "".join(f"ALTER SEQUENCE {s} RESTART; " for s in sequences))
    except psycopg.errors.LockNotAvailable:
        return new_pg_database(tmp)
    return f"postgresql+psycopg://{base.split('://', 1)[1]}/{shared}?saves={tmp / 'saves'}&files={tmp / 'files'}"


def _pg_database_url(url: str) -> str:
    """The admin's psycopg address of the database a store URL names."""
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{url.split('?', 1)[0].rsplit('/', 1)[1]}"


def pg_capture(url: str) -> list[tuple[str, str, bytes]]:
    """Every row of every table (binary COPY, generated columns left out) and every sequence's position
    of the database `url` names: `pg_restore` puts a database emptied by `reused_pg_database` back in
    that state in milliseconds, where building it again through the services takes about a second."""
    import psycopg

    with psycopg.connect(_pg_database_url(url), autocommit=True) as conn:
        columns: dict[str, list[str]] = {}
        for table, column in conn.execute(
                "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
                " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND a.attnum > 0"
                " AND NOT a.attisdropped AND a.attgenerated = '' AND c.relname <> 'alembic_version'"
                " ORDER BY c.relname, a.attnum"):
            columns.setdefault(table, []).append(column)
        state = []
        for table, names in columns.items():
            listed = ", ".join(names)
            with conn.cursor().copy(f"COPY {table} ({listed}) TO STDOUT (FORMAT binary)") as copy:  # type: ignore[arg-type]
                state.append((table, listed, b"".join(copy)))
        for name, last in conn.execute(
                "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = current_schema()"):
            if last is not None:
                state.append(("", f"SELECT setval('{name}', {last})", b""))
    return state


def pg_restore(url: str, state: list[tuple[str, str, bytes]]) -> None:
    """Write a `pg_capture` into the (emptied) database `url` names, in one transaction."""
    import psycopg

    with psycopg.connect(_pg_database_url(url)) as conn:
        conn.execute("SET LOCAL session_replication_role = replica")
        for table, listed, data in state:
            if not table:
                conn.execute(listed)  # type: ignore[arg-type]
                continue
            with conn.cursor().copy(f"COPY {table} ({listed}) FROM STDIN (FORMAT binary)") as copy:  # type: ignore[arg-type]
                copy.write(data)


def _drop_pg_databases(keep: int) -> None:
    while len(_pg_created) > keep:
        _pg_admin(f"DROP DATABASE IF EXISTS {_pg_created.pop()} WITH (FORCE)")


@pytest.fixture(autouse=True)
def _drop_test_pg_databases() -> Iterator[None]:
    """Databases made while a test ran go after it; those of module-scoped fixtures (made before this
    fixture starts) go at the end of the session."""
    keep = len(_pg_created)
    yield
    _drop_pg_databases(keep)


@pytest.fixture(autouse=True, scope="session")
def _drop_remaining_pg_databases() -> Iterator[None]:
    yield
    if _pg_created:
        _drop_pg_databases(0)
    if "sqlite_template" in _session_state:
        shutil.rmtree(_session_state.pop("sqlite_template").parent, ignore_errors=True)
    if "shared" in _session_state:
        _pg_admin(f"DROP DATABASE IF EXISTS {_session_state.pop('shared')} WITH (FORCE)")
    if "template" in _session_state:
        _pg_admin(f"DROP DATABASE IF EXISTS {_session_state.pop('template')} WITH (FORCE)")


def run_capturing(url: str, read) -> list[tuple[str, tuple]]:
    """The SELECTs `read(uow)` runs on the SQLite store at `url` (values filled in), from the driver's own
    trace: the sqlite3 store's connection, or the SQLAlchemy store's, whose hot paths run prebuilt
    statements on the driver's cursor without engine events. The trace fills bound values in: a test of
    whether a bound constant keeps SQLite off a partial index reads the engine's statements instead."""
    store = open_store(url)
    seen: list[tuple[str, tuple]] = []
    try:
        with store.unit_of_work("t") as uow:
            engine = getattr(store, "engine", None)
            driver = uow._conn if engine is None else uow.session.connection().connection.driver_connection
            driver.set_trace_callback(lambda sql: seen.append((sql, ())))
            read(uow)
            driver.set_trace_callback(None)
    finally:
        store.close()
    return [(sql, params) for sql, params in seen if sql.lstrip().upper().startswith("SELECT")]


def migrated_sqlite_file(tmp: Path) -> Path:
    """A copy of this process's SQLite file at the head schema, for one contract test: migrating a new
    file costs ~50 ms, copying one ~1 ms (the suites open a store for every test)."""
    template = _session_state.get("sqlite_template")
    if template is None:
        import tempfile

        template = Path(tempfile.mkdtemp(prefix="sbt-sqlite-")) / "head.db"
        open_store(f"sqlite:///{template}").close()  # closing checkpoints the WAL into the file
        _session_state["sqlite_template"] = template
    target = tmp / "shop.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
    return target


STORE_FACTORIES: dict[str, Callable[[Path], str]] = {
    "memory": lambda tmp: "memory://",
    "sqlite": lambda tmp: f"sqlite:///{migrated_sqlite_file(tmp)}",
    "sqlalchemy-sqlite": lambda tmp: f"sqlalchemy+sqlite:///{migrated_sqlite_file(tmp)}",
    "postgres": reused_pg_database,
    # the async store (aiosqlite, psycopg async), driven through its blocking bridge
    "async-sqlite": lambda tmp: f"sqlite+aiosqlite:///{tmp / 'shop.db'}",
    "async-postgres": lambda tmp: new_pg_database(tmp).replace("postgresql+psycopg://", "postgresql+psycopg_async://", 1),
    "jsonfile": lambda tmp: f"jsonfile:///{tmp / 'shop.json'}",
}


def fresh_store_url(kind: str, folder: Path) -> str:
    """A store of `kind` of its own in `folder`, for a test that needs a second one next to `store` (or one
    that outlives a test): STORE_FACTORIES, except that PostgreSQL's there is the one database the tests
    share, emptied before each test; here it is a new database."""
    return new_pg_database(folder) if kind == "postgres" else STORE_FACTORIES[kind](folder)


# `make test` (and CI) keep the suite under ten minutes on two cores: every contract suite runs on memory
# and sqlite, and the SQLAlchemy repositories run every suite between their two dialects (the catalog suite
# on sqlalchemy-sqlite, all the others on postgres). The stores that reuse another one's repositories run
# the snapshot suite (jsonfile also the saves suite; the async pair is driven by test_async_store.py).
# `make test-all` (STOCKBANK_FULL_MATRIX=1) runs every suite on every store.
FULL_MATRIX = os.environ.get("STOCKBANK_FULL_MATRIX") == "1"
_ALL_BUT_CATALOG = {"test_attachments_contract.py", "test_audit_contract.py", "test_bank_contract.py",
                    "test_dashboard_contract.py", "test_bank_stateful.py", "test_inventory_contract.py", "test_lifecycle_contract.py",
                    "test_review_regressions.py", "test_saves_contract.py", "test_snapshot_contract.py"}
CI_SUITES: dict[str, set[str]] = {
    "postgres": _ALL_BUT_CATALOG,
    "sqlalchemy-sqlite": {"test_catalog_contract.py", "test_snapshot_contract.py"},
    "async-sqlite": {"test_snapshot_contract.py"},
    "async-postgres": set(),  # its driver is driven by tests/integration/test_async_store.py
    "jsonfile": {"test_snapshot_contract.py", "test_saves_contract.py"},
}


def reads_table_rows(raw: sqlite3.Connection, sql: str, table: str) -> bool:
    """Whether SQLite's program for `sql` reads any column of `table`'s rows, not only of an index: a plan says
    `USING INDEX` (not COVERING) for a partial index that implies terms on columns it does not hold, though
    the program never reads those rows."""
    root = raw.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    program = raw.execute("EXPLAIN " + sql).fetchall()
    cursors = {p1 for _, op, p1, p2, *_ in program if op == "OpenRead" and p2 == root}
    return any(step[1] == "Column" and step[2] in cursors for step in program)


def small_stream_chunks(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """Every store module's STREAM_CHUNK (the modules that import it hold their own copy) set to `size`, so a
    test walks the chunk boundaries of the streams with a handful of rows."""
    import sys

    for name, module in list(sys.modules.items()):
        if name.startswith("storage.") and hasattr(module, "STREAM_CHUNK"):
            monkeypatch.setattr(module, "STREAM_CHUNK", size)


def walked_ids(fetch, cursor_of, id_of, size: int) -> tuple[list[int], list[int]]:
    """The ids a keyset-paged list gives walking forward from the start, and backward from the end (put
    back in list order). `fetch(after, size, backward)` reads a page; `cursor_of(row)` is the cursor at a row."""
    forward: list[int] = []
    page = fetch(None, size, False)
    while page:
        forward += [id_of(r) for r in page]
        page = fetch(cursor_of(page[-1]), size, False)
    backward: list[int] = []
    page = fetch(None, size, True)
    while page:
        backward = [id_of(r) for r in page] + backward
        page = fetch(cursor_of(page[0]), size, True)
    return forward, backward


def assert_pages(catalog, query, want: list[int], size: int, skips) -> None:
    """`find_products` pages exactly the ids `want`: walking forward from the start and backward from the
    end by keyset cursors, and a page from each offset in `skips`."""
    forward, backward = walked_ids(lambda after, n, back: catalog.find_products(query, after, n, backward=back),
                                   query.cursor_after, lambda r: r.id, size)
    assert forward == want
    assert backward == want
    for skip in skips:
        assert [r.id for r in catalog.find_products(query, None, size, skip=skip)] == want[skip:skip + size]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if FULL_MATRIX:
        return
    kept, dropped = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        stores = {v for v in params.values() if isinstance(v, str) and v in CI_SUITES}
        in_contract = "contract" in item.path.parts
        # the cache's reruns of the contract suites (tests/integration/test_cache_*_contract.py): in
        # make test-all only; tests/integration/test_cache.py covers both backends, Redis across processes
        if item.path.name.startswith("test_cache_") and item.path.name.endswith("_contract.py"):
            dropped.append(item)
        elif in_contract and any(item.path.name not in CI_SUITES[v] for v in stores):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(params=list(STORE_FACTORIES))
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return STORE_FACTORIES[request.param](tmp_path)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def sim(store: Store) -> Simulator:
    return Simulator(store, actor="tester", tenant="t1", clock=FixedClock())


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'shop.db'}"


def require_server(available: bool, what: str) -> None:
    """Skip with a clear message when a server is absent, unless CI made servers required."""
    if available:
        return
    if REQUIRE_SERVERS:
        pytest.fail(f"{what} is required (STOCKBANK_REQUIRE_SERVERS=1) but not reachable")
    pytest.skip(f"{what} is not reachable; start it to run this test")


@pytest.fixture(autouse=True, scope="session")
def _save_signing_key_in_a_temp_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never create a save signing key in the real user config folder."""
    from storage.savefiles.signing import ENV_KEY_FILE

    previous = os.environ.get(ENV_KEY_FILE)
    os.environ[ENV_KEY_FILE] = str(tmp_path_factory.mktemp("save-key") / "save-signing.key")
    yield
    if previous is None:
        os.environ.pop(ENV_KEY_FILE, None)
    else:
        os.environ[ENV_KEY_FILE] = previous
