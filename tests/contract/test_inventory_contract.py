"""The inventory contract: locations, stock levels, the append-only stock-move ledger, two-phase
moves, sales and purchases across the stock and bank ledgers, the catalog's quantities, and the
seeded simulation behave the same on every adapter (the `store`/`sim` fixtures are parametrized
over all of them in tests/conftest.py).

Every refusal is checked with its code and to leave the whole tenant unchanged: stock rows,
levels, every move, products, locations, accounts, transfers, the game state, users and the number
of audit entries (in a loop of refusals, the audit log's newest entry after each one and all of it at
the end: `refusals`). After every test both ledgers replay cleanly (`sim.check().ok`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import fresh_store_url  # a store of its own of a given adapter

from domain import Simulator
from domain.clock import FixedClock
from domain.errors import DomainError, ValidationError
from domain.model import ProductQuery
from domain.model.stock import StockMove, Valuation
from domain.ports import Store
from domain.services.bank import BankService
from domain.services.inventory import MAX_LEAD_DAYS, MAX_MOVE
from domain.services.simulation import MAX_DAYS
from storage import open_store

TENANT = "t1"  # the tenant of the `sim` fixture
ALL = ProductQuery(include_inactive=True)
_ANY: Any = object()


# -- helpers ----------------------------------------------------------------------------------


def snapshot(sim: Simulator) -> dict[str, Any]:
    """Everything the tenant keeps: what the services show, plus the raw ledgers."""
    inv = sim.inventory
    rows = inv.stock(ALL, limit=10_000)
    ids = [r.product_id for r in rows]
    with sim.store.unit_of_work(sim.tenant) as uow:
        raw = {
            "all_levels": sorted(uow.stock.all_levels()),
            "moves": list(uow.stock.stream_moves()),
            "transfers": list(uow.transfers.stream()),
            "users": [u.name for u in uow.users.list()],
            "audit": len(uow.audit.latest(100_000)),
        }
    return {
        "stock": rows,
        "levels": sorted(inv.levels(ids)),
        "history": {pid: inv.history(pid, limit=10_000) for pid in ids},
        "pending": inv.pending_moves(),
        "products": sim.catalog.find_products(ALL, limit=10_000),
        "locations": inv.locations(include_virtual=True),
        "accounts": sim.bank.accounts(),
        "game": sim.simulation.state(),
        **raw,
    }


def refuse(sim: Simulator, call: Callable[[], object], code: str, *, field: str | None = _ANY,
           case: object = _ANY) -> DomainError:
    """Assert that `call` is refused with `code`, that nothing at all changed, and that both
    ledgers still replay cleanly. `case` names the input in failure messages."""
    with refusals(sim) as refused:
        return refused(call, code, field=field, case=case)


@contextmanager
def refusals(sim: Simulator) -> Iterator[Callable[..., DomainError]]:
    """For a loop of refusals: `refused(call, code, field=..., case=...)` checks each one's code and field
    and that the audit log's newest entry is still the newest (every write the services make adds one);
    the whole tenant (`snapshot`) and both ledgers (`check`) are compared once, at the end, where a change
    any refusal made would still show. Both per refusal took ~0.1 s on PostgreSQL, ~10 s a loop."""
    before, tail = snapshot(sim), audit_tail(sim)

    def refused(call: Callable[[], object], code: str, *, field: str | None = _ANY, case: object = _ANY) -> DomainError:
        what = "" if case is _ANY else f"[{case!r}] "  # names the input in failure messages
        with pytest.raises(DomainError) as caught:
            call()
        err = caught.value
        assert err.code == code, f"{what}expected {code}, got {err.code}: {err.message}"
        assert err.message, f"{what}a refusal needs a human message"
        if field is not _ANY:
            assert err.field == field, f"{what}{err.message}"
        assert audit_tail(sim) == tail, f"{what}a refused call wrote to the audit log"
        return err

    yield refused
    assert snapshot(sim) == before, "a refused call changed the stored state"
    report = sim.check()
    assert report.ok, report.problems


def audit_tail(sim: Simulator) -> object:
    with sim.store.unit_of_work(sim.tenant) as uow:
        return uow.audit.tail()


def level(sim: Simulator, product: int | str, location: int | str) -> tuple[int, int, int]:
    """(on hand, incoming, outgoing) of a product at a location."""
    found = sim.inventory.level(product, location)
    return found.on_hand, found.incoming, found.outgoing


def total(sim: Simulator, product_id: int) -> int:
    """The product's total on hand as the catalog records it."""
    return sim.catalog.get_product(product_id).quantity


def balances(sim: Simulator) -> dict[str, int]:
    return {a.name: a.balance for a in sim.bank.accounts()}


def moves(sim: Simulator) -> list[StockMove]:
    with sim.store.unit_of_work(sim.tenant) as uow:
        return list(uow.stock.stream_moves())


def transfer_count(sim: Simulator) -> int:
    with sim.store.unit_of_work(sim.tenant) as uow:
        return len(list(uow.transfers.stream()))


def latest_audit(sim: Simulator) -> Any:
    with sim.store.unit_of_work(sim.tenant) as uow:
        return uow.audit.latest(1)[0]


def location_id(sim: Simulator, name: str) -> int:
    return next(loc.id for loc in sim.inventory.locations(include_virtual=True) if loc.name == name)


def without(record: Any, *dropped: str) -> dict[str, Any]:
    """A ledger row as a dict, minus the fields that differ between two otherwise equal runs."""
    return {f.name: getattr(record, f.name) for f in fields(record) if f.name not in dropped}


@pytest.fixture(autouse=True)
def _ledgers_replay_after_every_test(request: pytest.FixtureRequest, sim: Simulator) -> Iterator[None]:
    yield
    if request.node.get_closest_marker("xfail"):
        return  # a known bug may leave its state broken; the test itself says what is expected
    report = sim.check()
    assert report.ok, report.problems
    assert sum(balances(sim).values()) == 0  # money is only ever moved, never made


@dataclass(frozen=True)
class Shop:
    """Ids of the `shop` fixture: Apple 10 on hand in the Warehouse (price 2.00, cost 1.20,
    reorder level 3), Pear none (price 3.00, cost 2.00), an empty Shelf, the Shop account with
    100.00, the customer Carol with 50.00 and the supplier Acme with nothing."""

    apple: int
    pear: int
    warehouse: int
    shelf: int
    shop: int
    carol: int
    acme: int


@pytest.fixture
def shop(sim: Simulator) -> Shop:
    apple = sim.catalog.add_product("APL-1", "Apple", "2.00", quantity=10)
    pear = sim.catalog.add_product("PER-1", "Pear", "3.00")
    sim.inventory.set_planning(apple.id, cost="1.20", reorder_level=3)
    sim.inventory.set_planning(pear.id, cost="2.00")
    warehouse = sim.inventory.default_location()
    shelf = sim.inventory.add_location("Shelf")
    return Shop(
        apple.id, pear.id, warehouse.id, shelf.id,
        sim.bank.open_account("Shop", kind="shop", opening_balance="100.00").id,
        sim.bank.open_account("Carol", kind="customer", opening_balance="50.00").id,
        sim.bank.open_account("Acme", kind="supplier").id,
    )


# -- locations --------------------------------------------------------------------------------


def test_the_default_location_warehouse_is_created_on_first_use(sim: Simulator) -> None:
    sim.catalog.add_product("NUT-1", "Nut", "0.10")
    assert sim.inventory.locations(include_virtual=True) == []  # a product without stock needs none
    move = sim.inventory.receive("NUT-1", 5)
    [warehouse] = sim.inventory.locations()
    assert (warehouse.name, warehouse.kind, warehouse.internal) == ("Warehouse", "internal", True)
    assert move.to_location_id == warehouse.id
    assert sim.inventory.default_location() == warehouse
    assert level(sim, "NUT-1", "warehouse") == (5, 0, 0)
    assert [loc.name for loc in sim.inventory.locations(include_virtual=True)] == ["Warehouse", "Suppliers"]


def test_asking_for_the_default_location_on_a_new_tenant_creates_the_warehouse(sim: Simulator) -> None:
    warehouse = sim.inventory.default_location()
    assert (warehouse.name, warehouse.kind, warehouse.version) == ("Warehouse", "internal", 1)
    assert sim.inventory.default_location() == warehouse
    assert sim.inventory.locations() == [warehouse]
    entry = latest_audit(sim)
    assert (entry.entity, entry.entity_id, entry.action, entry.actor) == (
        "location", str(warehouse.id), "create", "tester")


def test_added_locations_are_internal_and_listed_before_virtual_ones(sim: Simulator, shop: Shop) -> None:
    back = sim.inventory.add_location("  Back room  ")
    assert (back.name, back.kind, back.internal, back.version) == ("Back room", "internal", True, 1)
    entry = latest_audit(sim)
    assert (entry.entity, entry.entity_id, entry.action) == ("location", str(back.id), "create")
    sim.inventory.scrap(shop.apple, 1)  # creates the virtual Scrap after the internal ones
    assert [loc.name for loc in sim.inventory.locations()] == ["Warehouse", "Shelf", "Back room"]
    listed = sim.inventory.locations(include_virtual=True)
    assert [(loc.name, loc.kind) for loc in listed] == [
        ("Warehouse", "internal"), ("Shelf", "internal"), ("Back room", "internal"),
        ("Inventory adjustment", "adjustment"), ("Scrap", "scrap"),
    ]
    internal_ids = [loc.id for loc in listed if loc.internal]
    assert internal_ids == sorted(internal_ids)


def test_a_location_name_is_taken_case_insensitively(sim: Simulator, shop: Shop) -> None:
    for name in ("Shelf", "shelf", "  SHELF ", "warehouse"):
        refuse(sim, lambda: sim.inventory.add_location(name), "already_exists", case=name)


def test_the_names_of_virtual_locations_are_reserved(sim: Simulator, shop: Shop) -> None:
    sim.inventory.scrap(shop.apple, 1)  # reserved whether the virtual location exists yet (Scrap) or not (the rest)
    for name in ("Scrap", "customers", " SUPPLIERS ", "inventory Adjustment"):
        refuse(sim, lambda: sim.inventory.add_location(name), "validation", field="name", case=name)


def test_a_bad_location_name_is_refused(sim: Simulator, shop: Shop) -> None:
    for name in ("", "   ", "x" * 201, "a\x00b", "tab\there", None, 5):
        refuse(sim, lambda: sim.inventory.add_location(name), "validation", field="name",  # type: ignore[arg-type]
               case=name)


