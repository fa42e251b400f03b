"""`python -m bench [--rows N] [--transfers N] [--days N] [--attachments N] [--attachment-kib K] [--repeat K]
[--lifecycle-products N] [--save-products N] [--writer-transfers N] [--writers 1,2,4] [--starts N] [--demo-products N] [--table-products N] [--pg URL] [--only bank|catalog|simulation|attachments|lifecycle|saves|stores|writers|demo|tables] [--profile]`: the catalog goals of issue #2, the bank goals, the
simulation figures, and the attachment and soft/hard delete figures of issue #5 (bench/attachments.py,
bench/lifecycle.py), and concurrent writers, the demo catalog and the large lists of issue #8 (bench/writers.py, bench/demo.py,
bench/tables.py), as ratios
against raw baselines measured in the same run on this machine. Every measurement runs in its own interpreter (bench/measure.py)."""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.attachments import attachment_results
from bench.demo import demo_results
from bench.tables import tables_results
from bench.lifecycle import lifecycle_results
from bench.saves import saves_results
from bench.stores import stores_results
from bench.writers import writers_results
from bench.measure import BANK_ACCOUNTS

BANK_SETUP_TRANSFERS = BANK_ACCOUNTS  # one opening-balance transfer per account

ROOT = Path(__file__).resolve().parent.parent


