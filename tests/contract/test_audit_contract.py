"""The audit contract: every mutation appends exactly one hash-chained entry per change, in the
change's own transaction, by the Simulator's actor; the log pages newest first with every filter
(live and archived entries alike); its times strictly increase per tenant whatever the clock does;
the chain verifies on every adapter and, on SQLite, finds the first entry someone edited, removed
or reordered with raw SQL; a failure between the change and the commit leaves neither the change
nor its entry; and no entry ever crosses tenants.

The `store`/`sim` fixtures are parametrized over every adapter (tests/conftest.py); the tamper
tests edit a real SQLite file and use the `sqlite_url` fixture.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from domain import Simulator
from domain.audit_chain import GENESIS, chained_entry, entry_hash
from domain.clock import FixedClock, just_after
from domain.errors import Busy, DomainError
from domain.model import AuditEntry, AuditQuery, ProductQuery
from domain.ports import Store
from domain.services.audit import PAGE_MAX, entry_changes
from domain.services.context import ServiceContext
from storage import open_store
from tests.conftest import STORE_FACTORIES, fresh_store_url  # one store factory per adapter

TENANT = "t1"  # the tenant of the `sim` fixture
START = datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)
EVERYTHING = ProductQuery(include_inactive=True, deleted=None)


# -- helpers ----------------------------------------------------------------------------------


def chain(sim: Simulator) -> list[AuditEntry]:
    """Every entry of the tenant, archived and live, in id (chain) order."""
    with sim.store.unit_of_work(sim.tenant) as uow:
        return list(uow.audit.stream())


def world(sim: Simulator) -> dict[str, Any]:
    """Everything the tenant keeps, soft-deleted records and both ledgers included, read in one
    transaction: a failed or refused call must leave all of it as it was."""
    with sim.store.unit_of_work(sim.tenant) as uow:
        listed = uow.products.find(EVERYTHING, None, 10_000)
        return {
            "categories": uow.categories.list(),
            "products": [uow.products.get(p.id) for p in listed],
            "stock_rows": uow.stock.rows(EVERYTHING, None, 10_000),
            "accounts": uow.accounts.list(include_deleted=True),
            "transfers": list(uow.transfers.stream()),
            "moves": list(uow.stock.stream_moves()),
            "levels": sorted(uow.stock.all_levels()),
            "locations": uow.locations.list(),
            "game": uow.game.get(),
            "users": sorted(u.name for u in uow.users.list()),
            "audit": list(uow.audit.stream()),
            "live_audit": [e.id for e in uow.audit.latest(100_000)],
        }


def users(sim: Simulator) -> set[str]:
    with sim.store.unit_of_work(sim.tenant) as uow:
        return {u.name for u in uow.users.list()}


def all_pages(sim: Simulator, query: AuditQuery, limit: int) -> list[list[AuditEntry]]:
    """Keyset pages of `limit`, newest first, until an empty page."""
    pages: list[list[AuditEntry]] = []
    before: int | None = None
    while page := sim.audit.entries(query, before_id=before, limit=limit):
        assert len(page) <= limit
        pages.append(page)
        before = page[-1].id
        assert len(pages) < 1000, "paging never ends"
    return pages


def assert_chain_is_sound(entries: list[AuditEntry]) -> None:
    """Each entry links to the one before it (the first to GENESIS), its hash covers its fields,
    and its time is strictly after the previous one's."""
    prev, last_at = GENESIS, ""
    for e in entries:
        assert e.prev_hash == prev, f"entry {e.id} does not link to the entry before it"
        assert e.hash == entry_hash(prev, e.at, e.actor, e.entity, e.entity_id, e.action, e.before, e.after,
                                    e.request_key), f"entry {e.id}'s hash does not cover its fields"
        assert e.at > last_at, f"entry {e.id} at {e.at} is not after {last_at}"
        prev, last_at = e.hash, e.at


class ScriptedClock:
    """A clock that returns the given moments in turn (the last one for ever after)."""

    def __init__(self, moments: list[datetime]):
        self._moments = list(moments)

    def now(self) -> datetime:
        return self._moments.pop(0) if len(self._moments) > 1 else self._moments[0]


class BackwardsClock:
    """A clock that steps back a fixed amount on every reading."""

    def __init__(self, start: datetime = START, step: timedelta = timedelta(minutes=7)):
        self._now = start
        self._step = step

    def now(self) -> datetime:
        current = self._now
        self._now -= self._step
        return current


@pytest.fixture
def shop(sim: Simulator) -> dict[str, int]:
    """A small shop: Apple (10 on hand, cost 1.20), the Shop account with 100.00, the customer
    Carol with 50.00 and the supplier Acme."""
    apple = sim.catalog.add_product("APL-1", "Apple", "2.00", quantity=10)
    sim.inventory.set_planning(apple.id, cost="1.20")
    return {
        "apple": apple.id,
        "shop": sim.bank.open_account("Shop", kind="shop", opening_balance="100.00").id,
        "carol": sim.bank.open_account("Carol", kind="customer", opening_balance="50.00").id,
        "acme": sim.bank.open_account("Acme", kind="supplier").id,
    }


def busy_shop(sim: Simulator) -> None:
    """A mix of catalog, bank, inventory and simulation writes (deterministic)."""
    sim.catalog.add_category("Tools")
    sim.catalog.add_category("Hand tools", parent="Tools")
    ham = sim.catalog.add_product("HAM-1", "Hammer", "12.50", category="Hand tools", quantity=20)
    saw = sim.catalog.add_product("SAW-1", "Saw", "30.00", category="Tools", quantity=4)
    sim.catalog.update_product(ham.id, 1, price="13.00")
    sim.inventory.set_planning(ham.id, cost="6.00", reorder_level=5)
    sim.inventory.set_planning(saw.id, cost="15.00", reorder_level=2)
    shop = sim.bank.open_account("Shop", kind="shop", opening_balance="500.00")
    alice = sim.bank.open_account("Alice", opening_balance="200.00")
    sim.bank.open_account("Bob", opening_balance="80.00")
    acme = sim.bank.open_account("Acme", kind="supplier")
    sim.bank.transfer(alice.id, shop.id, "10.00", memo="tip")
    held = sim.bank.transfer(alice.id, shop.id, "5.00", pending=True)
    sim.bank.post(held.id, "3.00")
    sim.inventory.add_location("Shelf")
    sim.inventory.move_stock(ham.id, 5, "Warehouse", "Shelf")
    sim.inventory.sell(ham.id, 2, alice.id, location="Shelf")
    sim.inventory.purchase(saw.id, 3, acme.id, lead_days=2)
    sim.inventory.scrap(saw.id, 1)
    sim.simulation.advance(3, seed=5)
    sim.bank.rename_account(acme.id, sim.bank.get_account(acme.id).version, "Acme Ltd")


# -- the chain ----------------------------------------------------------------------------------


def test_the_chain_verifies_after_a_mix_of_catalog_bank_inventory_and_simulation_writes(sim: Simulator) -> None:
    busy_shop(sim)
    entries = chain(sim)
    assert {e.entity for e in entries} >= {"category", "product", "account", "transfer", "location", "stock_move", "game"}
    assert_chain_is_sound(entries)
    report = sim.audit.verify()
    assert report.ok and report.broken_id is None and report.problem == ""
    assert report.checked == len(entries)
    assert sim.check().ok


def test_an_empty_log_verifies_with_nothing_checked(sim: Simulator) -> None:
    report = sim.audit.verify()
    assert report.ok and report.checked == 0


