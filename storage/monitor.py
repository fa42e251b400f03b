"""The database monitor (seed 004's `check_metrics`): size on disk, write-ahead log, statements run and their
mean time, a cache hit ratio, connections. Read by the dashboard every few seconds, so every figure is
cheap: file sizes, counters kept as statements run, and on PostgreSQL one row of its statistics views.

Statements are counted and timed in this process, where the store runs them (the sqlite3 store's
connections, the SQLAlchemy store's cursor calls); a figure a store cannot give is None.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any


class QueryStats:
    """Statements run by one store in this process and the time they took (driver call to result)."""

    __slots__ = ("count", "total_ns", "_lock")

    def __init__(self) -> None:
        self.count = 0
        self.total_ns = 0
        self._lock = threading.Lock()

    def add(self, elapsed_ns: int) -> None:
        with self._lock:
            self.count += 1
            self.total_ns += elapsed_ns

    def snapshot(self) -> tuple[int, float | None]:
        """(statements, mean milliseconds per statement; None before the first)."""
        with self._lock:
            count, total = self.count, self.total_ns
        return count, (total / count / 1e6 if count else None)


now_ns = time.perf_counter_ns


@dataclass(frozen=True, slots=True)
class DatabaseReading:
    """One reading of the monitor."""

    engine: str  # what runs the database, e.g. "SQLite 3.40.1", "PostgreSQL 15.19", "in memory"
    database_bytes: int | None
    wal_bytes: int | None  # the write-ahead log (SQLite's -wal file, PostgreSQL's pg_wal when readable)
    queries: int | None  # statements this process ran since the store opened
    mean_query_ms: float | None
    cache_hit_ratio: float | None  # 0..1, of `cache_source`
    cache_source: str  # what the ratio measures (PostgreSQL's shared buffers, our read cache) or why none
    connections: int | None  # PostgreSQL: sessions on this database (all clients)
    max_connections: int | None


def read_monitor(store: Any) -> DatabaseReading:
    """A reading for any store the app opens (a cached store reports its read cache's hit ratio, the store
    behind it everything else). Never raises for a figure it cannot read: that figure is None."""
    cache = getattr(store, "cache_stats", None)
    inner = getattr(store, "inner", store)
    reading = _reading(inner)
    if cache is not None:
        from dataclasses import replace

        stats = cache()
        lookups = stats["hits"] + stats["misses"]
        source = f"read cache ({stats['backend'].split(':')[0]}), {lookups:,} lookups"
        if reading.cache_hit_ratio is None:
            reading = replace(reading, cache_hit_ratio=stats["ratio"] if lookups else None, cache_source=source)
        else:  # the database's own ratio first, ours after it
            ours = f"{stats['ratio']:.1%}" if lookups else "—"
            reading = replace(reading, cache_source=f"{reading.cache_source}; {source}: {ours}")
    return reading


def _reading(store: Any) -> DatabaseReading:
    stats: QueryStats | None = getattr(store, "query_stats", None)
    queries, mean = stats.snapshot() if stats is not None else (None, None)
    if getattr(store, "dialect", None) == "postgresql":
        return _postgres(store, queries, mean)
    sqlite_path = getattr(store, "path", None)
    if sqlite_path:
        import sqlite3

        return DatabaseReading(f"SQLite {sqlite3.sqlite_version}", _size(sqlite_path), _size(f"{sqlite_path}-wal"),
                               queries, mean, None, "(SQLite counts none; see --cache)", None, None)
    json_path = getattr(store, "json_path", None)
    if json_path is not None:
        return DatabaseReading("JSON file", _size(json_path), None, None, None, None, "(no cache: all in memory)",
                               None, None)
    return DatabaseReading("in memory", None, None, None, None, None, "(no cache: all in memory)", None, None)


def _size(path: Any) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def _postgres(store: Any, queries: int | None, mean: float | None) -> DatabaseReading:
    """The server's own figures (SqlAlchemyStore.server_statistics: through the async store's bridge too)."""
    try:
        size, hit, read, backends, most, version, wal = store.server_statistics()
    except Exception as e:  # the server is down or refuses us: say so instead of failing the dashboard
        return DatabaseReading("PostgreSQL (unreachable)", None, None, queries, mean, None,
                               f"cannot read: {type(e).__name__}", None, None)
    blocks = hit + read
    return DatabaseReading(f"PostgreSQL {version.split()[0]}", size, wal, queries, mean,
                           hit / blocks if blocks else None, "shared buffers (whole database)", backends, most)