def test_a_virtual_location_cannot_hold_stock(sim: Simulator, shop: Shop) -> None:
    sim.inventory.scrap(shop.apple, 1)
    sim.inventory.receive(shop.pear, 1)
    inv = sim.inventory
    refuse(sim, lambda: inv.receive(shop.apple, 1, location="Suppliers"), "validation", field="location")
    refuse(sim, lambda: inv.move_stock(shop.apple, 1, "Warehouse", "Scrap"), "validation", field="target")
    refuse(sim, lambda: inv.move_stock(shop.apple, 1, "Scrap", "Warehouse"), "validation", field="source")
    refuse(sim, lambda: inv.scrap(shop.apple, 1, location="Scrap"), "validation", field="location")
    refuse(sim, lambda: inv.count_stock(shop.apple, 3, location="Inventory adjustment"), "validation", field="location")
    refuse(sim, lambda: inv.sell(shop.apple, 1, "Carol", location="Suppliers"), "validation", field="location")


# -- receive, move, scrap, count ----------------------------------------------------------------


def test_receiving_adds_stock_at_the_location_and_records_a_move_from_suppliers(sim: Simulator, shop: Shop) -> None:
    move = sim.inventory.receive("apl-1", "5", location="shelf", memo="crate 7")
    assert level(sim, shop.apple, shop.shelf) == (5, 0, 0)
    assert level(sim, shop.apple, shop.warehouse) == (10, 0, 0)
    assert total(sim, shop.apple) == 15
    assert (move.kind, move.reason, move.product_id, move.quantity, move.memo, move.actor, move.day) == (
        "posted", "receive", shop.apple, 5, "crate 7", "tester", 0,
    )
    assert (move.from_location_id, move.to_location_id) == (location_id(sim, "Suppliers"), shop.shelf)
    assert (move.from_after, move.to_after, move.pending_id, move.transfer_id, move.due_day) == (
        None, 5, None, None, None)
    assert sim.inventory.get_move(move.id) == move
    entry = latest_audit(sim)
    assert (entry.entity, entry.entity_id, entry.action) == ("stock_move", str(move.id), "receive")


def test_a_posted_move_takes_stock_from_one_location_and_puts_it_at_another(sim: Simulator, shop: Shop) -> None:
    move = sim.inventory.move_stock(shop.apple, 4, shop.warehouse, "SHELF", memo="restock")
    assert (move.kind, move.reason, move.quantity, move.from_after, move.to_after) == ("posted", "move", 4, 6, 4)
    assert (move.from_location_id, move.to_location_id) == (shop.warehouse, shop.shelf)
    assert level(sim, shop.apple, "Warehouse") == (6, 0, 0)
    assert level(sim, shop.apple, "Shelf") == (4, 0, 0)
    assert total(sim, shop.apple) == 10  # a move between internal locations keeps the total
    sim.inventory.move_stock("APL-1", 6, "warehouse", shop.shelf)
    assert level(sim, shop.apple, "Warehouse") == (0, 0, 0)
    assert level(sim, shop.apple, "Shelf") == (10, 0, 0)


def test_scrapping_writes_stock_off_to_the_scrap_location(sim: Simulator, shop: Shop) -> None:
    move = sim.inventory.scrap(shop.apple, 3, memo="bruised")
    assert (move.reason, move.from_location_id, move.to_location_id) == (
        "scrap", shop.warehouse, location_id(sim, "Scrap"))
    assert (move.from_after, move.to_after, move.memo) == (7, None, "bruised")
    assert level(sim, shop.apple, "Warehouse") == (7, 0, 0)
    assert total(sim, shop.apple) == 7
    assert sim.inventory.stock_value() == 7 * 120


def test_a_stocktake_posts_the_difference_as_an_adjustment_naming_the_counter_and_the_day(
    sim: Simulator, shop: Shop
) -> None:
    adjustment = location_id(sim, "Inventory adjustment")
    fewer = sim.inventory.count_stock(shop.apple, 7)
    assert fewer is not None
    assert (fewer.reason, fewer.from_location_id, fewer.to_location_id, fewer.quantity) == (
        "adjust", shop.warehouse, adjustment, 3)
    assert fewer.memo.startswith("counted 7 (was 10) by tester, day 0")
    more = sim.inventory.count_stock(shop.apple, "12", memo="found a box")
    assert more is not None
    assert (more.from_location_id, more.to_location_id, more.quantity, more.to_after) == (
        adjustment, shop.warehouse, 5, 12)
    assert "counted 12 (was 7) by tester, day 0" in more.memo and more.memo.endswith("found a box")
    first = sim.inventory.count_stock(shop.pear, 2, location="Shelf")
    assert first is not None and first.quantity == 2
    assert level(sim, shop.pear, "Shelf") == (2, 0, 0)
    assert sim.inventory.count_stock(shop.apple, 0) is not None  # zero is a count
    assert level(sim, shop.apple, "Warehouse") == (0, 0, 0)
    assert total(sim, shop.apple) == 0


def test_a_stocktake_that_matches_returns_none_and_writes_nothing(sim: Simulator, shop: Shop) -> None:
    before = snapshot(sim)
    assert sim.inventory.count_stock(shop.apple, 10) is None
    assert sim.inventory.count_stock(shop.pear, 0, location="Shelf") is None
    assert snapshot(sim) == before


def test_a_stocktake_below_what_is_reserved_for_goods_in_transit_is_refused(sim: Simulator, shop: Shop) -> None:
    sim.inventory.move_stock(shop.apple, 4, "Warehouse", "Shelf", pending=True)
    refuse(sim, lambda: sim.inventory.count_stock(shop.apple, 3), "insufficient_stock", field="quantity")
    assert sim.inventory.count_stock(shop.apple, 4) is not None
    assert level(sim, shop.apple, "Warehouse") == (4, 0, 4)


def test_a_blank_stocktake_count_is_refused_not_taken_as_zero(sim: Simulator, shop: Shop) -> None:
    for counted in ("", "   "):
        refuse(sim, lambda: sim.inventory.count_stock(shop.apple, counted), "validation", field="quantity",
               case=counted)


def test_set_planning_stores_cost_and_reorder_level_and_keeps_what_it_is_not_given(sim: Simulator, shop: Shop) -> None:
    row = sim.inventory.set_planning("APL-1", cost="1.50")
    assert (row.cost_minor, row.reorder_level) == (150, 3)
    row = sim.inventory.set_planning(shop.apple, reorder_level="8")
    assert (row.cost_minor, row.reorder_level) == (150, 8)
    assert sim.inventory.stock_row(shop.apple) == row
    entry = latest_audit(sim)
    assert (entry.entity, entry.entity_id, entry.action) == ("product", str(shop.apple), "set_planning")
    assert '"reorder_level":3' in entry.before and '"reorder_level":8' in entry.after


def test_bad_planning_values_are_refused(sim: Simulator, shop: Shop) -> None:
    with refusals(sim) as refused:
        for field, value in (("cost", "-1.00"), ("cost", 1.5), ("cost", "abc"), ("cost", True), ("reorder_level", -1),
                             ("reorder_level", "2.5"), ("reorder_level", True), ("reorder_level", MAX_MOVE + 1)):
            refused(lambda: sim.inventory.set_planning(shop.apple, **{field: value}), "validation", field=field,
                    case=(field, value))


def test_stock_rows_list_products_in_name_order_with_totals_cost_and_reorder_level(sim: Simulator, shop: Shop) -> None:
    sim.catalog.add_category("Fruit")
    sim.catalog.add_product("BAN-1", "banana", "0.50", category="Fruit", quantity=4)
    sim.inventory.move_stock(shop.apple, 2, "Warehouse", "Shelf", pending=True)
    rows = sim.inventory.stock()
    assert [(r.sku, r.name, r.category, r.on_hand, r.incoming, r.reorder_level, r.cost_minor, r.price_minor)
            for r in rows] == [
        ("APL-1", "Apple", None, 10, 2, 3, 120, 200),
        ("BAN-1", "banana", "Fruit", 4, 0, 0, 0, 50),
        ("PER-1", "Pear", None, 0, 0, 0, 200, 300),
    ]
    assert rows[0].value_minor == 1200 and not rows[0].low
    assert sim.inventory.stock(ProductQuery(text="pe")) == [rows[2]]
    assert sim.inventory.stock(limit=1) == rows[:1]
    assert sim.inventory.stock_row("ban-1") == rows[1]


def test_a_stock_page_size_out_of_range_is_refused(sim: Simulator, shop: Shop) -> None:
    for limit in (0, -1, 10_001):
        refuse(sim, lambda: sim.inventory.stock(limit=limit), "validation", field="limit", case=limit)


def test_levels_show_a_product_at_every_internal_location_it_has_been_at(sim: Simulator, shop: Shop) -> None:
    back = sim.inventory.add_location("Back room")
    sim.inventory.move_stock(shop.apple, 3, "Warehouse", "Shelf")
    sim.inventory.receive(shop.pear, 2, location=back.id)
    found = {(lv.product_id, lv.location_id): (lv.on_hand, lv.incoming, lv.outgoing, lv.available)
             for lv in sim.inventory.levels([shop.apple, shop.pear])}
    assert found == {
        (shop.apple, shop.warehouse): (7, 0, 0, 7),
        (shop.apple, shop.shelf): (3, 0, 0, 3),
        (shop.pear, back.id): (2, 0, 0, 2),
    }
    assert sim.inventory.levels([]) == []
    assert level(sim, shop.pear, "Warehouse") == (0, 0, 0)  # never there: a zero level, not an error
    assert sim.inventory.level(shop.apple) == sim.inventory.level(shop.apple, shop.warehouse)  # the default one


def test_history_is_newest_first_and_pages_by_before_id(sim: Simulator, shop: Shop) -> None:
    inv = sim.inventory
    inv.receive(shop.apple, 1)
    inv.receive(shop.pear, 3)  # another product's moves never show up
    inv.move_stock(shop.apple, 2, "Warehouse", "Shelf")
    inv.scrap(shop.apple, 1)
    inv.move_stock(shop.apple, 1, "Shelf", "Warehouse", pending=True)
    inv.count_stock(shop.apple, 20)
    full = inv.history(shop.apple)
    expected = [m for m in reversed(moves(sim)) if m.product_id == shop.apple]
    assert full == expected and len(full) == 6
    assert [m.reason for m in full] == ["adjust", "move", "scrap", "move", "receive", "adjust"]
    pages, before = [], None
    while page := inv.history(shop.apple, before_id=before, limit=4):
        assert len(page) <= 4
        pages.append(page)
        before = page[-1].id
    assert [len(p) for p in pages] == [4, 2]
    assert [m for p in pages for m in p] == full
    assert inv.history(shop.apple, before_id=full[-1].id) == []
    assert inv.history(shop.apple, before_id=0) == []


def test_history_arguments_are_checked(sim: Simulator, shop: Shop) -> None:
    for field, value in (("before_id", True), ("before_id", "7"), ("before_id", 1.5), ("limit", 0), ("limit", 10_001)):
        refuse(sim, lambda: sim.inventory.history(shop.apple, **{field: value}), "validation", field=field,
               case=(field, value))


