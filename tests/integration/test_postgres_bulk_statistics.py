"""A bulk write on PostgreSQL (an import, `stockbank demo`) is one transaction, and autovacuum cannot see its
rows: planned from the statistics of the empty tables, each chunk's opening stock walked every stock move
for every level, and a 30,000-product demo ran for over ten minutes (20 s now). The store refreshes the
statistics inside the transaction through `stockbank_analyze_books()` (migration 0010), which the
unprivileged role it acts as may call and nobody else."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from domain import Simulator
from domain.clock import FixedClock
from domain.model import NewProduct
from storage import open_store
from storage.sqlalchemy.stock import ANALYZE_AFTER
from tests.conftest import new_pg_database


def _reltuples(uow, table: str) -> float:
    return uow.session.execute(text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}).scalar_one()


def test_a_bulk_import_refreshes_the_statistics_it_is_planned_with_inside_its_own_transaction(tmp_path: Path) -> None:
    store = open_store(new_pg_database(tmp_path))
    try:
        sim = Simulator(store, actor="tester", tenant="t1", clock=FixedClock())
        rows = [NewProduct(f"P-{n:05d}", f"Product {n}", None, 100, 3, True) for n in range(3 * ANALYZE_AFTER)]
        with sim.ctx.writing() as uow:
            assert _reltuples(uow, "stock_moves") <= 0  # a new database: never analyzed
            assert sim.catalog.bulk_add(rows, source="test").rows == len(rows)
            # analyzed once ANALYZE_AFTER adjustments were posted (then again each time that doubles)
            for table in ("stock_moves", "stock_levels", "products"):
                assert _reltuples(uow, table) >= ANALYZE_AFTER, table
        assert sim.check().ok
    finally:
        store.close()


def test_only_the_stores_role_may_refresh_the_statistics(tmp_path: Path) -> None:
    store = open_store(new_pg_database(tmp_path))
    try:
        with store.unit_of_work("t1") as uow:
            granted = dict(uow.session.execute(text(
                "SELECT r.rolname, has_function_privilege(r.oid, 'stockbank_analyze_books()', 'EXECUTE')"
                " FROM pg_roles r WHERE r.rolname IN ('stockbank_app', 'pg_monitor')")).all())
            definer = uow.session.execute(text(
                "SELECT prosecdef FROM pg_proc WHERE proname = 'stockbank_analyze_books'")).scalar_one()
    finally:
        store.close()
    assert granted == {"stockbank_app": True, "pg_monitor": False}  # not PUBLIC
    assert definer  # runs as the tables' owner: only an owner may ANALYZE
