"""The ledger streams (what `stockbank check` replays) read each chunk as a rowid range on SQLite, and a
snapshot (a save) reads products and ledgers in rowid order, in both SQL stores: EXPLAIN QUERY PLAN of the
statements they really run. Through an index of (tenant_id, ...) SQLite sorted the tenant's every move for
each 2,000-row chunk: `check` took 92 s in the stock stream alone at 1,000,000 products."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import event

from storage import open_store
from tests.conftest import migrated_sqlite_file


def run_capturing(url: str, read) -> list[tuple[str, tuple]]:
    """The SELECTs `read(uow)` runs on the store at `url`, with their parameters."""
    store = open_store(url)
    seen: list[tuple[str, tuple]] = []
    try:
        engine = getattr(store, "engine", None)
        if engine is not None:
            @event.listens_for(engine, "before_cursor_execute")
            def _seen(_conn, _cursor, statement, parameters, _context, _many):
                seen.append((statement, tuple(parameters)))

        with store.unit_of_work("t") as uow:
            if engine is None:  # the sqlite3 store: its own connection's trace (values filled in)
                uow._conn.set_trace_callback(lambda sql: seen.append((sql, ())))
            read(uow)
            if engine is None:
                uow._conn.set_trace_callback(None)
    finally:
        store.close()
    return [(sql, params) for sql, params in seen if sql.lstrip().upper().startswith("SELECT")]


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
