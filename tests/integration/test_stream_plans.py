"""The ledger streams (what `stockbank check` replays) read each chunk as a rowid range on SQLite, and a
snapshot (a save) reads products and ledgers in rowid order, in both SQL stores: EXPLAIN QUERY PLAN of the
statements they really run. Through an index of (tenant_id, ...) SQLite sorted the tenant's every move for
each 2,000-row chunk: `check` took 92 s in the stock stream alone at 1,000,000 products.

A stock move found by its key, its transfer or the move it resolves seeks the partial index of that
column (migration 0012), live and archived, on SQLite and under PostgreSQL's tenant policy. The deleted
products view reads the partial index of the deleted products (migration 0013)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from domain.model import AuditQuery, ProductQuery
from storage import open_store
from tests.conftest import migrated_sqlite_file, new_pg_database, reads_table_rows, run_capturing


def plans(tmp_path: Path, scheme: str, read, table: str) -> list[str]:
    """SQLite's plan of each SELECT on `table` that `read(uow)` runs on a new database of the store `scheme`."""
    path = migrated_sqlite_file(tmp_path)
    statements = [(sql, params) for sql, params in run_capturing(f"{scheme}:///{path}", read) if f"FROM {table}" in sql]
    assert statements, f"no SELECT on {table}"
    with sqlite3.connect(path) as raw:
        return [" | ".join(step[-1] for step in raw.execute("EXPLAIN QUERY PLAN " + sql, params))
                for sql, params in statements]


@pytest.mark.parametrize("scheme", ["sqlite", "sqlalchemy+sqlite"])
@pytest.mark.parametrize(("table", "read"), [
    ("stock_moves", lambda uow: list(uow.stock.stream_moves())),
    ("transfers", lambda uow: list(uow.transfers.stream())),
    ("stock_moves", lambda uow: uow.snapshot.dump()),
    ("transfers", lambda uow: uow.snapshot.dump()),
], ids=["stock_moves", "transfers", "snapshot-moves", "snapshot-transfers"])
def test_a_ledger_read_in_id_order_takes_rowid_ranges_not_an_index(tmp_path: Path, scheme: str, table: str,
                                                                    read) -> None:
    for plan in plans(tmp_path, scheme, read, table):
        for name in (table, f"{table}_archive"):
            assert f"SEARCH {name} USING INTEGER PRIMARY KEY (rowid>?)" in plan or f"SCAN {name}" in plan, plan
            assert f"{name} USING COVERING INDEX" not in plan and f"{name} USING INDEX" not in plan, plan


@pytest.mark.parametrize("scheme", ["sqlite", "sqlalchemy+sqlite"])
def test_a_snapshot_reads_the_products_in_rowid_order(tmp_path: Path, scheme: str) -> None:
    assert plans(tmp_path, scheme, lambda uow: uow.snapshot.dump(), "products") == ["SCAN products"]


@pytest.mark.parametrize("scheme", ["sqlite", "sqlalchemy+sqlite"])
def test_check_reads_the_products_in_rowid_order(tmp_path: Path, scheme: str) -> None:
    """Through the name index (keyset pages of the list) the rows came in name order: 7.4 s at 1M, not 2.3 s."""
    for plan in plans(tmp_path, scheme, lambda uow: list(uow.products.all_products()), "products"):
        first = plan.split(" | ")[0]
        assert first in ("SCAN p", "SCAN products") or "USING INTEGER PRIMARY KEY (rowid>?)" in first, plan
        assert "TEMP B-TREE" not in plan, plan


JUMPS = {  # a scrollbar drag deep into a long list: the id `skip` rows in, from the indexes alone
    "statement": ("transfers", lambda uow: uow.transfers.statement(1, None, 50, skip=500)),
    "statement-back": ("transfers", lambda uow: uow.transfers.statement(1, None, 50, backward=True, skip=500)),
    "statement-archive": ("transfers", lambda uow: uow.transfers.statement(1, None, 50, True, skip=500)),
    "audit": ("audit_log", lambda uow: uow.audit.page(AuditQuery(include_archive=False), None, 50, skip=500)),
    "audit-archive": ("audit_log", lambda uow: uow.audit.page(AuditQuery(), None, 50, skip=500)),
    "audit-actor-back": ("audit_log", lambda uow: uow.audit.page(AuditQuery(actor="x"), None, 50, backward=True,
                                                                 skip=500)),
    "history": ("stock_moves", lambda uow: uow.stock.history(1, None, 50, skip=500)),
    "history-back": ("stock_moves", lambda uow: uow.stock.history(1, None, 50, backward=True, skip=500)),
    "history-archive": ("stock_moves", lambda uow: uow.stock.history(1, None, 50, True, skip=500)),
    "history-archive-back": ("stock_moves", lambda uow: uow.stock.history(1, None, 50, True, backward=True, skip=500)),
    "products-by-name": ("products", lambda uow: uow.products.find(ProductQuery(), None, 50, skip=500)),
    "products-by-price-down": ("products", lambda uow: uow.products.find(ProductQuery(sort="price", descending=True),
                                                                         None, 50, skip=500)),
    "stock-list": ("products", lambda uow: uow.stock.rows(ProductQuery(), None, 50, skip=500)),
    "stock-list-low": ("products", lambda uow: uow.stock.rows(ProductQuery(), None, 50, True, skip=500)),
}


