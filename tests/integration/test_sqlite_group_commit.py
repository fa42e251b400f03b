"""Group commit in the sqlite3 store (storage/sqlite/group.py): writer threads of one store share write
transactions and their fsync, and still every writer is acknowledged only once its write is committed,
a failing writer fails alone, and every invariant (balances, idempotency keys, the audit chain, the
rate limit) holds as with one commit per transfer."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from domain import Simulator
from domain.clock import FixedClock
from domain.errors import DomainError
from domain.services.bank import RateLimit
from storage import open_store
from storage.sqlite import SqliteStore
from storage.sqlite import group as group_module

TENANT = "t1"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "shop.db"


def _open(db: Path, query: str = "") -> SqliteStore:
    store = open_store(f"sqlite:///{db}{query}")
    assert isinstance(store, SqliteStore)
    return store


@pytest.fixture
def store(db: Path) -> Iterator[SqliteStore]:
    opened = _open(db)
    yield opened
    opened.close()


@pytest.fixture
def wide_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """However slow this machine is today, the queued writers of a test land in one shared transaction."""
    monkeypatch.setattr(group_module, "GROUP_WINDOW", 60.0)


def _bank(store: SqliteStore, rate_limit: RateLimit | None = None) -> tuple[Simulator, dict[str, int]]:
    sim = Simulator(store, actor="tester", tenant=TENANT, clock=FixedClock(),
                    rate_limit=rate_limit or RateLimit(10**9, 60))
    ids = {name: sim.bank.open_account(name, opening_balance=amount).id
           for name, amount in (("Ann", 1_000_000), ("Ben", 1_000_000), ("Cy", 500), ("Dee", 0))}
    return sim, ids


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.001)


def _stored_keys(db: Path) -> dict[str, int]:
    """Idempotency key -> amount of every transfer committed to the file, read on a connection of its own."""
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT idempotency_key, amount_minor FROM transfers"))
    finally:
        conn.close()


def _queued_behind_a_writer(store: SqliteStore, requests: list[Callable[[], Any]],
                            holder: Callable[[Any], None] | None = None) -> list[Any]:
    """Hold the write turn in this thread, start one thread per request and wait until each is queued
    (so they run in this order), then commit (or let `holder` fail the holder's own work); returns each
    request's result or the DomainError it raised, and last what the holder's commit raised (or None)."""
    results: list[Any] = [None] * len(requests)
    held: Exception | None = None

    def call(i: int, request: Callable[[], Any]) -> None:
        try:
            results[i] = request()
        except DomainError as e:
            results[i] = e

    threads = []
    try:
        with store.unit_of_work(TENANT, write=True) as uow:
            for i, request in enumerate(requests):
                threads.append(threading.Thread(target=call, args=(i, request)))
                threads[-1].start()
                _wait_until(lambda: len(store._group._queue) == i + 1, f"request {i} is queued")
            if holder is not None:
                holder(uow)
            uow.commit()
    except (RuntimeError, DomainError) as e:
        held = e
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive(), "a writer never got its answer"
    return [*results, held]


def _code(result: Any) -> str:
    return result.code if isinstance(result, DomainError) else "ok"


# -- many writers at once --------------------------------------------------------------------


@pytest.mark.parametrize("group_commit", ["on", "off"])
def test_concurrent_transfers_keep_the_books_and_each_is_committed_before_it_is_acknowledged(
        db: Path, group_commit: str) -> None:
    store = _open(db, f"?group_commit={group_commit}")
    sim, ids = _bank(store)
    names = sorted(ids)
    writers, per_writer = 8, 25
    start = threading.Barrier(writers)
    acked: dict[str, int] = {}
    refused: dict[str, str] = {}
    problems: list[str] = []

    def writer(me: int) -> None:
        rng = random.Random(me)
        reader = sqlite3.connect(db)  # a connection of its own: it sees committed data only
        try:
            start.wait(timeout=10)
            for n in range(per_writer):
                source, target = rng.sample(names, 2)
                key = f"w{me}-{n}"
                amount = rng.randint(1, 400)  # Cy and Dee run out now and then: insufficient_funds
                try:
                    t = sim.bank.transfer(ids[source], ids[target], amount, idempotency_key=key)
                except DomainError as e:
                    refused[key] = e.code
                    continue
                row = reader.execute("SELECT id, amount_minor FROM transfers WHERE idempotency_key = ?", (key,)).fetchone()
                if row != (t.id, amount):
                    problems.append(f"{key} was acknowledged as transfer {t.id} but the file holds {row}")
                acked[key] = amount
        except BaseException as e:  # reported below
            problems.append(f"writer {me} crashed: {e!r}")
        finally:
            reader.close()

    threads = [threading.Thread(target=writer, args=(me,)) for me in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert not problems, problems[:5]
        assert len(acked) + len(refused) == writers * per_writer
        assert set(refused.values()) <= {"insufficient_funds"}, refused
        report = sim.check()
        assert report.ok, report.problems
        assert sim.audit.verify().ok
        stored = _stored_keys(db)
        assert {k: v for k, v in stored.items() if k in acked} == acked, "every acknowledged transfer, as acknowledged"
        assert len(stored) == len(acked) + 3, "and nothing else (besides the three opening balances)"
        assert sum(a.balance for a in sim.bank.accounts()) == 0
        if group_commit == "on":
            assert store._group is not None
            assert store._group.commits < len(acked), "writers that met shared commits"
        else:
            assert store._group is None
    finally:
        store.close()


def test_many_writers_sending_the_same_keys_get_one_transfer_per_key(store: SqliteStore, db: Path) -> None:
    sim, ids = _bank(store)
    writers, keys = 6, 40
    start = threading.Barrier(writers)
    answers: dict[str, set[int]] = {f"k{k}": set() for k in range(keys)}
    problems: list[str] = []

    def writer(me: int) -> None:
        try:
            start.wait(timeout=10)
            for k in random.Random(me).sample(range(keys), keys):  # every key, each writer in its own order
                t = sim.bank.transfer(ids["Ann"], ids["Ben"], 100 + k, idempotency_key=f"k{k}")
                answers[f"k{k}"].add(t.id)
        except BaseException as e:  # reported below
            problems.append(f"writer {me}: {e!r}")

    threads = [threading.Thread(target=writer, args=(me,)) for me in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not problems, problems[:5]
    assert all(len(ids_seen) == 1 for ids_seen in answers.values()), answers
    stored = _stored_keys(db)
    assert {k: v for k, v in stored.items() if k.startswith("k")} == {f"k{k}": 100 + k for k in range(keys)}
    assert sim.bank.get_account(ids["Ben"]).balance == 1_000_000 + sum(100 + k for k in range(keys))
    assert sim.check().ok


# -- one shared transaction, request by request -------------------------------------------------


def _fail_after_writing(store: SqliteStore) -> Callable[[], Any]:
    def request() -> None:
        with store.unit_of_work(TENANT, write=True) as uow:
            uow.categories.add("Ghost", None)  # written, then the request fails
            raise DomainError("this request fails after writing")
    return request


@pytest.mark.parametrize("failing_at", [0, 1, 2])
@pytest.mark.parametrize("failure", ["insufficient_funds", "error"])
def test_a_failing_writer_fails_alone_and_the_others_in_its_shared_commit_are_kept(
        store: SqliteStore, db: Path, wide_window: None, failing_at: int, failure: str) -> None:
    sim, ids = _bank(store)
    commits = store._group.commits
    ok = [lambda: sim.bank.transfer(ids["Ann"], ids["Dee"], 300, idempotency_key="first"),
          lambda: sim.bank.transfer(ids["Ben"], ids["Dee"], 200, idempotency_key="second")]
    failing = (_fail_after_writing(store) if failure == "error"
               else lambda: sim.bank.transfer(ids["Cy"], ids["Dee"], 501, idempotency_key="too-much"))
    requests = [*ok]
    requests.insert(failing_at, failing)

    *results, held = _queued_behind_a_writer(store, requests)

    assert held is None
    assert [_code(r) for r in results] == ["ok" if r is not failing else failure for r in requests]
    assert store._group.commits == commits + 1, "the holder and both transfers: one COMMIT"
    assert _stored_keys(db).keys() & {"first", "second", "too-much"} == {"first", "second"}
    assert [c.name for c in sim.catalog.categories()] == []
    assert sim.bank.get_account(ids["Dee"]).balance == 500
    assert sim.bank.get_account(ids["Cy"]).balance == 500
    assert sim.check().ok
    assert sim.audit.verify().ok, "the chain skips the failed writer's entries"


def test_writers_queued_behind_one_that_fails_still_commit(store: SqliteStore, db: Path, wide_window: None) -> None:
    sim, ids = _bank(store)

    def holder_fails(uow: Any) -> None:
        uow.categories.add("Ghost", None)
        raise RuntimeError("the writer that opened the transaction fails")

    *results, held = _queued_behind_a_writer(store, [
        lambda: sim.bank.transfer(ids["Ann"], ids["Dee"], 300, idempotency_key="first"),
        lambda: sim.bank.transfer(ids["Ben"], ids["Dee"], 200, idempotency_key="second"),
    ], holder=holder_fails)

    assert isinstance(held, RuntimeError)
    assert [_code(r) for r in results] == ["ok", "ok"]
    assert {"first", "second"} <= _stored_keys(db).keys()
    assert sim.catalog.categories() == []
    assert sim.check().ok and sim.audit.verify().ok


def test_repeated_key_in_one_shared_transaction_replays_the_first_transfer(
        store: SqliteStore, db: Path, wide_window: None) -> None:
    sim, ids = _bank(store)

    def send(amount: int) -> Callable[[], Any]:
        return lambda: sim.bank.transfer(ids["Ann"], ids["Ben"], amount, idempotency_key="order-1")

    *results, held = _queued_behind_a_writer(store, [send(250), send(250), send(999), send(250)])

    assert [_code(r) for r in results] == ["ok", "ok", "idempotency_conflict", "ok"]
    assert results[0].id == results[1].id == results[3].id
    assert results[2].details["transfer_id"] == results[0].id
    assert _stored_keys(db)["order-1"] == 250
    assert sim.bank.get_account(ids["Ben"]).balance == 1_000_250
    assert len([e for e in sim.audit.entries() if e.request_key == "order-1"]) == 1


def test_rate_limit_counts_the_writers_before_it_in_the_shared_transaction(
        store: SqliteStore, wide_window: None) -> None:
    sim, ids = _bank(store, RateLimit(max_transfers=3 + 3, window_seconds=60))  # 3 opening balances already

    *results, held = _queued_behind_a_writer(store, [
        lambda i=i: sim.bank.transfer(ids["Ann"], ids["Ben"], 1, idempotency_key=f"r{i}") for i in range(6)])

    assert [_code(r) for r in results] == ["ok"] * 3 + ["rate_limited"] * 3
    assert sim.check().ok


def test_a_failed_shared_commit_fails_every_writer_in_it_and_saves_nothing(
        store: SqliteStore, db: Path, wide_window: None) -> None:
    sim, ids = _bank(store)

    def poison() -> None:  # a foreign key checked only at COMMIT: the shared COMMIT itself fails
        with store.unit_of_work(TENANT, write=True) as uow:
            uow._conn.execute("PRAGMA defer_foreign_keys=ON")
            uow._conn.execute("INSERT INTO products (tenant_id, sku, name, category_id, price_minor)"
                              " VALUES (?, 'X-1', 'x', 999, 1)", (TENANT,))
            uow.commit()

    *results, held = _queued_behind_a_writer(store, [
        lambda: sim.bank.transfer(ids["Ann"], ids["Dee"], 300, idempotency_key="first"),
        poison,
        lambda: sim.bank.transfer(ids["Ben"], ids["Dee"], 200, idempotency_key="second"),
    ])

    assert [_code(r) for r in [held, *results]] == ["validation"] * 4, "the holder was in it too"
    assert all("nothing of this request was saved" in r.message for r in [held, *results])
    assert not _stored_keys(db).keys() & {"first", "second"}
    assert sim.bank.get_account(ids["Dee"]).balance == 0
    assert sim.bank.transfer(ids["Ann"], ids["Dee"], 300, idempotency_key="first").amount_minor == 300
    assert sim.check().ok and sim.audit.verify().ok


def test_a_writer_waiting_for_its_turn_longer_than_the_busy_timeout_gets_busy(db: Path) -> None:
    store = _open(db, "?busy_timeout=200")
    sim, ids = _bank(store)
    outcome: list[Any] = []

    def late() -> None:
        started = time.monotonic()
        try:
            sim.bank.transfer(ids["Ann"], ids["Ben"], 1, idempotency_key="late")
        except DomainError as e:
            outcome.append((e.code, time.monotonic() - started))

    try:
        with store.unit_of_work(TENANT, write=True) as uow:
            waiter = threading.Thread(target=late)
            waiter.start()
            waiter.join(timeout=10)
            uow.commit()
        assert len(outcome) == 1 and outcome[0][0] == "busy", outcome
        assert 0.15 <= outcome[0][1] < 3, outcome
        assert len(store._group._queue) == 0, "the writer that gave up left the queue"
        assert sim.bank.transfer(ids["Ann"], ids["Ben"], 1, idempotency_key="late").amount_minor == 1
    finally:
        store.close()


def test_group_commit_can_be_switched_off_in_the_url(db: Path) -> None:
    for query, grouped in (("", True), ("?group_commit=on", True), ("?group_commit=off", False),
                           ("?group_commit=no&synchronous=NORMAL", False)):
        store = _open(db, query)
        try:
            assert (store._group is not None) is grouped, query
        finally:
            store.close()
    with pytest.raises(DomainError) as err:
        open_store(f"sqlite:///{db}?group_commit=sometimes")
    assert err.value.code == "validation"


# -- processes, each grouping its own threads -------------------------------------------------------


def _process_with_threads(url: str, me: int, ids: dict[str, int], barrier: Any, results: Any) -> None:  # spawned
    import threading

    from domain import Simulator
    from domain.errors import DomainError
    from domain.services.bank import RateLimit
    from storage import open_store

    store = open_store(url)
    sim = Simulator(store, actor=f"p{me}", tenant=TENANT, rate_limit=RateLimit(10**9, 60))
    acked: list[tuple[str, int]] = []
    problems: list[str] = []

    def writer(thread: int) -> None:
        rng = random.Random(f"{me}-{thread}")
        for n in range(20):
            key, amount = f"p{me}-t{thread}-{n}", rng.randint(1, 300)
            source, target = rng.sample(sorted(ids), 2)
            for _ in range(1000):  # a `busy` answer changed nothing: the same request again
                try:
                    acked.append((key, sim.bank.transfer(ids[source], ids[target], amount, idempotency_key=key).id))
                except DomainError as e:
                    if e.code == "busy":
                        continue
                    if e.code != "insufficient_funds":
                        problems.append(f"{key}: {e.code}")
                break

    try:
        barrier.wait(timeout=60)
        threads = [threading.Thread(target=writer, args=(t,)) for t in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    except BaseException as e:  # reported by the test
        problems.append(repr(e))
    finally:
        commits = store._group.commits
        store.close()
        results.put((acked, problems, commits))


@pytest.mark.slow
def test_processes_each_grouping_their_threads_keep_the_books_on_one_file(db: Path) -> None:
    import multiprocessing

    store = _open(db)
    _sim, ids = _bank(store)
    store.close()
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_process_with_threads, args=(f"sqlite:///{db}?busy_timeout=100", me, ids, barrier,
                                                             results)) for me in range(2)]
    for p in procs:
        p.start()
    try:
        reports = [results.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
    assert not [problem for _, found, _ in reports for problem in found]
    acked = dict(item for got, _, _ in reports for item in got)
    store = _open(db)
    try:
        sim = Simulator(store, actor="checker", tenant=TENANT, clock=FixedClock())
        assert sim.check().ok and sim.audit.verify().ok
        conn = sqlite3.connect(db)
        stored = dict(conn.execute("SELECT idempotency_key, id FROM transfers WHERE idempotency_key LIKE 'p%'"))
        conn.close()
        assert stored == acked, "every acknowledged transfer is stored, and nothing else"
        assert len(acked) > 60
        assert sum(commits for _, _, commits in reports) < len(acked), "threads of a process shared commits"
    finally:
        store.close()
