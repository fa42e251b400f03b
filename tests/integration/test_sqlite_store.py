"""The raw sqlite3 store on real files: pragmas, URL options, query plans, locking, damage,
units of work and concurrent writers (threads and processes)."""

from __future__ import annotations

import multiprocessing
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from domain import Simulator
from domain.clock import FixedClock
from domain.errors import DomainError
from domain.model import ProductQuery
from domain.model.catalog import ProductCursor, fold_case
from storage import open_store
from storage.sqlite import SqliteStore
from tui_app.bootstrap import seed_demo

TENANT = "t1"


@pytest.fixture
def store(sqlite_url: str) -> Iterator[SqliteStore]:
    opened = open_store(sqlite_url)
    assert isinstance(opened, SqliteStore)
    yield opened
    opened.close()


@pytest.fixture
def sim(store: SqliteStore) -> Simulator:
    return Simulator(store, actor="tester", tenant=TENANT, clock=FixedClock())


def _pragmas(conn: sqlite3.Connection) -> dict[str, object]:
    return {
        name: conn.execute(f"PRAGMA {name}").fetchone()[0]
        for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
    }


# -- connection pragmas and URL options -----------------------------------------------------


def test_store_connection_uses_wal_foreign_keys_full_sync_and_busy_timeout(store: SqliteStore) -> None:
    conn = store.connect()
    try:
        assert _pragmas(conn) == {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 2, "busy_timeout": 5000}
    finally:
        conn.close()


def test_unit_of_work_connection_has_the_store_pragmas(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'shop.db'}?synchronous=NORMAL&busy_timeout=1234")
    try:
        with store.unit_of_work(TENANT) as uow:
            pragmas = _pragmas(uow._conn)
    finally:
        store.close()
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 1, "busy_timeout": 1234}


def test_synchronous_normal_option_lowers_the_sync_level(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'shop.db'}?synchronous=NORMAL")
    conn = store.connect()
    try:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    finally:
        conn.close()
        store.close()


@pytest.mark.parametrize(
    "query",
    ["synchronous=FAST", "busy_timeout=-5", "busy_timeout=soon", "migrate=maybe", "colour=blue", "busy_timeout="],
)
def test_bad_url_option_is_refused_as_validation(tmp_path: Path, query: str) -> None:
    with pytest.raises(DomainError) as err:
        open_store(f"sqlite:///{tmp_path / 'shop.db'}?{query}")
    assert err.value.code == "validation"
    assert not (tmp_path / "shop.db").exists()


@pytest.mark.parametrize("url", ["mysql://localhost/shop", "sqlite://shop.db", "sqlite:///", "", "   "])
def test_unknown_scheme_or_pathless_url_is_refused_as_validation(url: str) -> None:
    with pytest.raises(DomainError) as err:
        open_store(url)
    assert err.value.code == "validation"


def test_in_memory_sqlite_url_is_refused_and_creates_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DomainError) as err:
        open_store("sqlite:///:memory:")
    assert err.value.code == "validation"
    assert "memory://" in err.value.message
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(DomainError) as err:
        open_store(f"sqlite:///{tmp_path / 'no' / 'such' / 'shop.db'}")
    assert err.value.code == "storage"


# -- query plans: the product list, its filters and the value summary walk indexes ----------


@pytest.fixture
def seeded(store: SqliteStore, sim: Simulator) -> SqliteStore:
    seed_demo(sim, 300)
    inactive = sim.catalog.find_products(limit=5)
    for row in inactive:
        sim.catalog.update_product(row.id, row.version, active=False)
    return store


def _traced(store: SqliteStore, call: Callable[..., object]) -> list[str]:
    """The SQL a repository call really runs, with its parameters bound as literals."""
    seen: list[str] = []
    with store.unit_of_work(TENANT) as uow:
        uow._conn.set_trace_callback(seen.append)
        try:
            result = call(uow.products)
            if isinstance(result, Iterator):
                list(result)
        finally:
            uow._conn.set_trace_callback(None)
    statements = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert statements, f"no SELECT traced: {seen}"
    return statements