@pytest.mark.parametrize("scheme", ["sqlite", "sqlalchemy+sqlite"])
@pytest.mark.parametrize("jump", list(JUMPS))
def test_a_jump_merges_the_index_walks_without_sorting_them(tmp_path: Path, scheme: str, jump: str) -> None:
    """Each walk in a subquery of its own, SQLite sorted it again before merging: at 1,000,000 transfers a
    statement's jump to the middle took 0.4-0.5 s instead of ~0.1 s (the audit's 0.2 s instead of 0.04 s).
    A product's history with the archive read each table's first skip + limit full rows and sorted them;
    the stock list's OFFSET (and the SQLAlchemy store's product list's) joined and read every row it
    skipped: 1.1 s at 500,000 products in on SQLite, 1.0-4 s on PostgreSQL."""
    table, read = JUMPS[jump]
    path = migrated_sqlite_file(tmp_path)
    (sql,) = [sql for sql, _ in run_capturing(f"{scheme}:///{path}", read) if f"FROM {table}" in sql and "OFFSET" in sql]
    with sqlite3.connect(path) as raw:
        plan = " | ".join(step[-1] for step in raw.execute("EXPLAIN QUERY PLAN " + sql))
        assert "TEMP B-TREE" not in plan, plan
        assert not reads_table_rows(raw, sql, table), plan  # an index alone (a partial one: USING INDEX)


LOOKUPS = {  # what the stock repository finds one move by -> the live and the archive index it must seek
    "idempotency_key": (lambda uow: uow.stock.get_move_by_key("k-1"), "ux_stock_moves_tenant_key",
                        "ix_stock_moves_archive_key"),
    "transfer_id": (lambda uow: uow.stock.paid_by(7), "ix_stock_moves_transfer", "ix_stock_moves_archive_transfer"),
    "pending_id": (lambda uow: uow.stock.resolution(7), "ux_stock_moves_resolution", "ix_stock_moves_archive_pending"),
}


@pytest.mark.parametrize("scheme", ["sqlite", "sqlalchemy+sqlite"])
@pytest.mark.parametrize("column", list(LOOKUPS))
def test_a_move_found_by_key_transfer_or_resolution_seeks_its_partial_index(tmp_path: Path, scheme: str,
                                                                             column: str) -> None:
    read, live, archive = LOOKUPS[column]
    found = " | ".join(plans(tmp_path, scheme, read, "stock_moves"))
    assert f"SEARCH stock_moves USING INDEX {live} (" in found, found
    assert f"SEARCH stock_moves_archive USING INDEX {archive} (" in found, found


@pytest.mark.parametrize("column", list(LOOKUPS))
def test_on_postgres_a_move_found_by_key_transfer_or_resolution_seeks_its_partial_index(tmp_path: Path,
                                                                                         column: str) -> None:
    from storage.sqlalchemy.stock import _MOVE_BY

    _, live, archive = LOOKUPS[column]
    store = open_store(new_pg_database(tmp_path))
    try:
        compiled = _MOVE_BY[column].compile(dialect=store.engine.dialect)
        params = compiled.construct_params({"tenant": "t1", "value": "k-1" if column == "idempotency_key" else 7})
        with store.unit_of_work("t1") as uow:  # as the store's role, with the tenant set: the policy applies
            connection = uow.session.connection()
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # empty tables: the index or nothing
            plan = "\n".join(r[0] for r in connection.exec_driver_sql(f"EXPLAIN {compiled}", params))
    finally:
        store.close()
    assert f"Index Scan using {live} on stock_moves" in plan, plan
    assert f"Index Scan using {archive} on stock_moves_archive" in plan, plan


@pytest.mark.parametrize("scheme", ["sqlite", "sqlalchemy+sqlite"])
@pytest.mark.parametrize("read", [
    lambda uow: uow.products.find(ProductQuery(deleted=True), None, 50),
    lambda uow: uow.products.find(ProductQuery(deleted=True, descending=True), None, 50, backward=True),
    lambda uow: uow.products.find(ProductQuery(deleted=True), None, 50, skip=120),
    lambda uow: uow.products.find(ProductQuery(deleted=True, category_ids=(1, 2)), None, 50),
    lambda uow: uow.products.find(ProductQuery(deleted=True, sort="price"), None, 50),
    lambda uow: uow.products.count(ProductQuery(deleted=True)),
], ids=["first-page", "last-page", "jump", "category", "by-price", "count"])
def test_the_deleted_view_reads_the_index_of_the_deleted_products_alone(tmp_path: Path, scheme: str, read) -> None:
    """Migration 0013: without it the view walked the whole catalog in name order, reading every row (1.2 s
    at 1,000,000 products, however few were deleted)."""
    for plan in plans(tmp_path, scheme, read, "products"):
        assert "INDEX ix_products_deleted (tenant_id=?)" in plan, plan
        assert not any(f"SCAN {table}" in plan for table in ("p", "products")), plan


@pytest.mark.parametrize("read", [
    lambda uow: uow.products.find(ProductQuery(deleted=True, category_ids=(1,)), None, 50),
    lambda uow: uow.products.count(ProductQuery(deleted=True, category_ids=(1,))),
    lambda uow: uow.products.find(ProductQuery(deleted=True, text="hammer"), None, 50),
    lambda uow: uow.products.find(ProductQuery(deleted=True, category_ids=(1,), sort="sku"), None, 50),
    lambda uow: list(uow.products.stream(ProductQuery(deleted=True, category_ids=(1,)))),
], ids=["one-category", "one-category-count", "text", "category-by-sku", "export"])
def test_the_sqlite3_store_keeps_the_deleted_view_on_its_index_where_the_planner_would_not(tmp_path: Path,
                                                                                          read) -> None:
    """One category (and the active products) looks cheaper to SQLite through the category index, which
    holds every live product of it; a text filter or another order than the name would scan the table."""
    for plan in plans(tmp_path, "sqlite", read, "products"):
        assert "INDEX ix_products_deleted (tenant_id=?)" in plan, plan
