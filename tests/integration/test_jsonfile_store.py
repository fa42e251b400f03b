"""The JSON-file store's own promises, beyond the contract suite: the file holds exactly what its
durability trade-off says (the first floor(k/N)*N of k write units of work after a kill -9 without
auto-save; everything once the auto-save interval has passed; everything after close), it is never
torn or inconsistent while threads commit, a reload gives back identical state, and a damaged file is
refused, never reset."""

from __future__ import annotations

import errno
import json
import os
import random
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import pytest

from domain import Simulator
from domain.clock import FixedClock
from domain.errors import DomainError
from domain.model.bank import RateLimit
from storage import open_store
from storage.jsonfile import JsonFileStore, codec
from storage.jsonfile import store as jsonfile_store
from storage.memory import MemoryStore
from tests.integration.kill9 import kill_at_random

TENANT = "t1"
UNLIMITED = RateLimit(10**9, 60)


def url_of(path: Path, **options: object) -> str:
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return f"jsonfile:///{path}" + (f"?{query}" if query else "")


def on_disk(path: Path) -> dict[str, Any]:
    """The tenants the file holds right now, decoded as the store would (never the store's memory)."""
    return codec.decode(path.read_bytes(), MemoryStore()._ids)[1]


def skus_on_disk(path: Path, tenant: str = TENANT) -> list[str]:
    data = on_disk(path).get(tenant)
    return [] if data is None else [p.sku for p in sorted(data.products.values(), key=lambda p: p.id)]


def canonical(value: Any) -> Any:
    """A comparable form that keeps every type: a tuple read back as a list, an int as a bool, or a
    NamedTuple as a plain tuple would all differ."""
    kind = type(value).__name__
    if isinstance(value, dict):
        return kind, frozenset((canonical(k), canonical(v)) for k, v in value.items())
    if isinstance(value, (set, frozenset)):
        return kind, frozenset(canonical(v) for v in value)
    if isinstance(value, (list, tuple)):
        return kind, tuple(canonical(v) for v in value)
    if is_dataclass(value):
        return kind, tuple(canonical(getattr(value, f.name)) for f in fields(value))
    return kind, value


# -- the format ------------------------------------------------------------------------------------


def test_every_tenant_data_field_has_a_codec() -> None:
    codec.check_codecs()


def test_a_reload_after_close_gives_back_identical_state(tmp_path: Path) -> None:
    path = tmp_path / "shop.json"
    store = open_store(url_of(path))
    sim = Simulator(store, actor="tester", tenant=TENANT, clock=FixedClock(), rate_limit=UNLIMITED)
    from tui_app.bootstrap import seed_demo

    seed_demo(sim, products=30)
    sim.simulation.advance(3, seed=5)
    sim.bank.transfer("Alice", "Shop", "1.25", memo="pending one", pending=True, idempotency_key="p-1")
    first = store._tenants[TENANT].products[1]
    sim.catalog.delete_product(first.id, first.version)  # soft delete: deleted_at set
    blob = bytes(range(256)) * 3 + b"\x00"
    attachment = sim.attachments.attach(store._tenants[TENANT].products[2].sku, "scan.bin", blob)
    sim.lifecycle.archive("2026-01-01T09:00:30")
    other = Simulator(store, actor="other", tenant="t2 — ünïcode \U0001f600", clock=FixedClock())
    other.catalog.add_product(sku="X-1", name="Snowman \u2603", price="0.01")
    assert store._tenants[TENANT].archived_transfers and store._tenants[TENANT].audit_archive
    assert store._tenants[TENANT].levels and store._tenants[TENANT].planning and store._tenants[TENANT].game
    before_ids, before = dict(store._ids), canonical(store._tenants)
    store.close()

    again = open_store(url_of(path))
    try:
        assert again.created is False
        assert again._ids == before_ids
        assert canonical(again._tenants) == before
        sim = Simulator(again, actor="tester", tenant=TENANT, clock=FixedClock())
        assert sim.check().ok and sim.audit.verify().ok
        assert sim.attachments.read(attachment.id) == blob
        assert sim.catalog.add_product(sku="NEW-1", name="New", price="1").id == before_ids["product"] + 1
    finally:
        again.close()


def test_a_missing_file_is_a_new_empty_store_that_exists_from_then_on(tmp_path: Path) -> None:
    path = tmp_path / "new.json"
    store = open_store(url_of(path))
    assert store.created is True and path.exists() and on_disk(path) == {}
    store.close()
    store = open_store(url_of(path))
    assert store.created is False
    store.close()