def _plan(store: SqliteStore, sql: str) -> list[str]:
    conn = store.connect()
    try:
        return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
    finally:
        conn.close()


def _products_step(plan: list[str]) -> str:
    steps = [s for s in plan if s.startswith(("SEARCH p ", "SCAN p", "SEARCH products", "SCAN products"))]
    assert len(steps) == 1, plan
    return steps[0]


def _category_id(seeded: SqliteStore, name: str) -> int:
    with seeded.unit_of_work(TENANT) as uow:
        return uow.categories.get_by_name(name).id


NAME_INDEXES = ("ix_products_listed", "ix_products_tenant_lower_name")


def test_default_active_list_walks_the_name_index_without_sorting(seeded: SqliteStore) -> None:
    (sql,) = _traced(seeded, lambda products: products.find(ProductQuery(), None, 100))
    plan = _plan(seeded, sql)
    assert any(index in _products_step(plan) for index in NAME_INDEXES), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan


def test_a_jump_by_offset_finds_its_row_in_the_listed_index(seeded: SqliteStore) -> None:
    offset_sql, *page_sql = _traced(seeded, lambda products: products.find(ProductQuery(), None, 100, skip=5))
    assert "ix_products_listed" in _products_step(_plan(seeded, offset_sql))
    assert page_sql, "then a keyset page from the row found"


def test_next_page_after_a_cursor_seeks_into_the_name_index(seeded: SqliteStore) -> None:
    cursor = ProductCursor("m", 10**9)
    (sql,) = _traced(seeded, lambda products: products.find(ProductQuery(), cursor, 100))
    plan = _plan(seeded, sql)
    step = _products_step(plan)
    assert "ix_products_tenant_lower_name" in step
    assert "tenant_id=? AND" in step, f"the cursor should bound the index range: {step}"
    assert not any("TEMP B-TREE" in s for s in plan), plan


SORT_INDEXES = {"name": NAME_INDEXES, **{sort: (f"ix_products_by_{sort}",)
                                        for sort in ("sku", "price", "quantity", "value")}}


@pytest.mark.parametrize("include_inactive", [False, True], ids=["active", "all"])
@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("sort", list(SORT_INDEXES))
def test_every_sort_walks_its_own_index_each_way_without_sorting(seeded: SqliteStore, sort: str,
                                                                 descending: bool, include_inactive: bool) -> None:
    """The first and last pages, the pages after and before a cursor, a jump by offset (the row found in
    the index, then its key by rowid) and the export stream: each step of the list in that order, with
    or without the inactive products, reads the sort's index (migration 0008; value's is on
    price_minor * quantity), never a temporary B-tree that would sort every listed row first."""
    query = ProductQuery(sort=sort, descending=descending, include_inactive=include_inactive)
    with seeded.unit_of_work(TENANT) as uow:
        middle = uow.products.find(query, None, 1, skip=150)[0]
    cursor = query.cursor_after(middle)
    calls = [lambda products: products.find(query, None, 100),
             lambda products: products.find(query, None, 100, backward=True),
             lambda products: products.find(query, cursor, 100),
             lambda products: products.find(query, cursor, 100, backward=True),
             lambda products: products.find(query, None, 100, skip=120),
             lambda products: products.stream(query)]
    for call in calls:
        steps = []
        for sql in _traced(seeded, call):
            plan = _plan(seeded, sql)
            steps.append(_products_step(plan))
            assert not any("TEMP B-TREE" in s for s in plan), (sql, plan)
        on_index = [s for s in steps if any(index in s for index in SORT_INDEXES[sort])]
        assert on_index and all(s in on_index or "INTEGER PRIMARY KEY (rowid=?)" in s for s in steps), steps


