"""Soft vs hard delete (issue #5): the figures behind the README's trade-offs. A shop of N products
(with stock) loses a fifth of them, once by soft delete (hide: a version bump and a timestamp) and
once by delete + purge (stock written off to Scrap, row, levels gone, a tombstone in the audit log),
each against raw SQL doing only the row change (UPDATE deleted_at / DELETE) in one transaction.
Then: file size (before and after VACUUM), the time of the live list's first page and count, and
what the audit log keeps.

Every measurement runs in its own interpreter: `python -m bench.lifecycle KIND ARGS...` prints JSON.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setup(db: str, products: int):
    from domain import Simulator
    from domain.model import NewProduct
    from storage import open_store

    store = open_store(f"sqlite:///{db}")
    sim = Simulator(store, actor="bench")
    sim.catalog.bulk_add(
        (NewProduct(f"SKU-{n:07d}", f"Product {n:07d}", None, 100 + n % 900, n % 50) for n in range(products)),
        source="bench",
    )
    return store, sim


def _size(db: str) -> int:
    """The database file's size once the WAL is checkpointed into it (what a copy would take)."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return sum(os.path.getsize(p) for p in (db, f"{db}-wal") if os.path.exists(p))


def _list_times(sim) -> tuple[float, float]:
    from domain.model import ProductQuery

    start = time.perf_counter()
    for _ in range(20):
        sim.catalog.find_products(ProductQuery(), limit=200)
    page = (time.perf_counter() - start) / 20
    start = time.perf_counter()
    for _ in range(5):
        sim.catalog.count_products(ProductQuery())
    return page, (time.perf_counter() - start) / 5


def ours(db: str, products: str, deleted: str, mode: str) -> dict:
    """Delete every 5th product with our services, in one outer transaction (each delete a savepoint)."""
    store, sim = _setup(db, int(products))
    victims = [p for p in range(1, int(products) + 1) if p % 5 == 0][: int(deleted)]
    audit_before = _audit_bytes(db)
    size_before = _size(db)
    start = time.perf_counter()
    with sim.ctx.writing():
        for product_id in victims:
            sim.catalog.delete_product(product_id)
            if mode == "hard":
                sim.catalog.purge_product(product_id)
    seconds = time.perf_counter() - start
    page, count = _list_times(sim)
    ok = sim.check().ok
    store.close()
    size_after = _size(db)
    conn = sqlite3.connect(db)
    conn.execute("VACUUM")
    conn.close()
    return {"seconds": seconds, "deleted": len(victims), "size_before": size_before, "size_after": size_after,
            "size_vacuumed": _size(db), "page_s": page, "count_s": count, "check_ok": ok,
            "audit_bytes": _audit_bytes(db) - audit_before}


def raw(db: str, products: str, deleted: str, mode: str) -> dict:
    """The row change alone, in raw SQL, one transaction: what a soft or hard delete costs at least."""
    store, _sim = _setup(db, int(products))
    store.close()
    victims = [(p,) for p in range(1, int(products) + 1) if p % 5 == 0][: int(deleted)]
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA synchronous=FULL")
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    if mode == "hard":
        conn.executemany("DELETE FROM products WHERE id = ?", victims)
    else:
        conn.executemany("UPDATE products SET deleted_at = '2026-01-01T00:00:00.000000Z', version = version + 1"
                         " WHERE id = ?", victims)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - start
    conn.close()
    return {"seconds": seconds, "deleted": len(victims)}


def _audit_bytes(db: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT COALESCE(SUM(length(before) + length(coalesce(after, ''))), 0) FROM audit_log"
                            " WHERE entity = 'product'").fetchone()[0]
    finally:
        conn.close()


def _run(kind: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.lifecycle", kind, *args], cwd=ROOT, capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"lifecycle {kind} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def lifecycle_results(args, tmpdir: Path) -> tuple[list[tuple], str]:
    """Result lines (record only: the issue sets no goal) and a table for the README."""
    n, k = args.lifecycle_products, max(1, args.lifecycle_products // 5)
    runs = {}
    for mode in ("soft", "hard"):
        for kind in ("raw", "ours"):
            db = tmpdir / f"life-{kind}-{mode}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            runs[kind, mode] = _run(kind, str(db), str(n), str(k), mode)
    for mode in ("soft", "hard"):
        if not runs["ours", mode]["check_ok"]:
            raise SystemExit(f"lifecycle {mode}: check failed after the deletes")
    lines = []
    for mode, label in (("soft", "Soft delete (hide), rows/s vs raw UPDATE"),
                        ("hard", "Delete + purge (write-off, tombstone), rows/s vs raw DELETE")):
        o, r = runs["ours", mode], runs["raw", mode]
        lines.append((label, "record", f"{r['seconds'] / o['seconds']:.2f}x",
                      f"ours {o['deleted'] / o['seconds']:,.0f}/s, raw {r['deleted'] / r['seconds']:,.0f}/s "
                      f"({o['deleted']:,} of {n:,} products)", True))
    mib = 2**20
    rows = [
        ("", "soft delete", "delete + purge"),
        ("rows deleted", f"{runs['ours', 'soft']['deleted']:,}", f"{runs['ours', 'hard']['deleted']:,}"),
        *[(label, *(fmt(runs["ours", m]) for m in ("soft", "hard"))) for label, fmt in (
            ("time (ours)", lambda r: f"{r['seconds']:.2f} s"),
            ("db file before", lambda r: f"{r['size_before'] / mib:.1f} MiB"),
            ("db file after", lambda r: f"{r['size_after'] / mib:.1f} MiB"),
            ("after VACUUM", lambda r: f"{r['size_vacuumed'] / mib:.1f} MiB"),
            ("list: first page", lambda r: f"{r['page_s'] * 1000:.2f} ms"),
            ("list: count", lambda r: f"{r['count_s'] * 1000:.1f} ms"),
            ("audit bytes written", lambda r: f"{r['audit_bytes']:,}"),
        )],
        ("restorable", "yes (u)", "no"),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    table = "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
    return lines, f"Soft vs hard delete, {n:,} products:\n{table}"


if __name__ == "__main__":
    kind, *rest = sys.argv[1:]
    print(json.dumps({"ours": ours, "raw": raw}[kind](*rest)))
