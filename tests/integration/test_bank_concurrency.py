"""Balances are right under concurrency by construction: several processes move money between a
handful of accounts on ONE SQLite file for ten seconds, retrying idempotency keys (some keys are
shared between processes), making and resolving pending transfers, and retrying `busy` refusals
with the same key. Afterwards the ledger must hold exactly what was acknowledged: every
acknowledged transfer once, with its amount, and nothing else.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from collections import Counter, defaultdict
from typing import Any

import pytest

from domain import Simulator
from domain.clock import FixedClock
from storage import open_store
from tests.conftest import STORE_FACTORIES


@pytest.fixture(params=["sqlite", "postgres"])
def concurrent_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """One SQLite file (BEGIN IMMEDIATE), or one PostgreSQL database (READ COMMITTED)."""
    return STORE_FACTORIES[request.param](tmp_path)

TENANT = "t1"
WORKERS = 4
SECONDS = 10.0
OPENING = {"Ann": 50_000, "Ben": 20_000, "Cy": 5_000, "Dee": 0, "Eve": 1_000, "Shop": 0}
LIMITS = {"Dee": 3_000, "Shop": 1_000}
SHARED_KEYS = 150  # keys every process may send, always with the same request


def _shared_request(k: int, names: list[str]) -> tuple[str, str, int]:
    """The one request behind shared key k, the same in every process."""
    rng = random.Random(f"shared-{k}")
    source, target = rng.sample(names, 2)
    return source, target, rng.randint(1, 500)


def _worker(url: str, me: int, seconds: float, barrier: Any, results: Any) -> None:  # runs in a spawned process
    from domain import Simulator
    from domain.errors import DomainError
    from domain.services.bank import RateLimit
    from storage import open_store

    # worker 0 waits at most 20 ms for the write lock, so it sees `busy` often and must retry
    store = open_store(url + (("&" if "?" in url else "?") + "busy_timeout=20" if me == 0 else ""))
    sim = Simulator(store, actor=f"w{me}", tenant=TENANT, rate_limit=RateLimit(10**9, 60))
    names = sorted(OPENING)
    ids = {a.name: a.id for a in sim.bank.accounts()}
    rng = random.Random(1000 + me)
    acks: list[tuple[str, int, str, int, int, int]] = []  # key, id, kind, amount, debit id, credit id
    problems: list[str] = []
    stats: Counter[str] = Counter()
    mine: list[tuple[str, tuple[Any, ...], int]] = []  # key, request, transfer id

    def attempt(fn, *args, **kwargs):
        """Call until it is not `busy`, always with the same arguments (so the same key)."""
        for _ in range(10_000):
            try:
                return fn(*args, **kwargs), None
            except DomainError as e:
                if e.code != "busy":
                    return None, e.code
                stats["busy"] += 1
                time.sleep(rng.random() * 0.005)
        raise AssertionError("busy for ever")

    def ack(key: str, t: Any) -> None:
        acks.append((key, t.id, t.kind, t.amount_minor, t.debit_account_id, t.credit_account_id))

    barrier.wait(timeout=60)
    deadline = time.monotonic() + seconds
    n = 0
    try:
        while time.monotonic() < deadline:
            n += 1
            roll = rng.random()
            if roll < 0.40 or not mine:  # a new transfer, sometimes beyond what the source holds
                source, target = rng.sample(names, 2)
                amount = rng.randint(1, 4_000)
                key = f"w{me}-{n}"
                t, code = attempt(sim.bank.transfer, ids[source], ids[target], amount, idempotency_key=key)
                stats[code or "ok"] += 1
                if t is not None:
                    ack(key, t)
                    mine.append((key, (ids[source], ids[target], amount), t.id))
            elif roll < 0.55:  # a retry of one of my keys with the same request: the first transfer
                key, (source_id, target_id, amount), first_id = rng.choice(mine)
                t, code = attempt(sim.bank.transfer, source_id, target_id, amount, idempotency_key=key)
                if t is None or t.id != first_id:
                    problems.append(f"retry of {key} gave {code or t.id}, expected transfer {first_id}")
                else:
                    ack(key, t)
                stats["retry"] += 1
            elif roll < 0.60:  # the same key with another amount: refused
                key, (source_id, target_id, amount), _ = rng.choice(mine)
                t, code = attempt(sim.bank.transfer, source_id, target_id, amount + 1, idempotency_key=key)
                if code != "idempotency_conflict":
                    problems.append(f"{key} with another amount gave {code or t.id}")
                stats["conflict"] += 1
            elif roll < 0.85:  # a key other processes send too
                k = rng.randrange(SHARED_KEYS)
                source, target, amount = _shared_request(k, names)
                key = f"shared-{k}"
                t, code = attempt(sim.bank.transfer, ids[source], ids[target], amount, idempotency_key=key)
                stats["shared " + (code or "ok")] += 1
                if t is not None:
                    ack(key, t)
            else:  # two-phase: reserve, then post part of it or void it
                source, target = rng.sample(names, 2)
                amount = rng.randint(2, 2_000)
                key = f"w{me}-p{n}"
                p, code = attempt(sim.bank.transfer, ids[source], ids[target], amount, idempotency_key=key, pending=True)
                stats["pending " + (code or "ok")] += 1
                if p is None:
                    continue
                ack(key, p)
                if rng.random() < 0.6:
                    post_key, part = f"{key}-post", rng.randint(1, amount)
                    t, code = attempt(sim.bank.post, p.id, part, idempotency_key=post_key)
                    again, _ = attempt(sim.bank.post, p.id, part, idempotency_key=post_key)
                else:
                    post_key = f"{key}-void"
                    t, code = attempt(sim.bank.void, p.id, idempotency_key=post_key)
                    again, _ = attempt(sim.bank.void, p.id, idempotency_key=post_key)
                if t is None or again is None or again.id != t.id:
                    problems.append(f"resolving {key} gave {code}, retry {again}")
                else:
                    ack(post_key, t)
                    stats[t.kind] += 1
    except BaseException as e:  # report instead of dying silently
        problems.append(f"worker {me} crashed: {e!r}")
    finally:
        store.close()
        results.put((me, acks, problems, dict(stats)))


@pytest.mark.slow
def test_many_processes_moving_money_on_one_database_keep_the_ledger_exact(concurrent_url: str) -> None:
    sqlite_url = concurrent_url  # the same test on PostgreSQL (READ COMMITTED) too
    store = open_store(sqlite_url)
    setup = Simulator(store, actor="setup", tenant=TENANT, clock=FixedClock())
    for name, amount in OPENING.items():
        setup.bank.open_account(name, kind="shop" if name == "Shop" else "customer", opening_balance=amount,
                                overdraft_limit=LIMITS.get(name, 0))
    openings = sum(1 for amount in OPENING.values() if amount)
    store.close()

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(sqlite_url, me, SECONDS, barrier, results)) for me in range(WORKERS)]
    for p in procs:
        p.start()
    try:
        reports = [results.get(timeout=SECONDS + 60) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert [p.exitcode for p in procs] == [0] * WORKERS
    problems = [problem for _, _, found, _ in reports for problem in found]
    assert not problems, problems[:10]
    stats: Counter[str] = Counter()
    for _, _, _, counts in reports:
        stats.update(counts)

    # every acknowledgement of a key names the same transfer, also across processes
    acked: dict[str, tuple[int, str, int, int, int]] = {}
    processes_per_key: dict[str, set[int]] = defaultdict(set)
    for me, acks, _, _ in reports:
        for key, *answer in acks:
            assert acked.setdefault(key, tuple(answer)) == tuple(answer), f"{key} acknowledged as two transfers"
            processes_per_key[key].add(me)
    assert len(acked) > 200, f"too little work was done: {stats}"
    assert any(len(who) > 1 for who in processes_per_key.values()), "no key was acknowledged in two processes"

    store = open_store(sqlite_url)
    try:
        sim = Simulator(store, actor="checker", tenant=TENANT, clock=FixedClock())
        report = sim.check()
        assert report.ok, report.problems
        accounts = sim.bank.accounts()
        assert sum(a.balance for a in accounts) == 0
        assert -sum(a.balance for a in accounts if a.kind == "system") == sum(OPENING.values())
        for a in accounts:
            if a.limited:
                assert a.available >= 0, f"{a.name} is beyond its limit: {a}"
                assert a.debits_pending == 0 and a.credits_pending == 0, f"{a.name}: every reservation was resolved"

        with store.unit_of_work(TENANT) as uow:
            stored = list(uow.transfers.stream())
        by_key = {t.idempotency_key: t for t in stored}
        assert len(by_key) == len(stored), "one transfer per key"
        for key, (transfer_id, kind, amount, debit, credit) in acked.items():
            t = by_key.get(key)
            assert t is not None, f"acknowledged {key} is not stored"
            assert (t.id, t.kind, t.amount_minor, t.debit_account_id, t.credit_account_id) == (
                transfer_id, kind, amount, debit, credit), key
        extra = [t for t in stored if t.idempotency_key not in acked]
        assert len(extra) == openings and all(t.memo == "opening balance" for t in extra), extra[:5]
        assert len(stored) == len(acked) + openings

        # the balances are what the acknowledged transfers add up to, and every statement line's
        # balance_after is the running sum at that point of the ledger
        expected = Counter()
        for t in stored:
            if t.kind in ("posted", "post"):
                expected[t.debit_account_id] -= t.amount_minor
                expected[t.credit_account_id] += t.amount_minor
        for a in accounts:
            assert a.balance == expected[a.id], a.name
            lines, before = [], None
            while page := sim.bank.statement(a.id, before_id=before, limit=5_000):
                lines += page
                before = page[-1].transfer_id
            running = 0
            for line in reversed(lines):
                if line.kind in ("posted", "post"):
                    running += line.amount_minor
                assert line.balance_after == running, (a.name, line)
            assert running == a.balance
    finally:
        store.close()
    print(f"\n{len(acked)} acknowledged keys, {len(stored)} transfers; {dict(stats)}")
