"""`python -m bench [--rows N] [--repeat K]`: the catalog goals of issue #2, as ratios against
raw baselines measured in the same run on this machine."""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is kept")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="stockbank-bench-") as tmp:
        tmpdir = Path(tmp)
        csv_path = tmpdir / "products.csv"
        write_products_csv(csv_path, args.rows)

        def fresh_db(name: str):
            def make(i: int) -> tuple[str, str]:
                db = tmpdir / f"{name}-{i}.db"
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
                return str(db), str(csv_path)
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

        minimal = statistics.median(measure("start_minimal", str(time.time()))["first_frame"] for _ in range(5))
        starts = [measure("start_stockbank", str(time.time()), str(export_db)) for _ in range(5)]
        first = statistics.median(s["first_frame"] for s in starts)
        rows_shown = statistics.median(s["rows_shown"] for s in starts)
        heavy = sorted({m for s in starts for m in s["heavy_imports"]})
        ratio = first / minimal
        results.append(("TUI cold start to first frame vs minimal Textual app", "<= 2.0x", f"{ratio:.2f}x",
                        f"minimal {minimal:.2f}s, stockbank {first:.2f}s, first rows listed at {rows_shown:.2f}s "
                        f"({args.rows:,} products); heavy imports at start: {heavy or 'none'}",
                        ratio <= 2.0 and not heavy))

    print(f"\nstockbank bench — {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} cores, {args.rows:,} rows, best of {args.repeat}\n")
    width = max(len(r[0]) for r in results)
    for name, goal, got, detail, ok in results:
        print(f"{'PASS' if ok else 'MISS'}  {name:<{width}}  goal {goal:<18} got {got:<7} {detail}")


if __name__ == "__main__":
    main()
