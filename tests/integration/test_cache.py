"""The read-through cache (storage/cache): hits and misses, invalidation on commit and only on commit,
write transactions that never act on a cached row, the staleness bound across store objects and
processes (Redis: the next unit of work; memory: the TTL), safe values, and `--cache` in the CLI.

The catalog and bank contract suites run on cached stores in test_cache_*_contract.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain import Simulator
from domain.clock import FixedClock
from domain.errors import CacheUnavailable, DomainError, VersionConflict
from storage import open_store
from storage.cache import CachedStore, MemoryCache, cached_store, open_cache
from storage.cache.backends import MISSING
from tests.integration.cache_helpers import REDIS_URL, require_redis
from tests.integration.conftest import STOCKBANK

TENANT = "t1"


def sim_of(store: Any, actor: str = "tester", tenant: str = TENANT) -> Simulator:
    return Simulator(store, actor=actor, tenant=tenant, clock=FixedClock())


def counts(store: CachedStore) -> tuple[int, int]:
    stats = store.cache_stats()
    return stats["hits"], stats["misses"]


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'shop.db'}"


@pytest.fixture
def cached(db: str) -> Iterator[CachedStore]:
    store = cached_store(open_store(db), "memory")
    yield store
    store.close()


@pytest.fixture
def shop(cached: CachedStore) -> Simulator:
    sim = sim_of(cached)
    sim.catalog.add_product("HAM-1", "Hammer", "12.50", quantity=10)
    sim.bank.open_account("Alice", opening_balance="100.00")
    sim.bank.open_account("Shop", kind="shop")
    return sim


def open_redis_store(db: str, ttl: float | None = None) -> CachedStore:
    url = require_redis()
    return cached_store(open_store(db), url + (f"?ttl={ttl}" if ttl else ""))


# -- what is cached, and the counters ---------------------------------------------------------


def test_a_second_lookup_is_a_hit_by_id_by_sku_and_for_the_account_list(shop: Simulator, cached: CachedStore) -> None:
    product = shop.catalog.get_product_by_sku("HAM-1")
    before = counts(cached)
    assert shop.catalog.get_product(product.id) == product  # first: a miss, filled
    assert shop.catalog.get_product(product.id) == product  # then hits
    assert shop.catalog.get_product_by_sku("ham-1") == product
    accounts = shop.bank.accounts()
    assert shop.bank.accounts() == accounts
    hits, misses = counts(cached)
    assert (hits - before[0], misses - before[1]) == (3, 2)  # the SKU lookup was filled above
    stats = cached.stats()
    assert {"hits", "misses", "ratio"} <= stats.keys() and stats == cached.cache_stats()
    assert stats["ratio"] == pytest.approx(hits / (hits + misses))
    assert stats["backend"] == "memory" and stats["shared"] is False


def test_a_missing_row_is_cached_too_and_an_add_makes_it_appear(shop: Simulator, cached: CachedStore) -> None:
    with pytest.raises(DomainError) as caught:
        shop.catalog.get_product_by_sku("NEW-1")
    assert caught.value.code == "not_found"
    hits = counts(cached)[0]
    with pytest.raises(DomainError):
        shop.catalog.get_product_by_sku("NEW-1")
    assert counts(cached)[0] == hits + 1
    added = shop.catalog.add_product("NEW-1", "New", "1.00")
    assert shop.catalog.get_product_by_sku("NEW-1") == added


def test_a_caller_sorting_the_account_list_does_not_change_the_cached_one(shop: Simulator) -> None:
    first = shop.bank.accounts()
    first.reverse()
    assert [a.name for a in shop.bank.accounts()] == sorted(a.name for a in first)


def test_a_read_that_only_hits_opens_no_transaction(shop: Simulator, cached: CachedStore) -> None:
    product = shop.catalog.get_product_by_sku("HAM-1")
    shop.catalog.get_product(product.id)  # filled
    calls = []
    inner_uow = cached.inner.unit_of_work
    cached.inner.unit_of_work = lambda *a, **k: calls.append(a) or inner_uow(*a, **k)  # type: ignore[method-assign]
    try:
        assert shop.catalog.get_product(product.id) == product
    finally:
        del cached.inner.unit_of_work
    assert calls == []


# -- invalidation -----------------------------------------------------------------------------


def test_a_committed_write_is_seen_by_the_next_read_in_the_same_process(shop: Simulator, cached: CachedStore) -> None:
    product = shop.catalog.get_product_by_sku("HAM-1")
    shop.catalog.get_product(product.id)
    generation = cached.generation(TENANT)
    updated = shop.catalog.update_product(product.id, product.version, price="13.00", name="Claw hammer")
    assert cached.generation(TENANT) == generation + 1
    assert shop.catalog.get_product(product.id) == updated
    assert shop.catalog.get_product_by_sku("HAM-1") == updated


def test_stock_moves_and_transfers_invalidate_quantities_and_balances(shop: Simulator, cached: CachedStore) -> None:
    product = shop.catalog.get_product_by_sku("HAM-1")
    shop.bank.accounts()
    shop.inventory.sell(product.id, 2, "Alice")  # stock.apply keeps products.quantity in step
    assert shop.catalog.get_product(product.id).quantity == 8
    balances = {a.name: a.balance for a in shop.bank.accounts()}
    assert balances["Alice"] == 100_00 - 2 * 12_50 and balances["Shop"] == 2 * 12_50


def test_a_write_that_changes_no_cached_row_bumps_nothing(shop: Simulator, cached: CachedStore) -> None:
    generation = cached.generation(TENANT)
    shop.catalog.add_category("Tools")  # categories are not cached, products hold only the id
    shop.inventory.add_location("Back room")
    assert cached.generation(TENANT) == generation


def test_a_rolled_back_unit_of_work_bumps_nothing_and_the_cache_keeps_serving(shop: Simulator, cached: CachedStore) -> None:
    product = shop.catalog.get_product_by_sku("HAM-1")
    shop.catalog.get_product(product.id)
    generation = cached.generation(TENANT)
    with cached.unit_of_work(TENANT, write=True) as uow:  # no commit: rolled back
        from dataclasses import replace

        uow.products.update(replace(product, name="Never"), product.version)
    with pytest.raises(RuntimeError):
        with cached.unit_of_work(TENANT, write=True) as uow:
            uow.accounts.apply(shop.bank.get_account("Alice").id, credits_posted=1)
            raise RuntimeError("boom")
    with pytest.raises(VersionConflict):  # a refused service call rolls back too
        shop.catalog.update_product(product.id, product.version + 5, name="Stale")
    assert cached.generation(TENANT) == generation
    hits = counts(cached)[0]
    assert shop.catalog.get_product(product.id) == product
    assert counts(cached)[0] == hits + 1


def test_a_committed_savepoint_inside_a_rolled_back_transaction_bumps_nothing(shop: Simulator, cached: CachedStore) -> None:
    generation = cached.generation(TENANT)
    with cached.unit_of_work(TENANT, write=True):
        shop.catalog.add_product("SP-1", "Savepoint", "1.00")  # the service's own unit of work: a savepoint
    assert cached.generation(TENANT) == generation
    with pytest.raises(DomainError):
        shop.catalog.get_product_by_sku("SP-1")


def test_nested_service_calls_bump_once_after_the_outer_commit(shop: Simulator, cached: CachedStore) -> None:
    generation = cached.generation(TENANT)
    with shop.ctx.writing():
        shop.catalog.add_product("N-1", "One", "1.00")
        shop.catalog.add_product("N-2", "Two", "1.00")
        assert cached.generation(TENANT) == generation  # not before the outer COMMIT
    assert cached.generation(TENANT) == generation + 1
    assert shop.catalog.get_product_by_sku("N-2").name == "Two"


# -- write transactions never act on a cached row ------------------------------------------


def test_a_write_transaction_reads_the_store_not_the_cache(db: str, shop: Simulator, cached: CachedStore) -> None:
    """The sale charges the price that is stored now, even while reads may still be served the old one."""
    product = shop.catalog.get_product_by_sku("HAM-1")
    shop.catalog.get_product(product.id)  # cached at 12.50
    behind = open_store(db)  # a writer the cache knows nothing about (no --cache)
    try:
        sim_of(behind, "other").catalog.update_product(product.id, product.version, price="20.00")
    finally:
        behind.close()
    assert shop.catalog.get_product(product.id).price_minor == 12_50  # stale read: within the memory TTL
    sale = shop.inventory.sell(product.id, 1, "Alice")
    assert sale.transfer.amount_minor == 20_00
    with cached.unit_of_work(TENANT, write=True) as uow:
        assert uow.products.get(product.id).price_minor == 20_00
        assert uow.products.get_by_sku("HAM-1").price_minor == 20_00


def test_reads_nested_in_a_write_see_its_uncommitted_rows_and_never_fill_the_cache(
    shop: Simulator, cached: CachedStore
) -> None:
    product = shop.catalog.get_product_by_sku("HAM-1")
    with cached.unit_of_work(TENANT, write=True) as uow:
        from dataclasses import replace

        uow.products.update(replace(product, name="Uncommitted"), product.version)
        assert shop.catalog.get_product(product.id).name == "Uncommitted"  # a nested read unit of work
        # leaving without commit: rolled back
    assert shop.catalog.get_product(product.id).name == "Hammer"
    assert shop.catalog.get_product(product.id).name == "Hammer"


def test_a_read_that_touched_the_database_first_does_not_use_the_cache(shop: Simulator, cached: CachedStore) -> None:
    """Its snapshot may predate the generation it would read: mixing the two could show half a write."""
    product = shop.catalog.get_product_by_sku("HAM-1")
    shop.catalog.get_product(product.id)
    before = cached.cache_stats()
    with cached.unit_of_work(TENANT) as uow:
        uow.categories.list()
        assert uow.products.get(product.id) == product
    after = cached.cache_stats()
    assert (after["hits"], after["misses"], after["bypassed"]) == (before["hits"], before["misses"], before["bypassed"] + 1)


def test_check_passes_on_a_cached_store(shop: Simulator) -> None:
    shop.bank.accounts()
    shop.inventory.sell(shop.catalog.get_product_by_sku("HAM-1").id, 1, "Alice")
    report = shop.check()
    assert report.ok, report.problems


# -- the staleness bound across store objects and processes --------------------------------


def test_memory_backend_another_store_objects_write_is_seen_after_the_ttl(db: str) -> None:
    ttl = 0.5
    reader = cached_store(open_store(db), f"memory://?ttl={ttl}")
    writer = cached_store(open_store(db), "memory")
    try:
        product = sim_of(writer).catalog.add_product("TTL-1", "Before", "1.00")
        assert sim_of(reader).catalog.get_product(product.id).name == "Before"
        sim_of(writer).catalog.update_product(product.id, product.version, name="After")
        written = time.monotonic()
        assert sim_of(reader).catalog.get_product(product.id).name == "Before"  # another process's cache: stale...
        time.sleep(ttl)
        assert sim_of(reader).catalog.get_product(product.id).name == "After"  # ...at most ttl after the write
        assert time.monotonic() - written < ttl + 1
    finally:
        reader.close()
        writer.close()


def test_redis_a_write_through_another_store_object_is_seen_by_the_next_unit_of_work(db: str) -> None:
    reader = open_redis_store(db)
    writer = open_redis_store(db)
    try:
        a = sim_of(writer).bank.open_account("Ann", opening_balance="10.00")
        product = sim_of(writer).catalog.add_product("R-1", "Before", "1.00")
        assert sim_of(reader).catalog.get_product(product.id).name == "Before"
        assert [x.balance for x in sim_of(reader).bank.accounts() if x.id == a.id] == [10_00]
        sim_of(writer).catalog.update_product(product.id, product.version, name="After")
        sim_of(writer).bank.deposit(a.id, "5.00")
        assert sim_of(reader).catalog.get_product(product.id).name == "After"
        assert [x.balance for x in sim_of(reader).bank.accounts() if x.id == a.id] == [15_00]
        assert reader.generation(TENANT) == writer.generation(TENANT)
    finally:
        reader.close()
        writer.close()


def test_redis_entries_are_shared_between_store_objects_on_the_same_database(db: str) -> None:
    first, second = open_redis_store(db), open_redis_store(db)
    try:
        product = sim_of(first).catalog.add_product("S-1", "Shared", "1.00")
        sim_of(first).catalog.get_product(product.id)  # filled by the first
        assert sim_of(second).catalog.get_product(product.id) == product
        assert second.cache_stats()["hits"] == 1
    finally:
        first.close()
        second.close()


_WRITER = """
import sys
from domain import Simulator
from storage import open_store
from storage.cache import cached_store
store = cached_store(open_store(sys.argv[1]), sys.argv[2])
sim = Simulator(store, actor="subprocess", tenant=sys.argv[3])
p = sim.catalog.get_product_by_sku("P-1")
sim.catalog.update_product(p.id, p.version, name="Changed by a subprocess")
store.close()
"""


def test_redis_a_write_in_another_process_is_seen_by_the_next_unit_of_work(db: str, tmp_path: Path) -> None:
    reader = open_redis_store(db)
    try:
        sim = sim_of(reader)
        product = sim.catalog.add_product("P-1", "Original", "1.00")
        sim.bank.open_account("Alice", opening_balance="50.00")
        sim.bank.open_account("Shop", kind="shop")
        assert sim.catalog.get_product(product.id).name == "Original"
        assert {a.name: a.balance for a in sim.bank.accounts()}["Alice"] == 50_00
        hits = reader.cache_stats()["hits"]
        assert sim.catalog.get_product(product.id).name == "Original"
        assert reader.cache_stats()["hits"] == hits + 1

        subprocess.run([sys.executable, "-c", _WRITER, db, REDIS_URL, TENANT], check=True, timeout=60,
                       cwd=Path(__file__).parents[2])
        assert sim.catalog.get_product(product.id).name == "Changed by a subprocess"

        done = subprocess.run([STOCKBANK, "--db", db, "--tenant", TENANT, "--cache", REDIS_URL, "--json",
                               "transfer", "Alice", "Shop", "7.50"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert {a.name: a.balance for a in sim.bank.accounts()}["Alice"] == 42_50
    finally:
        reader.close()


def test_redis_a_writer_without_the_cache_is_seen_after_the_ttl(db: str) -> None:
    """The documented bound for changes the cache is not told about (a writer without --cache, a restore)."""
    ttl = 0.5
    reader = open_redis_store(db, ttl=ttl)
    try:
        product = sim_of(reader).catalog.add_product("T-1", "Before", "1.00")
        assert sim_of(reader).catalog.get_product(product.id).name == "Before"
        behind = open_store(db)
        try:
            sim_of(behind).catalog.update_product(product.id, product.version, name="After")
        finally:
            behind.close()
        assert sim_of(reader).catalog.get_product(product.id).name == "Before"
        time.sleep(ttl)
        assert sim_of(reader).catalog.get_product(product.id).name == "After"
        # `stockbank cache clear` (invalidate) makes it immediate
        behind = open_store(db)
        try:
            current = sim_of(behind).catalog.get_product(product.id)
            sim_of(behind).catalog.update_product(product.id, current.version, name="Cleared")
        finally:
            behind.close()
        assert reader.invalidate() == 1
        assert sim_of(reader).catalog.get_product(product.id).name == "Cleared"
    finally:
        reader.close()


def test_redis_two_databases_never_share_rows(tmp_path: Path) -> None:
    one = open_redis_store(f"sqlite:///{tmp_path / 'one.db'}")
    two = open_redis_store(f"sqlite:///{tmp_path / 'two.db'}")
    try:
        p1 = sim_of(one).catalog.add_product("X-1", "In one", "1.00")
        p2 = sim_of(two).catalog.add_product("X-1", "In two", "2.00")
        assert sim_of(one).catalog.get_product(p1.id).name == "In one"
        assert sim_of(two).catalog.get_product(p2.id).name == "In two"
        assert sim_of(two).catalog.get_product_by_sku("X-1").name == "In two"
    finally:
        one.close()
        two.close()


def test_redis_values_are_json_and_a_bad_value_is_a_miss_never_code(db: str) -> None:
    import redis

    store = open_redis_store(db)
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        sim = sim_of(store)
        product = sim.catalog.add_product("J-1", "Json", "1.00")
        sim.catalog.get_product(product.id)
        key = f"{store.prefix}{TENANT}:{store.generation(TENANT)}:product:{product.id}"
        good = json.loads(client.get(key))
        assert good == {"id": product.id, "sku": "J-1", "name": "Json", "category_id": None, "price_minor": 100,
                        "quantity": 0, "active": True, "version": product.version, "deleted_at": None}
        for bad in ["\x80\x04\x95 pickle", '{"id": 1}', json.dumps({**good, "active": 1}),
                    json.dumps({**good, "id": product.id + 1}), json.dumps({**good, "extra": 1}), "[1, 2", "1e999999"]:
            client.set(key, bad, px=60_000)
            misses = store.cache_stats()["misses"]
            assert sim.catalog.get_product(product.id) == product
            assert store.cache_stats()["misses"] == misses + 1
    finally:
        client.close()
        store.close()


def test_redis_counters_add_up_across_processes(db: str) -> None:
    first, second = open_redis_store(db), open_redis_store(db)
    try:
        product = sim_of(first).catalog.add_product("C-1", "Counted", "1.00")
        sim_of(first).catalog.get_product(product.id)
        sim_of(second).catalog.get_product(product.id)
        sim_of(second).catalog.get_product(product.id)
        first.close()
        shared = second.shared_cache_stats()
        assert shared is not None
        assert (shared["hits"], shared["misses"]) == (2, 1)
        assert shared["ratio"] == pytest.approx(2 / 3)
    finally:
        second.close()


# -- tenants --------------------------------------------------------------------------------


@pytest.mark.parametrize("other", ["t1:0", "t1%3A0", "t1:1:product"])
def test_tenants_never_see_each_others_cached_rows(cached: CachedStore, other: str) -> None:
    mine, theirs = sim_of(cached, tenant=TENANT), sim_of(cached, tenant=other)
    p = mine.catalog.add_product("T-1", "Mine", "1.00")
    q = theirs.catalog.add_product("T-1", "Theirs", "1.00")
    for _ in range(2):
        assert mine.catalog.get_product_by_sku("T-1").name == "Mine"
        assert theirs.catalog.get_product_by_sku("T-1").name == "Theirs"
        assert theirs.catalog.get_product(q.id).name == "Theirs"
        with pytest.raises(DomainError):
            theirs.catalog.get_product(p.id)


# -- a cache that does not answer -------------------------------------------------------------


def test_a_redis_that_does_not_answer_is_refused_at_open_with_a_stable_code(db: str) -> None:
    inner = open_store(db)
    try:
        with pytest.raises(CacheUnavailable) as caught:
            cached_store(inner, "redis://127.0.0.1:1/0")
    finally:
        inner.close()
    assert caught.value.code == "cache_unavailable" and caught.value.field == "cache"
    assert "127.0.0.1:1" in caught.value.message


class FlakyCache(MemoryCache):
    """A memory cache that can be switched off, like a Redis that went away mid-session."""

    down = False

    def _check(self) -> None:
        if self.down:
            raise CacheUnavailable("down")

    def lookup(self, *args: Any) -> Any:
        self._check()
        return super().lookup(*args)

    def get(self, *args: Any) -> Any:
        self._check()
        return super().get(*args)

    def set_if_current(self, *args: Any) -> bool:
        self._check()
        return super().set_if_current(*args)

    def bump(self, scope: str) -> int:
        self._check()
        return super().bump(scope)


def test_when_the_cache_goes_away_reads_go_to_the_store_and_a_missed_bump_is_made_up(db: str) -> None:
    cache = FlakyCache()
    store = CachedStore(open_store(db), cache)
    try:
        sim = sim_of(store)
        product = sim.catalog.add_product("F-1", "Before", "1.00")
        sim.catalog.get_product(product.id)
        cache.down = True
        updated = sim.catalog.update_product(product.id, product.version, name="After")  # the bump fails
        assert sim.catalog.get_product(product.id) == updated  # read from the store
        assert store.cache_stats()["errors"] >= 2
        cache.down = False
        assert sim.catalog.get_product(product.id) == updated  # the bump is made before the cache is used again
        assert sim.catalog.get_product(product.id) == updated
        assert store.cache_stats()["hits"] >= 1
    finally:
        store.close()


# -- specs, the CLI ---------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["bogus", "memory://?ttl=0", "memory://?ttl=abc", "memory://?size=0",
                                  "memory://?colour=red", "memory://host", "redis://127.0.0.1:6379/0?pool=3",
                                  "memory://?ttl=nan", "memory://?ttl=100000"])
def test_a_bad_cache_spec_is_a_validation_error(spec: str) -> None:
    with pytest.raises(DomainError) as caught:
        open_cache(spec)
    assert caught.value.code == "validation" and caught.value.field == "cache"


@pytest.mark.parametrize("spec", ["off", "", "none", " OFF "])
def test_off_means_no_cache(db: str, spec: str) -> None:
    store = open_store(db)
    try:
        assert cached_store(store, spec) is store
    finally:
        store.close()


def test_the_memory_cache_takes_a_ttl_and_a_size() -> None:
    cache = open_cache("memory://?ttl=2.5&size=3")
    assert isinstance(cache, MemoryCache) and (cache.ttl, cache.size) == (2.5, 3)
    for n in range(5):
        cache.set_if_current("g", 0, f"k{n}", n, None, 10)  # type: ignore[arg-type]
    assert [cache.get(f"k{n}", None) for n in range(5)] == [MISSING, MISSING, 2, 3, 4]  # type: ignore[arg-type]


def _cli(db: str, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([STOCKBANK, "--db", db, "--tenant", TENANT, *argv], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})


def test_cli_cache_stats_shows_every_process_hit_ratio_with_redis(db: str) -> None:
    require_redis()
    assert _cli(db, "account", "open", "Alice", "--opening-balance", "5.00").returncode == 0
    for _ in range(3):
        assert _cli(db, "--cache", REDIS_URL, "account", "list").returncode == 0
    done = _cli(db, "--json", "cache", "stats", env={"STOCKBANK_CACHE": REDIS_URL})
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)["cache"]
    assert data["shared"] is True and data["backend"] == REDIS_URL
    assert (data["all_processes"]["hits"], data["all_processes"]["misses"]) == (2, 1)
    text = _cli(db, "--cache", REDIS_URL, "cache", "stats").stdout
    assert "hit ratio 66.7%" in text and f"tenant {TENANT}: generation" in text
    cleared = _cli(db, "--cache", REDIS_URL, "--json", "cache", "clear")
    assert json.loads(cleared.stdout)["tenants"] == 1


def test_cli_without_a_cache_says_it_is_off_and_a_dead_redis_is_refused(db: str) -> None:
    assert "cache: off" in _cli(db, "cache", "stats").stdout
    done = _cli(db, "--cache", "redis://127.0.0.1:1/0", "account", "list")
    assert done.returncode == 1
    assert done.stderr.startswith("error [cache_unavailable]: cannot reach the cache at redis://127.0.0.1:1/0")
    done = _cli(db, "account", "list", env={"STOCKBANK_CACHE": "nonsense"})
    assert done.returncode == 1 and "error [validation]: cache 'nonsense'" in done.stderr


# -- threads ----------------------------------------------------------------------------------


def test_readers_in_threads_converge_on_the_last_committed_write(cached: CachedStore) -> None:
    sim = sim_of(cached)
    product = sim.catalog.add_product("TH-1", "v0", "1.00")
    stop = threading.Event()
    errors: list[BaseException] = []

    def read() -> None:
        reader = sim_of(cached, "reader")
        try:
            while not stop.is_set():
                reader.catalog.get_product(product.id)
                reader.bank.accounts()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    current = product
    for n in range(1, 30):
        current = sim.catalog.update_product(current.id, current.version, name=f"v{n}")
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert sim_of(cached, "reader").catalog.get_product(product.id) == current