def test_paging_with_cursors_visits_every_product_once_in_name_order(sim: Simulator) -> None:
    names = ["Hammer", "hammer", "HAMMER", "Äxe", "axe", "Axe", "zebra", "Zebra tape", "a", "A", "Émile", "émile"]
    for n, name in enumerate(names):
        sim.catalog.add_product(f"P-{n:02d}", name, "1.00", active=n != 4)
    expected_counts = {ProductQuery(): 11, ProductQuery(include_inactive=True): 12, ProductQuery(text="a"): 8}
    for query, expected in expected_counts.items():
        everything = sim.catalog.find_products(query, limit=1000)
        assert len(everything) == expected, [r.name for r in everything]
        keys = [(fold_case(r.name), r.id) for r in everything]
        assert keys == sorted(keys)
        paged, after = [], None
        while page := sim.catalog.find_products(query, after=after, limit=2):
            paged.extend(page)
            after = ProductCursor.after(page[-1])
        assert [r.id for r in paged] == [r.id for r in everything]
        assert len({r.id for r in paged}) == len(paged)


def test_list_including_inactive_products_walks_the_name_index_without_sorting(seeded: SqliteStore) -> None:
    (sql,) = _traced(seeded, lambda products: products.find(ProductQuery(include_inactive=True), None, 100))
    plan = _plan(seeded, sql)
    assert "ix_products_tenant_lower_name" in _products_step(plan)
    assert not any("TEMP B-TREE" in s for s in plan), plan


def test_a_text_filter_reads_a_window_of_the_name_index_then_one_pass_over_the_table(seeded: SqliteStore) -> None:
    """A common word fills its page from the first rows in name order; a rare one is looked for in one
    sequential pass (the index walk would visit the table's pages in name order)."""
    window_sql, *scan_sql = _traced(seeded, lambda products: products.find(ProductQuery(text="no such"), None, 100))
    window = _plan(seeded, window_sql)
    assert any(index in step for step in window for index in NAME_INDEXES), window
    (scan,) = scan_sql
    assert any(step.startswith("SCAN p") for step in _plan(seeded, scan)), _plan(seeded, scan)
    (common,) = _traced(seeded, lambda products: products.find(ProductQuery(text="-"), None, 5))
    assert common == window_sql.replace("'%no such%'", "'%-%'").replace("LIMIT 100", "LIMIT 5")


def test_single_category_filter_uses_the_partial_active_category_index(seeded: SqliteStore) -> None:
    garden = _category_id(seeded, "Garden")
    query = ProductQuery(category_ids=(garden,))
    for sql in (
        *_traced(seeded, lambda products: products.find(query, None, 100)),
        *_traced(seeded, lambda products: products.stream(query)),
        *_traced(seeded, lambda products: products.count(query)),
    ):
        plan = _plan(seeded, sql)
        assert "ix_products_active_category (tenant_id=? AND category_id=?)" in _products_step(plan), plan
        assert not any("TEMP B-TREE" in s for s in plan), plan


def test_category_subtree_filter_uses_an_index_and_never_scans_the_table(seeded: SqliteStore) -> None:
    subtree = tuple(_category_id(seeded, n) for n in ("Tools", "Hand tools", "Power tools"))
    query = ProductQuery(category_ids=subtree)
    for sql in (
        *_traced(seeded, lambda products: products.find(query, None, 100)),
        *_traced(seeded, lambda products: products.count(query)),
    ):
        step = _products_step(_plan(seeded, sql))
        assert step.startswith("SEARCH") and "INDEX ix_products_" in step, step


def test_active_count_reads_the_listed_index(seeded: SqliteStore) -> None:
    (sql,) = _traced(seeded, lambda products: products.count(ProductQuery()))
    assert "ix_products_listed" in _products_step(_plan(seeded, sql))


def test_value_by_category_groups_along_the_partial_active_index(seeded: SqliteStore) -> None:
    (sql,) = _traced(seeded, lambda products: products.value_by_category())
    plan = _plan(seeded, sql)
    assert "ix_products_active_category" in _products_step(plan)
    assert not any("FOR GROUP BY" in s for s in plan), plan


def test_lookup_by_sku_uses_the_unique_tenant_sku_index(seeded: SqliteStore) -> None:
    (sql,) = _traced(seeded, lambda products: products.get_by_sku("GAR-0000003"))
    assert "ux_products_tenant_sku (tenant_id=? AND sku=?)" in _products_step(_plan(seeded, sql))


