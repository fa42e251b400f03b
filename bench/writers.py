"""Concurrent writers (issue #8): transfers/s with 1, 2 and 4 writers, as threads of one process and as
processes, through our sqlite3 store against raw sqlite3 with the same number of writers, measured in
the same run. synchronous=FULL; every transfer is its own request, acknowledged once it is durable.

- ours: `BankService.transfer` on one `sqlite:///` store per process, shared by its writer threads;
  group commit (storage/sqlite/group.py) is on, as by default. Also measured with `?group_commit=off`
  (one transaction and one fsync per transfer, threads racing for SQLite's lock) to show what it buys.
- raw: each writer has its own sqlite3 connection with the store's pragmas and does, per transfer,
  BEGIN IMMEDIATE, the statements our store issues for one transfer (user, both accounts, the key
  lookup over live and archive, the rate-limit count, two guarded UPDATE ... RETURNING, the ledger
  INSERT, the audit tail and the chained audit INSERT, with the same JSON and hash), COMMIT; a writer
  that finds the lock taken waits in SQLite's busy handler (busy_timeout 5 s), as any sqlite3 program.

Each run moves the same --writer-transfers transfers (split evenly between the writers) between 20
accounts; its ledger must add up afterwards. Every measurement runs in its own interpreter:
`python -m bench.writers KIND ARGS...` prints one JSON line. No goal was set: the figures are recorded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.measure import BANK_ACCOUNTS, BANK_ACTOR, BANK_TENANT, NO_RATE_LIMIT, bank_plan, raw_begin, raw_connection, raw_transfer

ROOT = Path(__file__).resolve().parent.parent
MODES = ("threads", "processes")
IMPLS = ("raw", "ours", "ours_off")

# -- one writer (runs in a measuring interpreter: a thread of it, or a process it spawned) ------------


def _url(db: str, impl: str) -> str:
    return f"sqlite:///{db}" + ("?group_commit=off" if impl == "ours_off" else "")


def _our_writer(store, plan: list[tuple[int, int, str, str]]):
    """Ours, ready to go: a Simulator on the shared store, warmed up (the request models that load on
    the first write, one read); returns the writer's loop."""
    from domain import Simulator
    from domain.errors import ValidationError
    from domain.services.bank import RateLimit

    bank = Simulator(store, actor=BANK_ACTOR, tenant=BANK_TENANT, rate_limit=RateLimit(max_transfers=NO_RATE_LIMIT)).bank
    transfer = bank.transfer
    bank.get_account(plan[0][0])
    try:
        transfer(plan[0][0], plan[0][1], "0", idempotency_key="warm-up")  # refused before the store is asked
    except ValidationError:
        pass

    def run() -> None:
        for source, target, amount, key in plan:
            transfer(source, target, amount, idempotency_key=key, memo="bench")

    return run


def _raw_writer(db: str, plan: list[tuple[int, int, int, str]]):
    """Raw sqlite3 with a connection of its own, opened now: one transaction and one COMMIT per
    transfer (`raw_begin`, `raw_transfer`, as the bank goals' baseline); returns the writer's loop."""
    conn = raw_connection(db)
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the schema read before the common start
    execute, one = conn.execute, raw_transfer(conn)

    def run() -> None:
        try:
            for item in plan:
                raw_begin(execute)
                try:
                    one(*item)
                except BaseException:
                    execute("ROLLBACK")
                    raise
                execute("COMMIT")
        finally:
            conn.close()

    return run


def _plans(ids: list[int], n: int, writers: int, impl: str) -> list[list[tuple]]:
    """The bench's usual transfers, dealt out to the writers in turn (ours passes decimal strings, as callers do)."""
    from domain.money import format_minor

    plan = [(ids[s], ids[t], a if impl == "raw" else format_minor(a), k) for s, t, a, k in bank_plan(n)]
    return [plan[w::writers] for w in range(writers)]


def _process_writer(db: str, impl: str, plan: list[tuple], barrier, results) -> None:  # a spawned process
    try:
        store = None
        if impl != "raw":
            from storage import open_store

            store = open_store(_url(db, impl))
        run = _raw_writer(db, plan) if store is None else _our_writer(store, plan)
        barrier.wait(timeout=120)
        run()
        commits = len(plan) if store is None or store._group is None else store._group.commits
        if store is not None:
            store.close()
        results.put(("ok", commits))
    except BaseException as e:  # reported by the parent
        results.put(("error", repr(e)))


# -- one measurement per interpreter ------------------------------------------------------------------


