"""One measurement per process: `python -m bench.measure KIND ARGS...` prints JSON
{"seconds": ..., "extra_rss_mib": ...}. Kept apart so RSS and imports never leak between runs."""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import subprocess
import sys
import time


def rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def raw_executemany(db: str, csv_path: str) -> dict:
    """Baseline: plain sqlite3 executemany of pre-parsed tuples into the same schema, one transaction."""
    import csv

    from storage import open_store

    open_store(f"sqlite:///{db}").close()  # same schema and indexes as ours
    with open(csv_path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        rows = [("default", sku, name, None, int(price.replace(".", "")), int(qty), 1) for sku, name, _c, price, qty in reader]
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA synchronous=FULL")
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO products (tenant_id, sku, name, category_id, price_minor, quantity, active, version)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
        rows,
    )
    conn.execute("COMMIT")
    return {"seconds": time.perf_counter() - start, "rows": len(rows)}


def our_import(db: str, csv_path: str) -> dict:
    """Ours: CSV parse + Pydantic validation of every row + upsert by SKU, one transaction."""
    from tui_app.bootstrap import open_backend

    backend = open_backend(f"sqlite:///{db}", actor="bench", demo_if_empty=False)
    before = rss_mib()
    start = time.perf_counter()
    result = backend.import_products(csv_path)
    seconds = time.perf_counter() - start
    backend.close()
    return {"seconds": seconds, "rows": result.rows, "extra_rss_mib": peak_mib() - before}


def cli_export(db: str, out: str) -> dict:
    """Baseline: the sqlite3 command-line shell's -csv output of the same query."""
    sql = (
        "SELECT p.sku, p.name, c.name, printf('%.2f', p.price_minor / 100.0), p.quantity,"
        " printf('%.2f', p.price_minor * p.quantity / 100.0)"
        " FROM products p LEFT JOIN categories c ON c.id = p.category_id"
        " WHERE p.tenant_id = 'default' AND p.active ORDER BY lower(p.name), p.id"
    )
    start = time.perf_counter()
    with open(out, "w") as fh:
        subprocess.run(["sqlite3", "-csv", "-header", db, sql], stdout=fh, check=True)
    return {"seconds": time.perf_counter() - start}


def our_export(db: str, out: str) -> dict:
    from domain.model import ProductQuery
    from tui_app.bootstrap import open_backend

    backend = open_backend(f"sqlite:///{db}", actor="bench", demo_if_empty=False)
    before = rss_mib()
    start = time.perf_counter()
    with open(out, "w", encoding="utf-8", newline="") as fh:
        rows = backend.export_products(ProductQuery(), fh)
    seconds = time.perf_counter() - start
    backend.close()
    return {"seconds": seconds, "rows": rows, "extra_rss_mib": peak_mib() - before}


def start_minimal(launched: str) -> dict:
    """Baseline: a minimal Textual app (one Label), from process launch to its first frame."""
    from textual.app import App
    from textual.widgets import Label

    class Minimal(App):
        def compose(self):
            yield Label("hello")

    marks: dict[str, float] = {}

    async def first_frame(pilot):
        marks["first_frame"] = time.time() - float(launched)
        pilot.app.exit()

    Minimal().run(headless=True, auto_pilot=first_frame)
    return marks


def start_stockbank(launched: str, db: str) -> dict:
    """Ours, on a database already at head: launch -> first frame, and -> first rows listed."""
    from tui_app.app import StockbankApp
    from tui_app.bootstrap import open_backend

    backend = open_backend(f"sqlite:///{db}", actor="bench", demo_if_empty=False)
    marks: dict[str, float] = {}

    async def first_frame(pilot):
        marks["first_frame"] = time.time() - float(launched)
        table = pilot.app.screen.query_one("#products")
        while table.row_count == 0:
            await pilot.pause(0.005)
        marks["rows_shown"] = time.time() - float(launched)
        pilot.app.exit()

    StockbankApp(backend).run(headless=True, auto_pilot=first_frame)
    backend.close()
    heavy = {"alembic", "sqlalchemy", "pydantic"} & {m.split(".")[0] for m in sys.modules}
    return {**marks, "heavy_imports": sorted(heavy)}


KINDS = {f.__name__: f for f in (raw_executemany, our_import, cli_export, our_export, start_minimal, start_stockbank)}

if __name__ == "__main__":
    print(json.dumps(KINDS[sys.argv[1]](*sys.argv[2:])))
