"""The dashboard's reads use their indexes on SQLite (EXPLAIN QUERY PLAN): what keeps it well under a second at
1,000,000 products (daily trade and top sellers 0.5 s each without theirs, stock value 7 s). The low-stock
count is held to its index in test_low_stock_plans.py, on a file a demo loaded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage.sqlite import stock
from tests.conftest import migrated_sqlite_file


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