def test_verify_reports_progress_every_ten_thousand_entries(sim: Simulator) -> None:
    sim.catalog.add_product("A-1", "A", "1.00")
    seen: list[int] = []
    assert sim.audit.verify(progress=seen.append).ok
    assert seen == []  # fewer than 10,000 entries: no progress calls


def test_the_first_entry_links_to_genesis_and_each_next_one_to_the_previous_hash(sim: Simulator) -> None:
    first = sim.catalog.add_category("Tools")
    sim.catalog.update_category(first.id, 1, name="Tools & more")
    a, b = chain(sim)
    assert a.prev_hash == GENESIS and b.prev_hash == a.hash
    assert len(a.hash) == 64 and a.hash != b.hash
    assert sim.audit.entry(b.id) == b


# -- paging and filters ---------------------------------------------------------------------------


def build_log(store: Store) -> tuple[Simulator, Simulator]:
    """Two actors on one tenant writing ~70 entries over several days (the clock moves an hour per
    reading), with products named Widget/Gadget and a transfer memo holding LIKE's wildcards."""
    clock = FixedClock(START, timedelta(hours=1))
    alice = Simulator(store, actor="alice", tenant=TENANT, clock=clock)
    bob = Simulator(store, actor="bob", tenant=TENANT, clock=clock)
    shop = alice.bank.open_account("Shop", kind="shop", opening_balance="1000.00")
    cust = bob.bank.open_account("Cust", opening_balance="1000.00")
    for n in range(1, 13):
        who = alice if n % 2 else bob
        p = who.catalog.add_product(f"WID-{n}", f"Widget {n}", f"{n}.00")
        who.catalog.update_product(p.id, 1, price=f"{n}.50")
        who.bank.transfer(cust.id, shop.id, f"{n}.00", memo=f"order {n}", idempotency_key=f"Order-Key-{n}")
        if n % 3 == 0:
            who.catalog.add_product(f"GAD-{n}", f"Gadget {n}", "9.99")
    bob.bank.transfer(cust.id, shop.id, "1.00", memo="50% off_sale")
    alice.bank.transfer(cust.id, shop.id, "1.00", memo="500 offXsale")
    return alice, bob