def test_indexes_exist_with_the_partial_one_limited_to_active_rows(store: SqliteStore) -> None:
    conn = store.connect()
    try:
        rows = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name='products'"))
    finally:
        conn.close()
    assert {"ux_products_tenant_sku", "ix_products_tenant_lower_name", "ix_products_active_category"} <= set(rows)
    assert "WHERE active" in rows["ix_products_active_category"]
    assert "UNIQUE" in rows["ux_products_tenant_sku"].upper()


# -- values are bound, never spliced --------------------------------------------------------

META = ["O'Brien's \"best\" hammer", "100% cotton_bag", "Robert'); DROP TABLE products;--", "back\\slash [x] * ?"]


def test_sql_meta_characters_are_stored_and_matched_literally(sim: Simulator, store: SqliteStore) -> None:
    sim.catalog.add_category("Tom's; DELETE FROM categories")
    for n, name in enumerate(META):
        sim.catalog.add_product(f"META-{n}", name, "1.00", category="Tom's; DELETE FROM categories")
    sim.catalog.add_product("PLAIN-1", "100 cotton bag", "1.00")
    sim.catalog.add_product("PLAIN-2", "1000 cottonXbag", "1.00")

    assert sorted(r.name for r in sim.catalog.find_products()) == sorted([*META, "100 cotton bag", "1000 cottonXbag"])
    assert [r.name for r in sim.catalog.find_products(ProductQuery(text="100% cotton_"))] == ["100% cotton_bag"]
    assert [r.name for r in sim.catalog.find_products(ProductQuery(text="'); drop"))] == [META[2]]
    assert [r.name for r in sim.catalog.find_products(ProductQuery(text="\\slash [x] *"))] == [META[3]]
    assert [c.name for c in sim.catalog.categories()] == ["Tom's; DELETE FROM categories"]
    with store.unit_of_work(TENANT) as uow:
        assert uow.products.get_by_sku("META-1").name == "100% cotton_bag"


# -- locking ---------------------------------------------------------------------------------