# -- batch saving ----------------------------------------------------------------------------------


def test_the_file_is_written_by_every_nth_write_unit_of_work_and_not_before(tmp_path: Path) -> None:
    path = tmp_path / "shop.json"
    store = open_store(url_of(path, batch=3, interval=0))
    sim = Simulator(store, actor="tester", tenant=TENANT, clock=FixedClock())
    try:
        sim.catalog.add_product(sku="A-1", name="a", price="1")
        sim.catalog.add_product(sku="A-2", name="b", price="1")
        assert skus_on_disk(path) == [] and store.pending == 2
        # reads and refusals (rolled back) are not write units of work
        sim.catalog.count_products()
        with pytest.raises(DomainError):
            sim.catalog.add_product(sku="A-1", name="again", price="1")
        with store.unit_of_work(TENANT, write=True) as uow:
            uow.products.get_by_sku("A-1")
            uow.commit()
        assert store.pending == 2 and skus_on_disk(path) == []
        sim.catalog.add_product(sku="A-3", name="c", price="1")
        assert skus_on_disk(path) == ["A-1", "A-2", "A-3"] and store.pending == 0
        sim.catalog.add_product(sku="A-4", name="d", price="1")
        assert skus_on_disk(path) == ["A-1", "A-2", "A-3"] and store.pending == 1
    finally:
        store.close()
    assert skus_on_disk(path) == ["A-1", "A-2", "A-3", "A-4"]


def test_a_unit_of_work_that_writes_many_rows_counts_once(tmp_path: Path) -> None:
    path = tmp_path / "shop.json"
    store = open_store(url_of(path, batch=2, interval=0))
    try:
        with store.unit_of_work(TENANT, write=True) as uow:
            uow.categories.add("One", None)
            uow.categories.add("Two", None)
            uow.commit()
        assert store.pending == 1 and on_disk(path).get(TENANT) is None
    finally:
        store.close()


SETTLE = """
import sys, time
from domain import Simulator
from storage import open_store

url, k = sys.argv[1], int(sys.argv[2])
store = open_store(url)
sim = Simulator(store, actor="child", tenant="t1")
for n in range(1, k + 1):
    sim.catalog.add_product(sku=f"P-{n}", name=f"Product {n}", price="1.00")
sys.stdout.write(f"committed {k}, pending {store.pending}\\n")
sys.stdout.flush()
time.sleep(600)  # acknowledged everything; wait for the kill -9
"""


