"""The dashboard's reads use their indexes on SQLite (EXPLAIN QUERY PLAN): what keeps it well under a second at
1,000,000 products (daily trade and top sellers 0.5 s each without theirs, stock value 7 s). The low-stock
count is held to its index in test_low_stock_plans.py, on a file a demo loaded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage.sqlite import stock
from tests.conftest import migrated_sqlite_file, run_capturing


def plan(path: Path, sql: str, params: tuple) -> str:
    with sqlite3.connect(path) as raw:
        return " | ".join(step[-1] for step in raw.execute("EXPLAIN QUERY PLAN " + sql, params))


@pytest.mark.parametrize(("sql", "params", "index"), [
    (stock._DAILY_TRADE, ("t", 0, 30), "ix_stock_moves_trade"),
    (stock._TOP_SELLERS, ("t", 0, 30, 5), "ix_stock_moves_trade"),
])
def test_the_dashboards_aggregates_read_only_their_partial_index(tmp_path: Path, sql: str, params: tuple,
                                                                 index: str) -> None:
    found = plan(migrated_sqlite_file(tmp_path), sql, params)
    assert index in found, found
    assert "SCAN m" not in found and "SCAN p" not in found, found


def test_stock_value_by_location_is_driven_from_the_levels(tmp_path: Path) -> None:
    found = plan(migrated_sqlite_file(tmp_path), stock._VALUE_BY_LOCATION, ("t",))
    assert found.index(" l ") < found.index(" p ") and "p USING INTEGER PRIMARY KEY" in found, found



def statements(path: Path, scheme: str, call, table: str) -> list[tuple[str, tuple]]:
    """The SELECTs on `table` that `call(uow)` runs on the store `scheme`, as prepared: the sqlite3 store's
    from the driver's trace (its constants are written in its SQL), the SQLAlchemy store's from the engine
    with their parameters unbound. The trace fills bound values in, and a bound constant is exactly what
    keeps SQLite from a partial index."""
    from sqlalchemy import event

    from storage import open_store

    if scheme == "sqlite":
        found = run_capturing(f"sqlite:///{path}", call)
    else:
        found = []
        store = open_store(f"{scheme}:///{path}")
        try:
            event.listen(store.engine, "before_cursor_execute",
                         lambda conn, cursor, sql, params, context, many: found.append((sql, tuple(params))))
            with store.unit_of_work("t") as uow:
                call(uow)
        finally:
            store.close()
    return [(sql, params) for sql, params in found if f"FROM {table}" in sql]


READS = {  # what each store really runs for the dashboard -> the index its plan must name
    "daily-trade": ("stock_moves", lambda uow: uow.stock.daily_trade(0, 30), "ix_stock_moves_trade"),
    "top-sellers": ("stock_moves", lambda uow: uow.stock.top_sellers(0, 30, 5), "ix_stock_moves_trade"),
    "pending-transfers": ("transfers", lambda uow: uow.transfers.unresolved_pending(), "ix_transfers_pending"),
    "pending-moves": ("stock_moves", lambda uow: uow.stock.pending_moves(), "ix_stock_moves_pending"),
}


@pytest.mark.parametrize("scheme", ["sqlite", "sqlalchemy+sqlite"])
@pytest.mark.parametrize("read", list(READS))
def test_each_store_runs_the_dashboards_reads_on_their_partial_index(tmp_path: Path, scheme: str, read: str) -> None:
    """The SQLAlchemy store bound the partial indexes' constants (`reason IN (?, ?)`), so SQLite could not
    tell the query implied their WHERE: daily trade and top sellers 0.27 s each at 1,000,000 products
    instead of under 10 ms."""
    table, call, index = READS[read]
    path = migrated_sqlite_file(tmp_path)
    found = statements(path, scheme, call, table)
    assert found
    for sql, params in found:
        assert index in plan(path, sql, params), sql


@pytest.mark.parametrize("scheme", ["sqlite", "sqlalchemy+sqlite"])
def test_each_store_drives_the_stock_value_from_the_levels(tmp_path: Path, scheme: str) -> None:
    """From the products' side SQLite walked their name index and read each row: 5.8 s at 1,000,000 products
    through the SQLAlchemy store, against ~1 s from the levels."""
    path = migrated_sqlite_file(tmp_path)
    ((sql, params),) = statements(path, scheme, lambda uow: uow.stock.valuation_by_location(), "stock_levels")
    steps = plan(path, sql, params).split(" | ")
    assert "ix_stock_levels_tenant" in steps[0], steps
    assert any("USING INTEGER PRIMARY KEY" in s and (" p " in s or " products " in s) for s in steps), steps
