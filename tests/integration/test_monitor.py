"""The database monitor (storage/monitor.py) on real stores: sizes on disk, statements counted and timed where
the stores run them, PostgreSQL's statistics, the read cache's hit ratio, and a server that is down."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from domain import Simulator
from domain.clock import FixedClock
from storage import open_store
from storage.cache import cached_store
from storage.monitor import read_monitor
from tests.conftest import migrated_sqlite_file, new_pg_database


def busy_shop(store) -> Simulator:
    sim = Simulator(store, actor="tester", tenant="t1", clock=FixedClock())
    for i in range(5):
        sim.catalog.add_product(f"SKU-{i}", f"Product {i}", "1.00")
    return sim


@pytest.mark.parametrize("scheme", ["sqlite", "sqlalchemy+sqlite"])
def test_sqlite_stores_report_file_sizes_and_count_and_time_their_statements(tmp_path: Path, scheme: str) -> None:
    path = migrated_sqlite_file(tmp_path)
    store = open_store(f"{scheme}:///{path}")
    try:
        before = read_monitor(store)
        sim = busy_shop(store)
        after = read_monitor(store)
        assert after.engine.startswith("SQLite 3.")
        assert after.database_bytes == os.path.getsize(path)
        assert after.wal_bytes == os.path.getsize(f"{path}-wal")
        assert (before.queries or 0) < after.queries  # five writes ran statements
        assert after.mean_query_ms is not None and 0 < after.mean_query_ms < 1000
        sim.catalog.find_products(limit=10)
        assert read_monitor(store).queries > after.queries  # reads count too
        assert after.cache_hit_ratio is None and after.connections is None
    finally:
        store.close()


def test_a_cached_store_reports_its_read_cache_hit_ratio(tmp_path: Path) -> None:
    store = cached_store(open_store(f"sqlite:///{migrated_sqlite_file(tmp_path)}"), "memory")
    try:
        sim = busy_shop(store)
        product = sim.catalog.get_product_by_sku("SKU-1")
        for _ in range(3):
            sim.catalog.get_product(product.id)
        reading = read_monitor(store)
        stats = store.cache_stats()
        assert stats["hits"] >= 1
        assert reading.cache_hit_ratio == pytest.approx(stats["ratio"])
        assert reading.cache_source.startswith("read cache (memory)")
        assert reading.queries is not None  # the store behind the cache still counts its statements
    finally:
        store.close()


def test_stores_without_a_database_say_so(tmp_path: Path) -> None:
    memory = open_store("memory://")
    reading = read_monitor(memory)
    assert (reading.engine, reading.database_bytes, reading.queries) == ("in memory", None, None)
    memory.close()
    json_store = open_store(f"jsonfile:///{tmp_path / 'shop.json'}")
    try:
        busy_shop(json_store)
        reading = read_monitor(json_store)
        assert reading.engine == "JSON file" and reading.database_bytes == os.path.getsize(tmp_path / "shop.json")
    finally:
        json_store.close()


def test_postgres_reports_size_cache_hits_and_connections(tmp_path: Path) -> None:
    store = open_store(new_pg_database(tmp_path))
    try:
        busy_shop(store)
        reading = read_monitor(store)
        assert reading.engine.startswith("PostgreSQL ")
        assert reading.database_bytes > 1_000_000  # pg_database_size of a migrated database
        assert 0 < reading.cache_hit_ratio <= 1
        assert 1 <= reading.connections <= reading.max_connections
        assert reading.queries > 5 and reading.mean_query_ms > 0
    finally:
        store.close()


def test_postgres_behind_a_read_cache_reports_both_ratios(tmp_path: Path) -> None:
    store = cached_store(open_store(new_pg_database(tmp_path)), "memory")
    try:
        sim = busy_shop(store)
        product = sim.catalog.get_product_by_sku("SKU-1")
        sim.catalog.get_product(product.id)
        sim.catalog.get_product(product.id)
        reading = read_monitor(store)
        assert 0 < reading.cache_hit_ratio <= 1  # shared buffers'
        assert reading.cache_source.startswith("shared buffers")
        assert f"read cache (memory), {store.cache_stats()['hits'] + store.cache_stats()['misses']:,} lookups: " \
            f"{store.cache_stats()['ratio']:.1%}" in reading.cache_source
    finally:
        store.close()


def test_a_postgres_server_that_is_down_gives_a_reading_that_says_so(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    store = open_store(new_pg_database(tmp_path))
    try:
        real = store.engine
        store.engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")  # nothing listens there
        reading = read_monitor(store)
        assert reading.engine == "PostgreSQL (unreachable)"
        assert reading.database_bytes is None and reading.cache_source.startswith("cannot read")
        store.engine.dispose()
        store.engine = real
    finally:
        store.close()


def test_the_async_postgres_store_reads_the_servers_figures_through_its_bridge(tmp_path: Path) -> None:
    url = new_pg_database(tmp_path).replace("postgresql+psycopg://", "postgresql+psycopg_async://", 1)
    store = open_store(url)
    try:
        busy_shop(store)
        reading = read_monitor(store)
        assert reading.engine.startswith("PostgreSQL ") and reading.engine != "PostgreSQL (unreachable)"
        assert reading.connections >= 1 and 0 < reading.cache_hit_ratio <= 1
        assert reading.queries > 5
    finally:
        store.close()