@pytest.mark.parametrize("k", [1, 4, 5, 6, 10, 13])
def test_kill_9_after_k_write_units_of_work_keeps_exactly_the_first_full_batches(tmp_path: Path, k: int) -> None:
    n = 5
    path = tmp_path / "shop.json"
    lines = kill_at_random(SETTLE, [url_of(path, batch=n, interval=0), str(k)], random.Random(k))
    assert lines == [f"committed {k}, pending {k % n}"]

    survivors = (k // n) * n
    store = open_store(url_of(path))
    try:
        sim = Simulator(store, actor="tester", tenant=TENANT)
        assert [p.sku for p in sim.catalog.find_products(limit=100)] == sorted(f"P-{i}" for i in range(1, survivors + 1))
        assert sim.check().ok and sim.audit.verify().ok
        assert not list(tmp_path.glob(".shop.json.tmp-*"))
    finally:
        store.close()


DRILL = """
import sys
from domain import Simulator
from domain.model.bank import RateLimit
from storage import open_store

url, run = sys.argv[1], sys.argv[2]
sim = Simulator(open_store(url), actor="drill", tenant="t1", rate_limit=RateLimit(10**9, 60))
n = 0
while True:
    n += 1
    sim.catalog.add_product(sku=f"{run}-{n:06d}", name="drill", price="0.01")
    sys.stdout.write(f"product {n}\\n")  # acknowledged: the call returned
    sys.stdout.flush()
    sim.bank.transfer("Alice", "Shop", "0.01", idempotency_key=f"{run}-{n:06d}")
    sys.stdout.write(f"transfer {n}\\n")
    sys.stdout.flush()
"""


def test_kill_9_at_random_loses_only_the_unfinished_batch_and_never_tears_the_file(tmp_path: Path) -> None:
    n = 5  # a product, then a transfer: batches end on either
    path = tmp_path / "drill.json"
    url = url_of(path, batch=n, interval=0)
    sim = Simulator(open_store(url), actor="drill", tenant=TENANT)
    sim.bank.open_account("Alice", "customer", opening_balance="100000.00")
    sim.bank.open_account("Shop", "shop")
    sim.store.close()
    rng = random.Random(os.environ.get("DRILL_SEED", time.time_ns()))
    for run in range(6):
        units = len(kill_at_random(DRILL, [url, f"R{run}"], rng))  # acknowledged write units of work
        store = open_store(url)
        try:
            sim = Simulator(store, actor="drill", tenant=TENANT)
            assert sim.check().ok, run
            skus = sorted(s for s in (p.sku for p in store._tenants[TENANT].products.values()) if s.startswith(f"R{run}-"))
            keys = sorted(k for k in store._tenants[TENANT].transfer_keys if k.startswith(f"R{run}-"))
            stored = len(skus) + len(keys)
        finally:
            store.close()
        assert skus == [f"R{run}-{i:06d}" for i in range(1, len(skus) + 1)], "a prefix of what was committed"
        assert keys == skus[:len(keys)] and len(skus) - len(keys) in (0, 1), "in the order committed"
        assert stored % n == 0, (run, stored)
        # at most n-1 acknowledged ones lost; at most the one in flight stored but not acknowledged
        assert units - (n - 1) <= stored <= units + 1, (run, units, stored)


# -- the auto-save thread --------------------------------------------------------------------------


IDLE = """
import json, sys, time
from domain import Simulator
from storage import open_store

url, path, wait_for_disk = sys.argv[1], sys.argv[2], sys.argv[3] == "yes"
store = open_store(url)
sim = Simulator(store, actor="child", tenant="t1")
for n in range(1, 4):
    sim.catalog.add_product(sku=f"P-{n}", name=f"Product {n}", price="1.00")
deadline = time.monotonic() + 50
while wait_for_disk and time.monotonic() < deadline:
    products = json.loads(open(path, "rb").read())["tenants"].get("t1", {}).get("products", {}).get("rows", {})
    if len(products) == 3:
        break
    time.sleep(0.01)
else:
    if wait_for_disk:
        sys.exit("the auto-save thread never wrote the file")
sys.stdout.write("acknowledged\\n")
sys.stdout.flush()
time.sleep(600)
"""


def test_with_an_interval_the_changes_survive_a_kill_once_it_has_passed(tmp_path: Path) -> None:
    path = tmp_path / "shop.json"
    lines = kill_at_random(IDLE, [url_of(path, batch=0, interval=0.2), str(path), "yes"], random.Random(1))
    assert lines == ["acknowledged"]
    assert skus_on_disk(path) == ["P-1", "P-2", "P-3"]


def test_before_the_interval_has_passed_a_kill_loses_the_pending_changes(tmp_path: Path) -> None:
    path = tmp_path / "shop.json"
    lines = kill_at_random(IDLE, [url_of(path, batch=0, interval=3600), str(path), "no"], random.Random(2))
    assert lines == ["acknowledged"]
    assert skus_on_disk(path) == []  # acknowledged, never written: what the trade-off says a crash may lose


def test_the_auto_save_thread_writes_pending_changes_and_stops_on_close(tmp_path: Path) -> None:
    path = tmp_path / "shop.json"
    store = open_store(url_of(path, batch=0, interval=0.05))
    assert isinstance(store, JsonFileStore)
    sim = Simulator(store, actor="tester", tenant=TENANT, clock=FixedClock())
    sim.catalog.add_product(sku="A-1", name="a", price="1")
    deadline = time.monotonic() + 30
    while store.pending and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.pending == 0 and skus_on_disk(path) == ["A-1"]
    saver = store._saver
    assert saver is not None and saver.is_alive()
    store.close()
    assert not saver.is_alive()


# -- threads ---------------------------------------------------------------------------------------


@pytest.fixture
def eager_thread_switches() -> Iterator[None]:
    """Switch threads every 0.1 ms, not every 5 ms: interleavings that a lock must prevent happen."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    yield
    sys.setswitchinterval(previous)


def test_threads_committing_at_once_lose_no_update_and_every_file_written_is_consistent(
    tmp_path: Path, eager_thread_switches: None
) -> None:
    threads, steps = 8, 40
    path = tmp_path / "shop.json"
    store = open_store(url_of(path, batch=3, interval=0.001))
    setup = Simulator(store, actor="setup", tenant=TENANT, rate_limit=UNLIMITED)
    for t in range(threads):
        setup.bank.open_account(f"C{t}", "customer", opening_balance="100.00")
    setup.bank.open_account("Shop", "shop")
    errors: list[BaseException] = []
    seen: list[int] = []
    done = threading.Event()

    def work(t: int) -> None:
        sim = Simulator(store, actor=f"w{t}", tenant=TENANT, rate_limit=UNLIMITED)
        try:
            for s in range(steps):
                sim.bank.transfer(f"C{t}", "Shop", "0.01", idempotency_key=f"w{t}-{s}")
                sim.catalog.add_product(sku=f"W{t}-{s}", name=f"w{t} {s}", price="1.00")
        except BaseException as e:  # noqa: BLE001 (reported by the assertion below)
            errors.append(e)

    def read_the_file() -> None:
        """Every version of the file a reader can see is a whole, consistent set of books."""
        try:
            while True:
                finished = done.is_set()  # one more read after the writers finished, at least
                ids, tenants = codec.decode(path.read_bytes(), MemoryStore()._ids)
                copy = MemoryStore()
                copy._ids, copy._tenants = ids, tenants
                report = Simulator(copy, actor="reader", tenant=TENANT).check()
                assert report.ok, report.problems
                seen.append(len(tenants[TENANT].transfers))
                if finished:
                    return
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    reader = threading.Thread(target=read_the_file)
    reader.start()
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    done.set()
    reader.join(120)
    store.close()
    assert not errors, errors[:3]
    assert len(seen) >= 2 and seen == sorted(seen), "the file only ever moves forward"

    again = open_store(url_of(path))
    try:
        sim = Simulator(again, actor="tester", tenant=TENANT)
        assert sim.check().ok and sim.audit.verify().ok
        balances = {a.name: a.balance for a in sim.bank.accounts()}
        balances.pop("Cash EUR")  # the system account the opening balances came from
        assert balances == {**{f"C{t}": 100_00 - steps for t in range(threads)}, "Shop": threads * steps}
        assert sim.catalog.count_products() == threads * steps
        assert {k for k in again._tenants[TENANT].transfer_keys if k.startswith("w")} == {
            f"w{t}-{s}" for t in range(threads) for s in range(steps)}
    finally:
        again.close()


# -- refusals --------------------------------------------------------------------------------------


def _valid_file(tmp_path: Path) -> Path:
    path = tmp_path / "shop.json"
    sim = Simulator(open_store(url_of(path)), actor="tester", tenant=TENANT, clock=FixedClock())
    sim.catalog.add_product(sku="HAM-1", name="Hammer", price="12.50")
    sim.attachments.attach("HAM-1", "a.bin", b"bytes")
    sim.store.close()
    return path


def _edit(path: Path, change) -> bytes:
    doc = json.loads(path.read_bytes())
    change(doc)
    return json.dumps(doc).encode()


def _product_row(doc: dict) -> list:
    return doc["tenants"][TENANT]["products"]["rows"]["1"]


def _price_column(doc: dict) -> int:
    return doc["tenants"][TENANT]["products"]["columns"].index("price_minor")


DAMAGE = {
    "truncated": lambda path: path.read_bytes()[: len(path.read_bytes()) // 2],
    "garbage": lambda path: b"\x00\xffnot json at all",
    "empty": lambda path: b"",
    "someone else's JSON": lambda path: b'{"hello": "world"}',
    "a list": lambda path: b"[]",
    "a float for money": lambda path: _edit(path, lambda d: _product_row(d).__setitem__(_price_column(d), 12.5)),
    "text for an id": lambda path: _edit(path, lambda d: d["tenants"][TENANT]["sku_index"].update({"HAM-1": "1"})),
    "a missing field": lambda path: _edit(path, lambda d: d["tenants"][TENANT].pop("transfers")),
    "an unknown column": lambda path: _edit(path, lambda d: d["tenants"][TENANT]["products"]["columns"].append("colour")),
    "a missing column": lambda path: _edit(path, lambda d: d["tenants"][TENANT]["products"]["columns"].remove("sku")),
    "a row too long": lambda path: _edit(path, lambda d: _product_row(d).append(1)),
    "a counter behind the data": lambda path: _edit(path, lambda d: d["ids"].update(product=0)),
    "bad base64": lambda path: _edit(path, lambda d: d["tenants"][TENANT]["attachment_content"].update({"1": "@@"})),
    "a bad key": lambda path: _edit(path, lambda d: d["tenants"][TENANT]["products"].update(rows={"01": []})),
    "no version": lambda path: _edit(path, lambda d: d.pop("version")),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_file_is_corrupt_and_left_as_it_is(tmp_path: Path, damage: str) -> None:
    path = _valid_file(tmp_path)
    damaged = DAMAGE[damage](path)
    path.write_bytes(damaged)
    for _ in range(2):  # the failed open let go of the file: the second one is refused the same way
        with pytest.raises(DomainError) as info:
            open_store(url_of(path))
        assert info.value.code == "corrupt", info.value
        assert str(path) in info.value.message
    assert path.read_bytes() == damaged  # never silently reset


def test_columns_in_another_order_or_without_an_optional_one_read_the_same(tmp_path: Path) -> None:
    path = _valid_file(tmp_path)
    store = open_store(url_of(path))
    expected = canonical(store._tenants)
    store.close()

    def shuffle(doc: dict) -> None:
        products = doc["tenants"][TENANT]["products"]
        order = list(reversed(products["columns"]))
        order.remove("deleted_at")  # optional: a file without it means "not deleted"
        rows = {k: dict(zip(products["columns"], v)) for k, v in products["rows"].items()}
        products["columns"], products["rows"] = order, {k: [r[c] for c in order] for k, r in rows.items()}

    path.write_bytes(_edit(path, shuffle))
    store = open_store(url_of(path))
    try:
        assert canonical(store._tenants) == expected
    finally:
        store.close()


def test_a_file_of_a_newer_format_version_is_unsupported(tmp_path: Path) -> None:
    path = _valid_file(tmp_path)
    path.write_bytes(_edit(path, lambda d: d.update(version=codec.VERSION + 1)))
    with pytest.raises(DomainError) as info:
        open_store(url_of(path))
    assert info.value.code == "unsupported_version"
    assert f"version {codec.VERSION + 1}" in info.value.message


def test_the_same_file_opened_twice_is_busy_until_the_first_store_closes(tmp_path: Path) -> None:
    path = tmp_path / "shop.json"
    first = open_store(url_of(path))
    with pytest.raises(DomainError) as info:
        open_store(url_of(path))
    assert info.value.code == "busy"
    first.close()
    open_store(url_of(path)).close()


def test_a_store_dropped_without_close_lets_go_of_the_file(tmp_path: Path) -> None:
    import gc

    path = tmp_path / "shop.json"
    store = open_store(url_of(path, interval=0.01))
    saver = store._saver
    del store
    gc.collect()
    open_store(url_of(path)).close()
    assert saver is not None
    saver.join(30)  # it holds the store weakly and ends once the store is gone
    assert not saver.is_alive()


@pytest.mark.parametrize("query", ["batch=x", "batch=-1", "interval=soon", "interval=nan", "interval=-1", "colour=red"])
def test_bad_url_options_are_refused(tmp_path: Path, query: str) -> None:
    with pytest.raises(DomainError) as info:
        open_store(f"jsonfile:///{tmp_path / 'shop.json'}?{query}")
    assert info.value.code == "validation"
    assert not (tmp_path / "shop.json").exists()


def test_a_failed_write_refuses_the_commit_keeps_it_pending_and_close_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "shop.json"
    store = open_store(url_of(path, batch=2, interval=0))
    sim = Simulator(store, actor="tester", tenant=TENANT, clock=FixedClock())
    real = jsonfile_store.replace_file

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(jsonfile_store, "replace_file", disk_full)
    sim.catalog.add_product(sku="A-1", name="a", price="1")
    with pytest.raises(DomainError) as info:  # the batch write failed: not acknowledged
        sim.catalog.add_product(sku="A-2", name="b", price="1")
    assert info.value.code == "storage" and "No space left" in info.value.message
    assert store.pending == 2 and store.last_write_error is not None
    assert sim.catalog.get_product_by_sku("A-2").sku == "A-2"  # kept in memory
    with pytest.raises(DomainError):
        store.close()  # refuses to drop what is pending
    assert skus_on_disk(path) == []
    monkeypatch.setattr(jsonfile_store, "replace_file", real)
    store.close()  # retried
    assert store.pending == 0 and skus_on_disk(path) == ["A-1", "A-2"]


def test_temp_files_left_by_a_crash_are_removed_on_open(tmp_path: Path) -> None:
    path = _valid_file(tmp_path)
    stale = tmp_path / ".shop.json.tmp-abc123"
    stale.write_bytes(b'{"format": half')
    open_store(url_of(path)).close()
    assert not stale.exists()


def test_save_slots_live_next_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "shop.json"
    store = open_store(url_of(path))
    try:
        sim = Simulator(store, actor="tester", tenant=TENANT, clock=FixedClock())
        sim.catalog.add_product(sku="A-1", name="a", price="1")
        info = sim.saves.save("one")
        assert Path(info.path).parent == tmp_path / "shop.json.saves" / TENANT
    finally:
        store.close()
