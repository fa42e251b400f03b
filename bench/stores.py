"""The stores of issue #7: transfers/s through the PostgreSQL store against raw psycopg issuing the same
statements (goal >= 0.5x), and through the SQLAlchemy store on SQLite against the sqlite3 store
(goal >= 0.5x), each pair measured in the same run, runs interleaved, best of --repeat.

Every measurement runs in its own interpreter: `python -m bench.stores KIND ARGS...` prints one JSON line.
PostgreSQL runs go to a scratch database made (and dropped) through --pg (default
postgresql://postgres@127.0.0.1:5432/postgres); without a server the PostgreSQL line says so.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bench.measure import BANK_ACCOUNTS, BANK_ACTOR, BANK_OPENING, BANK_TENANT, NO_RATE_LIMIT, bank_plan

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
GOALS = (
    ("postgres", "Transfers, PostgreSQL store vs raw psycopg, one commit each", 0.5),
    ("sqlalchemy", "Transfers, SQLAlchemy store on SQLite vs the sqlite3 store", 0.5),
)


def _setup(url: str):
    """A fresh store with BANK_ACCOUNTS accounts holding BANK_OPENING each, opened through the domain."""
    from domain import Simulator
    from domain.services.bank import RateLimit
    from storage import open_store

    store = open_store(url)
    sim = Simulator(store, actor=BANK_ACTOR, tenant=BANK_TENANT, rate_limit=RateLimit(max_transfers=NO_RATE_LIMIT))
    ids = [sim.bank.open_account(f"Account {i:02d}", opening_balance=BANK_OPENING).id for i in range(BANK_ACCOUNTS)]
    return store, sim, ids


def _result(sim, seconds: float, n: int) -> dict:
    report = sim.check()
    return {"seconds": seconds, "transfers": n, "check_ok": report.ok, "problems": report.problems[:5],
            "stored": report.checked["transfers"]}


def store_transfers(url: str, n: str) -> dict:
    """Ours: BankService.transfer through any store, one commit each."""
    from domain.money import format_minor

    count = int(n)
    store, sim, ids = _setup(url)
    plan = [(ids[s], ids[t], format_minor(a), k) for s, t, a, k in bank_plan(count)]
    transfer = sim.bank.transfer
    start = time.perf_counter()
    for s, t, a, k in plan:
        transfer(s, t, a, idempotency_key=k, memo="bench")
    seconds = time.perf_counter() - start
    result = _result(sim, seconds, count)
    store.close()
    return result


# What the PostgreSQL store issues for one posted transfer (read off its statements), as plain SQL.
_BEGIN = "SELECT set_config('stockbank.tenant', %(t)s, true), pg_advisory_xact_lock(hashtextextended(%(t)s, 0))"
_GET_USER = "SELECT id, name, created_at FROM users WHERE tenant_id = %s AND name = %s"
_GET_ACCOUNT = ("SELECT id, name, kind, currency, debits_posted, credits_posted, debits_pending, credits_pending,"
                " overdraft_limit, status, version, deleted_at FROM accounts WHERE tenant_id = %s AND id = %s")
_COLS = ("id, kind, debit_account_id, credit_account_id, amount_minor, currency, pending_id, expires_at, memo,"
         " idempotency_key, actor, created_at, debit_balance_after, credit_balance_after, reverses_id")
_GET_BY_KEY = (f"SELECT * FROM (SELECT {_COLS}, 0 AS rank FROM transfers WHERE tenant_id = %(t)s AND idempotency_key = %(k)s"
               f" UNION ALL SELECT {_COLS}, 1 AS rank FROM transfers_archive WHERE tenant_id = %(t)s"
               f" AND idempotency_key = %(k)s) AS found ORDER BY rank LIMIT 1")
_COUNT_RECENT = "SELECT count(*) FROM transfers WHERE tenant_id = %s AND actor = %s AND created_at >= %s"
_APPLY = ("UPDATE accounts SET debits_posted = debits_posted + %(dp)s, credits_posted = credits_posted + %(cp)s,"
          " debits_pending = debits_pending + %(dpe)s, credits_pending = credits_pending + %(cpe)s"
          " WHERE tenant_id = %(t)s AND id = %(id)s AND status = 'open' AND (kind = 'system'"
          " OR (debits_posted + debits_pending + %(dsum)s) - (credits_posted + %(cp)s) <= overdraft_limit)"
          " RETURNING credits_posted - debits_posted")
_ADD_TRANSFER = ("INSERT INTO transfers (debit_account_id, credit_account_id, pending_id, tenant_id, kind, amount_minor,"
                 " currency, expires_at, memo, idempotency_key, actor, created_at, debit_balance_after,"
                 " credit_balance_after, reverses_id) VALUES (%s, %s, NULL, %s, 'posted', %s, %s, NULL, %s, %s, %s, %s,"
                 " %s, %s, NULL) RETURNING id")
_TAIL = ("SELECT at, actor, entity, entity_id, action, before, after, request_key, id, prev_hash, hash FROM audit_log"
         " WHERE tenant_id = %s ORDER BY id DESC LIMIT 1")
_ADD_AUDIT = ("INSERT INTO audit_log (tenant_id, at, actor, entity, entity_id, action, before, after, request_key,"
              " prev_hash, hash) VALUES (%s, %s, %s, 'transfer', %s, 'posted', NULL, %s, %s, %s, %s) RETURNING id")


def raw_pg_transfers(url: str, n: str) -> dict:
    """Baseline: psycopg alone, issuing the statements above per transfer (the same checks, the same audit
    JSON and hash chain), on a connection acting as the same unprivileged role (row-level security on)."""
    from datetime import datetime, timedelta, timezone

    import psycopg

    from domain.audit_chain import GENESIS, entry_hash

    count = int(n)
    store, sim, ids = _setup(url)
    plan = [(ids[s], ids[t], a, k) for s, t, a, k in bank_plan(count)]
    conn = psycopg.connect(url.split("?")[0].replace("postgresql+psycopg://", "postgresql://"))
    conn.execute("SET ROLE stockbank_app")
    conn.commit()
    execute = conn.execute
    tenant, actor, memo = BANK_TENANT, BANK_ACTOR, "bench"
    window, fmt, utc = timedelta(seconds=60), "%Y-%m-%dT%H:%M:%S.%fZ", timezone.utc

    def one(source: int, target: int, amount: int, key: str) -> None:
        now = datetime.now(utc)
        at = now.strftime(fmt)
        execute(_BEGIN, {"t": tenant}).fetchone()
        execute(_GET_USER, (tenant, actor)).fetchone()
        debit = execute(_GET_ACCOUNT, (tenant, source)).fetchone()
        credit = execute(_GET_ACCOUNT, (tenant, target)).fetchone()
        if debit is None or credit is None:
            raise LookupError("no such account")
        if execute(_GET_BY_KEY, {"t": tenant, "k": key}).fetchone() is not None:
            return
        if debit[9] != "open" or credit[9] != "open" or debit[3] != credit[3]:
            raise ValueError("refused")
        if execute(_COUNT_RECENT, (tenant, actor, (now - window).strftime(fmt))).fetchone()[0] >= NO_RATE_LIMIT:
            raise RuntimeError("rate limited")
        debit_after = execute(_APPLY, {"dp": amount, "cp": 0, "dpe": 0, "cpe": 0, "t": tenant, "id": source,
                                       "dsum": amount}).fetchone()
        credit_after = execute(_APPLY, {"dp": 0, "cp": amount, "dpe": 0, "cpe": 0, "t": tenant, "id": target,
                                        "dsum": 0}).fetchone()
        if debit_after is None or credit_after is None:
            raise ValueError("refused by the guard")
        transfer_id = execute(_ADD_TRANSFER, (source, target, tenant, amount, debit[3], memo, key, actor, at,
                                              debit_after[0], credit_after[0])).fetchone()[0]
        after = json.dumps(
            {"actor": actor, "amount_minor": amount, "created_at": at, "credit_account_id": target,
             "credit_balance_after": credit_after[0], "currency": debit[3], "debit_account_id": source,
             "debit_balance_after": debit_after[0], "expires_at": None, "id": transfer_id, "idempotency_key": key,
             "kind": "posted", "memo": memo, "pending_id": None},
            sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        tail = execute(_TAIL, (tenant,)).fetchone()
        prev = tail[10] if tail and tail[10] else GENESIS
        at_audit = at if tail is None or at > tail[0] else tail[0]
        digest = entry_hash(prev, at_audit, actor, "transfer", str(transfer_id), "posted", None, after, key)
        execute(_ADD_AUDIT, (tenant, at_audit, actor, str(transfer_id), after, key, prev, digest)).fetchone()
        conn.commit()

    start = time.perf_counter()
    for item in plan:
        one(*item)
    seconds = time.perf_counter() - start
    conn.close()
    result = _result(sim, seconds, count)
    store.close()
    return result


KINDS = {f.__name__: f for f in (store_transfers, raw_pg_transfers)}


def _measure(kind: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.stores", kind, *args], cwd=ROOT, capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _scratch_pg(admin: str, name: str) -> str | None:
    """A new empty database on the server (None when no server answers)."""
    try:
        import psycopg

        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]
            conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 (no server: the line says so)
        return None
    return f"postgresql+psycopg://{admin.split('://', 1)[1].rsplit('/', 1)[0]}/{name}"


def _drop_pg(admin: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]


def stores_results(args, tmpdir: Path) -> list[tuple]:
    """Both goals; each pair's runs interleaved (raw, ours, raw, ours ...) so a slow spell hits both."""
    n, admin = str(args.transfers), getattr(args, "pg", None) or PG_ADMIN
    results = []
    for key, name, goal in GOALS:
        raws, ours, made = [], [], []
        for i in range(args.repeat):
            if key == "postgres":
                raw_url, our_url = (_scratch_pg(admin, f"stockbank_bench_{w}_{i}") for w in ("raw", "ours"))
                if raw_url is None or our_url is None:
                    results.append((name, f">= {goal:.2f}x", "n/a", f"no PostgreSQL server at {admin}", True))
                    break
                made += [f"stockbank_bench_raw_{i}", f"stockbank_bench_ours_{i}"]
                saves = f"?saves={tmpdir / 'pg-saves'}"
                raws.append(_measure("raw_pg_transfers", raw_url + saves, n))
                ours.append(_measure("store_transfers", our_url + saves, n))
            else:
                raws.append(_measure("store_transfers", f"sqlite:///{tmpdir / f'st-raw-{i}.db'}", n))
                ours.append(_measure("store_transfers", f"sqlalchemy+sqlite:///{tmpdir / f'st-ours-{i}.db'}", n))
        for db in made:
            _drop_pg(admin, db)
        if not raws:
            continue
        for run in raws + ours:
            if not run["check_ok"] or run["stored"] != args.transfers + BANK_ACCOUNTS:
                raise SystemExit(f"{name}: the ledger does not add up after a run: {run}")
        raw, our = min(r["seconds"] for r in raws), min(r["seconds"] for r in ours)
        baseline = "raw psycopg" if key == "postgres" else "sqlite3 store"
        results.append((name, f">= {goal:.2f}x", f"{raw / our:.2f}x",
                        f"{baseline} {args.transfers / raw:,.0f}/s, ours {args.transfers / our:,.0f}/s "
                        f"({args.transfers:,} transfers, {BANK_ACCOUNTS} accounts)", raw / our >= goal))
    return results


if __name__ == "__main__":
    print(json.dumps(KINDS[sys.argv[1]](*sys.argv[2:])))
