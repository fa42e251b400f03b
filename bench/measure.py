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


# -- bank: transfers through the domain vs raw sqlite3 doing the same SQL ------------------------

BANK_ACCOUNTS = 20
BANK_OPENING = "1000000000.00"  # per account: no transfer in any run can run out of money
BANK_BATCH = 1000
BANK_ACTOR = "bench"
BANK_TENANT = "default"
NO_RATE_LIMIT = 10**12  # the count still runs on both sides; it just never refuses


def bank_plan(n: int, seed: int = 11) -> list[tuple[int, int, int, str]]:
    """`n` transfers as (source index, target index, amount in minor units, key), the same every run."""
    import random

    rng = random.Random(seed)
    plan = []
    for i in range(n):
        source = rng.randrange(BANK_ACCOUNTS)
        target = (source + rng.randrange(1, BANK_ACCOUNTS)) % BANK_ACCOUNTS
        plan.append((source, target, rng.randrange(1, 10_000), f"bench-{i}"))
    return plan


def _bank_setup(db: str, synchronous: str):
    """A fresh store at head with BANK_ACCOUNTS accounts holding BANK_OPENING each, opened through the
    domain (not timed). Returns (store, simulator, account ids)."""
    from domain import Simulator
    from domain.services.bank import RateLimit
    from storage import open_store

    store = open_store(f"sqlite:///{db}?synchronous={synchronous}")
    sim = Simulator(store, actor=BANK_ACTOR, tenant=BANK_TENANT, rate_limit=RateLimit(max_transfers=NO_RATE_LIMIT))
    ids = [sim.bank.open_account(f"Account {i:02d}", opening_balance=BANK_OPENING).id for i in range(BANK_ACCOUNTS)]
    return store, sim, ids


def _bank_result(sim, seconds: float, n: int) -> dict:
    report = sim.check()  # both sides must have left a ledger that adds up
    return {"seconds": seconds, "transfers": n, "check_ok": report.ok, "problems": report.problems[:5],
            "stored": report.checked["transfers"]}


def our_transfers(db: str, n: str, mode: str, profile: str = "") -> dict:
    """Ours: BankService.transfer on the sqlite3 adapter, one commit each (mode full|normal), or
    transfer_batch of BANK_BATCH items per commit (mode batch, synchronous=FULL). Amounts go in as
    decimal strings, as every caller passes them."""
    count = int(n)
    store, sim, ids = _bank_setup(db, "NORMAL" if mode == "normal" else "FULL")
    from domain.money import format_minor

    plan = [(ids[s], ids[t], format_minor(a), k) for s, t, a, k in bank_plan(count)]
    transfer, batch = sim.bank.transfer, sim.bank.transfer_batch
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    start = time.perf_counter()
    if mode == "batch":
        for at in range(0, count, BANK_BATCH):
            batch([{"source": s, "target": t, "amount": a, "idempotency_key": k, "memo": "bench"}
                   for s, t, a, k in plan[at:at + BANK_BATCH]])
    else:
        for s, t, a, k in plan:
            transfer(s, t, a, idempotency_key=k, memo="bench")
    seconds = time.perf_counter() - start
    if profiler is not None:
        import io
        import pstats

        profiler.disable()
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(30)
        with open(profile, "w") as fh:
            fh.write(text.getvalue())
    result = _bank_result(sim, seconds, count)
    store.close()
    return result


# The statements SqliteUnitOfWork + ServiceContext.writing + BankService._transfer/_move issue for one
# transfer, verbatim: the raw baselines of the bank goals and of the concurrent writers (bench/writers.py).
_ENSURE_USER = "INSERT INTO users (tenant_id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (tenant_id, name) DO NOTHING"
_GET_USER = "SELECT id, name, created_at FROM users WHERE tenant_id = ? AND name = ?"
_GET_ACCOUNT = ("SELECT id, name, kind, currency, debits_posted, credits_posted, debits_pending, credits_pending,"
                " overdraft_limit, status, version, deleted_at FROM accounts WHERE tenant_id = ? AND id = ?")