def measure(kind: str, *args: str) -> dict:
    """Run one measurement in a fresh interpreter; wall time of the whole process in `wall`."""
    start = time.perf_counter()
    if kind.startswith("start_"):
        args = (str(time.time()), *args[1:])  # launch time, taken as late as possible
    out = subprocess.run(
        [sys.executable, "-m", "bench.measure", kind, *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    return result


def write_products_csv(path: Path, rows: int) -> None:
    rng = random.Random(1)
    words = ("Hammer", "Drill", "Rake", "Kettle", "Stapler", "Saw", "Hose", "Lamp", "Whisk", "Binder")
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(("sku", "name", "category", "price", "quantity"))
        for n in range(rows):
            w.writerow((f"SKU-{n:08d}", f"{rng.choice(words)} {rng.randrange(10**6)}", "", f"{rng.randrange(1, 99999)}.{rng.randrange(100):02d}", rng.randrange(500)))


def best(kind: str, repeat: int, make_args) -> dict:
    runs = [measure(kind, *make_args(i)) for i in range(repeat)]
    return min(runs, key=lambda r: r.get("seconds", r["wall"]))


BANK_GOALS = (
    # (mode, what, goal as a fraction of raw transfers/s)
    ("full", "Transfers, one commit each, synchronous=FULL, vs raw sqlite3", 0.70),
    ("normal", "Transfers, one commit each, synchronous=NORMAL, vs raw sqlite3", 0.50),
    ("batch", "Transfers, 1,000 per transfer_batch commit, vs raw batched", 0.40),
)


def catalog_results(args: argparse.Namespace, tmpdir: Path) -> list[tuple]:
    results = []
    csv_path = tmpdir / "products.csv"
    write_products_csv(csv_path, args.rows)

    def fresh_db(name: str):
        def make(i: int) -> tuple[str, str]:
            return fresh(tmpdir, f"{name}-{i}"), str(csv_path)
        return make

    raw = best("raw_executemany", args.repeat, fresh_db("raw"))
    ours = best("our_import", args.repeat, fresh_db("ours"))
    ratio = raw["seconds"] / ours["seconds"]
    results.append(("Validated CSV import, rows/s vs raw executemany", ">= 0.40x", f"{ratio:.2f}x",
                    f"raw {args.rows / raw['seconds']:,.0f}/s, ours {args.rows / ours['seconds']:,.0f}/s, "
                    f"extra RSS {ours['extra_rss_mib']:.1f} MiB", ratio >= 0.40))

    export_db = tmpdir / "ours-0.db"
    if not export_db.exists():
        fresh_db("ours")(0)
        measure("our_import", str(export_db), str(csv_path))
    cli = best("cli_export", args.repeat, lambda i: (str(export_db), str(tmpdir / f"cli-{i}.csv")))
    ours_exp = best("our_export", args.repeat, lambda i: (str(export_db), str(tmpdir / f"ours-{i}.csv")))
    ratio = ours_exp["seconds"] / cli["seconds"]
    results.append(("CSV export, time vs sqlite3 -csv", "<= 3.0x, <= 16 MiB", f"{ratio:.2f}x",
                    f"sqlite3 {cli['seconds']:.2f}s, ours {ours_exp['seconds']:.2f}s, "
                    f"extra RSS {ours_exp['extra_rss_mib']:.1f} MiB",
                    ratio <= 3.0 and ours_exp["extra_rss_mib"] <= 16))

    # Both apps start from cached bytecode, as after a first launch: pip compiled Textual's when it was
    # installed, and ours is compiled here (an editable install never is, and PYTHONDONTWRITEBYTECODE,
    # set on some machines, would make every launch compile our modules from source).
    subprocess.run([sys.executable, "-m", "compileall", "-q", "domain", "storage", "tui_app"], cwd=ROOT, check=True)
    # Interleaved (minimal, ours, minimal, ...) so a busy spell of the machine hits both; medians kept.
    minimals, starts = [], []
    for _ in range(args.starts):
        minimals.append(measure("start_minimal", str(time.time()))["first_frame"])
        starts.append(measure("start_stockbank", str(time.time()), str(export_db)))
    minimal = statistics.median(minimals)
    first = statistics.median(s["first_frame"] for s in starts)
    rows_shown = statistics.median(s["rows_shown"] for s in starts)
    heavy = sorted({m for s in starts for m in s["heavy_imports"]})
    ratio = first / minimal
    results.append(("TUI cold start to first frame vs minimal Textual app", "<= 2.0x", f"{ratio:.2f}x",
                    f"minimal {minimal:.2f}s, stockbank {first:.2f}s, first rows listed at {rows_shown:.2f}s "
                    f"({args.rows:,} products); heavy imports at start: {heavy or 'none'}",
                    ratio <= 2.0 and not heavy))
    return results


def bank_results(args: argparse.Namespace, tmpdir: Path) -> tuple[list[tuple], list[str]]:
    """Our BankService on the sqlite3 adapter against raw sqlite3 issuing the same statements, runs
    interleaved (raw, ours, raw, ours ...) so a slow spell of the disk hits both; best of each kept.
    Returns (result lines, modes to profile)."""
    results, to_profile = [], []
    n = str(args.transfers)
    for mode, name, goal in BANK_GOALS:
        raws, ours = [], []
        for i in range(args.repeat):
            raws.append(measure("raw_transfers", fresh(tmpdir, f"bank-raw-{mode}-{i}"), n, mode))
            ours.append(measure("our_transfers", fresh(tmpdir, f"bank-ours-{mode}-{i}"), n, mode))
        for run in raws + ours:
            if not run["check_ok"] or run["stored"] != args.transfers + BANK_SETUP_TRANSFERS:
                raise SystemExit(f"bank {mode}: the ledger does not add up after a run: {run}")
        raw = min(r["seconds"] for r in raws)
        our = min(r["seconds"] for r in ours)
        ratio = raw / our
        ok = ratio >= goal
        results.append((name, f">= {goal:.2f}x", f"{ratio:.2f}x",
                        f"raw {args.transfers / raw:,.0f}/s, ours {args.transfers / our:,.0f}/s "
                        f"({args.transfers:,} transfers, {BANK_ACCOUNTS} accounts)", ok))
        if not ok or args.profile:
            to_profile.append(mode)
    return results, to_profile


def simulation_results(args: argparse.Namespace, tmpdir: Path) -> list[tuple]:
    """The simulation of issue #4: days/s and ledger rows written/s, and rows/s against raw INSERTs
    of as many rows with one commit per day (no goal was set; the ratio shows what the logic costs)."""
    ours = best("our_simulation", args.repeat, lambda i: (fresh(tmpdir, f"sim-{i}"), str(args.days),
                                                          str(args.sim_products), str(args.customers)))
    if not ours["check_ok"]:
        raise SystemExit(f"simulation: the ledgers do not add up after a run: {ours['problems']}")
    raw = best("raw_ledger_rows", args.repeat, lambda i: (fresh(tmpdir, f"sim-raw-{i}"), str(args.days), str(ours["rows"])))
    our_rate, raw_rate = ours["rows"] / ours["seconds"], raw["rows"] / raw["seconds"]
    size = f"{args.days} days, {args.sim_products:,} products, {args.customers} customers"
    return [
        ("Simulation, days/s", "record", f"{args.days / ours['seconds']:.1f}/s",
         f"{size}: {ours['seconds']:.1f} s, {ours['sales']:,} sales, {ours['orders']:,} orders, "
         f"{ours['lost']:,} lost to empty shelves", True),
        ("Simulation, ledger rows written/s vs raw INSERTs", "record", f"{our_rate / raw_rate:.2f}x",
         f"ours {our_rate:,.0f} rows/s ({ours['rows']:,} moves + transfers + audit entries), raw {raw_rate:,.0f} rows/s", True),
    ]


def profile_bank(args: argparse.Namespace, tmpdir: Path, mode: str) -> str:
    """cProfile of one of our runs: the functions with the most time of their own, then by cumulative time."""
    out = tmpdir / f"profile-{mode}.txt"
    measure("our_transfers", fresh(tmpdir, f"bank-profile-{mode}"), str(args.transfers), mode, str(out))
    text = out.read_text()
    own, _, cumulative = text.partition("Ordered by: cumulative time")
    return "\n".join(own.strip().splitlines()[:32] + ["", "Ordered by: cumulative time"] +
                     cumulative.strip().splitlines()[:36])


def fresh(tmpdir: Path, name: str) -> str:
    db = tmpdir / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return str(db)


def writer_counts(text: str) -> tuple[int, ...]:
    """`--writers 1,2,4`: the numbers of concurrent writers, in order."""
    try:
        counts = tuple(sorted({int(part) for part in text.split(",")}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: numbers separated by commas, like 1,2,4") from None
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: each number of writers must be at least 1")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--rows", type=int, default=1_000_000, help="products for the catalog goals (default 1000000)")
    parser.add_argument("--transfers", type=int, default=3000, help="transfers per bank run (default 3000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is kept")
    parser.add_argument("--days", type=int, default=365, help="simulated days (default 365)")
    parser.add_argument("--sim-products", type=int, default=1000, help="products in the simulated shop (default 1000)")
    parser.add_argument("--customers", type=int, default=200, help="customers in the simulated shop (default 200)")
    parser.add_argument("--attachments", type=int, default=1000, help="attachments written per run (default 1000)")
    parser.add_argument("--attachment-kib", type=int, default=1024, help="size of each attachment in KiB (default 1024)")
    parser.add_argument("--lifecycle-products", type=int, default=20_000,
                        help="products in the soft/hard delete comparison (default 20000; a fifth are deleted)")
    parser.add_argument("--save-products", type=int, default=5000,
                        help="products in the saved and loaded game (default 5000; YAML is slow)")
    parser.add_argument("--writer-transfers", type=int, default=1200,
                        help="transfers per concurrent-writers run, split between its writers (default 1200)")
    parser.add_argument("--writers", type=writer_counts, default=(1, 2, 4),
                        help="the numbers of concurrent writers compared (default 1,2,4)")
    parser.add_argument("--starts", type=int, default=7,
                        help="cold starts of each app, interleaved; the medians are compared (default 7)")
    parser.add_argument("--demo-products", type=int, default=1_000_000,
                        help="products of the timed `stockbank demo` (default 1000000; the goal is < 10 s)")
    parser.add_argument("--table-products", type=int, default=1_000_000,
                        help="products in the large-list goals against textual-fastdatatable (default 1000000)")
    parser.add_argument("--pg", help="PostgreSQL admin URL for the store goals (default postgresql://postgres@127.0.0.1:5432/postgres)")
    parser.add_argument("--only", choices=("bank", "catalog", "simulation", "attachments", "lifecycle", "saves", "stores", "writers", "demo", "tables"),
                        help="run one group of goals")
    parser.add_argument("--profile", action="store_true",
                        help="print a cProfile of our bank runs (printed anyway for a goal that is missed)")
    args = parser.parse_args()
    if min(args.rows, args.transfers, args.repeat, args.days, args.sim_products, args.customers, args.attachments,
           args.attachment_kib, args.lifecycle_products, args.save_products, args.writer_transfers, args.starts) < 1:
        parser.error("--rows, --transfers, --repeat, --days, --sim-products, --customers, --attachments, "
                     "--attachment-kib, --lifecycle-products, --save-products, --writer-transfers and --starts must be "
                     "at least 1")
    if args.demo_products < 1 or args.table_products < 1:
        parser.error("--demo-products and --table-products must be at least 1")
    results = []
    tables: list[str] = []
    profiles: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="stockbank-bench-") as tmp:
        tmpdir = Path(tmp)
        if args.only in (None, "catalog"):
            results += catalog_results(args, tmpdir)
        if args.only in (None, "bank"):
            bank, to_profile = bank_results(args, tmpdir)
            results += bank
            profiles = [(mode, profile_bank(args, tmpdir, mode)) for mode in to_profile]
        if args.only in (None, "simulation"):
            results += simulation_results(args, tmpdir)
        if args.only in (None, "attachments"):
            lines, table = attachment_results(args, tmpdir)
            results += lines
            tables.append(table)
        if args.only in (None, "lifecycle"):
            lines, table = lifecycle_results(args, tmpdir)
            results += lines
            tables.append(table)
        if args.only in (None, "saves"):
            lines, table = saves_results(args, tmpdir)
            results += lines
            tables.append(table)
        if args.only in (None, "stores"):
            results += stores_results(args, tmpdir)
        if args.only in (None, "writers"):
            lines, table = writers_results(args, tmpdir)
            results += lines
            tables.append(table)
        if args.only in (None, "demo"):
            results += demo_results(args, tmpdir)
        if args.only in (None, "tables"):
            results += tables_results(args, tmpdir)

    sizes = []
    if args.only in (None, "catalog"):
        sizes.append(f"{args.rows:,} rows")
    if args.only in (None, "bank"):
        sizes.append(f"{args.transfers:,} transfers")
    if args.only in (None, "simulation"):
        sizes.append(f"{args.days} simulated days")
    if args.only in (None, "attachments"):
        sizes.append(f"{args.attachments:,} attachments x {args.attachment_kib:,} KiB")
    if args.only in (None, "lifecycle"):
        sizes.append(f"{args.lifecycle_products:,} products deleted soft and hard")
    if args.only in (None, "saves"):
        sizes.append(f"a game of {args.save_products:,} products saved and loaded")
    if args.only in (None, "stores"):
        sizes.append(f"{args.transfers:,} transfers per store")
    if args.only in (None, "writers"):
        sizes.append(f"{args.writer_transfers:,} transfers per concurrent-writers run")
    if args.only in (None, "demo"):
        sizes.append(f"a demo of {args.demo_products:,} products")
    if args.only in (None, "tables"):
        sizes.append(f"lists of {args.table_products:,} products")
    print(f"\nstockbank bench — {platform.python_implementation()} {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}, {os.cpu_count()} cores, {', '.join(sizes)}, best of {args.repeat}\n")
    width = max(len(r[0]) for r in results)
    for name, goal, got, detail, ok in results:
        print(f"{'PASS' if ok else 'MISS'}  {name:<{width}}  goal {goal:<18} got {got:<7} {detail}")
    for table in tables:
        print(f"\n{table}")
    for mode, text in profiles:
        print(f"\n-- where our {mode} transfers spend their time (cProfile; profiling slows everything) --\n{text}")


if __name__ == "__main__":
    main()