def test_a_history_page_before_an_id_beyond_any_move_gives_the_newest_moves(sim: Simulator, shop: Shop) -> None:
    for before_id in (2**63 - 1, 2**63, 2**64):
        assert sim.inventory.history(shop.apple, before_id=before_id) == sim.inventory.history(shop.apple), before_id


# -- paging both ways, and by offset (what the Inventory screen's virtual tables ask for) -------------

LOW = {"low_only": True}


@pytest.fixture
def twelve(sim: Simulator) -> Simulator:
    """Twelve products whose name order is neither their id nor their SKU order, one inactive, every
    other one low (on hand at or below a reorder level of 5), names that tie apart from their case."""
    names = ["pear", "Apple", "fig", "apple", "Kiwi", "date", "Lime", "banana", "Cherry", "grape", "Melon", "elder"]
    for n, name in enumerate(names):
        sim.catalog.add_product(f"P-{n:02d}", name, "1.00", quantity=3 if n % 2 else 9)
        sim.inventory.set_planning(f"P-{n:02d}", reorder_level=5)
    date = sim.catalog.get_product_by_sku("P-05")  # a low one
    sim.catalog.update_product(date.id, date.version, active=False)
    return sim


def _stock_cursor(row: Any) -> Any:
    from domain.model.catalog import ProductCursor, fold_case

    return ProductCursor(fold_case(row.name), row.product_id)


def _stock_backward(sim: Simulator, query: ProductQuery, size: int, **low: bool) -> list[list[int]]:
    """What a virtual table does after jumping to the end: the last page, then the pages before it."""
    pages: list[list[int]] = []
    page = sim.inventory.stock(query, None, size, backward=True, **low)
    while page:
        pages.insert(0, [r.product_id for r in page])
        page = sim.inventory.stock(query, _stock_cursor(page[0]), size, backward=True, **low)
    return pages


@pytest.mark.parametrize("size", [1, 3, 5, 11, 12])
@pytest.mark.parametrize("query, low", [(ALL, {}), (ProductQuery(), {}), (ALL, LOW), (ProductQuery(text="e"), {})],
                         ids=["all", "active", "low", "filtered"])