def test_writer_blocked_longer_than_busy_timeout_gets_busy(sqlite_url: str, tmp_path: Path) -> None:
    open_store(sqlite_url).close()
    holder = sqlite3.connect(tmp_path / "shop.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    store = open_store(f"{sqlite_url}?busy_timeout=200")
    try:
        sim = Simulator(store, actor="late", tenant=TENANT)
        started = time.monotonic()
        with pytest.raises(DomainError) as err:
            sim.catalog.add_category("Never")
        waited = time.monotonic() - started
        assert err.value.code == "busy"
        assert 0.15 <= waited < 3, waited
        assert sim.catalog.categories() == [], "readers still see the last committed state (WAL)"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    try:
        assert sim.catalog.add_category("Later").name == "Later"
    finally:
        store.close()


def test_writer_waits_for_a_short_lock_instead_of_failing(sqlite_url: str, tmp_path: Path) -> None:
    store = open_store(f"{sqlite_url}?busy_timeout=3000")
    holder = sqlite3.connect(tmp_path / "shop.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(0.3, lambda: holder.execute("ROLLBACK"))
    releaser.start()
    try:
        category = Simulator(store, actor="patient", tenant=TENANT).catalog.add_category("Eventually")
        assert category.name == "Eventually"
    finally:
        releaser.join()
        holder.close()
        store.close()


def test_locked_old_schema_that_needs_upgrading_is_busy_not_corrupt(tmp_path: Path) -> None:
    from storage import migrations

    path = tmp_path / "old.db"
    migrations.upgrade(f"sqlite:///{path}", "0001")
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(DomainError) as err:
            open_store(f"sqlite:///{path}?busy_timeout=100")
        assert err.value.code == "busy"
        holder.execute("ROLLBACK")
        holder.execute("PRAGMA journal_mode=WAL")
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(DomainError) as err:
            open_store(f"sqlite:///{path}?busy_timeout=100")
        assert err.value.code == "busy"
        assert holder.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
    finally:
        holder.close()


# -- damaged and foreign files --------------------------------------------------------------


def test_file_that_is_not_a_database_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "noise.db"
    path.write_bytes(random.Random(42).randbytes(8192))
    before = path.read_bytes()
    with pytest.raises(DomainError) as err:
        open_store(f"sqlite:///{path}")
    assert err.value.code == "corrupt"
    assert path.read_bytes() == before


def test_text_file_posing_as_a_database_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("sku,name,price\nA-1,Hammer,1.00\n" * 200)
    with pytest.raises(DomainError) as err:
        open_store(f"sqlite:///{path}")
    assert err.value.code == "corrupt"


def test_sqlite_file_of_another_application_is_unsupported_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE recipes (id INTEGER PRIMARY KEY, title TEXT)")
    conn.execute("INSERT INTO recipes (title) VALUES ('soup')")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(DomainError) as err:
        open_store(f"sqlite:///{path}")
    assert err.value.code == "unsupported_version"
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("other.db.pre-*"))


def test_file_with_tables_but_an_empty_schema_stamp_is_unsupported(tmp_path: Path) -> None:
    from storage import migrations

    path = tmp_path / "stampless.db"
    migrations.upgrade(f"sqlite:///{path}", "0001")
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM alembic_version")
    conn.commit()
    conn.close()
    with pytest.raises(DomainError) as err:
        open_store(f"sqlite:///{path}")
    assert err.value.code == "unsupported_version"


def test_empty_file_becomes_a_new_database(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    store = open_store(f"sqlite:///{path}")
    try:
        assert store.created is True
        assert Simulator(store, actor="a", tenant=TENANT).catalog.add_category("New").id > 0
    finally:
        store.close()
    reopened = open_store(f"sqlite:///{path}")
    assert reopened.created is False
    reopened.close()


# -- units of work ---------------------------------------------------------------------------


def _category_names(store: SqliteStore, tenant: str = TENANT) -> list[str]:
    with store.unit_of_work(tenant) as uow:
        return [c.name for c in uow.categories.list()]


def test_unit_of_work_without_commit_saves_nothing(store: SqliteStore) -> None:
    with store.unit_of_work(TENANT, write=True) as uow:
        uow.categories.add("Forgotten", None)
        assert [c.name for c in uow.categories.list()] == ["Forgotten"]
    assert _category_names(store) == []


def test_unit_of_work_that_raises_saves_nothing(store: SqliteStore) -> None:
    with pytest.raises(RuntimeError):
        with store.unit_of_work(TENANT, write=True) as uow:
            uow.categories.add("Doomed", None)
            raise RuntimeError("crash mid-transaction")
    assert _category_names(store) == []


def test_committed_unit_of_work_is_visible_to_another_store_on_the_same_file(store: SqliteStore, sqlite_url: str) -> None:
    with store.unit_of_work(TENANT, write=True) as uow:
        uow.categories.add("Kept", None)
        uow.commit()
    other = open_store(sqlite_url)
    try:
        assert _category_names(other) == ["Kept"]
    finally:
        other.close()


def test_inner_rollback_keeps_the_outer_units_writes(store: SqliteStore) -> None:
    with store.unit_of_work(TENANT, write=True) as outer:
        outer.categories.add("Outer", None)
        with store.unit_of_work(TENANT, write=True) as inner:
            inner.categories.add("Inner", None)
            assert {c.name for c in inner.categories.list()} == {"Outer", "Inner"}
        assert [c.name for c in outer.categories.list()] == ["Outer"]
        with store.unit_of_work(TENANT, write=True) as inner:
            inner.categories.add("Released", None)
            inner.commit()
        outer.commit()
    assert _category_names(store) == ["Outer", "Released"]


def test_failing_inner_unit_is_rolled_back_to_its_savepoint(store: SqliteStore) -> None:
    with store.unit_of_work(TENANT, write=True) as outer:
        outer.categories.add("Outer", None)
        with pytest.raises(DomainError) as err:
            with store.unit_of_work(TENANT, write=True) as inner:
                inner.categories.add("Half", None)
                inner.categories.add("OUTER", None)  # same name, case-insensitive
        assert err.value.code == "already_exists"
        outer.commit()
    assert _category_names(store) == ["Outer"]


def test_outer_rollback_discards_committed_inner_savepoints(store: SqliteStore) -> None:
    with store.unit_of_work(TENANT, write=True):  # left without a commit: rolled back
        with store.unit_of_work(TENANT, write=True) as inner:
            inner.categories.add("Inner", None)
            inner.commit()
    assert _category_names(store) == []


def test_units_of_work_see_only_their_tenant(store: SqliteStore) -> None:
    with store.unit_of_work("a", write=True) as uow:
        uow.categories.add("Only A", None)
        uow.commit()
    assert _category_names(store, "a") == ["Only A"]
    assert _category_names(store, "b") == []


def test_foreign_keys_are_enforced(store: SqliteStore) -> None:
    with store.unit_of_work(TENANT, write=True) as uow:
        with pytest.raises(sqlite3.IntegrityError):
            uow._conn.execute(
                "INSERT INTO products (tenant_id, sku, name, category_id, price_minor) VALUES (?, 'X-1', 'x', 999, 1)",
                (TENANT,),
            )


# -- concurrent writers ----------------------------------------------------------------------


def test_four_threads_adding_fifty_products_each_through_one_store_lose_nothing(store: SqliteStore) -> None:
    sim = Simulator(store, actor="threads", tenant=TENANT)
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker(n: int) -> None:
        try:
            start.wait(timeout=10)
            for i in range(50):
                sim.catalog.add_product(f"T{n}-{i:03d}", f"Thread {n} item {i}", "1.00", quantity=1)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sim.catalog.count_products() == 200
    skus = {r.sku for r in sim.catalog.find_products(limit=1000)}
    assert skus == {f"T{n}-{i:03d}" for n in range(4) for i in range(50)}
    with store.unit_of_work(TENANT) as uow:
        assert len([e for e in uow.audit.latest(1000) if e.entity == "product" and e.action == "create"]) == 200
        assert [u.name for u in uow.users.list()] == ["threads"]


ROUNDS = 4


def _edit_in_rounds(url: str, product_id: int, me: int, barrier, results) -> None:  # runs in a spawned process
    from domain import Simulator
    from domain.errors import DomainError
    from storage import open_store

    store = open_store(url)
    sim = Simulator(store, actor=f"proc{me}", tenant=TENANT)
    try:
        for round_no in range(ROUNDS):
            barrier.wait(timeout=30)
            seen = sim.catalog.get_product(product_id).version
            barrier.wait(timeout=30)  # both hold the same version before either writes
            try:
                sim.catalog.update_product(product_id, seen, name=f"round {round_no} by {me}")
                results.put((round_no, me, "ok", seen))
            except DomainError as e:
                results.put((round_no, me, e.code, seen))
            barrier.wait(timeout=30)
    finally:
        store.close()


def test_two_processes_editing_one_product_exactly_one_wins_each_round(sim: Simulator, sqlite_url: str) -> None:
    product = sim.catalog.add_product("RACE-1", "Contested", "5.00")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [ctx.Process(target=_edit_in_rounds, args=(sqlite_url, product.id, me, barrier, results)) for me in (0, 1)]
    for p in procs:
        p.start()
    try:
        outcomes = [results.get(timeout=60) for _ in range(2 * ROUNDS)]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert [p.exitcode for p in procs] == [0, 0]

    winners = []
    for round_no in range(ROUNDS):
        this_round = sorted((o for o in outcomes if o[0] == round_no), key=lambda o: o[2])
        assert [o[2] for o in this_round] == ["ok", "version_conflict"], this_round
        assert this_round[0][3] == this_round[1][3] == 1 + round_no, "both edited the same version"
        winners.append(this_round[0][1])

    final = sim.catalog.get_product(product.id)
    assert final.version == 1 + ROUNDS
    assert final.name == f"round {ROUNDS - 1} by {winners[-1]}"
    store = sim.store
    with store.unit_of_work(TENANT) as uow:
        updates = [e for e in uow.audit.latest(100) if e.action == "update" and e.entity_id == str(product.id)]
    assert len(updates) == ROUNDS
    assert sorted(e.actor for e in updates) == sorted(f"proc{w}" for w in winners)