_COLS = ("id, kind, debit_account_id, credit_account_id, amount_minor, currency, pending_id, expires_at, memo,"
         " idempotency_key, actor, created_at, debit_balance_after, credit_balance_after, reverses_id")
_GET_BY_KEY = f"SELECT {_COLS} FROM transfers WHERE tenant_id = ? AND idempotency_key = ?"
_GET_ARCHIVED_BY_KEY = f"SELECT {_COLS} FROM transfers_archive WHERE tenant_id = ? AND idempotency_key = ?"
_COUNT_RECENT = "SELECT COUNT(*) FROM transfers WHERE tenant_id = ? AND actor = ? AND created_at >= ?"
_APPLY = ("UPDATE accounts SET debits_posted = debits_posted + ?, credits_posted = credits_posted + ?,"
          " debits_pending = debits_pending + ?, credits_pending = credits_pending + ?"
          " WHERE tenant_id = ? AND id = ? AND status = 'open' AND (kind = 'system'"
          " OR debits_posted + ? + debits_pending + ? <= credits_posted + ? + overdraft_limit)"
          " RETURNING credits_posted - debits_posted")
_ADD_TRANSFER = ("INSERT INTO transfers (tenant_id, kind, debit_account_id, credit_account_id, amount_minor, currency,"
                 " pending_id, expires_at, memo, idempotency_key, actor, created_at, debit_balance_after,"
                 " credit_balance_after, reverses_id) VALUES (?, 'posted', ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, ?, ?, NULL)")
_TAIL = ("SELECT at, actor, entity, entity_id, action, before, after, request_key, id, prev_hash, hash FROM audit_log"
         " WHERE tenant_id = ? ORDER BY id DESC LIMIT 1")
_ADD_AUDIT = ("INSERT INTO audit_log (tenant_id, at, actor, entity, entity_id, action, before, after, request_key,"
              " prev_hash, hash) VALUES (?, ?, ?, 'transfer', ?, 'posted', NULL, ?, ?, ?, ?)")