def test_stock_pages_walked_backward_from_the_end_give_the_forward_order(
        twelve: Simulator, size: int, query: ProductQuery, low: dict[str, bool]) -> None:
    forward = [r.product_id for r in twelve.inventory.stock(query, limit=100, **low)]
    assert forward
    pages = _stock_backward(twelve, query, size, **low)
    assert [i for p in pages for i in p] == forward
    assert pages[-1] == forward[-size:] and all(len(p) == size for p in pages[1:])
    assert twelve.inventory.count_stock_rows(query, **low) == len(forward)
    # backward from a row in the middle: the rows just before it
    middle = twelve.inventory.stock(query, None, 1, skip=len(forward) // 2, **low)[0]
    assert [r.product_id for r in twelve.inventory.stock(query, _stock_cursor(middle), size, backward=True, **low)] \
        == forward[max(len(forward) // 2 - size, 0):len(forward) // 2]


@pytest.mark.parametrize("skip", [0, 1, 4, 10, 11, 30])
def test_stock_skip_jumps_into_the_list_by_offset_also_in_the_low_view_and_backward(twelve: Simulator, skip: int) -> None:
    inv = twelve.inventory
    forward = [r.product_id for r in inv.stock(ALL)]
    assert len(forward) == 12
    assert [r.product_id for r in inv.stock(ALL, None, 3, skip=skip)] == forward[skip:skip + 3]
    low = [r.product_id for r in inv.stock(ALL, low_only=True)]
    assert [r.product_id for r in inv.stock(ALL, None, 2, low_only=True, skip=skip)] == low[skip:skip + 2]
    # backward, the skip counts from the end
    end = len(forward) - skip
    assert [r.product_id for r in inv.stock(ALL, None, 3, backward=True, skip=skip)] == forward[max(end - 3, 0):max(end, 0)]
    # and from a cursor: the rows after it, that many left out
    first = inv.stock(ALL, None, 1)[0]
    assert [r.product_id for r in inv.stock(ALL, _stock_cursor(first), 3, skip=skip)] == forward[1 + skip:4 + skip]


def test_the_number_of_stock_rows_follows_the_filter_and_the_low_view(twelve: Simulator) -> None:
    inv = twelve.inventory
    assert inv.count_stock_rows() == 11 and inv.count_stock_rows(ALL) == 12
    assert inv.count_stock_rows(low_only=True) == inv.count_low() == len(inv.low_stock()) == 5
    assert inv.count_stock_rows(ALL, low_only=True) == 6
    assert inv.count_stock_rows(ProductQuery(text="APPLE")) == 2
    assert inv.count_stock_rows(ProductQuery(text="nothing like it")) == 0


def _history_backward(sim: Simulator, product: int, size: int, include_archive: bool = False) -> list[list[int]]:
    """From the oldest page up to the newest, each page newest first (a virtual table after End)."""
    pages: list[list[int]] = []
    page = sim.inventory.history(product, None, size, include_archive, backward=True)
    while page:
        pages.insert(0, [m.id for m in page])
        page = sim.inventory.history(product, page[0].id, size, include_archive, backward=True)
    return pages


def _eleven_moves(sim: Simulator, shop: Shop) -> list[int]:
    """Eleven moves of the apple (its opening one and ten more), interleaved with the pear's."""
    inv = sim.inventory
    for n in range(5):
        inv.move_stock(shop.apple, 1, "Warehouse", "Shelf")
        inv.receive(shop.pear, 1)
        inv.move_stock(shop.apple, 1, "Shelf", "Warehouse", pending=n % 2 == 1)
    found = [m.id for m in inv.history(shop.apple, limit=10_000)]
    assert len(found) == 11
    return found


@pytest.mark.parametrize("size", [1, 3, 4, 10, 11, 12])
def test_history_pages_walked_backward_from_the_oldest_give_the_newest_first_order(
        sim: Simulator, shop: Shop, size: int) -> None:
    full = _eleven_moves(sim, shop)
    pages = _history_backward(sim, shop.apple, size)
    assert [i for p in pages for i in p] == full
    assert pages[-1] == full[-size:]  # the oldest moves first of all
    assert sim.inventory.count_history(shop.apple) == 11 and sim.inventory.count_history(shop.pear) == 5
    # newer than a move: the moves just above it in the list, nearest last
    at = full.index(full[6])
    assert [m.id for m in sim.inventory.history(shop.apple, full[6], size, backward=True)] == full[max(at - size, 0):at]


@pytest.mark.parametrize("skip", [0, 1, 5, 10, 11, 40])
def test_history_skip_jumps_by_offset_both_ways(sim: Simulator, shop: Shop, skip: int) -> None:
    full = _eleven_moves(sim, shop)
    inv = sim.inventory
    assert [m.id for m in inv.history(shop.apple, None, 3, skip=skip)] == full[skip:skip + 3]
    end = len(full) - skip
    assert [m.id for m in inv.history(shop.apple, None, 3, backward=True, skip=skip)] == full[max(end - 3, 0):max(end, 0)]
    assert [m.id for m in inv.history(shop.apple, full[0], 2, skip=skip)] == full[1 + skip:3 + skip]


def test_history_pages_both_ways_across_the_archive(sim: Simulator, shop: Shop) -> None:
    first = _eleven_moves(sim, shop)
    report = sim.lifecycle.archive(sim.ctx.now())
    assert report.moves > 0 and len(sim.inventory.history(shop.apple)) < 11
    inv = sim.inventory
    for _ in range(3):  # newer ones stay live
        inv.move_stock(shop.apple, 1, "Warehouse", "Shelf")
    full = [m.id for m in inv.history(shop.apple, limit=10_000, include_archive=True)]
    assert full[3:] == first and inv.count_history(shop.apple, include_archive=True) == 14
    assert inv.count_history(shop.apple) == len(inv.history(shop.apple, limit=10_000))
    for size in (1, 4, 14):
        assert [i for p in _history_backward(sim, shop.apple, size, True) for i in p] == full, size
    for skip in (0, 2, 5, 13, 20):
        assert [m.id for m in inv.history(shop.apple, None, 4, True, skip=skip)] == full[skip:skip + 4], skip
        end = len(full) - skip
        assert [m.id for m in inv.history(shop.apple, None, 4, True, backward=True, skip=skip)] == \
            full[max(end - 4, 0):max(end, 0)], skip


def test_history_newer_than_an_id_beyond_any_move_is_empty_and_older_than_none_is_empty(
        sim: Simulator, shop: Shop) -> None:
    full = _eleven_moves(sim, shop)
    inv = sim.inventory
    for before_id in (2**63 - 1, 2**63, 2**64):
        assert inv.history(shop.apple, before_id, backward=True) == [], before_id
    for before_id in (0, -1, -(2**64)):
        assert inv.history(shop.apple, before_id) == [], before_id
        assert [m.id for m in inv.history(shop.apple, before_id, 3, backward=True)] == full[-3:], before_id


@pytest.mark.parametrize("skip", [-1, 1.5, True, "2", None])
def test_a_bad_skip_is_refused(sim: Simulator, shop: Shop, skip: object) -> None:
    inv = sim.inventory
    refuse(sim, lambda: inv.stock(ALL, None, 3, skip=skip), "validation", field="skip")
    refuse(sim, lambda: inv.stock(ALL, None, 3, low_only=True, backward=True, skip=skip), "validation", field="skip")
    refuse(sim, lambda: inv.history(shop.apple, None, 3, skip=skip), "validation", field="skip")
    refuse(sim, lambda: inv.history(shop.apple, None, 3, backward=True, skip=skip), "validation", field="skip")


def test_valuation_is_on_hand_times_cost_by_category_and_by_location(sim: Simulator) -> None:
    cat = sim.catalog
    fruit, veg = cat.add_category("Fruit"), cat.add_category("Veg")
    cat.add_category("Empty")
    apple = cat.add_product("APL-1", "Apple", "2.00", category="Fruit", quantity=10)
    cat.add_product("PER-1", "Pear", "3.00", category="fruit")
    cat.add_product("LEK-1", "Leek", "1.00", category="Veg", quantity=8)
    cat.add_product("BAG-1", "Bag", "0.20", quantity=20)
    cat.add_product("NIL-1", "Nothing", "9.00", category="Veg")  # no stock: adds nothing
    for sku, cost in (("APL-1", "1.20"), ("PER-1", "2.00"), ("LEK-1", "0.50"), ("BAG-1", "0.10"), ("NIL-1", "5.00")):
        sim.inventory.set_planning(sku, cost=cost)
    shelf = sim.inventory.add_location("Shelf")
    sim.inventory.move_stock(apple.id, 4, "Warehouse", "Shelf")
    sim.inventory.receive("PER-1", 5, location="Shelf")
    warehouse = sim.inventory.default_location()
    assert sim.inventory.valuation("category") == [
        Valuation(fruit.id, "Fruit", 15, 10 * 120 + 5 * 200),
        Valuation(veg.id, "Veg", 8, 8 * 50),
        Valuation(None, None, 20, 20 * 10),
    ]
    assert sim.inventory.valuation() == sim.inventory.valuation("category")
    assert sim.inventory.valuation("location") == [
        Valuation(warehouse.id, "Warehouse", 6 + 8 + 20, 6 * 120 + 8 * 50 + 20 * 10),
        Valuation(shelf.id, "Shelf", 4 + 5, 4 * 120 + 5 * 200),
    ]
    assert sim.inventory.stock_value() == 2800 == sum(v.value_minor for v in sim.inventory.valuation("category"))
    sim.inventory.set_planning("BAG-1", cost="1.10")  # a new cost revalues what is on hand
    assert sim.inventory.stock_value() == 2800 + 20 * 100
    refuse(sim, lambda: sim.inventory.valuation("price"), "validation", field="by")


def test_an_empty_shop_is_worth_nothing(sim: Simulator) -> None:
    assert sim.inventory.valuation("category") == sim.inventory.valuation("location") == []
    assert sim.inventory.stock_value() == 0
    assert sim.inventory.count_low() == 0 and sim.inventory.low_stock() == []


def test_low_stock_is_on_hand_at_or_below_a_positive_reorder_level_of_active_products(sim: Simulator) -> None:
    cat, inv = sim.catalog, sim.inventory
    for sku, name, qty, reorder in (("A", "A at level", 5, 5), ("B", "B below", 2, 5), ("C", "C above", 6, 5),
                                    ("D", "D no level", 0, 0), ("E", "E inactive", 1, 5)):
        cat.add_product(sku, name, "1.00", quantity=qty)
        inv.set_planning(sku, reorder_level=reorder)
    off = cat.get_product_by_sku("E")
    cat.update_product(off.id, off.version, active=False)
    sim.bank.open_account("Shop", kind="shop", opening_balance="10.00")
    sim.bank.open_account("Acme", kind="supplier")
    inv.purchase("B", 10, "Acme", lead_days=2, unit_cost="0.10")  # on order is not on hand: B stays low
    assert inv.stock_row("B").incoming == 10
    low = inv.low_stock()
    assert [r.sku for r in low] == ["A", "B"]
    assert all(r.low for r in low)
    assert inv.count_low() == 2
    assert inv.stock(low_only=True) == low
    assert [r.sku for r in inv.stock(ALL, low_only=True)] == ["A", "B", "E"]
    assert [r.sku for r in inv.stock() if r.low] == ["A", "B"]
    inv.receive("A", 1)
    assert inv.count_low() == 1
    inv.scrap("C", 1)
    assert [r.sku for r in inv.low_stock()] == ["B", "C"]


# -- two-phase moves ----------------------------------------------------------------------------


def test_a_pending_move_shows_outgoing_at_the_source_and_incoming_at_the_target(sim: Simulator, shop: Shop) -> None:
    pending = sim.inventory.move_stock(shop.apple, 4, "Warehouse", "Shelf", pending=True)
    assert (pending.kind, pending.reason, pending.quantity, pending.pending_id) == ("pending", "move", 4, None)
    assert level(sim, shop.apple, "Warehouse") == (10, 0, 4)
    assert level(sim, shop.apple, "Shelf") == (0, 4, 0)
    assert sim.inventory.level(shop.apple, "Warehouse").available == 6
    assert total(sim, shop.apple) == 10
    assert sim.inventory.stock_row(shop.apple).incoming == 4
    assert sim.inventory.pending_moves() == [pending] == sim.inventory.pending_moves("APL-1")
    assert sim.inventory.pending_moves(shop.pear) == []
    # reserved stock cannot leave a second time
    err = refuse(sim, lambda: sim.inventory.sell(shop.apple, 7, "Carol"), "insufficient_stock", field="quantity")
    assert err.details["available"] == 6
    refuse(sim, lambda: sim.inventory.move_stock(shop.apple, 7, "Warehouse", "Shelf", pending=True),
           "insufficient_stock")
    refuse(sim, lambda: sim.inventory.scrap(shop.apple, 7), "insufficient_stock")


def test_receiving_a_pending_move_puts_the_goods_at_the_target(sim: Simulator, shop: Shop) -> None:
    pending = sim.inventory.move_stock(shop.apple, 4, "Warehouse", "Shelf", pending=True)
    done = sim.inventory.receive_pending(pending.id)
    assert (done.kind, done.reason, done.pending_id, done.quantity) == ("received", "move", pending.id, 4)
    assert (done.from_location_id, done.to_location_id, done.from_after, done.to_after) == (
        shop.warehouse, shop.shelf, 6, 4)
    assert level(sim, shop.apple, "Warehouse") == (6, 0, 0)
    assert level(sim, shop.apple, "Shelf") == (4, 0, 0)
    assert total(sim, shop.apple) == 10
    assert sim.inventory.pending_moves() == []
    assert sim.inventory.history(shop.apple)[:2] == [done, pending]


def test_cancelling_a_pending_move_releases_the_reservation(sim: Simulator, shop: Shop) -> None:
    pending = sim.inventory.move_stock(shop.apple, 4, "Warehouse", "Shelf", pending=True)
    done = sim.inventory.cancel_pending(pending.id)
    assert (done.kind, done.pending_id, done.transfer_id) == ("cancelled", pending.id, None)
    assert level(sim, shop.apple, "Warehouse") == (10, 0, 0)
    assert level(sim, shop.apple, "Shelf") == (0, 0, 0)
    assert sim.inventory.pending_moves() == []
    sim.inventory.sell(shop.apple, 10, "Carol")  # everything is available again


RESOLVE = ("receive_pending", "cancel_pending")


def test_a_pending_move_is_resolved_once(sim: Simulator, shop: Shop) -> None:
    for first, second, code in (("receive_pending", "receive_pending", "already_received"),
                                ("receive_pending", "cancel_pending", "already_received"),
                                ("cancel_pending", "receive_pending", "already_cancelled"),
                                ("cancel_pending", "cancel_pending", "already_cancelled")):
        pending = sim.inventory.move_stock(shop.apple, 1, "Warehouse", "Shelf", pending=True)
        getattr(sim.inventory, first)(pending.id)
        refuse(sim, lambda: getattr(sim.inventory, second)(pending.id), code, case=(first, second))


def test_only_a_pending_move_can_be_received_or_cancelled(sim: Simulator, shop: Shop) -> None:
    posted = sim.inventory.move_stock(shop.apple, 1, "Warehouse", "Shelf")
    pending = sim.inventory.move_stock(shop.apple, 1, "Warehouse", "Shelf", pending=True)
    resolution = sim.inventory.receive_pending(pending.id)
    for resolve in RESOLVE:
        for move in (posted, resolution):
            refuse(sim, lambda: getattr(sim.inventory, resolve)(move.id), "not_pending", case=(resolve, move.kind))


def test_an_unknown_move_is_not_found(sim: Simulator, shop: Shop) -> None:
    pending = sim.inventory.move_stock(shop.apple, 1, "Warehouse", "Shelf", pending=True)
    with refusals(sim) as refused:
        for call in (*RESOLVE, "get_move"):
            for move_id in (999_999, 0, -1, 2**63, str(pending.id), float(pending.id), True, None):
                refused(lambda: getattr(sim.inventory, call)(move_id), "not_found", field="move", case=(call, move_id))


def test_a_resolution_retried_with_its_key_returns_the_first_one(sim: Simulator, shop: Shop) -> None:
    pending = sim.inventory.move_stock(shop.apple, 4, "Warehouse", "Shelf", pending=True)
    done = sim.inventory.receive_pending(pending.id, idempotency_key="arrive-1")
    before = snapshot(sim)
    assert sim.inventory.receive_pending(pending.id, idempotency_key="arrive-1") == done
    assert snapshot(sim) == before
    refuse(sim, lambda: sim.inventory.cancel_pending(pending.id, idempotency_key="arrive-1"), "idempotency_conflict")


def test_a_purchase_with_lead_days_is_a_pending_receipt_due_later_and_paid_now(sim: Simulator, shop: Shop) -> None:
    bought = sim.inventory.purchase(shop.apple, 5, "Acme", lead_days=3)
    move, paid = bought
    assert (move.kind, move.reason, move.quantity, move.due_day, move.day) == ("pending", "purchase", 5, 3, 0)
    assert (move.from_location_id, move.to_location_id) == (location_id(sim, "Suppliers"), shop.warehouse)
    assert move.transfer_id == paid.id
    assert (paid.debit_account_id, paid.credit_account_id, paid.amount_minor, paid.kind) == (
        shop.shop, shop.acme, 600, "posted")
    assert balances(sim)["Shop"] == 9400 and balances(sim)["Acme"] == 600
    assert level(sim, shop.apple, "Warehouse") == (10, 5, 0)
    assert total(sim, shop.apple) == 10
    assert sim.inventory.pending_moves() == [move]
    arrived = sim.inventory.receive_pending(move.id)
    assert (arrived.kind, arrived.reason, arrived.transfer_id) == ("received", "purchase", None)
    assert level(sim, shop.apple, "Warehouse") == (15, 0, 0)
    assert total(sim, shop.apple) == 15
    assert balances(sim)["Shop"] == 9400  # arriving goods cost nothing more


def test_cancelling_a_pending_purchase_refunds_the_supplier_payment_in_the_same_transaction(
    sim: Simulator, shop: Shop
) -> None:
    before = balances(sim)
    move, paid = sim.inventory.purchase(shop.apple, 5, "Acme", lead_days=2, unit_cost="1.00")
    assert balances(sim)["Shop"] == before["Shop"] - 500
    cancelled = sim.inventory.cancel_pending(move.id)
    assert balances(sim) == before
    assert cancelled.transfer_id is not None
    refund = sim.bank.get_transfer(cancelled.transfer_id)
    assert (refund.debit_account_id, refund.credit_account_id, refund.amount_minor) == (
        shop.acme, shop.shop, paid.amount_minor)
    assert level(sim, shop.apple, "Warehouse") == (10, 0, 0)
    assert sim.inventory.pending_moves() == []


def test_a_cancel_the_supplier_cannot_refund_is_refused_and_keeps_the_goods_in_transit(
    sim: Simulator, shop: Shop
) -> None:
    move, _ = sim.inventory.purchase(shop.apple, 5, "Acme", lead_days=2)
    sim.bank.withdraw("Acme", "6.00")
    refuse(sim, lambda: sim.inventory.cancel_pending(move.id), "insufficient_funds")
    assert sim.inventory.pending_moves() == [move]
    assert level(sim, shop.apple, "Warehouse") == (10, 5, 0)


# -- sales and purchases across both ledgers ----------------------------------------------------


def test_a_sale_moves_stock_to_customers_and_the_customer_pays_the_shop_price_times_quantity(
    sim: Simulator, shop: Shop
) -> None:
    before = balances(sim)
    sale = sim.inventory.sell("APL-1", 3, "carol")
    move, paid = sale
    assert (move.kind, move.reason, move.quantity, move.from_location_id, move.from_after) == (
        "posted", "sell", 3, shop.warehouse, 7)
    assert move.to_location_id == location_id(sim, "Customers")
    assert move.transfer_id == paid.id and move.memo == paid.memo == "sale APL-1 x3"
    assert (paid.debit_account_id, paid.credit_account_id, paid.amount_minor) == (shop.carol, shop.shop, 600)
    assert balances(sim) == before | {"Carol": before["Carol"] - 600, "Shop": before["Shop"] + 600}
    assert level(sim, shop.apple, "Warehouse") == (7, 0, 0)
    assert total(sim, shop.apple) == 7
    assert sim.bank.get_transfer(paid.id) == paid and sim.inventory.get_move(move.id) == move


def test_a_sale_at_a_unit_price_from_another_location_charges_that_price(sim: Simulator, shop: Shop) -> None:
    sim.inventory.move_stock(shop.apple, 5, "Warehouse", "Shelf")
    move, paid = sim.inventory.sell(shop.apple, "2", shop.carol, location="Shelf", unit_price="1.75", memo="promo")
    assert paid.amount_minor == 350 and paid.memo == move.memo == "promo"
    assert move.from_location_id == shop.shelf
    assert level(sim, shop.apple, "Shelf") == (3, 0, 0) and level(sim, shop.apple, "Warehouse") == (5, 0, 0)
    assert balances(sim)["Carol"] == 5000 - 350


def test_a_purchase_pays_the_supplier_cost_times_quantity_and_the_goods_arrive_now(sim: Simulator, shop: Shop) -> None:
    move, paid = sim.inventory.purchase("PER-1", 4, "acme", location="Shelf")
    assert (move.kind, move.reason, move.to_location_id, move.to_after, move.due_day) == (
        "posted", "purchase", shop.shelf, 4, None)
    assert move.from_location_id == location_id(sim, "Suppliers")
    assert (paid.debit_account_id, paid.credit_account_id, paid.amount_minor) == (shop.shop, shop.acme, 800)
    assert move.transfer_id == paid.id
    assert balances(sim)["Shop"] == 10_000 - 800 and balances(sim)["Acme"] == 800
    assert level(sim, shop.pear, "Shelf") == (4, 0, 0)
    _, cheaper = sim.inventory.purchase("PER-1", 2, "Acme", unit_cost="1.25")
    assert cheaper.amount_minor == 250


def test_the_same_sale_key_and_request_returns_the_first_sale_and_writes_nothing(sim: Simulator, shop: Shop) -> None:
    sale = sim.inventory.sell(shop.apple, 3, "Carol", idempotency_key="sale-1")
    assert sale.move.idempotency_key == sale.transfer.idempotency_key == "sale-1"
    before = snapshot(sim)
    assert sim.inventory.sell("apl-1", "3", shop.carol, idempotency_key="sale-1") == sale
    assert snapshot(sim) == before


def test_a_sale_retried_after_the_stock_ran_out_and_the_customer_was_frozen_returns_the_first_sale(
    sim: Simulator, shop: Shop
) -> None:
    sale = sim.inventory.sell(shop.apple, 3, "Carol", idempotency_key="sale-1")
    sim.inventory.scrap(shop.apple, 7)
    sim.bank.freeze("Carol", 1)
    before = snapshot(sim)
    assert sim.inventory.sell(shop.apple, 3, "Carol", idempotency_key="sale-1") == sale
    assert snapshot(sim) == before


def test_a_sale_retried_after_a_price_change_returns_the_first_sale(sim: Simulator, shop: Shop) -> None:
    sale = sim.inventory.sell(shop.apple, 3, "Carol", idempotency_key="sale-1")
    apple = sim.catalog.get_product(shop.apple)
    sim.catalog.update_product(apple.id, apple.version, price="2.50")
    assert sim.inventory.sell(shop.apple, 3, "Carol", idempotency_key="sale-1") == sale


def test_a_purchase_retried_after_a_cost_change_returns_the_first_purchase(sim: Simulator, shop: Shop) -> None:
    bought = sim.inventory.purchase(shop.apple, 5, "Acme", idempotency_key="po-1")
    sim.inventory.set_planning(shop.apple, cost="1.30")
    assert sim.inventory.purchase(shop.apple, 5, "Acme", idempotency_key="po-1") == bought


def test_the_same_sale_key_with_another_request_is_an_idempotency_conflict(sim: Simulator, shop: Shop) -> None:
    sim.bank.open_account("Dave", kind="customer", opening_balance="50.00")
    sim.inventory.receive(shop.pear, 5)
    sim.inventory.receive(shop.apple, 5, location="Shelf")
    sim.inventory.sell(shop.apple, 3, "Carol", idempotency_key="sale-1")
    for change in ({"quantity": 4}, {"customer": "Dave"}, {"unit_price": "1.00"}, {"location": "Shelf"},
                   {"product": "PER-1"}, {"memo": "another sale"}):
        args = {"product": shop.apple, "quantity": 3, "customer": "Carol"} | change
        kwargs = {k: v for k, v in args.items() if k not in ("product", "quantity", "customer")}
        refuse(sim, lambda: sim.inventory.sell(args["product"], args["quantity"], args["customer"],
                                               idempotency_key="sale-1", **kwargs),
               "idempotency_conflict", field="idempotency_key", case=change)


def test_the_same_purchase_key_and_request_returns_the_first_purchase_and_writes_nothing(
    sim: Simulator, shop: Shop
) -> None:
    bought = sim.inventory.purchase(shop.apple, 5, "Acme", lead_days=2, idempotency_key="po-1")
    before = snapshot(sim)
    assert sim.inventory.purchase("APL-1", "5", shop.acme, lead_days=2, idempotency_key="po-1") == bought
    assert snapshot(sim) == before


def test_the_same_purchase_key_with_another_request_is_an_idempotency_conflict(sim: Simulator, shop: Shop) -> None:
    sim.bank.open_account("Bolt", kind="supplier")
    sim.inventory.purchase(shop.apple, 5, "Acme", idempotency_key="po-1")
    for change in ({"quantity": 6}, {"supplier": "Bolt"}, {"unit_cost": "1.00"}, {"location": "Shelf"},
                   {"product": "PER-1"}, {"memo": "another order"}):
        args = {"product": shop.apple, "quantity": 5, "supplier": "Acme"} | change
        kwargs = {k: v for k, v in args.items() if k not in ("product", "quantity", "supplier")}
        refuse(sim, lambda: sim.inventory.purchase(args["product"], args["quantity"], args["supplier"],
                                                   idempotency_key="po-1", **kwargs),
               "idempotency_conflict", field="idempotency_key", case=change)


def test_the_same_purchase_key_with_other_lead_days_is_an_idempotency_conflict(sim: Simulator, shop: Shop) -> None:
    sim.inventory.purchase(shop.apple, 5, "Acme", idempotency_key="po-1")
    sim.inventory.purchase(shop.apple, 5, "Acme", lead_days=2, idempotency_key="po-2")
    refuse(sim, lambda: sim.inventory.purchase(shop.apple, 5, "Acme", lead_days=3, idempotency_key="po-1"),
           "idempotency_conflict")
    refuse(sim, lambda: sim.inventory.purchase(shop.apple, 5, "Acme", idempotency_key="po-2"), "idempotency_conflict")


def test_a_key_an_earlier_bank_transfer_used_cannot_become_a_sales_or_purchases_payment(
    sim: Simulator, shop: Shop
) -> None:
    # the very transfer the sale would make, already made by hand: it must not pass for this sale's payment
    sim.bank.transfer("Carol", "Shop", "4.00", idempotency_key="pay-1", memo="sale APL-1 x2")
    sim.bank.transfer("Shop", "Acme", "2.40", idempotency_key="pay-2", memo="purchase APL-1 x2")
    refuse(sim, lambda: sim.inventory.sell(shop.apple, 2, "Carol", idempotency_key="pay-1"), "idempotency_conflict",
           field="idempotency_key")
    refuse(sim, lambda: sim.inventory.purchase(shop.apple, 2, "Acme", idempotency_key="pay-2"), "idempotency_conflict",
           field="idempotency_key")


def test_the_system_cash_account_can_neither_buy_nor_sell(sim: Simulator, shop: Shop) -> None:
    refuse(sim, lambda: sim.inventory.sell(shop.apple, 1, "Cash EUR"), "validation", field="customer")
    refuse(sim, lambda: sim.inventory.purchase(shop.apple, 1, "cash eur"), "validation", field="supplier")


def test_the_same_move_key_and_request_returns_the_first_move_and_another_request_conflicts(
    sim: Simulator, shop: Shop
) -> None:
    received = sim.inventory.receive(shop.apple, 2, idempotency_key="rcv-1")
    moved = sim.inventory.move_stock(shop.apple, 2, "Warehouse", "Shelf", idempotency_key="mv-1")
    before = snapshot(sim)
    assert sim.inventory.receive(shop.apple, 2, idempotency_key="rcv-1") == received
    assert sim.inventory.move_stock(shop.apple, 2, "Warehouse", "Shelf", idempotency_key="mv-1") == moved
    assert snapshot(sim) == before
    inv = sim.inventory
    refuse(sim, lambda: inv.receive(shop.apple, 3, idempotency_key="rcv-1"), "idempotency_conflict")
    refuse(sim, lambda: inv.receive(shop.apple, 2, memo="another crate", idempotency_key="rcv-1"),
           "idempotency_conflict")
    refuse(sim, lambda: inv.move_stock(shop.apple, 2, "Warehouse", "Shelf", pending=True, idempotency_key="mv-1"),
           "idempotency_conflict")
    refuse(sim, lambda: inv.scrap(shop.apple, 2, idempotency_key="rcv-1"), "idempotency_conflict")
    refuse(sim, lambda: inv.sell(shop.apple, 2, "Carol", idempotency_key="rcv-1"), "idempotency_conflict")
    refuse(sim, lambda: inv.purchase(shop.apple, 2, "Acme", idempotency_key="mv-1"), "idempotency_conflict")


# -- bad input: a clear code and nothing changed ------------------------------------------------


QUANTITY_OPS: dict[str, Callable[[Simulator, Shop, Any], object]] = {
    "receive": lambda sim, s, q: sim.inventory.receive(s.apple, q),
    "move": lambda sim, s, q: sim.inventory.move_stock(s.apple, q, "Warehouse", "Shelf"),
    "pending move": lambda sim, s, q: sim.inventory.move_stock(s.apple, q, "Warehouse", "Shelf", pending=True),
    "scrap": lambda sim, s, q: sim.inventory.scrap(s.apple, q),
    "sell": lambda sim, s, q: sim.inventory.sell(s.apple, q, "Carol"),
    "purchase": lambda sim, s, q: sim.inventory.purchase(s.apple, q, "Acme"),
}


def test_a_loop_of_refusals_catches_a_call_that_wrote_before_it_refused(sim: Simulator, shop: Shop) -> None:
    """`refusals` itself: a write through a service shows in the audit log at once; a write that leaves no
    audit entry shows in the snapshot at the end of the loop."""
    def through_a_service() -> None:
        sim.inventory.add_location("Leak")
        raise ValidationError("refused after a write", field="quantity")

    def behind_the_audit_log() -> None:
        with sim.store.unit_of_work(sim.tenant, write=True) as uow:
            uow.locations.add("Hidden", "internal")
            uow.commit()
        raise ValidationError("refused after a write", field="quantity")

    with pytest.raises(AssertionError, match="wrote to the audit log"):
        with refusals(sim) as refused:
            refused(through_a_service, "validation")
    with pytest.raises(AssertionError, match="changed the stored state"):
        with refusals(sim) as refused:
            refused(behind_the_audit_log, "validation")


BAD_QUANTITIES = (0, -1, "-1", "1.5", 1.5, True, False, "abc", "1e3", None, "", "  ", "\u0663", MAX_MOVE + 1)


def test_a_bad_quantity_is_refused_and_changes_nothing(sim: Simulator, shop: Shop) -> None:
    with refusals(sim) as refused:
        for op, call in QUANTITY_OPS.items():
            for quantity in BAD_QUANTITIES:
                refused(lambda: call(sim, shop, quantity), "validation", field="quantity", case=(op, quantity))


def test_a_bad_stocktake_count_is_refused(sim: Simulator, shop: Shop) -> None:
    with refusals(sim) as refused:
        for counted in (-1, "1.5", 1.5, True, "abc", None, MAX_MOVE + 1):
            refused(lambda: sim.inventory.count_stock(shop.apple, counted),  # type: ignore[arg-type]
                    "validation", field="quantity", case=counted)


PRODUCT_OPS: dict[str, Callable[[Simulator, Any], object]] = {
    "receive": lambda sim, p: sim.inventory.receive(p, 1),
    "move": lambda sim, p: sim.inventory.move_stock(p, 1, "Warehouse", "Shelf"),
    "scrap": lambda sim, p: sim.inventory.scrap(p, 1),
    "count": lambda sim, p: sim.inventory.count_stock(p, 1),
    "sell": lambda sim, p: sim.inventory.sell(p, 1, "Carol"),
    "purchase": lambda sim, p: sim.inventory.purchase(p, 1, "Acme"),
    "set_planning": lambda sim, p: sim.inventory.set_planning(p, cost="1.00"),
    "history": lambda sim, p: sim.inventory.history(p),
    "level": lambda sim, p: sim.inventory.level(p),
    "stock_row": lambda sim, p: sim.inventory.stock_row(p),
    "pending_moves": lambda sim, p: sim.inventory.pending_moves(p),
}


def test_an_unknown_product_is_not_found(sim: Simulator, shop: Shop) -> None:
    with refusals(sim) as refused:
        for op, call in PRODUCT_OPS.items():
            for ref in ("NOPE-1", 999_999, 0, -1, 2**64, ""):
                refused(lambda: call(sim, ref), "not_found", field="product", case=(op, ref))


def test_a_product_reference_must_be_an_id_or_a_sku(sim: Simulator, shop: Shop) -> None:
    with refusals(sim) as refused:
        for op, call in PRODUCT_OPS.items():
            for ref in (None, 1.0, True, ["APL-1"]):
                if ref is None and op == "pending_moves":
                    continue  # no product there means every product's
                refused(lambda: call(sim, ref), "validation", field="product", case=(op, ref))


LOCATION_OPS: dict[str, Callable[[Simulator, Shop, Any], object]] = {
    "receive": lambda sim, s, loc: sim.inventory.receive(s.apple, 1, location=loc),
    "move from": lambda sim, s, loc: sim.inventory.move_stock(s.apple, 1, loc, "Shelf"),
    "move to": lambda sim, s, loc: sim.inventory.move_stock(s.apple, 1, "Warehouse", loc),
    "scrap": lambda sim, s, loc: sim.inventory.scrap(s.apple, 1, location=loc),
    "count": lambda sim, s, loc: sim.inventory.count_stock(s.apple, 1, location=loc),
    "sell": lambda sim, s, loc: sim.inventory.sell(s.apple, 1, "Carol", location=loc),
    "purchase": lambda sim, s, loc: sim.inventory.purchase(s.apple, 1, "Acme", location=loc),
    "level": lambda sim, s, loc: sim.inventory.level(s.apple, loc),
}


def test_an_unknown_location_is_not_found(sim: Simulator, shop: Shop) -> None:
    with refusals(sim) as refused:
        for op, call in LOCATION_OPS.items():
            for ref in ("Attic", 999_999, -1, 2**64):
                refused(lambda: call(sim, shop, ref), "not_found", case=(op, ref))


def test_a_location_reference_must_be_an_id_or_a_name(sim: Simulator, shop: Shop) -> None:
    with refusals(sim) as refused:
        for op, call in LOCATION_OPS.items():
            for ref in (1.0, True, ["Shelf"]):
                refused(lambda: call(sim, shop, ref), "validation", case=(op, ref))


def test_a_move_to_the_same_location_is_refused(sim: Simulator, shop: Shop) -> None:
    inv = sim.inventory
    for pending in (False, True):
        refuse(sim, lambda: inv.move_stock(shop.apple, 1, "Warehouse", " warehouse ", pending=pending),
               "same_location", field="target", case=pending)
        refuse(sim, lambda: inv.move_stock(shop.apple, 1, shop.shelf, "SHELF", pending=pending), "same_location",
               case=pending)


MORE_THAN_ON_HAND: dict[str, Callable[[Simulator, Shop], object]] = {
    "move": lambda sim, s: sim.inventory.move_stock(s.apple, 11, "Warehouse", "Shelf"),
    "pending move": lambda sim, s: sim.inventory.move_stock(s.apple, 11, "Warehouse", "Shelf", pending=True),
    "scrap": lambda sim, s: sim.inventory.scrap(s.apple, 11),
    "sell": lambda sim, s: sim.inventory.sell(s.apple, 11, "Carol"),
}


def test_taking_more_than_on_hand_is_refused_never_clamped(sim: Simulator, shop: Shop) -> None:
    for op, call in MORE_THAN_ON_HAND.items():
        err = refuse(sim, lambda: call(sim, shop), "insufficient_stock", field="quantity", case=op)
        assert err.details["available"] == 10, op
    assert level(sim, shop.apple, "Warehouse") == (10, 0, 0)
    assert total(sim, shop.apple) == 10


def test_selling_more_than_on_hand_is_refused_and_changes_neither_ledger(sim: Simulator, shop: Shop) -> None:
    money = balances(sim)
    transfers = transfer_count(sim)
    err = refuse(sim, lambda: sim.inventory.sell(shop.apple, 3, "Carol", location="Shelf"), "insufficient_stock")
    assert err.details["available"] == 0
    refuse(sim, lambda: sim.inventory.sell(shop.pear, 1, "Carol"), "insufficient_stock")
    assert balances(sim) == money and transfer_count(sim) == transfers
    sim.inventory.sell(shop.apple, 10, "Carol")  # exactly what is on hand is fine
    assert level(sim, shop.apple, "Warehouse") == (0, 0, 0)


def test_selling_to_a_frozen_or_closed_customer_is_refused(sim: Simulator, shop: Shop) -> None:
    sim.bank.freeze("Carol", 1)
    refuse(sim, lambda: sim.inventory.sell(shop.apple, 1, "Carol"), "account_frozen")
    sim.bank.open_account("Ed", kind="customer")
    sim.bank.close_account("Ed", 1)
    refuse(sim, lambda: sim.inventory.sell(shop.apple, 1, "Ed"), "account_closed")
    sim.bank.unfreeze("Carol", 2)
    sim.inventory.sell(shop.apple, 1, "Carol")  # thawed: she can buy again


def test_a_sale_the_customer_cannot_pay_is_refused_and_changes_neither_ledger(sim: Simulator, shop: Shop) -> None:
    sim.bank.open_account("Poor", kind="customer", opening_balance="3.99")
    err = refuse(sim, lambda: sim.inventory.sell(shop.apple, 2, "Poor"), "insufficient_funds")
    assert err.details["available"] == 399
    assert level(sim, shop.apple, "Warehouse") == (10, 0, 0)
    sim.inventory.sell(shop.apple, 2, "Poor", unit_price="1.99")  # what the customer can pay goes through
    assert balances(sim)["Poor"] == 1


def test_a_purchase_the_shop_cannot_pay_is_refused(sim: Simulator, shop: Shop) -> None:
    refuse(sim, lambda: sim.inventory.purchase(shop.apple, 84, "Acme"), "insufficient_funds")  # 100.80 > 100.00
    refuse(sim, lambda: sim.inventory.purchase(shop.apple, 84, "Acme", lead_days=5), "insufficient_funds")


def test_selling_or_buying_without_a_shop_account_is_not_found(sim: Simulator) -> None:
    sim.catalog.add_product("APL-1", "Apple", "2.00", quantity=10)
    sim.inventory.set_planning("APL-1", cost="1.00")
    sim.bank.open_account("Carol", kind="customer", opening_balance="50.00")
    sim.bank.open_account("Acme", kind="supplier")
    refuse(sim, lambda: sim.inventory.sell("APL-1", 1, "Carol"), "not_found", field="account")
    refuse(sim, lambda: sim.inventory.purchase("APL-1", 1, "Acme"), "not_found", field="account")
    sim.bank.open_account("Dollar shop", kind="shop", currency="USD")  # a shop in another currency is no shop for EUR
    refuse(sim, lambda: sim.inventory.sell("APL-1", 1, "Carol"), "not_found", field="account")


def test_an_unknown_customer_or_supplier_is_not_found(sim: Simulator, shop: Shop) -> None:
    for ref in ("Nobody", 999_999, 0):
        refuse(sim, lambda: sim.inventory.sell(shop.apple, 1, ref), "not_found", field="customer", case=ref)
        refuse(sim, lambda: sim.inventory.purchase(shop.apple, 1, ref), "not_found", field="supplier", case=ref)


def test_lead_days_out_of_range_are_refused(sim: Simulator, shop: Shop) -> None:
    for lead_days in (-1, MAX_LEAD_DAYS + 1, True, "2", 1.5, None):
        buy = sim.inventory.purchase
        refuse(sim, lambda: buy(shop.apple, 1, "Acme", lead_days=lead_days),  # type: ignore[arg-type]
               "validation", field="lead_days", case=lead_days)


def test_the_longest_lead_time_is_accepted(sim: Simulator, shop: Shop) -> None:
    move, _ = sim.inventory.purchase(shop.apple, 1, "Acme", lead_days=MAX_LEAD_DAYS)
    assert move.due_day == MAX_LEAD_DAYS


OTHER_BAD_ARGUMENTS: dict[str, tuple[Callable[[Simulator, Shop], object], str]] = {
    "free sale": (lambda sim, s: sim.inventory.sell(s.apple, 1, "Carol", unit_price="0"), "unit_price"),
    "float price": (lambda sim, s: sim.inventory.sell(s.apple, 1, "Carol", unit_price=1.5), "unit_price"),
    "negative price": (lambda sim, s: sim.inventory.sell(s.apple, 1, "Carol", unit_price="-1.00"), "unit_price"),
    "free purchase": (lambda sim, s: sim.inventory.purchase(s.apple, 1, "Acme", unit_cost="0.00"), "unit_price"),
    "memo newline": (lambda sim, s: sim.inventory.sell(s.apple, 1, "Carol", memo="a\nb"), "memo"),
    "memo too long": (lambda sim, s: sim.inventory.receive(s.apple, 1, memo="x" * 501), "memo"),
    "key with space": (lambda sim, s: sim.inventory.receive(s.apple, 1, idempotency_key="has space"),
                       "idempotency_key"),
    "empty key": (lambda sim, s: sim.inventory.sell(s.apple, 1, "Carol", idempotency_key=""), "idempotency_key"),
    "bad resolve key": (lambda sim, s: sim.inventory.receive_pending(1, idempotency_key="a b"), "idempotency_key"),
    "pending not bool": (lambda sim, s: sim.inventory.move_stock(s.apple, 1, "Warehouse", "Shelf", pending="yes"),
                         "pending"),
}


def test_other_bad_arguments_are_refused_naming_the_field(sim: Simulator, shop: Shop) -> None:
    with refusals(sim) as refused:
        for case, (call, field) in OTHER_BAD_ARGUMENTS.items():
            refused(lambda: call(sim, shop), "validation", field=field, case=case)


def test_a_product_without_a_price_or_cost_cannot_be_sold_or_bought_at_it(sim: Simulator, shop: Shop) -> None:
    sim.catalog.add_product("FREE-1", "Flyer", "0", quantity=5)
    refuse(sim, lambda: sim.inventory.sell("FREE-1", 1, "Carol"), "validation", field="unit_price")
    refuse(sim, lambda: sim.inventory.purchase("FREE-1", 1, "Acme"), "validation", field="unit_price")


def test_receiving_cannot_push_a_products_value_past_what_the_catalog_allows(sim: Simulator, shop: Shop) -> None:
    sim.catalog.add_product("GEM-1", "Gem", 10**17)
    refuse(sim, lambda: sim.catalog.add_product("GEM-2", "Gem", 10**17, quantity=100), "validation", field="quantity")
    refuse(sim, lambda: sim.inventory.receive("GEM-1", 100), "validation", field="quantity")


# -- failure injection: a crash between the two ledgers ----------------------------------------


def _failing_transfer(seen: list[tuple[int, int, int]], product: int, location: int):
    """A BankService.transfer_within that records the level the stock half already wrote, then fails."""

    def boom(self: BankService, uow: Any, *args: Any, **kwargs: Any) -> Any:
        found = uow.stock.level(product, location)
        seen.append((found.on_hand, found.incoming, found.outgoing))
        raise RuntimeError("bank is down")

    return boom


@pytest.mark.parametrize("lead_days", [None, 0, 2], ids=["sale", "purchase", "pending purchase"])
def test_a_crash_after_the_stock_half_of_a_sale_or_purchase_rolls_back_both_ledgers(
    sim: Simulator, shop: Shop, monkeypatch: pytest.MonkeyPatch, lead_days: int | None
) -> None:
    before = snapshot(sim)
    seen: list[tuple[int, int, int]] = []
    monkeypatch.setattr(BankService, "transfer_within", _failing_transfer(seen, shop.apple, shop.warehouse))
    with pytest.raises(RuntimeError, match="bank is down"):
        if lead_days is None:
            sim.inventory.sell(shop.apple, 3, "Carol")
        else:
            sim.inventory.purchase(shop.apple, 5, "Acme", lead_days=lead_days)
    # the stock half had been applied inside the transaction when the bank failed ...
    assert seen == [{None: (7, 0, 0), 0: (15, 0, 0), 2: (10, 5, 0)}[lead_days]]
    monkeypatch.undo()
    # ... and none of it survived: levels, totals, moves, the virtual location, transfers, audit
    assert snapshot(sim) == before
    assert level(sim, shop.apple, "Warehouse") == (10, 0, 0) and total(sim, shop.apple) == 10


def test_a_crash_while_refunding_a_cancelled_purchase_keeps_it_in_transit_and_paid(
    sim: Simulator, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    move, _ = sim.inventory.purchase(shop.apple, 5, "Acme", lead_days=2)
    before = snapshot(sim)
    seen: list[tuple[int, int, int]] = []
    monkeypatch.setattr(BankService, "transfer_within", _failing_transfer(seen, shop.apple, shop.warehouse))
    with pytest.raises(RuntimeError, match="bank is down"):
        sim.inventory.cancel_pending(move.id)
    assert seen == [(10, 0, 0)]  # the reservation had been released inside the transaction
    monkeypatch.undo()
    assert snapshot(sim) == before
    assert sim.inventory.pending_moves() == [move]


# -- the catalog's quantities -------------------------------------------------------------------


def test_adding_a_product_with_a_quantity_posts_an_opening_adjustment_into_the_warehouse(sim: Simulator) -> None:
    product = sim.catalog.add_product("NUT-1", "Nut", "0.10", quantity=25)
    [opening] = sim.inventory.history(product.id)
    assert (opening.kind, opening.reason, opening.quantity, opening.memo, opening.to_after) == (
        "posted", "adjust", 25, "opening stock", 25)
    assert opening.from_location_id == location_id(sim, "Inventory adjustment")
    assert opening.to_location_id == location_id(sim, "Warehouse")
    assert level(sim, product.id, "Warehouse") == (25, 0, 0)
    assert total(sim, product.id) == 25


def test_adding_a_product_without_a_quantity_writes_no_move(sim: Simulator) -> None:
    product = sim.catalog.add_product("NUT-1", "Nut", "0.10")
    assert sim.inventory.history(product.id) == []
    assert moves(sim) == [] and sim.inventory.locations(include_virtual=True) == []


def test_raising_the_quantity_in_the_catalog_posts_the_difference_into_the_warehouse(
    sim: Simulator, shop: Shop
) -> None:
    apple = sim.catalog.get_product(shop.apple)
    apple = sim.catalog.update_product(apple.id, apple.version, quantity=14)
    up = sim.inventory.history(shop.apple)[0]
    assert (up.reason, up.quantity, up.to_location_id, up.to_after, up.memo) == (
        "adjust", 4, shop.warehouse, 14, "on hand set to 14 in the catalog")
    assert up.from_location_id == location_id(sim, "Inventory adjustment")
    assert level(sim, shop.apple, "Warehouse") == (14, 0, 0) and apple.quantity == 14
    count = len(moves(sim))
    sim.catalog.update_product(apple.id, apple.version, name="Green apple")  # no quantity change: no move
    assert len(moves(sim)) == count


LOWER_TO_SIX: dict[str, Callable[[Simulator], object]] = {
    "update_product": lambda sim: sim.catalog.update_product(
        sim.catalog.get_product_by_sku("APL-1").id, sim.catalog.get_product_by_sku("APL-1").version, quantity="6"),
    "import_products": lambda sim: sim.catalog.import_products(
        [{"sku": "APL-1", "name": "Apple", "price": "2.00", "quantity": "6"}]),
}


@pytest.mark.parametrize("how", list(LOWER_TO_SIX))
def test_lowering_the_quantity_in_the_catalog_posts_the_difference_out_of_the_warehouse(
    sim: Simulator, shop: Shop, how: str
) -> None:
    LOWER_TO_SIX[how](sim)
    down = sim.inventory.history(shop.apple)[0]
    assert (down.reason, down.quantity, down.from_location_id, down.from_after) == ("adjust", 4, shop.warehouse, 6)
    assert down.to_location_id == location_id(sim, "Inventory adjustment")
    assert level(sim, shop.apple, "Warehouse") == (6, 0, 0) and total(sim, shop.apple) == 6
    report = sim.check()
    assert report.ok, report.problems


def test_lowering_the_total_below_what_other_locations_hold_is_refused_and_changes_nothing(
    sim: Simulator, shop: Shop
) -> None:
    sim.inventory.move_stock(shop.apple, 6, "Warehouse", "Shelf")  # Warehouse 4, Shelf 6
    apple = sim.catalog.get_product(shop.apple)
    refuse(sim, lambda: sim.catalog.update_product(apple.id, apple.version, quantity=5), "insufficient_stock")
    refuse(sim, lambda: sim.catalog.update_product(apple.id, apple.version, quantity=0), "insufficient_stock")


def test_lowering_the_total_below_what_is_reserved_for_transit_is_refused(sim: Simulator, shop: Shop) -> None:
    sim.inventory.move_stock(shop.apple, 4, "Warehouse", "Shelf", pending=True)  # Warehouse 10 with 4 outgoing
    apple = sim.catalog.get_product(shop.apple)
    refuse(sim, lambda: sim.catalog.update_product(apple.id, apple.version, quantity=3), "insufficient_stock")


def test_importing_quantities_reconciles_and_reimporting_the_same_rows_writes_no_moves(
    sim: Simulator, shop: Shop
) -> None:
    rows = [
        {"sku": "APL-1", "name": "Apple", "price": "2.00", "quantity": "12"},
        {"sku": "IMP-1", "name": "Imported", "price": "1.00", "quantity": "5"},
        {"sku": "IMP-2", "name": "No stock", "price": "1.00", "quantity": ""},
    ]
    result = sim.catalog.import_products(rows)
    assert (result.inserted, result.updated) == (2, 1)
    imported = sim.catalog.get_product_by_sku("IMP-1")
    assert level(sim, imported.id, "Warehouse") == (5, 0, 0)
    assert level(sim, shop.apple, "Warehouse") == (12, 0, 0)
    newest = {m.product_id: m for m in moves(sim)}  # the last one of each product wins
    topped_up = newest[shop.apple]
    assert (topped_up.reason, topped_up.quantity, topped_up.memo) == ("adjust", 2, "on hand set by import")
    assert sim.inventory.history("IMP-2") == []
    ledger = moves(sim)
    again = sim.catalog.import_products(rows)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    assert moves(sim) == ledger


def test_an_import_that_would_take_a_location_below_zero_writes_nothing(sim: Simulator, shop: Shop) -> None:
    sim.inventory.move_stock(shop.apple, 8, "Warehouse", "Shelf")
    rows = [{"sku": "NEW-1", "name": "New", "price": "1.00", "quantity": "3"},
            {"sku": "APL-1", "name": "Apple", "price": "2.00", "quantity": "7"}]
    refuse(sim, lambda: sim.catalog.import_products(rows), "insufficient_stock")


def test_a_deleted_product_keeps_its_stock_hidden_refuses_moves_and_comes_back_on_restore(
    sim: Simulator, shop: Shop
) -> None:
    sim.inventory.move_stock(shop.apple, 4, "Warehouse", "Shelf")
    value = sim.inventory.stock_value()
    deleted = sim.catalog.delete_product(shop.apple)
    assert [r.sku for r in sim.inventory.stock(ALL)] == ["PER-1"]
    assert sim.inventory.stock_value() == value, "the goods are still on the books"
    refuse(sim, lambda: sim.inventory.move_stock(shop.apple, 1, "Warehouse", "Shelf"), "not_found")
    refuse(sim, lambda: sim.inventory.sell(shop.apple, 1, "Alice"), "not_found")
    assert sim.check().ok
    sim.catalog.restore_product(deleted.id)
    assert sim.inventory.stock_row(shop.apple).on_hand == 10
    sim.inventory.move_stock(shop.apple, 1, "Warehouse", "Shelf")


def test_purging_a_product_writes_its_stock_off_to_scrap_and_the_ledger_still_adds_up(
    sim: Simulator, shop: Shop
) -> None:
    sim.inventory.move_stock(shop.apple, 4, "Warehouse", "Shelf")
    sim.catalog.delete_product(shop.apple)
    sim.catalog.purge_product(shop.apple)
    scrap = location_id(sim, "Scrap")
    written_off = [m for m in moves(sim) if m.product_id == shop.apple and m.reason == "scrap"]
    assert sorted((m.from_location_id, m.to_location_id, m.quantity, m.from_after) for m in written_off) == [
        (shop.warehouse, scrap, 6, 0), (shop.shelf, scrap, 4, 0),
    ]
    assert all(m.memo == "written off: APL-1 purged" for m in written_off)
    assert sim.inventory.stock_value() == 0
    assert [r.sku for r in sim.inventory.stock(ALL)] == ["PER-1"]
    report = sim.check()
    assert report.ok, report.problems
    refuse(sim, lambda: sim.inventory.history(shop.apple), "not_found")


@pytest.mark.parametrize("transit", ["pending move", "pending purchase"])
def test_a_product_with_goods_in_transit_cannot_be_purged(sim: Simulator, shop: Shop, transit: str) -> None:
    if transit == "pending move":
        pending = sim.inventory.move_stock(shop.apple, 4, "Warehouse", "Shelf", pending=True)
    else:
        pending = sim.inventory.purchase(shop.apple, 4, "Acme", lead_days=1).move
    sim.catalog.delete_product(shop.apple)
    refuse(sim, lambda: sim.catalog.purge_product(shop.apple), "in_use")
    sim.inventory.receive_pending(pending.id)
    sim.catalog.purge_product(shop.apple)
    with pytest.raises(DomainError) as gone:
        sim.catalog.get_product(shop.apple)
    assert gone.value.code == "not_found"


def test_deleting_with_a_stale_version_writes_nothing_off(sim: Simulator, shop: Shop) -> None:
    apple = sim.catalog.get_product(shop.apple)
    sim.catalog.update_product(apple.id, apple.version, name="Green apple")
    refuse(sim, lambda: sim.catalog.delete_product(apple.id, apple.version), "version_conflict")


# -- tenants ------------------------------------------------------------------------------------


def test_nothing_in_inventory_crosses_tenants(sim: Simulator, store: Store, shop: Shop) -> None:
    in_transit, _ = sim.inventory.purchase(shop.apple, 2, "Acme", lead_days=1)
    other = Simulator(store, actor="tester", tenant="t2", clock=FixedClock())
    assert other.inventory.locations(include_virtual=True) == []
    assert other.inventory.stock(ALL) == [] and other.inventory.pending_moves() == []
    assert other.inventory.valuation("location") == [] and other.inventory.count_low() == 0
    before = snapshot(sim)
    nut = other.catalog.add_product("NUT-1", "Nut", "0.10", quantity=3)
    for call in (lambda: other.inventory.receive(shop.apple, 1), lambda: other.inventory.history(shop.apple),
                 lambda: other.inventory.receive(nut.id, 1, location=shop.shelf),
                 lambda: other.inventory.receive_pending(in_transit.id),
                 lambda: other.inventory.cancel_pending(in_transit.id),
                 lambda: other.inventory.get_move(in_transit.id)):
        with pytest.raises(DomainError) as caught:
            call()
        assert caught.value.code == "not_found"
    assert other.inventory.add_location("Shelf").name == "Shelf"  # the same name in another tenant is fine
    assert snapshot(sim) == before


# -- the simulation -----------------------------------------------------------------------------


def open_small_shop(sim: Simulator) -> None:
    """Three products with a cost and a reorder level, a funded shop, a supplier, four customers."""
    for sku, price, cost, qty, reorder in (("APL-1", "2.00", "1.00", 6, 3), ("BRD-1", "5.00", "3.00", 4, 2),
                                           ("CHS-1", "1.50", "0.50", 10, 4)):
        sim.catalog.add_product(sku, f"Product {sku}", price, quantity=qty)
        sim.inventory.set_planning(sku, cost=cost, reorder_level=reorder)
    sim.bank.open_account("Shop", kind="shop", opening_balance="200.00")
    sim.bank.open_account("Acme", kind="supplier")
    for name in ("Ann", "Ben", "Cat", "Dan"):
        sim.bank.open_account(name, kind="customer", opening_balance="30.00")


def fingerprint(sim: Simulator) -> dict[str, Any]:
    """The outcome of a run, minus what differs between equal runs (timestamps, random uuids)."""
    with sim.store.unit_of_work(sim.tenant) as uow:
        game = uow.game.get()
        return {
            "balances": {a.name: (a.balance, a.debits_posted, a.credits_posted, a.status) for a in uow.accounts.list()},
            "levels": sorted(uow.stock.all_levels()),
            "quantities": {r.sku: (r.on_hand, r.incoming) for r in uow.stock.rows(ALL, None, 10_000)},
            "moves": [without(m, "created_at", "idempotency_key") for m in uow.stock.stream_moves()],
            "transfers": [without(t, "created_at", "idempotency_key") for t in uow.transfers.stream()],
            "game": (game.day, game.seed, game.rng_state),
        }


@pytest.fixture
def twin(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Simulator]]:
    """Fresh stores of the same adapter as `sim`'s, each with its own Simulator for tenant t1."""
    opened: list[Store] = []

    def make() -> Simulator:
        folder = tmp_path / f"twin{len(opened)}"
        folder.mkdir()
        store = open_store(fresh_store_url(request.node.callspec.params["store_url"], folder))
        opened.append(store)
        return Simulator(store, actor="tester", tenant=TENANT, clock=FixedClock())

    yield make
    for store in opened:
        store.close()


def twin_run(twin: Callable[[], Simulator], *, seed: int, days: int) -> Simulator:
    s = twin()
    open_small_shop(s)
    s.simulation.advance(days, seed=seed)
    return s


def test_a_simulated_run_advances_the_day_and_keeps_both_ledgers_consistent(sim: Simulator) -> None:
    open_small_shop(sim)
    reports = sim.simulation.advance(10, seed=42)
    assert [r.day for r in reports] == list(range(1, 11))
    state = sim.simulation.state()
    assert (state.day, state.seed) == (10, 42) and state.rng_state is not None
    report = sim.check()
    assert report.ok, report.problems
    accounts = {a.id: a for a in sim.bank.accounts()}
    products = {p.id: p for p in sim.catalog.find_products(ALL, limit=10_000)}
    ledger = moves(sim)
    sales = [m for m in ledger if m.reason == "sell"]
    assert len(sales) == sum(r.sales for r in reports) > 0
    for m in sales:
        paid = sim.bank.get_transfer(m.transfer_id)
        assert accounts[paid.debit_account_id].kind == "customer" and accounts[paid.credit_account_id].name == "Shop"
        assert paid.amount_minor == products[m.product_id].price_minor * m.quantity
        assert 1 <= m.day <= 10
    revenue = sum(sim.bank.get_transfer(m.transfer_id).amount_minor for m in sales)
    assert sum(r.revenue_minor for r in reports) == revenue
    orders = [m for m in ledger if m.reason == "purchase" and m.kind == "pending"]
    assert len(orders) == sum(r.orders for r in reports)
    for m in orders:
        paid = sim.bank.get_transfer(m.transfer_id)
        assert (accounts[paid.debit_account_id].name, accounts[paid.credit_account_id].name) == ("Shop", "Acme")
        assert paid.amount_minor == sim.inventory.stock_row(m.product_id).cost_minor * m.quantity
        assert m.due_day is not None and m.day < m.due_day
    assert len([m for m in ledger if m.kind == "received"]) == sum(r.arrivals for r in reports)
    assert reports[6].wages == 4  # payday on day 7
    assert all(lv.on_hand >= 0 and lv.outgoing <= lv.on_hand for lv in sim.inventory.levels(list(products)))


def test_the_same_seed_from_the_same_state_gives_the_same_final_state(
    sim: Simulator, twin: Callable[[], Simulator]
) -> None:
    other = twin()
    for s in (sim, other):
        open_small_shop(s)
        s.simulation.advance(12, seed=7)
    assert fingerprint(sim) == fingerprint(other)
    assert fingerprint(sim)["moves"] != fingerprint(twin_run(twin, seed=8, days=12))["moves"]  # the seed matters


def test_advancing_three_days_then_two_equals_advancing_five(sim: Simulator, twin: Callable[[], Simulator]) -> None:
    open_small_shop(sim)
    sim.simulation.advance(3, seed=11)
    sim.simulation.advance(2)  # no seed: the stored generator carries on
    assert fingerprint(sim) == fingerprint(twin_run(twin, seed=11, days=5))
    assert sim.simulation.state().day == 5
    restarted = twin_run(twin, seed=11, days=3)
    restarted.simulation.advance(2, seed=11)  # a seed restarts the generator: another future
    assert fingerprint(restarted)["moves"] != fingerprint(sim)["moves"]


def test_bad_days_or_seed_are_refused_and_change_nothing(sim: Simulator) -> None:
    open_small_shop(sim)
    with refusals(sim) as refused:
        for days, seed, field in ((0, None, "days"), (-1, None, "days"), (MAX_DAYS + 1, None, "days"),
                                  ("3", None, "days"), (True, None, "days"), (1.0, None, "days"), (None, None, "days"),
                                  (1, -1, "seed"), (1, True, "seed"), (1, "7", "seed"), (1, 2**63, "seed"),
                                  (1, 1.5, "seed")):
            refused(lambda: sim.simulation.advance(days, seed=seed),  # type: ignore[arg-type]
                    "validation", field=field, case=(days, seed))
    assert sim.simulation.state().day == 0
