"""The sqlite3 store's bulk insert (issue #8, `stockbank demo --products 1000000` in seconds): on an empty
products table it drops the indexes by name and builds them again at the end of the same transaction.
The schema must come out exactly as it went in, the indexes must hold every row (integrity_check), and
a failure, a rolled-back outer transaction or a kill -9 half-way must leave the old state. The CLI's
`demo` and `import` run in the store's bulk_load(): rollback-journal mode while it lasts, WAL after."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

import domain.services.catalog as catalog_module
from domain import Simulator
from domain.clock import FixedClock
from domain.errors import NotFound
from domain.model import NewProduct, ProductQuery
from domain.model.catalog import fold_case
from storage import open_store
from storage.sqlite.store import SqliteStore
from tui_app.__main__ import main
from tui_app.bootstrap import seed_demo

ROOT = Path(__file__).resolve().parents[2]
NAME_INDEXES = ("ix_products_active_category", "ix_products_listed", "ix_products_tenant_lower_name")


# Each helper closes its connection: one left to the garbage collector keeps the file open, and
# bulk_load() leaves WAL only when nothing else has it open.
def schema(db: Path) -> list[tuple]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()


def roots(db: Path) -> dict[str, int]:
    with closing(sqlite3.connect(db)) as conn:
        return dict(conn.execute(
            "SELECT name, rootpage FROM sqlite_master WHERE type = 'index' AND tbl_name = 'products'"))


def integrity(db: Path) -> list[str]:
    with closing(sqlite3.connect(db)) as conn:
        return [r[0] for r in conn.execute("PRAGMA integrity_check")]


def rows(count: int, start: int = 0, bad_at: int | None = None) -> list[NewProduct]:
    return [NewProduct(f"K-{n:05d}", f"Item {(n * 7919) % 1000:03d}", 999_999 if n == bad_at else None, 100 + n, n % 5)
            for n in range(start, start + count)]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "shop.db"


@pytest.fixture
def sim(db: Path):
    store = open_store(f"sqlite:///{db}")
    yield Simulator(store, actor="tester", clock=FixedClock())
    store.close()


def test_a_bulk_add_on_an_empty_table_rebuilds_the_name_indexes_to_the_same_schema(
        db: Path, sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog_module, "IMPORT_BATCH", 50)
    before, old_roots = schema(db), roots(db)
    assert set(NAME_INDEXES) <= set(old_roots)
    sim.catalog.bulk_add(rows(300))
    assert schema(db) == before
    rebuilt = roots(db)
    assert all(rebuilt[name] != old_roots[name] for name in NAME_INDEXES)  # the fast path took them down
    assert integrity(db) == ["ok"] and sim.check().ok
    listed = sim.catalog.find_products(ProductQuery(), limit=300)
    assert [r.id for r in listed] == [r.id for r in sorted(listed, key=lambda r: (fold_case(r.name), r.id))]
    assert len(listed) == 300

    sim.catalog.bulk_add(rows(100, start=300))  # the table is not empty now: indexes kept as they are
    assert roots(db) == rebuilt and schema(db) == before and integrity(db) == ["ok"]
    assert sim.catalog.count_products() == 400


def test_a_failed_bulk_add_leaves_the_rows_and_the_schema_as_they_were(
        db: Path, sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog_module, "IMPORT_BATCH", 50)
    before, old_roots = schema(db), roots(db)
    with pytest.raises(NotFound):
        sim.catalog.bulk_add(rows(300, bad_at=170))  # in the fourth batch
    assert schema(db) == before and roots(db) == old_roots
    assert integrity(db) == ["ok"] and sim.is_pristine()


def test_a_demo_in_an_outer_transaction_that_fails_leaves_the_rows_and_the_schema_as_they_were(
        db: Path, sim: Simulator) -> None:
    before, old_roots = schema(db), roots(db)
    with pytest.raises(RuntimeError), sim.ctx.writing():
        seed_demo(sim, 6000, 7)
        assert sim.catalog.count_products() == 6000
        raise RuntimeError("the rest of the command failed")
    assert schema(db) == before and roots(db) == old_roots
    assert integrity(db) == ["ok"] and sim.is_pristine()


def test_stockbank_demo_killed_half_way_leaves_the_old_state(db: Path) -> None:
    url = f"sqlite:///{db}"
    cli = [sys.executable, "-m", "tui_app", "--db", url, "--json"]
    subprocess.run([*cli, "demo", "--products", "40"], cwd=ROOT, check=True, capture_output=True)
    before = schema(db)
    start = written(db)
    proc = subprocess.Popen([*cli, "demo", "--products", "400000"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        # The one transaction spills pages into the file (bulk_load's rollback-journal mode) once it
        # outgrows its page cache: well under way.
        deadline = time.monotonic() + 120
        while written(db) < start + 48 * 2**20:
            assert proc.poll() is None, proc.stderr.read()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the demo never got under way"
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    assert Path(f"{db}-journal").exists()  # killed in rollback-journal mode, with the journal still hot
    assert schema(db) == before and integrity(db) == ["ok"]
    store = open_store(url)
    try:
        sim = Simulator(store, actor="tester")
        assert sim.catalog.count_products(ProductQuery(include_inactive=True, deleted=None)) == 40
        assert sim.check().ok
    finally:
        store.close()
    assert journal_mode(db) == "wal"


def written(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, Path(f"{db}-wal"), Path(f"{db}-journal")) if p.exists())


def journal_mode(db: Path) -> str:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]


def test_stockbank_demo_and_import_load_in_rollback_journal_mode_and_leave_the_file_in_wal(
        db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bool, str]] = []  # (switched, the file's journal mode while the command loads)
    bulk_load = SqliteStore.bulk_load

    @contextmanager
    def recorded(store: SqliteStore):
        with bulk_load(store) as switched:
            seen.append((switched, journal_mode(db)))
            yield switched

    monkeypatch.setattr(SqliteStore, "bulk_load", recorded)
    url, csv_file = f"sqlite:///{db}", tmp_path / "more.csv"
    assert main(["--db", url, "--json", "demo", "--products", "3000"]) == 0
    assert main(["--db", url, "--json", "export", "products", "--out", str(csv_file)]) == 0
    csv_file.write_text(csv_file.read_text().replace("\nHAN-", "\nNEW-"))
    assert main(["--db", url, "--json", "import", "products", str(csv_file)]) == 0
    assert seen == [(True, "delete"), (True, "delete")]
    assert journal_mode(db) == "wal" and integrity(db) == ["ok"]
    store = open_store(url)
    try:
        sim = Simulator(store, actor="tester")
        assert sim.catalog.count_products() == 3600 and sim.check().ok  # 600 HAN- rows came back as NEW-
    finally:
        store.close()


def test_bulk_load_switches_only_a_lone_connection_and_always_switches_back(db: Path, sim: Simulator) -> None:
    store = sim.store
    other = sqlite3.connect(db)
    other.execute("SELECT COUNT(*) FROM products").fetchone()
    with store.bulk_load() as switched:  # another connection has the file open: WAL it stays
        assert switched is False and journal_mode(db) == "wal"
        seed_demo(sim, 200, 7)
    other.close()
    assert journal_mode(db) == "wal"

    with pytest.raises(NotFound), store.bulk_load() as switched:
        assert switched is True and journal_mode(db) == "delete"
        sim.catalog.bulk_add(rows(300, bad_at=170))
    assert journal_mode(db) == "wal" and integrity(db) == ["ok"]
    assert sim.catalog.count_products() == 200 and sim.check().ok