def writers_run(db: str, impl: str, mode: str, writers: str, n: str) -> dict:
    """`writers` writers (threads of this process, or processes) moving `n` transfers in all through
    `impl` (raw | ours | ours_off); seconds from the common start to the last acknowledgement."""
    from bench.measure import _bank_result, _bank_setup

    count, writers_n = int(n), int(writers)
    setup_store, sim, ids = _bank_setup(db, "FULL")  # accounts opened through the domain, not timed
    plans = _plans(ids, count, writers_n, impl)
    errors: list[str] = []
    if mode == "threads":
        store = None
        if impl != "raw":
            from storage import open_store

            store = open_store(_url(db, impl))
        barrier = threading.Barrier(writers_n + 1)

        def run(plan: list[tuple]) -> None:
            try:
                loop = _raw_writer(db, plan) if store is None else _our_writer(store, plan)
                barrier.wait(timeout=120)
                loop()
            except BaseException as e:  # reported below
                errors.append(repr(e))
                barrier.abort()

        threads = [threading.Thread(target=run, args=(plan,)) for plan in plans]
        for t in threads:
            t.start()
        barrier.wait(timeout=120)
        start = time.perf_counter()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - start
        commits = count if store is None or store._group is None else store._group.commits
        if store is not None:
            store.close()
    else:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        barrier, results = ctx.Barrier(writers_n + 1), ctx.Queue()
        procs = [ctx.Process(target=_process_writer, args=(db, impl, plan, barrier, results)) for plan in plans]
        for p in procs:
            p.start()
        barrier.wait(timeout=120)
        start = time.perf_counter()
        answers = [results.get(timeout=600) for _ in procs]
        seconds = time.perf_counter() - start
        for p in procs:
            p.join(timeout=30)
        errors += [detail for status, detail in answers if status != "ok"]
        commits = sum(detail for status, detail in answers if status == "ok")
    if errors:
        raise SystemExit(f"writers {impl} {mode} x{writers_n}: {errors[:3]}")
    result = _bank_result(sim, seconds, count)
    setup_store.close()
    return {**result, "commits": commits}


KINDS = {f.__name__: f for f in (writers_run,)}


def _measure(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.writers", "writers_run", *args], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"writers_run {' '.join(args[1:])} failed:\n{out.stderr[-2000:]}{out.stdout[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def writers_results(args, tmpdir: Path) -> tuple[list[tuple], str]:
    """One line per (mode, writers): ours vs raw; and the table of every figure. The runs go round
    robin (every configuration once, raw / ours / ours without group commit side by side, then again)
    so a slow spell of this machine's disk hits every configuration alike; the best of each is kept."""
    n = args.writer_transfers
    configs = [(mode, writers) for mode in MODES for writers in args.writers]
    runs: dict[tuple[str, int, str], list[dict]] = {}
    for i in range(args.repeat):
        for mode, writers in configs:
            for impl in IMPLS:
                db = tmpdir / f"writers-{mode}-{writers}-{impl}-{i}.db"
                run = _measure(str(db), impl, mode, str(writers), str(n))
                if not run["check_ok"] or run["stored"] != n + BANK_ACCOUNTS:
                    raise SystemExit(f"writers {impl} {mode} x{writers}: the ledger does not add up: {run}")
                runs.setdefault((mode, writers, impl), []).append(run)
    lines, rows = [], [("writers", "as", "raw sqlite3", "ours", "ours, group commit off", "ours vs raw",
                        "transfers per COMMIT (ours)")]
    for mode, writers in configs:
        best = {impl: min(runs[mode, writers, impl], key=lambda r: r["seconds"]) for impl in IMPLS}
        rate = {impl: n / best[impl]["seconds"] for impl in IMPLS}
        per_commit = n / max(best["ours"]["commits"], 1)
        ratio = rate["ours"] / rate["raw"]
        lines.append((f"Writers, {mode} x {writers}, ours vs raw sqlite3 (FULL)", "record", f"{ratio:.2f}x",
                      f"raw {rate['raw']:,.0f}/s, ours {rate['ours']:,.0f}/s, ours without group commit "
                      f"{rate['ours_off']:,.0f}/s; {per_commit:.1f} transfers per COMMIT", True))
        rows.append((str(writers), mode, f"{rate['raw']:,.0f}/s", f"{rate['ours']:,.0f}/s",
                     f"{rate['ours_off']:,.0f}/s", f"{ratio:.2f}x", f"{per_commit:.1f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
    return lines, (f"Concurrent writers, {n:,} transfers per run between {BANK_ACCOUNTS} accounts, synchronous=FULL, "
                   f"best of {args.repeat}:\n{table}")


if __name__ == "__main__":
    print(json.dumps(KINDS[sys.argv[1]](*sys.argv[2:])))
