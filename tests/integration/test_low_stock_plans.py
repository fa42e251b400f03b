"""The low-stock reads and a category's count use their indexes (migration 0014) on a file `stockbank demo`
loaded, in both SQLite stores: EXPLAIN of the statements they really run.

A demo or an import builds the list's indexes again at the end of the load, and SQLite, with no statistics,
gives a tie to the newest index: on such a file the dashboard's low-stock count walked the whole list and read
every row (2 s at 1,000,000 products) although `ix_products_reorder` was there. The stores now name the
index. A category's count reads `ix_products_active_category` alone since its WHERE is the default list's
(it read each product's row for `deleted_at`: 0.4-1 s for a top category at 1,000,000 products)."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from domain import Simulator
from domain.clock import FixedClock
from domain.model import ProductQuery
from storage import open_store
from tests.conftest import reads_table_rows, run_capturing
from tui_app.bootstrap import seed_demo

SCHEMES = ["sqlite", "sqlalchemy+sqlite"]
# The truth, read without any index: SKUs at or below their reorder level, as the Inventory's low view has them.
LOW_TRUTH = ("SELECT sku FROM products NOT INDEXED WHERE tenant_id = 't' AND reorder_level > 0"
             " AND quantity <= reorder_level AND {where} ORDER BY lower(name), id")


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 demo products (each with a reorder level, some low) loaded by the sqlite3 store's bulk path, one
    low product deactivated and one deleted."""
    path = tmp_path_factory.mktemp("low") / "demo.db"
    store = open_store(f"sqlite:///{path}")
    try:
        sim = Simulator(store, tenant="t", actor="tester", clock=FixedClock())
        seed_demo(sim, 300)
        low = sim.inventory.stock(ProductQuery(), limit=10, low_only=True)
        assert len(low) >= 4, "the demo should leave some products low"
        inactive = sim.catalog.get_product(low[0].product_id)
        sim.catalog.update_product(inactive.id, inactive.version, active=False)
        sim.catalog.delete_product(low[1].product_id)
    finally:
        store.close()
    return path


@pytest.fixture
def shop(demo_file: Path, tmp_path: Path) -> Path:
    target = tmp_path / "shop.db"
    shutil.copyfile(demo_file, target)
    return target


def statements(path: Path, scheme: str, read) -> list[str]:
    found = [sql for sql, _ in run_capturing(f"{scheme}:///{path}", read) if "FROM products" in sql]
    assert found, "no SELECT on products"
    return found


def query_plan(path: Path, sql: str) -> str:
    with closing(sqlite3.connect(path)) as raw:
        return " | ".join(step[-1] for step in raw.execute("EXPLAIN QUERY PLAN " + sql))


def test_the_demo_rebuilt_the_list_indexes_last(shop: Path) -> None:
    """What makes the file a fair test: the planner's tie goes to the newest index, and the demo's are."""
    with closing(sqlite3.connect(shop)) as raw:
        names = [n for (n,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'index'"
                                           " AND tbl_name = 'products' ORDER BY rowid")]
    assert names.index("ix_products_listed") > names.index("ix_products_low"), names


LOW_READS = {
    "dashboard-count": lambda uow: uow.stock.count_low(),
    "first-page": lambda uow: uow.stock.rows(ProductQuery(), None, 50, True),
    "last-page": lambda uow: uow.stock.rows(ProductQuery(), None, 50, True, backward=True),
    "jump": lambda uow: uow.stock.rows(ProductQuery(), None, 5, True, skip=3),
    "category": lambda uow: uow.stock.rows(ProductQuery(category_ids=(2, 3)), None, 50, True),
    "text": lambda uow: uow.stock.rows(ProductQuery(text="hammer"), None, 50, True),
    "inactive-too": lambda uow: uow.stock.rows(ProductQuery(include_inactive=True), None, 50, True),
    "count": lambda uow: uow.stock.count_rows(ProductQuery(), True),
    "category-count": lambda uow: uow.stock.count_rows(ProductQuery(category_ids=(2,)), True),
}


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("read", list(LOW_READS.values()), ids=list(LOW_READS))
def test_a_low_stock_read_uses_the_index_of_the_low_products(shop: Path, scheme: str, read) -> None:
    for sql in statements(shop, scheme, read):
        plan = query_plan(shop, sql)
        if plan.endswith("USING INTEGER PRIMARY KEY (rowid=?)"):
            continue  # a jump's key, read from the one row the index walk found
        assert "INDEX ix_products_low (tenant_id=?" in plan, plan  # from the start, or a keyset cursor on
        assert "SCAN p" not in plan and "SCAN products" not in plan, plan


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_reorder_check_reads_the_products_with_a_reorder_level(shop: Path, scheme: str) -> None:
    """Its test adds what is in transit, so the low index's WHERE is not its own: the reorder index is."""
    (sql,) = statements(shop, scheme, lambda uow: uow.stock.needs_reorder())
    assert "INDEX ix_products_reorder (tenant_id=?)" in query_plan(shop, sql)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize(("query", "where"), [
    (ProductQuery(), "active AND deleted_at IS NULL"),
    (ProductQuery(include_inactive=True), "deleted_at IS NULL"),
    (ProductQuery(category_ids=(2, 3)), "active AND deleted_at IS NULL AND category_id IN (2, 3)"),
    (ProductQuery(deleted=True), "deleted_at IS NOT NULL"),
], ids=["live", "inactive-too", "category", "deleted"])
def test_the_low_products_are_those_at_or_below_their_reorder_level(shop: Path, scheme: str, query: ProductQuery,
                                                                     where: str) -> None:
    """The index changes the way in, never the answer: every way in, against a read of the table alone
    (the deleted view's terms do not imply the index's WHERE and go the planner's way)."""
    with closing(sqlite3.connect(shop)) as raw:
        truth = [sku for (sku,) in raw.execute(LOW_TRUTH.format(where=where))]
    assert truth, "the case should have low products"
    store = open_store(f"{scheme}:///{shop}")
    try:
        with store.unit_of_work("t") as uow:
            listed = [r.sku for r in uow.stock.rows(query, None, 1000, True)]
            counted = uow.stock.count_rows(query, True)
            low_total = uow.stock.count_low()
    finally:
        store.close()
    assert listed == truth
    assert counted == len(truth)
    with closing(sqlite3.connect(shop)) as raw:
        assert low_total == len(list(raw.execute(LOW_TRUTH.format(where="active AND deleted_at IS NULL"))))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_categorys_count_reads_its_index_alone(shop: Path, scheme: str) -> None:
    """Its plan says USING INDEX either way; the bytecode tells whether each entry also reads the row."""
    (sql,) = statements(shop, scheme, lambda uow: uow.products.count(ProductQuery(category_ids=(1, 2, 3))))
    assert "INDEX ix_products_active_category (tenant_id=? AND category_id=?)" in query_plan(shop, sql)
    with closing(sqlite3.connect(shop)) as raw:
        assert not reads_table_rows(raw, sql, "products")