@pytest.fixture(scope="module", params=list(STORE_FACTORIES))
def log(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    """build_log() once per adapter for the tests that only read it (the clock is fixed, so every
    adapter's log holds the same entries)."""
    store = open_store(fresh_store_url(request.param, tmp_path_factory.mktemp("log")))
    alice, _bob = build_log(store)
    yield alice
    store.close()


def expected(entries: list[AuditEntry], keep: Callable[[AuditEntry], bool]) -> list[AuditEntry]:
    """The entries a filter should show, newest first, computed here from first principles."""
    return [e for e in sorted(entries, key=lambda e: -e.id) if keep(e)]


def at(entry: AuditEntry) -> datetime:
    return datetime.strptime(entry.at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def day(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)


def _text_hit(e: AuditEntry, needle: str) -> bool:
    return any(needle.lower() in v.lower() for v in (e.entity_id, e.before, e.after, e.request_key) if v)


FILTERS: dict[str, tuple[AuditQuery, Callable[[AuditEntry], bool]]] = {
    "none": (AuditQuery(), lambda e: True),
    "actor": (AuditQuery(actor="bob"), lambda e: e.actor == "bob"),
    "entity": (AuditQuery(entity="product"), lambda e: e.entity == "product"),
    "action": (AuditQuery(action="update"), lambda e: e.action == "update"),
    "since a date": (AuditQuery(since="2026-01-03"), lambda e: at(e) >= day("2026-01-03")),
    "until a date (inclusive)": (AuditQuery(until="2026-01-02"), lambda e: at(e) < day("2026-01-03")),
    "a date range": (AuditQuery(since="2026-01-02", until="2026-01-03"),
                     lambda e: day("2026-01-02") <= at(e) < day("2026-01-04")),
    "a range of hours": (AuditQuery(since="2026-01-02T06:00", until="2026-01-03 18"),
                         lambda e: datetime(2026, 1, 2, 6, tzinfo=timezone.utc) <= at(e)
                         < datetime(2026, 1, 3, 19, tzinfo=timezone.utc)),
    "text, case-insensitive": (AuditQuery(text="WIDGET"), lambda e: _text_hit(e, "widget")),
    "text in a request key": (AuditQuery(text="order-key"), lambda e: _text_hit(e, "order-key")),
    "actor + entity + since": (AuditQuery(actor="alice", entity="transfer", since="2026-01-01T12"),
                               lambda e: e.actor == "alice" and e.entity == "transfer"
                               and at(e) >= datetime(2026, 1, 1, 12, tzinfo=timezone.utc)),
}


@pytest.mark.parametrize("name", list(FILTERS))
def test_pages_are_newest_first_keyset_pages_of_what_the_filter_matches(log: Simulator, name: str) -> None:
    alice = log
    query, keep = FILTERS[name]
    want = expected(chain(alice), keep)
    limit = 3
    assert len(want) > 2 * limit, f"the log must give more than two pages for {name!r} ({len(want)} entries)"
    pages = all_pages(alice, query, limit)
    assert len(pages) > 2
    assert all(len(p) == limit for p in pages[:-1])
    got = [e for page in pages for e in page]
    assert [e.id for e in got] == [e.id for e in want]
    assert got == want  # whole entries, hashes included
    assert alice.audit.entries(query, limit=PAGE_MAX) == want  # one big page is the same list


WALKS = ["none", "actor", "action", "text, case-insensitive", "actor + entity + since"]


def backward_pages(sim: Simulator, query: AuditQuery, limit: int) -> list[list[AuditEntry]]:
    """What a virtual table does after jumping to the end: the oldest page, then each page of the
    entries newer than the newest one it has, until an empty page; in list order (newest first)."""
    pages: list[list[AuditEntry]] = []
    page = sim.audit.entries(query, None, limit, backward=True)
    while page:
        assert len(page) <= limit
        assert [e.id for e in page] == sorted((e.id for e in page), reverse=True)
        pages.insert(0, page)
        page = sim.audit.entries(query, page[0].id, limit, backward=True)
        assert len(pages) < 1000, "paging never ends"
    return pages


@pytest.mark.parametrize("size", [1, 3, 7])
@pytest.mark.parametrize("name", WALKS)
def test_walking_backward_from_the_oldest_page_gives_the_forward_order(log: Simulator, name: str, size: int) -> None:
    query, keep = FILTERS[name]
    forward = [e.id for e in expected(chain(log), keep)]
    pages = backward_pages(log, query, size)
    assert [e.id for page in pages for e in page] == forward
    assert [e.id for e in pages[-1]] == forward[-size:]  # the oldest page is full, the newest one may not be
    assert all(len(p) == size for p in pages[1:])
    middle = forward[len(forward) // 2]  # from any entry, backward gives the entries just newer than it
    assert [e.id for e in log.audit.entries(query, middle, size, backward=True)] == [
        i for i in forward if i > middle][-size:]


@pytest.mark.parametrize("skip", [0, 1, 4, 9, 30, 1000])
@pytest.mark.parametrize("name", ["none", "actor", "text, case-insensitive"])
def test_skip_jumps_into_the_log_by_offset_both_ways(log: Simulator, name: str, skip: int) -> None:
    query, keep = FILTERS[name]
    forward = [e.id for e in expected(chain(log), keep)]
    assert [e.id for e in log.audit.entries(query, None, 3, skip=skip)] == forward[skip:skip + 3]
    end = max(len(forward) - skip, 0)
    assert [e.id for e in log.audit.entries(query, None, 3, backward=True, skip=skip)] == forward[max(end - 3, 0):end]
    cursor = forward[2]  # counted from the cursor, in the direction of travel
    assert [e.id for e in log.audit.entries(query, cursor, 4, skip=skip)] == forward[3 + skip:3 + skip + 4]
    cursor = forward[-3]
    end = max(len(forward) - 3 - skip, 0)
    assert [e.id for e in log.audit.entries(query, cursor, 4, backward=True, skip=skip)] == forward[max(end - 4, 0):end]


@pytest.mark.parametrize("name", list(FILTERS))
def test_the_count_applies_the_filter_and_an_entrys_place_follows_from_it(log: Simulator, name: str) -> None:
    query, keep = FILTERS[name]
    forward = [e.id for e in expected(chain(log), keep)]
    assert log.audit.count_entries(query) == len(forward)
    for place in (0, len(forward) // 2, len(forward) - 1):
        entry_id = forward[place]
        assert log.audit.count_entries(query, entry_id) == len(forward) - place - 1  # the older ones
        assert log.audit.count_entries(query) - log.audit.count_entries(query, entry_id + 1) == place  # its offset
    assert log.audit.count_entries(AuditQuery(actor="carol")) == 0


def test_backward_from_the_newest_entry_or_beyond_every_id_is_empty(log: Simulator) -> None:
    newest = chain(log)[-1].id
    assert log.audit.entries(AuditQuery(), newest, 5, backward=True) == []
    assert log.audit.entries(AuditQuery(), 2**63 - 1, 5, backward=True) == []
    oldest = chain(log)[0]
    assert log.audit.entries(AuditQuery(), oldest.id, 1, backward=True) == [chain(log)[1]]


BAD_SKIPS: list[Any] = [-1, 1.5, True, "2", None]


def test_a_bad_skip_is_refused(sim: Simulator) -> None:
    sim.catalog.add_category("Tools")
    before = world(sim)
    for skip in BAD_SKIPS:
        for backward in (False, True):
            with pytest.raises(DomainError) as caught:
                sim.audit.entries(AuditQuery(), None, 3, backward=backward, skip=skip)
            assert caught.value.code == "validation" and caught.value.field == "skip", (skip, caught.value.message)
    for bad in (0, -5, "7", True):
        with pytest.raises(DomainError) as caught:
            sim.audit.count_entries(AuditQuery(), bad)
        assert caught.value.code == "validation" and caught.value.field == "before", bad
    assert world(sim) == before


def test_the_text_filter_takes_like_wildcards_literally(log: Simulator) -> None:
    alice = log
    for needle in ("50% off_sale", "50%", "off_s"):
        found = alice.audit.entries(AuditQuery(text=needle))
        assert found, needle
        assert all(needle.lower() in (e.after or "").lower() for e in found), needle
    assert alice.audit.entries(AuditQuery(text="5_0")) == []
    assert alice.audit.entries(AuditQuery(text="%%%")) == []


def test_filters_that_match_nothing_give_an_empty_page(log: Simulator) -> None:
    alice = log
    for query in (AuditQuery(actor="carol"), AuditQuery(entity="nothing"), AuditQuery(since="2030-01-01"),
                  AuditQuery(until="2025-12-31"), AuditQuery(text="no such text anywhere")):
        assert alice.audit.entries(query) == [], query


def test_a_page_before_the_oldest_entry_is_empty_and_before_an_unknown_high_id_is_the_newest(log: Simulator) -> None:
    alice = log
    entries = chain(alice)
    assert alice.audit.entries(before_id=entries[0].id) == []
    assert alice.audit.entries(before_id=10**12, limit=3) == entries[::-1][:3]


def test_filters_are_trimmed(log: Simulator) -> None:
    alice = log
    assert alice.audit.entries(AuditQuery(actor="  bob ", entity=" product")) == alice.audit.entries(
        AuditQuery(actor="bob", entity="product"))


BAD_PAGES: list[tuple[dict[str, Any], str]] = [
    ({"query": AuditQuery(since="yesterday")}, "since"),
    ({"query": AuditQuery(until="2026-02-30")}, "until"),
    ({"query": AuditQuery(since="2026-1-1")}, "since"),
    ({"query": AuditQuery(until="01/02/2026")}, "until"),
    ({"query": AuditQuery(text="x" * 201)}, "text"),
    ({"limit": 0}, "limit"),
    ({"limit": PAGE_MAX + 1}, "limit"),
    ({"limit": True}, "limit"),
    ({"limit": "10"}, "limit"),
    ({"before_id": 0}, "before"),
    ({"before_id": -5}, "before"),
    ({"before_id": "7"}, "before"),
    ({"before_id": True}, "before"),
]


def test_bad_page_arguments_are_refused(sim: Simulator) -> None:
    sim.catalog.add_category("Tools")
    before = world(sim)
    for kwargs, field in BAD_PAGES:
        with pytest.raises(DomainError) as caught:
            sim.audit.entries(**kwargs)
        assert caught.value.code == "validation" and caught.value.field == field, (kwargs, caught.value.message)
        if "query" in kwargs:
            with pytest.raises(DomainError) as caught:
                next(sim.audit.export_rows(kwargs["query"]))
            assert caught.value.code == "validation", kwargs
        assert world(sim) == before


@pytest.mark.parametrize("bound", ["since", "until"])
def test_a_time_of_day_that_does_not_exist_is_refused(sim: Simulator, bound: str) -> None:
    for bad in ("2026-01-01T25", "2026-01-01T12:61", "2026-01-01 12:00:75"):
        with pytest.raises(DomainError) as caught:
            sim.audit.entries(AuditQuery(**{bound: bad}))
        assert caught.value.code == "validation" and caught.value.field == bound, bad


def test_one_entry_by_id_and_unknown_ids_are_not_found(sim: Simulator) -> None:
    cat = sim.catalog.add_category("Tools")
    [entry] = chain(sim)
    assert sim.audit.entry(entry.id) == entry
    assert (entry.entity, entry.entity_id, entry.action, entry.actor) == ("category", str(cat.id), "create", "tester")
    for bad in (0, -1, entry.id + 1000, 2**63, "1", None, True, 1.0):
        with pytest.raises(DomainError) as caught:
            sim.audit.entry(bad)  # type: ignore[arg-type]
        assert caught.value.code == "not_found", bad


def test_export_rows_are_every_matching_entry_newest_first_in_header_order(log: Simulator) -> None:
    from domain.services.audit import EXPORT_HEADER

    alice = log
    rows = list(alice.audit.export_rows(AuditQuery(actor="bob")))
    want = expected(chain(alice), lambda e: e.actor == "bob")
    assert len(rows) == len(want)
    for row, e in zip(rows, want):
        assert dict(zip(EXPORT_HEADER, row)) == {
            "id": e.id, "at": e.at, "actor": e.actor, "entity": e.entity, "entity_id": e.entity_id,
            "action": e.action, "before": e.before or "", "after": e.after or "", "request_key": e.request_key or "",
            "hash": e.hash,
        }


# -- the archive ----------------------------------------------------------------------------------


def test_include_archive_on_and_off_after_an_archive(store: Store) -> None:
    alice, _bob = build_log(store)
    before_archive = chain(alice)
    cut = "2026-01-02T12"
    report = alice.lifecycle.archive(cut, batch_size=7)
    assert report.audit == sum(1 for e in before_archive if e.at < cut) > 7
    after_archive = chain(alice)
    archive_entries = after_archive[len(before_archive):]
    assert after_archive[:len(before_archive)] == before_archive, "archiving moves entries, it does not change them"
    assert [e.entity for e in archive_entries] == ["archive"] * report.batches
    assert [json.loads(e.after)["audit"] for e in archive_entries] and all(e.actor == "alice" for e in archive_entries)

    live = alice.audit.entries(AuditQuery(include_archive=False), limit=PAGE_MAX)
    assert [e.id for e in live] == [e.id for e in reversed(after_archive) if e.at >= cut]
    everything = alice.audit.entries(AuditQuery(include_archive=True), limit=PAGE_MAX)
    assert everything == after_archive[::-1]
    # paging crosses the boundary between the live table and the archive without a gap or a repeat
    assert [e for page in all_pages(alice, AuditQuery(), 5) for e in page] == everything
    assert [e for page in all_pages(alice, AuditQuery(include_archive=False), 5) for e in page] == live
    # filters apply to archived entries too
    bobs = alice.audit.entries(AuditQuery(actor="bob", until="2026-01-01"), limit=PAGE_MAX)  # all archived
    assert bobs and bobs == expected(after_archive, lambda e: e.actor == "bob" and e.at < "2026-01-02")
    assert alice.audit.entries(AuditQuery(actor="bob", until="2026-01-01", include_archive=False)) == []
    # one archived entry by id, and the chain still verifies across the boundary
    oldest = before_archive[0]
    assert alice.audit.entry(oldest.id) == oldest
    verified = alice.audit.verify()
    assert verified.ok and verified.checked == len(after_archive)
    assert_chain_is_sound(after_archive)
    with alice.store.unit_of_work(TENANT) as uow:
        assert [e.id for e in uow.audit.latest(100_000)] == [e.id for e in live]


def test_backward_pages_skip_and_count_cross_the_archive_boundary(store: Store) -> None:
    alice, _bob = build_log(store)
    alice.lifecycle.archive("2026-01-02T12", batch_size=7)
    for query in (AuditQuery(), AuditQuery(actor="bob"), AuditQuery(include_archive=False)):
        forward = [e.id for e in alice.audit.entries(query, limit=PAGE_MAX)]
        assert alice.audit.count_entries(query) == len(forward)
        assert [e.id for page in backward_pages(alice, query, 4) for e in page] == forward
        for skip in (0, 5, len(forward) // 2, len(forward) - 2):
            assert [e.id for e in alice.audit.entries(query, None, 4, skip=skip)] == forward[skip:skip + 4]
            end = len(forward) - skip
            assert [e.id for e in alice.audit.entries(query, None, 4, backward=True, skip=skip)] == \
                forward[max(end - 4, 0):end]
    live = alice.audit.count_entries(AuditQuery(include_archive=False))
    assert 0 < live < alice.audit.count_entries(AuditQuery())


def test_the_chain_continues_from_an_archived_tail(store: Store) -> None:
    """Even when every entry is archived, the next one links to the newest archived hash."""
    clock = FixedClock(START, timedelta(hours=1))
    sim = Simulator(store, actor="tester", tenant=TENANT, clock=clock)
    sim.catalog.add_category("Tools")
    sim.catalog.add_category("Toys")
    first = sim.lifecycle.archive("2026-01-01T12:30")  # both categories' entries; the archive entry stays live
    assert first.audit == 2
    second = sim.lifecycle.archive("2026-01-01T16")  # now the first archive entry too: the live log is empty
    assert second.audit == 1
    entries = chain(sim)
    assert [e.entity for e in entries] == ["category", "category", "archive", "archive"]
    assert sim.audit.entries(AuditQuery(include_archive=False)) == [entries[-1]]
    assert_chain_is_sound(entries)
    assert sim.audit.verify().ok


# -- time -----------------------------------------------------------------------------------------


def _some_writes(sim: Simulator) -> None:
    cat = sim.catalog.add_category("Tools")
    p = sim.catalog.add_product("HAM-1", "Hammer", "12.50", category=cat.id, quantity=3)
    sim.catalog.update_product(p.id, p.version, name="Claw hammer")
    a = sim.bank.open_account("Alice", opening_balance="100.00")
    b = sim.bank.open_account("Shop", kind="shop")
    sim.bank.transfer(a.id, b.id, "1.00")
    sim.inventory.sell(p.id, 1, a.id)
    sim.simulation.advance(1, seed=3)


CLOCKS: dict[str, Callable[[], Any]] = {
    "backwards by minutes": lambda: BackwardsClock(),
    "backwards by a microsecond": lambda: BackwardsClock(step=timedelta(microseconds=1)),
    "stopped": lambda: ScriptedClock([START]),
    "jumps about": lambda: ScriptedClock([START, START + timedelta(days=3), START - timedelta(days=400), START]),
}


@pytest.mark.parametrize("clock", list(CLOCKS))
def test_entry_times_strictly_increase_even_when_the_clock_does_not(store: Store, clock: str) -> None:
    sim = Simulator(store, actor="tester", tenant=TENANT, clock=CLOCKS[clock]())
    _some_writes(sim)
    entries = chain(sim)
    assert len(entries) > 10
    times = [e.at for e in entries]
    assert all(a < b for a, b in zip(times, times[1:])), times
    assert all(len(t) == len("2026-01-01T09:00:00.000000Z") and t.endswith("Z") for t in times)
    assert_chain_is_sound(entries)
    assert sim.audit.verify().ok


def test_a_second_writer_whose_clock_is_behind_still_writes_after_the_tail(store: Store) -> None:
    ahead = Simulator(store, actor="ahead", tenant=TENANT, clock=FixedClock(datetime(2027, 6, 1, tzinfo=timezone.utc)))
    behind = Simulator(store, actor="behind", tenant=TENANT, clock=FixedClock(START))
    ahead.catalog.add_category("Tools")
    behind.catalog.add_category("Toys")
    ahead.catalog.add_category("Garden")
    first, second, third = chain(ahead)
    assert first.at < second.at < third.at
    assert second.actor == "behind" and second.at == just_after(first.at)
    assert behind.audit.verify().ok


def test_chained_entry_moves_a_time_that_is_not_after_the_tail_one_microsecond_past_it() -> None:
    tail = chained_entry(None, "2026-01-01T09:00:00.999999Z", "a", "x", "1", "create", None, "{}")
    assert tail.prev_hash == GENESIS
    same = chained_entry(tail, tail.at, "a", "x", "1", "update", "{}", "{}")
    earlier = chained_entry(tail, "2025-01-01T00:00:00.000000Z", "a", "x", "1", "update", "{}", "{}")
    later = chained_entry(tail, "2026-01-01T09:00:01.000000Z", "a", "x", "1", "update", "{}", "{}")
    assert same.at == earlier.at == "2026-01-01T09:00:01.000000Z"
    assert later.at == "2026-01-01T09:00:01.000000Z"
    assert same.prev_hash == earlier.prev_hash == tail.hash
    assert same.hash == entry_hash(tail.hash, same.at, "a", "x", "1", "update", "{}", "{}", None)


# -- what every mutation writes -------------------------------------------------------------------


Want = list[tuple[str, Any, str]]


class Recorder:
    """Runs operations and checks the entries each one appended: exactly the expected (entity,
    entity_id, action) triples, in order, by the acting Simulator's actor, who has a users row.
    `want` is the list of triples, or a function of the operation's result giving it."""

    def __init__(self, sim: Simulator):
        self.sim = sim
        self.seen = len(chain(sim))

    def __call__(self, actor: Simulator, op: Callable[[], Any], want: Want | Callable[[Any], Want]) -> Any:
        result = op()
        entries = chain(self.sim)
        new = entries[self.seen:]
        triples = want(result) if callable(want) else want
        self.seen = len(entries)
        assert [(e.entity, e.entity_id, e.action) for e in new] == [(x, str(i), a) for x, i, a in triples]
        assert all(e.actor == actor.actor for e in new), [e.actor for e in new]
        assert all(e.hash and e.prev_hash for e in new)
        assert actor.actor in users(self.sim)
        self.last = new
        return result


def _diff(entry: AuditEntry) -> tuple[Any, Any]:
    return (json.loads(entry.before) if entry.before else None, json.loads(entry.after) if entry.after else None)


def test_every_kind_of_mutation_writes_one_entry_per_change_by_the_acting_user(store: Store) -> None:
    clock = FixedClock()
    alice = Simulator(store, actor="alice", tenant=TENANT, clock=clock)
    bob = Simulator(store, actor="bob", tenant=TENANT, clock=clock)
    rec = Recorder(alice)
    assert users(alice) == set()

    # -- catalog
    tools = rec(alice, lambda: alice.catalog.add_category("Tools"), lambda c: [("category", c.id, "create")])
    assert users(alice) == {"alice"}
    toys = rec(bob, lambda: bob.catalog.add_category("Toys", parent="Tools"), lambda c: [("category", c.id, "create")])
    assert users(alice) == {"alice", "bob"}
    rec(bob, lambda: bob.catalog.update_category(toys.id, 1, name="Games"), [("category", toys.id, "update")])
    assert _diff(rec.last[0]) == ({"name": "Toys", "version": 1}, {"name": "Games", "version": 2})
    rec(bob, lambda: bob.catalog.update_category(toys.id, 2, name="Games"), [])  # no change, no entry
    rec(alice, lambda: alice.catalog.delete_category(toys.id), [("category", toys.id, "delete")])
    before, after = _diff(rec.last[0])
    assert after is None and before["name"] == "Games" and before["parent_id"] == tools.id
    ham = rec(alice, lambda: alice.catalog.add_product("HAM-1", "Hammer", "12.50", category=tools.id),
              lambda p: [("product", p.id, "create")])
    assert _diff(rec.last[0])[0] is None and _diff(rec.last[0])[1]["sku"] == "HAM-1"
    rec(bob, lambda: bob.catalog.update_product(ham.id, 1, price="13.00"), [("product", ham.id, "update")])
    assert _diff(rec.last[0]) == ({"price_minor": 1250, "version": 1}, {"price_minor": 1300, "version": 2})
    rec(alice, lambda: alice.catalog.update_product(ham.id, 2, name="Hammer", price="13.00"), [])
    rec(alice, lambda: alice.inventory.set_planning(ham.id, cost="5.00", reorder_level=2),
        [("product", ham.id, "set_planning")])
    assert _diff(rec.last[0]) == ({"cost_minor": 0, "reorder_level": 0}, {"cost_minor": 500, "reorder_level": 2})
    rec(alice, lambda: alice.inventory.set_planning(ham.id, cost="6.00"), [("product", ham.id, "set_planning")])
    assert _diff(rec.last[0]) == ({"cost_minor": 500}, {"cost_minor": 600})  # only what changed
    warehouse = rec(alice, alice.inventory.default_location, lambda loc: [("location", loc.id, "create")])
    rec(alice, alice.inventory.default_location, [])  # exists now: a read
    shelf = rec(bob, lambda: bob.inventory.add_location("Shelf"), lambda loc: [("location", loc.id, "create")])
    rec(alice, lambda: alice.catalog.delete_product(ham.id), [("product", ham.id, "delete")])
    before, after = _diff(rec.last[0])
    assert set(before) == set(after) == {"deleted_at", "version"} and before["deleted_at"] is None
    rec(alice, lambda: alice.catalog.restore_product(ham.id), [("product", ham.id, "restore")])
    assert _diff(rec.last[0])[1]["deleted_at"] is None

    # -- bank
    shop = rec(alice, lambda: alice.bank.open_account("Shop", kind="shop"), lambda a: [("account", a.id, "open")])
    ann = bob.bank.open_account("Ann", opening_balance="90.00")  # Ann, the Cash account (first use), the deposit
    cash = next(a for a in alice.bank.accounts() if a.kind == "system")
    new = chain(alice)[rec.seen:]
    rec.seen += len(new)
    assert [(e.entity, e.entity_id, e.action, e.actor) for e in new] == [
        ("account", str(ann.id), "open", "bob"), ("account", str(cash.id), "open", "bob"),
        ("transfer", new[2].entity_id, "posted", "bob")]
    rec(alice, lambda: alice.bank.open_account("Bea", opening_balance="5.00"),
        lambda a: [("account", a.id, "open"), ("transfer", alice.bank.statement(a.id)[0].transfer_id, "posted")])
    acme = rec(alice, lambda: alice.bank.open_account("Acme", kind="supplier"), lambda a: [("account", a.id, "open")])
    t = rec(alice, lambda: alice.bank.transfer(ann.id, shop.id, "10.00", idempotency_key="k-1"),
            lambda t: [("transfer", t.id, "posted")])
    assert rec.last[0].request_key == "k-1" and _diff(rec.last[0])[1]["amount_minor"] == 1000
    rec(alice, lambda: alice.bank.transfer(ann.id, shop.id, "10.00", idempotency_key="k-1"), [])  # a replay
    held = rec(bob, lambda: bob.bank.transfer(ann.id, shop.id, "4.00", pending=True), lambda t: [("transfer", t.id, "pending")])
    rec(bob, lambda: bob.bank.post(held.id, "3.00"), lambda t: [("transfer", t.id, "post")])
    held = rec(bob, lambda: bob.bank.transfer(ann.id, shop.id, "4.00", pending=True), lambda t: [("transfer", t.id, "pending")])
    rec(alice, lambda: alice.bank.void(held.id), lambda t: [("transfer", t.id, "void")])
    rec(alice, lambda: alice.bank.deposit(ann.id, "1.00"), lambda t: [("transfer", t.id, "posted")])
    rec(alice, lambda: alice.bank.withdraw(ann.id, "1.00"), lambda t: [("transfer", t.id, "posted")])
    rec(alice, lambda: alice.bank.transfer_batch([{"source": ann.id, "target": shop.id, "amount": "1.00"},
                                                   {"source": ann.id, "target": shop.id, "amount": "2.00"}]),
        lambda ts: [("transfer", x.id, "posted") for x in ts])
    rec(bob, lambda: bob.bank.reverse(t.id, "typo"), lambda r: [("transfer", r.id, "posted")])
    assert _diff(rec.last[0])[1]["reverses_id"] == t.id
    bea = alice.bank.get_account("Bea")
    rec(alice, lambda: alice.bank.rename_account(acme.id, 1, "Acme Ltd"), [("account", acme.id, "rename")])
    assert _diff(rec.last[0]) == ({"name": "Acme", "version": 1}, {"name": "Acme Ltd", "version": 2})
    rec(alice, lambda: alice.bank.set_overdraft_limit(acme.id, 2, "5.00"), [("account", acme.id, "set_limit")])
    rec(alice, lambda: alice.bank.freeze(acme.id, 3), [("account", acme.id, "freeze")])
    assert _diff(rec.last[0]) == ({"status": "open", "version": 3}, {"status": "frozen", "version": 4})
    rec(alice, lambda: alice.bank.unfreeze(acme.id, 4), [("account", acme.id, "unfreeze")])
    rec(bob, lambda: bob.bank.withdraw(bea.id, "5.00"), lambda t: [("transfer", t.id, "posted")])
    rec(bob, lambda: bob.bank.close_account(bea.id, bea.version), [("account", bea.id, "close")])
    spare = rec(alice, lambda: alice.bank.open_account("Spare"), lambda a: [("account", a.id, "open")])
    rec(alice, lambda: alice.bank.delete_account(spare.id, 1), [("account", spare.id, "delete")])
    rec(alice, lambda: alice.bank.restore_account(spare.id, 2), [("account", spare.id, "restore")])
    rec(alice, lambda: alice.bank.delete_account(spare.id, 3), [("account", spare.id, "delete")])
    rec(bob, lambda: bob.bank.purge_account(spare.id, 4), [("account", spare.id, "purge")])
    assert _diff(rec.last[0]) == ({"id": spare.id, "name": "Spare"}, None)

    # -- inventory
    rec(alice, lambda: alice.inventory.receive(ham.id, 10),
        lambda m: [("location", m.from_location_id, "create"), ("stock_move", m.id, "receive")])  # Suppliers
    rec(alice, lambda: alice.inventory.receive(ham.id, 2, idempotency_key="r-1"), lambda m: [("stock_move", m.id, "receive")])
    rec(alice, lambda: alice.inventory.receive(ham.id, 2, idempotency_key="r-1"), [])  # a replay
    rec(bob, lambda: bob.inventory.move_stock(ham.id, 3, warehouse.id, shelf.id), lambda m: [("stock_move", m.id, "move")])
    rec(bob, lambda: bob.inventory.scrap(ham.id, 1),
        lambda m: [("location", m.to_location_id, "create"), ("stock_move", m.id, "scrap")])
    rec(bob, lambda: bob.inventory.count_stock(ham.id, 5),
        lambda m: [("location", m.to_location_id, "create"), ("stock_move", m.id, "adjust")])
    rec(bob, lambda: bob.inventory.count_stock(ham.id, 5), [])  # the count matches
    rec(alice, lambda: alice.inventory.sell(ham.id, 1, ann.id),
        lambda s: [("location", s.move.to_location_id, "create"), ("transfer", s.transfer.id, "posted"),
                   ("stock_move", s.move.id, "sell")])
    rec(alice, lambda: alice.inventory.sell(ham.id, 1, ann.id),
        lambda s: [("transfer", s.transfer.id, "posted"), ("stock_move", s.move.id, "sell")])
    rec(alice, lambda: alice.inventory.purchase(ham.id, 2, acme.id),
        lambda p: [("transfer", p.transfer.id, "posted"), ("stock_move", p.move.id, "purchase")])
    transit = rec(bob, lambda: bob.inventory.move_stock(ham.id, 1, warehouse.id, shelf.id, pending=True),
                  lambda m: [("stock_move", m.id, "move")])
    rec(bob, lambda: bob.inventory.receive_pending(transit.id), lambda m: [("stock_move", m.id, "received")])
    order = rec(alice, lambda: alice.inventory.purchase(ham.id, 2, acme.id, lead_days=3),
                lambda p: [("transfer", p.transfer.id, "posted"), ("stock_move", p.move.id, "purchase")])
    rec(alice, lambda: alice.inventory.cancel_pending(order.move.id),
        lambda m: [("transfer", m.transfer_id, "posted"), ("stock_move", m.id, "cancelled")])  # refund, then cancel
    sale = alice.inventory.sell(ham.id, 1, ann.id)
    rec.seen += 2
    rec(bob, lambda: bob.inventory.reverse(sale.move.id, "returned"),
        lambda m: [("transfer", m.transfer_id, "posted"), ("stock_move", m.id, "sell")])
    assert _diff(rec.last[1])[1]["reverses_id"] == sale.move.id

    # -- catalog changes that touch the stock ledger
    rec(alice, lambda: alice.catalog.add_product("NUT-1", "Nut", "0.10", quantity=7),
        lambda p: [("product", p.id, "create"), ("stock_move", "*", "reconcile")])
    rec(alice, lambda: alice.catalog.import_products([{"sku": "NEW-1", "name": "New", "price": "1.00", "quantity": "2"}]),
        [("stock_move", "*", "reconcile"), ("product", "*", "import")])
    assert _diff(rec.last[1])[1] == {"source": "import", "rows": 1, "inserted": 1, "updated": 0}
    nut = alice.catalog.get_product_by_sku("NUT-1")
    rec(alice, lambda: alice.catalog.delete_product(nut.id), [("product", nut.id, "delete")])
    rec(bob, lambda: bob.catalog.purge_product(nut.id),
        lambda p: [("stock_move", _last_move_id(alice), "scrap"), ("product", nut.id, "purge")])
    assert _diff(rec.last[1]) == ({"id": nut.id, "sku": "NUT-1"}, None)

    # -- the simulation and the archive
    rec(bob, lambda: bob.simulation.advance(1, seed=1),
        lambda reports: _day_triples(alice, rec.seen, 1))
    assert rec.last[0].entity == "game" and rec.last[0].action == "advance"
    rec(alice, lambda: alice.lifecycle.archive("2026-01-01T09:00:30", batch_size=10_000),
        lambda r: [("archive", "2026-01-01T09:00:30", "archive")])
    assert alice.audit.verify().ok
    assert alice.check().ok
    assert users(alice) == {"alice", "bob"}


def _last_move_id(sim: Simulator) -> int:
    with sim.store.unit_of_work(sim.tenant) as uow:
        return max(m.id for m in uow.stock.stream_moves())


def _day_triples(sim: Simulator, seen: int, day: int) -> Want:
    """What a simulated day wrote: its advance entry first, its report entry last, transfers and moves
    (each once) between them."""
    new = chain(sim)[seen:]
    assert (new[0].entity, new[0].entity_id, new[0].action) == ("game", str(day), "advance")
    assert (new[-1].entity, new[-1].entity_id, new[-1].action) == ("game", str(day), "report")
    middle = [(e.entity, e.entity_id) for e in new[1:-1]]
    assert len(middle) == len(set(middle)) and {x for x, _ in middle} <= {"transfer", "stock_move", "location"}
    return [(e.entity, e.entity_id, e.action) for e in new]


@pytest.mark.parametrize("moved", [0, 1, 3])
def test_a_reconcile_entry_counts_the_adjustments_it_posted(sim: Simulator, store_url: str, request: pytest.FixtureRequest,
                                                             moved: int) -> None:
    """An import (or a product form) that sets quantities posts one adjustment per product whose
    total changed; its audit entry says how many. None posted: no entry at all."""
    rows = [{"sku": f"A-{n}", "name": f"A {n}", "price": "1.00", "quantity": "0"} for n in range(3)]
    sim.catalog.import_products(rows)
    seen = len(chain(sim))
    rows = [{**r, "name": r["name"] + " renamed", "quantity": str(5 if n < moved else 0)} for n, r in enumerate(rows)]
    sim.catalog.import_products(rows)
    new = chain(sim)[seen:]
    reconcile = [e for e in new if e.action == "reconcile"]
    if moved:
        [entry] = reconcile
        assert json.loads(entry.after)["adjusted"] == moved
    else:
        assert reconcile == []
    with sim.store.unit_of_work(TENANT) as uow:
        assert sum(1 for m in uow.stock.stream_moves() if m.reason == "adjust") == moved


def test_an_update_entry_keeps_only_the_changed_fields_and_entry_changes_lists_them(sim: Simulator) -> None:
    ham = sim.catalog.add_product("HAM-1", "Hammer", "12.50")
    sim.catalog.update_product(ham.id, 1, name="Claw hammer", active=False)
    create, update = chain(sim)[-2:]
    before, after = _diff(update)
    assert before == {"name": "Hammer", "active": True, "version": 1}
    assert after == {"name": "Claw hammer", "active": False, "version": 2}
    assert [(c.field, c.before, c.after) for c in entry_changes(update)] == [
        ("active", True, False), ("name", "Hammer", "Claw hammer"), ("version", 1, 2)]
    created = entry_changes(create)
    assert {c.field for c in created} >= {"sku", "name", "price_minor"} and all(c.before is None for c in created)


# -- atomicity ------------------------------------------------------------------------------------


class Boom(RuntimeError):
    """The injected failure (a crash, a full disk): not a DomainError."""


def _audit_repo_class(sim: Simulator) -> type:
    with sim.store.unit_of_work(sim.tenant) as uow:
        return uow.audit.__class__  # not type(): the async store's bridge wraps its repositories


def _uow_class(sim: Simulator) -> type:
    with sim.store.unit_of_work(sim.tenant) as uow:
        return uow.__class__


def fail_append(monkeypatch: pytest.MonkeyPatch, sim: Simulator, entity: str) -> None:
    """The audit log's append raises for the first entry of `entity` (after the change was written)."""
    cls = _audit_repo_class(sim)
    original = cls.append
    armed = [True]

    def append(self: Any, entry: AuditEntry) -> AuditEntry:
        if armed[0] and entry.entity == entity:
            armed[0] = False
            raise Boom(f"disk full while appending the {entity} entry")
        return original(self, entry)

    monkeypatch.setattr(cls, "append", append)


def fail_after_audit(monkeypatch: pytest.MonkeyPatch, sim: Simulator, entity: str) -> None:
    """ServiceContext.audit appends the entry of `entity`, then the process fails before the commit."""
    original = ServiceContext.audit
    armed = [True]

    def audit(self: ServiceContext, uow: Any, ent: str, *args: Any, **kwargs: Any) -> AuditEntry:
        written = original(self, uow, ent, *args, **kwargs)
        if armed[0] and ent == entity:
            armed[0] = False
            raise Boom(f"crash right after the {entity} entry {written.id} was appended")
        return written

    monkeypatch.setattr(ServiceContext, "audit", audit)


def fail_commit(monkeypatch: pytest.MonkeyPatch, sim: Simulator, entity: str) -> None:
    """The first commit fails (the store is busy): everything in the transaction was written."""
    cls = _uow_class(sim)
    original = cls.commit
    armed = [True]

    def commit(self: Any) -> None:
        if armed[0]:
            armed[0] = False
            raise Busy("the database is busy; the commit did not happen")
        original(self)

    monkeypatch.setattr(cls, "commit", commit)


INJECTIONS = {"append raises": fail_append, "crash after the entry": fail_after_audit, "commit fails": fail_commit}


def _catalog_write(sim: Simulator, ids: dict[str, int]) -> Callable[[], Any]:
    return lambda: sim.catalog.add_product("NEW-1", "New", "3.00", quantity=4)


def _transfer(sim: Simulator, ids: dict[str, int]) -> Callable[[], Any]:
    return lambda: sim.bank.transfer(ids["carol"], ids["shop"], "7.00", idempotency_key="pay-1")


def _sale(sim: Simulator, ids: dict[str, int]) -> Callable[[], Any]:
    return lambda: sim.inventory.sell(ids["apple"], 3, ids["carol"], idempotency_key="sale-1")


WRITES: dict[str, tuple[Callable[[Simulator, dict[str, int]], Callable[[], Any]], str, list[tuple[str, str]]]] = {
    # name: (operation, the entity whose entry fails, the entries a successful run writes)
    "catalog write": (_catalog_write, "product",
                      [("product", "create"), ("stock_move", "reconcile")]),
    "transfer": (_transfer, "transfer", [("transfer", "posted")]),
    "sale (the payment's entry fails)": (_sale, "transfer",
                                         [("location", "create"), ("transfer", "posted"), ("stock_move", "sell")]),
    "sale (the goods' entry fails)": (_sale, "stock_move",
                                      [("location", "create"), ("transfer", "posted"), ("stock_move", "sell")]),
}


@pytest.mark.parametrize("injection", list(INJECTIONS))
@pytest.mark.parametrize("write", list(WRITES))
def test_a_failure_between_the_change_and_the_commit_leaves_neither_the_change_nor_its_entry(
    sim: Simulator, shop: dict[str, int], monkeypatch: pytest.MonkeyPatch, injection: str, write: str,
) -> None:
    make, entity, entries = WRITES[write]
    op = make(sim, shop)
    before = world(sim)
    with monkeypatch.context() as patched:
        INJECTIONS[injection](patched, sim, entity)
        with pytest.raises((Boom, Busy)):
            op()
    assert world(sim) == before, "a failed write left part of itself behind"
    assert sim.audit.verify().ok and sim.check().ok
    with sim.store.unit_of_work(TENANT) as uow:
        assert uow.products.get_by_sku("NEW-1") is None
        assert uow.transfers.get_by_key("pay-1") is None and uow.transfers.get_by_key("sale-1") is None
        assert uow.stock.get_move_by_key("sale-1") is None
    # the same write then succeeds whole, once, and the chain has no gap where the failure was
    op()
    new = chain(sim)[len(before["audit"]):]
    assert [(e.entity, e.action) for e in new] == entries
    assert_chain_is_sound(chain(sim))
    assert sim.audit.verify().ok and sim.check().ok


def test_a_refused_write_appends_no_entry(sim: Simulator, shop: dict[str, int]) -> None:
    before = world(sim)
    for call in (lambda: sim.bank.transfer(shop["carol"], shop["shop"], "999.00"),  # insufficient funds
                 lambda: sim.inventory.sell(shop["apple"], 99, shop["carol"]),  # insufficient stock
                 lambda: sim.catalog.add_product("APL-1", "Again", "1.00"),  # already exists
                 lambda: sim.bank.open_account("Carol")):  # already exists
        with pytest.raises(DomainError):
            call()
        assert world(sim) == before


# -- tenants --------------------------------------------------------------------------------------


def test_each_tenant_has_its_own_chain_and_no_entry_crosses(store: Store) -> None:
    clock = FixedClock()
    one = Simulator(store, actor="ann", tenant="t1", clock=clock)
    two = Simulator(store, actor="ben", tenant="t2", clock=clock)
    for n in range(4):  # interleaved, so ids of the two tenants alternate
        one.catalog.add_category(f"One {n}")
        two.catalog.add_category(f"Two {n}")
        two.bank.open_account(f"Acc {n}")
    a, b = chain(one), chain(two)
    assert len(a) == 4 and len(b) == 8
    assert {e.actor for e in a} == {"ann"} and {e.actor for e in b} == {"ben"}
    assert not {e.id for e in a} & {e.id for e in b}
    assert a[0].prev_hash == GENESIS and b[0].prev_hash == GENESIS
    assert_chain_is_sound(a)
    assert_chain_is_sound(b)
    assert one.audit.verify().checked == 4 and two.audit.verify().checked == 8
    assert one.audit.entries(limit=PAGE_MAX) == a[::-1]
    assert two.audit.entries(AuditQuery(text="One"), limit=PAGE_MAX) == []
    assert one.audit.entries(AuditQuery(actor="ben")) == []
    for e in b:
        with pytest.raises(DomainError) as caught:
            one.audit.entry(e.id)
        assert caught.value.code == "not_found"
    with store.unit_of_work("t1") as uow:
        assert uow.audit.tail() == a[-1]
        assert {u.name for u in uow.users.list()} == {"ann"}
    # archiving one tenant leaves the other's log where it was
    assert one.lifecycle.archive(a[2].at[:19]).audit == 2
    assert chain(two) == b and two.audit.entries(AuditQuery(include_archive=False), limit=PAGE_MAX) == b[::-1]
    assert one.audit.verify().ok and two.audit.verify().ok


# -- tampering (SQLite, with raw SQL) -------------------------------------------------------------


@pytest.fixture
def sqlite_sim(sqlite_url: str) -> Iterator[Simulator]:
    store = open_store(sqlite_url)
    sim = Simulator(store, actor="tester", tenant=TENANT, clock=FixedClock())
    busy_shop(sim)
    assert sim.audit.verify().ok
    yield sim
    store.close()


def _path(sim: Simulator) -> str:
    return sim.store.path  # type: ignore[attr-defined]


def raw(sim: Simulator, sql: str, params: tuple[Any, ...] = ()) -> None:
    """Change the file behind the store's back, as someone with the sqlite3 shell would."""
    conn = sqlite3.connect(_path(sim))
    try:
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def _middle(sim: Simulator) -> AuditEntry:
    entries = chain(sim)
    return entries[len(entries) // 2]


EDITS = [("before", '{"name":"nobody"}'), ("after", '{"amount_minor":1}'), ("actor", "mallory"),
         ("at", "2026-01-01T09:00:00.5Z"), ("entity_id", "999"), ("action", "delete"), ("request_key", "forged"),
         ("entity", "category"), ("before", None), ("prev_hash", "0" * 64)]


def test_an_entry_edited_with_raw_sql_is_named_by_verify(sqlite_sim: Simulator) -> None:
    entries = chain(sqlite_sim)
    for n, (column, value) in enumerate(EDITS):
        target = entries[len(entries) // 2 + n - len(EDITS) // 2]
        conn = sqlite3.connect(_path(sqlite_sim))
        try:
            [original] = conn.execute(f"SELECT {column} FROM audit_log WHERE id = ?", (target.id,)).fetchone()
            if original == value:
                continue
            conn.execute(f"UPDATE audit_log SET {column} = ? WHERE id = ?", (value, target.id))
            conn.commit()
            report = sqlite_sim.audit.verify()
            assert not report.ok, column
            assert report.broken_id == target.id, column
            assert ("link" if column == "prev_hash" else "changed") in report.problem, (column, report.problem)
            assert report.checked == sum(1 for e in entries if e.id < target.id), column
            conn.execute(f"UPDATE audit_log SET {column} = ? WHERE id = ?", (original, target.id))
            conn.commit()
            assert sqlite_sim.audit.verify().ok, f"putting {column} back mends the chain"
        finally:
            conn.close()


def test_an_edit_that_also_recomputes_the_entrys_own_hash_breaks_the_next_link(sqlite_sim: Simulator) -> None:
    entries = chain(sqlite_sim)
    i = len(entries) // 2
    e, nxt = entries[i], entries[i + 1]
    forged = entry_hash(e.prev_hash, e.at, "mallory", e.entity, e.entity_id, e.action, e.before, e.after, e.request_key)
    raw(sqlite_sim, "UPDATE audit_log SET actor = 'mallory', hash = ? WHERE id = ?", (forged, e.id))
    report = sqlite_sim.audit.verify()
    assert report.broken_id == nxt.id and "link" in report.problem


def test_a_deleted_middle_entry_breaks_the_link_of_the_entry_after_it(sqlite_sim: Simulator) -> None:
    entries = chain(sqlite_sim)
    i = len(entries) // 2
    raw(sqlite_sim, "DELETE FROM audit_log WHERE id = ?", (entries[i].id,))
    report = sqlite_sim.audit.verify()
    assert report.broken_id == entries[i + 1].id
    assert "link" in report.problem and report.checked == i


def test_the_first_entry_deleted_is_found_at_the_new_first_entry(sqlite_sim: Simulator) -> None:
    entries = chain(sqlite_sim)
    raw(sqlite_sim, "DELETE FROM audit_log WHERE id = ?", (entries[0].id,))
    report = sqlite_sim.audit.verify()
    assert report.broken_id == entries[1].id and report.checked == 0


def test_two_entries_whose_contents_were_swapped_are_found_at_the_first_of_them(sqlite_sim: Simulator) -> None:
    entries = chain(sqlite_sim)
    a, b = entries[5], entries[9]
    cols = "at, actor, entity, entity_id, action, before, after, request_key, prev_hash, hash"
    conn = sqlite3.connect(_path(sqlite_sim))
    try:
        rows = {r[0]: r[1:] for r in conn.execute(f"SELECT id, {cols} FROM audit_log WHERE id IN (?, ?)", (a.id, b.id))}
        sets = ", ".join(f"{c.strip()} = ?" for c in cols.split(","))
        conn.execute(f"UPDATE audit_log SET {sets} WHERE id = ?", (*rows[b.id], a.id))
        conn.execute(f"UPDATE audit_log SET {sets} WHERE id = ?", (*rows[a.id], b.id))
        conn.commit()
    finally:
        conn.close()
    report = sqlite_sim.audit.verify()
    assert report.broken_id == a.id and report.checked == 5


def test_swapping_only_the_times_of_two_entries_is_found(sqlite_sim: Simulator) -> None:
    entries = chain(sqlite_sim)
    a, b = entries[3], entries[4]
    raw(sqlite_sim, "UPDATE audit_log SET at = CASE id WHEN ? THEN ? ELSE ? END WHERE id IN (?, ?)",
        (a.id, b.at, a.at, a.id, b.id))
    assert sqlite_sim.audit.verify().broken_id == a.id


def test_an_inserted_entry_is_found(sqlite_sim: Simulator) -> None:
    entries = chain(sqlite_sim)
    e = entries[-1]
    raw(sqlite_sim, "INSERT INTO audit_log (tenant_id, at, actor, entity, entity_id, action, before, after, request_key,"
                    " prev_hash, hash) VALUES (?, ?, 'mallory', 'account', '1', 'rename', NULL, NULL, NULL, ?, ?)",
        (TENANT, "2030-01-01T00:00:00.000000Z", "f" * 64, "e" * 64))
    report = sqlite_sim.audit.verify()
    assert report.broken_id is not None and report.broken_id > e.id and report.checked == len(entries)


def test_an_entry_without_a_hash_was_not_written_through_stockbank(sqlite_sim: Simulator) -> None:
    target = _middle(sqlite_sim)
    raw(sqlite_sim, "UPDATE audit_log SET hash = NULL WHERE id = ?", (target.id,))
    report = sqlite_sim.audit.verify()
    assert report.broken_id == target.id and "no hash" in report.problem


def test_an_archived_entry_edited_with_raw_sql_is_found(sqlite_sim: Simulator) -> None:
    entries = chain(sqlite_sim)
    cut = entries[len(entries) // 2].at[:19]
    report = sqlite_sim.lifecycle.archive(cut, batch_size=7)
    assert report.audit > 7
    target = entries[3]
    raw(sqlite_sim, "UPDATE audit_log_archive SET after = '{}' WHERE id = ?", (target.id,))
    assert sqlite_sim.audit.verify().broken_id == target.id
    assert sqlite_sim.audit.entry(target.id).after == "{}"


def test_tampering_in_one_tenant_leaves_the_other_tenants_chain_verified(sqlite_sim: Simulator) -> None:
    other = Simulator(sqlite_sim.store, actor="other", tenant="t2", clock=FixedClock())
    other.catalog.add_category("Mine")
    other.catalog.add_category("Also mine")
    target = chain(other)[1]
    raw(sqlite_sim, "UPDATE audit_log SET actor = 'mallory' WHERE id = ?", (target.id,))
    assert other.audit.verify().broken_id == target.id
    assert sqlite_sim.audit.verify().ok


def test_a_tampered_entry_is_not_undone_quietly_by_later_writes(sqlite_sim: Simulator) -> None:
    """New entries chain onto the stored tail: an edit stays detectable after more writes."""
    target = _middle(sqlite_sim)
    raw(sqlite_sim, "UPDATE audit_log SET before = NULL, after = NULL WHERE id = ?", (target.id,))
    sqlite_sim.catalog.add_category("Later")
    assert sqlite_sim.audit.verify().broken_id == target.id