def raw_connection(db: str, synchronous: str = "FULL") -> sqlite3.Connection:
    """A raw sqlite3 connection with our store's pragmas (WAL, `synchronous`, foreign keys, busy timeout)."""
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False, timeout=5.0, cached_statements=256)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def raw_begin(execute) -> None:
    """What our unit of work does first in a write transaction: BEGIN IMMEDIATE and ensure the actor."""
    from datetime import datetime, timezone

    execute("BEGIN IMMEDIATE")
    execute(_ENSURE_USER, (BANK_TENANT, BANK_ACTOR, datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")))
    execute(_GET_USER, (BANK_TENANT, BANK_ACTOR)).fetchone()


def raw_transfer(conn: sqlite3.Connection):
    """One transfer as raw sqlite3 on `conn`, inside the caller's transaction: both accounts, the key
    lookup over live and archive, the rate-limit count, two guarded UPDATE ... RETURNING, the ledger
    INSERT, the audit tail and the chained audit INSERT with the same JSON and hash; the same checks."""
    from datetime import datetime, timedelta, timezone

    from domain.audit_chain import GENESIS, entry_hash
    from domain.clock import just_after

    execute, dumps = conn.execute, json.dumps
    tenant, actor, memo = BANK_TENANT, BANK_ACTOR, "bench"
    window, fmt, utc = timedelta(seconds=60), "%Y-%m-%dT%H:%M:%S.%fZ", timezone.utc

    def one(source: int, target: int, amount: int, key: str) -> None:
        now = datetime.now(utc)
        debit = execute(_GET_ACCOUNT, (tenant, source)).fetchone()
        credit = execute(_GET_ACCOUNT, (tenant, target)).fetchone()
        if debit is None or credit is None:
            raise LookupError("no such account")
        if (execute(_GET_BY_KEY, (tenant, key)).fetchone() or execute(_GET_ARCHIVED_BY_KEY, (tenant, key)).fetchone()):
            return  # a replay: nothing to write
        if source == target or debit[9] != "open" or credit[9] != "open" or debit[3] != credit[3]:
            raise ValueError("refused")
        if execute(_COUNT_RECENT, (tenant, actor, (now - window).strftime(fmt))).fetchone()[0] >= NO_RATE_LIMIT:
            raise RuntimeError("rate limited")
        debit_after = execute(_APPLY, (amount, 0, 0, 0, tenant, source, amount, 0, 0)).fetchone()
        if debit_after is None:
            raise ValueError("insufficient funds")
        credit_after = execute(_APPLY, (0, amount, 0, 0, tenant, target, 0, 0, amount)).fetchone()
        if credit_after is None:
            raise ValueError("target frozen")
        created = datetime.now(utc).strftime(fmt)
        transfer_id = execute(_ADD_TRANSFER, (tenant, source, target, amount, debit[3], memo, key, actor, created,
                                              debit_after[0], credit_after[0])).lastrowid
        after = dumps(
            {"actor": actor, "amount_minor": amount, "created_at": created, "credit_account_id": target,
             "credit_balance_after": credit_after[0], "currency": debit[3], "debit_account_id": source,
             "debit_balance_after": debit_after[0], "expires_at": None, "id": transfer_id, "idempotency_key": key,
             "kind": "posted", "memo": memo, "pending_id": None, "reverses_id": None},
            sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        tail = execute(_TAIL, (tenant,)).fetchone()
        stamp = datetime.now(utc).strftime(fmt)
        if tail is not None and stamp <= tail[0]:
            stamp = just_after(tail[0])
        prev = tail[10] if tail is not None and tail[10] else GENESIS
        digest = entry_hash(prev, stamp, actor, "transfer", str(transfer_id), "posted", None, after, key)
        execute(_ADD_AUDIT, (tenant, stamp, actor, str(transfer_id), after, key, prev, digest))

    return one


def raw_transfers(db: str, n: str, mode: str) -> dict:
    """Baseline: straight sqlite3 doing the domain's SQL per transfer (`raw_begin`, `raw_transfer`, COMMIT;
    in batch mode one transaction per batch), with the same checks, on a connection with the store's
    pragmas. No domain objects."""
    count = int(n)
    synchronous = "NORMAL" if mode == "normal" else "FULL"
    store, sim, ids = _bank_setup(db, synchronous)
    plan = [(ids[s], ids[t], a, k) for s, t, a, k in bank_plan(count)]
    conn = raw_connection(db, synchronous)
    execute, one = conn.execute, raw_transfer(conn)
    start = time.perf_counter()
    if mode == "batch":
        for at in range(0, count, BANK_BATCH):
            raw_begin(execute)
            try:
                for item in plan[at:at + BANK_BATCH]:
                    one(*item)
            except BaseException:
                execute("ROLLBACK")
                raise
            execute("COMMIT")
    else:
        for item in plan:
            raw_begin(execute)
            try:
                one(*item)
            except BaseException:
                execute("ROLLBACK")
                raise
            execute("COMMIT")
    seconds = time.perf_counter() - start
    conn.close()
    result = _bank_result(sim, seconds, count)
    store.close()
    return result


def _shop_setup(db: str, products: int, customers: int):
    """A shop of `products` demo products (cost, reorder level, stock), 3 suppliers and `customers`
    customers, set up in one transaction through the domain (not timed)."""
    import random

    from domain import Simulator
    from domain.services.demo import demo_plan, demo_products
    from storage import open_store

    store = open_store(f"sqlite:///{db}")
    sim = Simulator(store, actor="bench", tenant="bench")
    rng = random.Random(5)
    with sim.ctx.writing():
        sim.catalog.bulk_add((p for p, _category in demo_products(products, 7)), source="bench")
        sim.bank.open_account("Shop", "shop", opening_balance=5_000_000)
        for n in range(3):
            sim.bank.open_account(f"Supplier {n}", "supplier")
        for n in range(customers):
            sim.bank.open_account(f"Customer {n:03d}", "customer", opening_balance=rng.randrange(20_000, 100_000))
        for row in sim.inventory.stock(limit=10_000):
            cost, reorder = demo_plan(row.price_minor, rng)
            sim.inventory.set_planning(row.product_id, cost=cost, reorder_level=reorder)
    return store, sim


def _ledger_rows(db: str) -> int:
    conn = sqlite3.connect(db)
    rows = sum(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("stock_moves", "transfers", "audit_log"))
    conn.close()
    return rows


def our_simulation(db: str, days: str, products: str, customers: str) -> dict:
    """Ours: SimulationService.advance(days) on the sqlite3 adapter (synchronous=FULL, a commit per day)."""
    store, sim = _shop_setup(db, int(products), int(customers))
    before = _ledger_rows(db)
    start = time.perf_counter()
    reports = sim.simulation.advance(int(days), seed=42)
    seconds = time.perf_counter() - start
    written = _ledger_rows(db) - before
    report = sim.check()
    store.close()
    return {"seconds": seconds, "rows": written, "check_ok": report.ok, "problems": report.problems[:5],
            "sales": sum(r.sales for r in reports), "orders": sum(r.orders for r in reports),
            "lost": sum(r.lost_sales for r in reports)}


def raw_ledger_rows(db: str, days: str, rows: str) -> dict:
    """Raw: the same number of ledger rows (a move, a transfer, an audit entry at a time) INSERTed with
    no logic at all, one commit per day, into the same schema."""
    from storage import open_store

    open_store(f"sqlite:///{db}").close()  # the schema at head
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("INSERT INTO locations (tenant_id, name, kind, version) VALUES ('bench', 'A', 'internal', 1)")
    conn.execute("INSERT INTO locations (tenant_id, name, kind, version) VALUES ('bench', 'B', 'customer', 1)")
    conn.execute("INSERT INTO accounts (tenant_id, name, kind, currency) VALUES ('bench', 'X', 'system', 'EUR')")
    conn.execute("INSERT INTO accounts (tenant_id, name, kind, currency) VALUES ('bench', 'Y', 'system', 'EUR')")
    n_days, total = int(days), int(rows)
    per_day = max(total // n_days, 1)
    at = "2026-01-01T00:00:00.000000Z"
    written = 0
    start = time.perf_counter()
    for day in range(n_days):
        conn.execute("BEGIN IMMEDIATE")
        for i in range(0, per_day, 3):
            key = f"{day}-{i}"
            cur = conn.execute(
                "INSERT INTO transfers (tenant_id, kind, debit_account_id, credit_account_id, amount_minor, currency,"
                " memo, idempotency_key, actor, created_at, debit_balance_after, credit_balance_after)"
                " VALUES ('bench', 'posted', 1, 2, 100, 'EUR', 'sale', ?, 'bench', ?, 0, 0)", (key, at))
            conn.execute(
                "INSERT INTO stock_moves (tenant_id, kind, reason, product_id, from_location_id, to_location_id, quantity,"
                " transfer_id, day, memo, idempotency_key, actor, created_at) VALUES ('bench', 'posted', 'sell', 1, 1, 2,"
                " 1, ?, ?, 'sale', ?, 'bench', ?)", (cur.lastrowid, day, key, at))
            conn.execute(
                "INSERT INTO audit_log (tenant_id, at, actor, entity, entity_id, action, after, request_key)"
                " VALUES ('bench', ?, 'bench', 'stock_move', ?, 'sell', '{}', ?)", (at, key, key))
            written += 3
        conn.execute("COMMIT")
    seconds = time.perf_counter() - start
    conn.close()
    return {"seconds": seconds, "rows": written}


KINDS = {f.__name__: f for f in (raw_executemany, our_import, cli_export, our_export, start_minimal, start_stockbank,
                                 our_transfers, raw_transfers, our_simulation, raw_ledger_rows)}

if __name__ == "__main__":
    print(json.dumps(KINDS[sys.argv[1]](*sys.argv[2:])))
