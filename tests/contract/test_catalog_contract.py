"""The catalog contract: the same calls give the same results and the same error codes on every
adapter (the `store`/`sim` fixtures are parametrized over all of them in tests/conftest.py).

Every refusal is checked to leave the whole tenant unchanged: categories, products (with
versions), users and audit entries before == after.
"""

from __future__ import annotations

import csv
from dataclasses import replace
import io
import itertools
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import Simulator
from domain.clock import FixedClock
from domain.errors import DomainError
from domain.model import NewProduct, ProductQuery
from domain.model.catalog import PRODUCT_SORTS, ProductCursor, fold_case
from domain.money import MAX_MINOR
from domain.ports import Store
from domain.services.catalog import PRODUCT_EXPORT_HEADER
from storage import open_store
from storage.csvio import safe_cell
from tests.conftest import assert_pages, small_stream_chunks
from tui_app.bootstrap import Backend

TENANT = "t1"  # the tenant of the `sim` fixture
ALL = ProductQuery(include_inactive=True)
SQL_META = "Robert'); DROP TABLE products;--"
_ANY: Any = object()


# -- helpers ----------------------------------------------------------------------------------


def state(store: Store, tenant: str = TENANT) -> tuple[Any, ...]:
    """Everything a tenant has, read in one transaction."""
    with store.unit_of_work(tenant) as uow:
        return (
            uow.categories.list(),
            uow.products.find(ALL, None, 10_000),
            [u.name for u in uow.users.list()],
            uow.audit.latest(10_000),
        )


def refuse(
    store: Store,
    call: Callable[[], object],
    code: str,
    *,
    field: str | None = _ANY,
    row: int | None = _ANY,
    tenant: str = TENANT,
) -> DomainError:
    """Assert that `call` is refused with `code` and that nothing at all changed."""
    before = state(store, tenant)
    with pytest.raises(DomainError) as caught:
        call()
    err = caught.value
    assert err.code == code, f"expected {code}, got {err.code}: {err.message}"
    if field is not _ANY:
        assert err.field == field, err.message
    if row is not _ANY:
        assert err.row == row, err.message
    assert state(store, tenant) == before, "a refused call changed the stored state"
    return err


def listing(sim: Simulator, query: ProductQuery = ALL) -> list[tuple[Any, ...]]:
    """(sku, name, category, price, quantity, active, version) of every product in list order."""
    return [(r.sku, r.name, r.category, r.price_minor, r.quantity, r.active, r.version)
            for r in sim.catalog.find_products(query, limit=10_000)]


def all_pages(sim: Simulator, query: ProductQuery, size: int) -> list[list[Any]]:
    pages: list[list[Any]] = []
    after: ProductCursor | None = None
    while True:
        page = sim.catalog.find_products(query, after, size)
        if not page:
            return pages
        assert len(page) <= size
        pages.append(page)
        after = query.cursor_after(page[-1])


def latest_audit(store: Store, n: int = 1, tenant: str = TENANT) -> list[Any]:
    with store.unit_of_work(tenant) as uow:
        return uow.audit.latest(n)


def other_sim(store: Store, tenant: str, actor: str = "tester") -> Simulator:
    return Simulator(store, actor=actor, tenant=tenant, clock=FixedClock())


def xfail_on(request: pytest.FixtureRequest, adapter: str, reason: str) -> None:
    """Mark a known adapter bug (that adapter only, strict) without hiding it on the others."""
    if request.node.callspec.params.get("store_url") == adapter:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


def write_csv(tmp_path: Path, text: str | bytes, name: str = "in.csv") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return str(path)


def export_text(sim: Simulator, store_url: str, query: ProductQuery = ProductQuery()) -> str:
    out = io.StringIO()
    Backend(sim, store_url).export_products(query, out)
    return out.getvalue()


# -- categories -------------------------------------------------------------------------------


def test_added_category_can_be_read_back_and_categories_are_listed_by_name(sim: Simulator) -> None:
    tools = sim.catalog.add_category("Tools")
    assert (tools.name, tools.parent_id, tools.version) == ("Tools", None, 1)
    sim.catalog.add_category("garden")
    sim.catalog.add_category("  Kitchen  ")
    assert [c.name for c in sim.catalog.categories()] == ["garden", "Kitchen", "Tools"]
    assert sim.catalog.categories()[2] == tools


def test_categories_form_a_tree_and_a_subtree_holds_every_descendant(sim: Simulator) -> None:
    tools = sim.catalog.add_category("Tools")
    hand = sim.catalog.add_category("Hand tools", parent="Tools")
    power = sim.catalog.add_category("Power tools", parent=tools.id)
    drills = sim.catalog.add_category("Drills", parent="power TOOLS")
    garden = sim.catalog.add_category("Garden")
    assert (hand.parent_id, power.parent_id, drills.parent_id) == (tools.id, tools.id, power.id)
    assert sim.catalog.category_subtree(tools.id) == tuple(sorted((tools.id, hand.id, power.id, drills.id)))
    assert sim.catalog.category_subtree(power.id) == tuple(sorted((power.id, drills.id)))
    assert sim.catalog.category_subtree(garden.id) == (garden.id,)


def test_renaming_and_moving_a_category_bumps_its_version(sim: Simulator) -> None:
    tools = sim.catalog.add_category("Tools")
    garden = sim.catalog.add_category("Garden")
    renamed = sim.catalog.update_category(garden.id, 1, name="Outdoor")
    assert (renamed.name, renamed.version) == ("Outdoor", 2)
    moved = sim.catalog.update_category(garden.id, 2, parent="tools")
    assert (moved.name, moved.parent_id, moved.version) == ("Outdoor", tools.id, 3)
    back = sim.catalog.update_category(garden.id, 3, parent=None)
    assert (back.parent_id, back.version) == (None, 4)
    assert {c.id: c for c in sim.catalog.categories()}[garden.id] == back


def test_renaming_a_category_to_another_case_of_its_own_name_is_allowed(sim: Simulator) -> None:
    tools = sim.catalog.add_category("Tools")
    assert sim.catalog.update_category(tools.id, 1, name="TOOLS").name == "TOOLS"


@pytest.mark.parametrize("target", ["itself", "child", "grandchild"])
def test_a_category_cannot_move_inside_its_own_subtree(sim: Simulator, store: Store, target: str) -> None:
    tools = sim.catalog.add_category("Tools")
    child = sim.catalog.add_category("Power tools", parent=tools.id)
    grandchild = sim.catalog.add_category("Drills", parent=child.id)
    parent = {"itself": tools, "child": child, "grandchild": grandchild}[target]
    refuse(store, lambda: sim.catalog.update_category(tools.id, 1, parent=parent.id), "validation", field="parent")
    refuse(store, lambda: sim.catalog.update_category(tools.id, 1, parent=parent.name), "validation", field="parent")


@pytest.mark.parametrize("name", ["Tools", "tools", "TOOLS", "  tOOls "])
def test_a_category_name_is_taken_case_insensitively(sim: Simulator, store: Store, name: str) -> None:
    sim.catalog.add_category("Tools")
    refuse(store, lambda: sim.catalog.add_category(name), "already_exists")


def test_renaming_a_category_to_a_taken_name_is_refused(sim: Simulator, store: Store) -> None:
    sim.catalog.add_category("Tools")
    garden = sim.catalog.add_category("Garden")
    refuse(store, lambda: sim.catalog.update_category(garden.id, 1, name="tOOLS"), "already_exists")


@pytest.mark.parametrize("parent", ["Nope", 999_999])
def test_a_category_under_an_unknown_parent_is_refused(sim: Simulator, store: Store, parent: object) -> None:
    refuse(store, lambda: sim.catalog.add_category("Drills", parent=parent), "not_found")


@pytest.mark.parametrize("name", ["", "   ", "x" * 201, "a\x00b", "a\nb", None])
def test_a_category_with_a_bad_name_is_refused(sim: Simulator, store: Store, name: object) -> None:
    refuse(store, lambda: sim.catalog.add_category(name), "validation", field="name")  # type: ignore[arg-type]


def test_updating_a_category_with_a_stale_version_is_refused_and_changes_nothing(sim: Simulator, store: Store) -> None:
    tools = sim.catalog.add_category("Tools")
    sim.catalog.update_category(tools.id, 1, name="Hardware")
    refuse(store, lambda: sim.catalog.update_category(tools.id, 1, name="Other"), "version_conflict")
    assert [(c.name, c.version) for c in sim.catalog.categories()] == [("Hardware", 2)]


def test_deleting_an_empty_category_removes_it(sim: Simulator) -> None:
    tools = sim.catalog.add_category("Tools")
    sim.catalog.add_category("Garden")
    assert sim.catalog.delete_category(tools.id) == tools
    assert [c.name for c in sim.catalog.categories()] == ["Garden"]
    sim.catalog.add_category("Tools")  # the name is free again


@pytest.mark.parametrize("active", [True, False])
def test_deleting_a_category_that_still_has_products_is_refused(sim: Simulator, store: Store, active: bool) -> None:
    tools = sim.catalog.add_category("Tools")
    sim.catalog.add_product("HAM-1", "Hammer", "12.50", category="Tools", active=active)
    refuse(store, lambda: sim.catalog.delete_category(tools.id), "in_use")


def test_deleting_a_category_that_has_subcategories_is_refused(sim: Simulator, store: Store) -> None:
    tools = sim.catalog.add_category("Tools")
    sim.catalog.add_category("Drills", parent=tools.id)
    refuse(store, lambda: sim.catalog.delete_category(tools.id), "in_use")


def test_unknown_categories_cannot_be_updated_or_deleted(sim: Simulator, store: Store) -> None:
    refuse(store, lambda: sim.catalog.update_category(999_999, 1, name="x"), "not_found")
    refuse(store, lambda: sim.catalog.delete_category(999_999), "not_found")


# -- products: create, read, update, delete ---------------------------------------------------


def test_added_product_can_be_read_back_by_id_and_by_sku(sim: Simulator) -> None:
    tools = sim.catalog.add_category("Tools")
    ham = sim.catalog.add_product(" ham-1 ", "  Hammer ", "12.50", category="tools", quantity="4")
    assert (ham.sku, ham.name, ham.category_id, ham.price_minor, ham.quantity, ham.active, ham.version) == (
        "HAM-1", "Hammer", tools.id, 1250, 4, True, 1)
    assert ham.value_minor == 5000
    assert sim.catalog.get_product(ham.id) == ham
    assert sim.catalog.get_product_by_sku("ham-1") == ham
    assert sim.catalog.get_product_by_sku(" HAM-1 ") == ham


def test_a_product_price_may_be_given_in_integer_minor_units_and_category_by_id(sim: Simulator) -> None:
    tools = sim.catalog.add_category("Tools")
    p = sim.catalog.add_product("SAW-1", "Saw", 1999, category=tools.id)
    assert (p.price_minor, p.category_id) == (1999, tools.id)


def test_updating_a_product_stores_the_changes_and_bumps_the_version(sim: Simulator) -> None:
    sim.catalog.add_category("Tools")
    ham = sim.catalog.add_product("HAM-1", "Hammer", "12.50")
    updated = sim.catalog.update_product(ham.id, 1, name="Claw hammer", price="13", quantity=2, category="Tools",
                                         sku="ham-2", active=False)
    assert (updated.sku, updated.name, updated.price_minor, updated.quantity, updated.active, updated.version) == (
        "HAM-2", "Claw hammer", 1300, 2, False, 2)
    assert sim.catalog.get_product(ham.id) == updated
    assert sim.catalog.get_product_by_sku("HAM-2") == updated
    with pytest.raises(DomainError) as caught:
        sim.catalog.get_product_by_sku("HAM-1")
    assert caught.value.code == "not_found"
    sim.catalog.add_product("HAM-1", "New hammer", "1")  # the old SKU is free again


def test_an_update_that_changes_nothing_keeps_the_version_and_writes_no_audit(sim: Simulator, store: Store) -> None:
    ham = sim.catalog.add_product("HAM-1", "Hammer", "12.50")
    before = state(store)
    assert sim.catalog.update_product(ham.id, 1, name="Hammer", price="12.5", sku="ham-1") == ham
    assert state(store) == before


def test_a_product_can_be_moved_out_of_its_category(sim: Simulator) -> None:
    sim.catalog.add_category("Tools")
    ham = sim.catalog.add_product("HAM-1", "Hammer", "12.50", category="Tools")
    assert sim.catalog.update_product(ham.id, 1, category=None).category_id is None


def test_deleting_a_product_hides_it_and_restoring_brings_it_back_as_it_was(sim: Simulator, store: Store) -> None:
    ham = sim.catalog.add_product("HAM-1", "Hammer", "12.50", quantity=3)
    deleted = sim.catalog.delete_product(ham.id)
    assert deleted.deleted_at is not None and deleted.version == ham.version + 1
    assert sim.catalog.count_products(ALL) == 0
    assert [p.sku for p in sim.catalog.find_products(ProductQuery(include_inactive=True, deleted=True))] == ["HAM-1"]
    assert sim.catalog.get_product(ham.id) == deleted  # kept for history
    refuse(store, lambda: sim.catalog.update_product(ham.id, deleted.version, name="x"), "not_found")
    refuse(store, lambda: sim.catalog.delete_product(ham.id), "not_found")
    refuse(store, lambda: sim.catalog.add_product("HAM-1", "Other", "1"), "already_exists")  # still its SKU
    refuse(store, lambda: sim.catalog.restore_product(ham.id, expected_version=ham.version), "version_conflict")
    restored = sim.catalog.restore_product(ham.id)
    assert restored.deleted_at is None and restored.quantity == 3
    assert sim.catalog.count_products(ALL) == 1
    refuse(store, lambda: sim.catalog.restore_product(ham.id), "validation")
    assert sim.check().ok


def test_purging_a_deleted_product_removes_it_for_good_and_frees_its_sku(sim: Simulator, store: Store) -> None:
    ham = sim.catalog.add_product("HAM-1", "Hammer", "12.50", quantity=3)
    refuse(store, lambda: sim.catalog.purge_product(ham.id), "validation")  # delete first
    sim.catalog.delete_product(ham.id)
    gone = sim.catalog.purge_product(ham.id)
    assert gone.id == ham.id and gone.sku == "HAM-1"
    refuse(store, lambda: sim.catalog.get_product(ham.id), "not_found")
    refuse(store, lambda: sim.catalog.purge_product(ham.id), "not_found")
    refuse(store, lambda: sim.catalog.restore_product(ham.id), "not_found")
    assert sim.catalog.count_products(ProductQuery(include_inactive=True, deleted=None)) == 0
    sim.catalog.add_product("HAM-1", "Hammer again", "1")  # the SKU is free again
    assert sim.check().ok, sim.check().problems


def test_deleting_a_product_with_the_current_version_succeeds(sim: Simulator) -> None:
    ham = sim.catalog.add_product("HAM-1", "Hammer", "12.50")
    sim.catalog.update_product(ham.id, 1, price="13")
    assert sim.catalog.delete_product(ham.id, expected_version=2).version == 3
    assert sim.catalog.count_products(ALL) == 0


@pytest.mark.parametrize("sku", ["HAM-1", "ham-1", " Ham-1 "])
def test_a_duplicate_sku_is_refused_case_insensitively(sim: Simulator, store: Store, sku: str) -> None:
    sim.catalog.add_product("HAM-1", "Hammer", "12.50")
    refuse(store, lambda: sim.catalog.add_product(sku, "Other", "1"), "already_exists")


def test_changing_a_sku_to_one_that_is_taken_is_refused(sim: Simulator, store: Store) -> None:
    sim.catalog.add_product("HAM-1", "Hammer", "12.50")
    saw = sim.catalog.add_product("SAW-1", "Saw", "20")
    refuse(store, lambda: sim.catalog.update_product(saw.id, 1, sku="ham-1"), "already_exists")


@pytest.mark.parametrize("category", ["Nope", "tools-x", 999_999])
def test_a_product_in_an_unknown_category_is_refused(sim: Simulator, store: Store, category: object) -> None:
    sim.catalog.add_category("Tools")
    refuse(store, lambda: sim.catalog.add_product("HAM-1", "Hammer", "1", category=category), "not_found",
           field="category")
    ham = sim.catalog.add_product("HAM-1", "Hammer", "1")
    refuse(store, lambda: sim.catalog.update_product(ham.id, 1, category=category), "not_found", field="category")


@pytest.mark.parametrize(
    "price", [12.5, 0.1, 1.0, float("nan"), float("inf"), "-1", "-0.01", -100, "abc", "", "1e3", "12.345", True, None,
              2**63, "12,50"],
    ids=repr,
)
def test_a_bad_price_is_refused_with_validation(sim: Simulator, store: Store, price: object) -> None:
    refuse(store, lambda: sim.catalog.add_product("HAM-1", "Hammer", price), "validation", field="price")  # type: ignore[arg-type]
    ham = sim.catalog.add_product("HAM-1", "Hammer", "12.50")
    refuse(store, lambda: sim.catalog.update_product(ham.id, 1, price=price), "validation", field="price")


@pytest.mark.parametrize(
    ("field", "value"),
    [("sku", ""), ("sku", "-X"), ("sku", "A B"), ("sku", "x" * 65), ("name", ""), ("name", " "), ("name", "x" * 201),
     ("name", "Ham\x00mer"), ("name", "Ham\tmer"), ("quantity", -1), ("quantity", 1.5), ("quantity", "two"),
     ("active", "maybe")],
    ids=repr,
)
def test_a_bad_field_is_refused_with_validation_naming_it(sim: Simulator, store: Store, field: str, value: object) -> None:
    fields: dict[str, Any] = {"sku": "HAM-1", "name": "Hammer", "price": "1"} | {field: value}
    refuse(store, lambda: sim.catalog.add_product(**fields), "validation", field=field)
    ham = sim.catalog.add_product("HAM-1", "Hammer", "12.50")
    refuse(store, lambda: sim.catalog.update_product(ham.id, 1, **{field: value}), "validation", field=field)


def test_an_update_of_an_unknown_field_is_refused(sim: Simulator, store: Store) -> None:
    ham = sim.catalog.add_product("HAM-1", "Hammer", "12.50")
    refuse(store, lambda: sim.catalog.update_product(ham.id, 1, colour="red"), "validation", field="colour")
    refuse(store, lambda: sim.catalog.update_product(ham.id, 1, version=7), "validation", field="version")


# -- optimistic locking -----------------------------------------------------------------------


def test_update_with_stale_version_is_refused_and_changes_nothing(sim: Simulator, store: Store) -> None:
    ham = sim.catalog.add_product("HAM-1", "Hammer", "12.50")
    sim.catalog.update_product(ham.id, 1, price="13.00")
    err = refuse(store, lambda: sim.catalog.update_product(ham.id, 1, price="99.00"), "version_conflict")
    assert err.details.get("current_version") == 2
    now = sim.catalog.get_product(ham.id)
    assert (now.price_minor, now.version) == (1300, 2)


def test_the_second_of_two_editors_who_loaded_the_same_version_is_refused(store: Store) -> None:
    alice = other_sim(store, TENANT, "alice")
    bob = other_sim(store, TENANT, "bob")
    ham = alice.catalog.add_product("HAM-1", "Hammer", "12.50")
    seen_by_bob = bob.catalog.get_product(ham.id)
    alice.catalog.update_product(ham.id, ham.version, name="Alice's hammer")
    refuse(store, lambda: bob.catalog.update_product(ham.id, seen_by_bob.version, name="Bob's hammer"),
           "version_conflict")
    assert bob.catalog.get_product(ham.id).name == "Alice's hammer"


@pytest.mark.parametrize("stale", [0, 1, 3])
def test_delete_with_stale_version_is_refused_and_changes_nothing(sim: Simulator, store: Store, stale: int) -> None:
    ham = sim.catalog.add_product("HAM-1", "Hammer", "12.50")
    sim.catalog.update_product(ham.id, 1, price="13.00")
    refuse(store, lambda: sim.catalog.delete_product(ham.id, expected_version=stale), "version_conflict")
    assert sim.catalog.get_product(ham.id).version == 2


# -- SQL meta characters ----------------------------------------------------------------------


@pytest.mark.parametrize("text", [SQL_META, "O'Brien", '"; DELETE FROM categories; --', "50% off_", "back\\slash"])
def test_sql_meta_characters_in_names_are_stored_literally(sim: Simulator, text: str) -> None:
    cat = sim.catalog.add_category(text)
    p = sim.catalog.add_product("X-1", text, "1.00", category=text, quantity=2)
    assert sim.catalog.get_product(p.id).name == text
    assert [c.name for c in sim.catalog.categories()] == [text]
    assert cat.name == text
    rows = sim.catalog.find_products(ProductQuery(text=text))
    assert [(r.name, r.category) for r in rows] == [(text, text)]
    # the tables still work
    sim.catalog.add_product("X-2", "Plain", "2.00")
    assert sim.catalog.count_products() == 2
    assert sim.catalog.find_products(ProductQuery(text=text.upper()))[0].name == text
    assert sim.catalog.update_category(cat.id, 1, name=text + "!").name == text + "!"
    assert sim.catalog.update_product(p.id, 1, name=text + "?").name == text + "?"


def test_filter_text_is_matched_literally_not_as_a_pattern(sim: Simulator) -> None:
    sim.catalog.add_product("A-1", "50% off", "1")
    sim.catalog.add_product("A-2", "500 off", "1")
    sim.catalog.add_product("A-3", "snake_case", "1")
    sim.catalog.add_product("A-4", "snakeXcase", "1")
    assert [r.name for r in sim.catalog.find_products(ProductQuery(text="%"))] == ["50% off"]
    assert [r.name for r in sim.catalog.find_products(ProductQuery(text="e_c"))] == ["snake_case"]
    assert sim.catalog.count_products(ProductQuery(text="'")) == 0


# -- listing: keyset pages, filters, counts, aggregates, streams ------------------------------

TEN = [  # (sku, name, price, quantity, active, category)
    ("P-01", "banana", "1.00", 10, True, "Fruit"),
    ("P-02", "Apple", "0.50", 4, True, "Fruit"),
    ("P-03", "cherry", "3.00", 0, True, "Fruit"),
    ("P-04", "apple", "0.60", 1, True, None),
    ("P-05", "Drill", "80.00", 2, True, "Power tools"),
    ("P-06", "hammer", "12.50", 3, True, "Tools"),
    ("P-07", "Hammer", "14.00", 1, False, "Tools"),
    ("P-08", "Zebra tape", "2.25", 7, True, None),
    ("P-09", "eggplant", "1.10", 5, True, "Vegetables"),
    ("P-10", "Äpfel", "2.00", 2, True, "Fruit"),
]


@pytest.fixture
def ten(sim: Simulator) -> Simulator:
    sim.catalog.add_category("Fruit")
    sim.catalog.add_category("Vegetables")
    sim.catalog.add_category("Tools")
    sim.catalog.add_category("Power tools", parent="Tools")
    for sku, name, price, qty, active, cat in TEN:
        sim.catalog.add_product(sku, name, price, category=cat, quantity=qty, active=active)
    return sim


def test_keyset_pages_walk_every_product_once_in_name_order(ten: Simulator) -> None:
    pages = all_pages(ten, ALL, 3)
    assert [len(p) for p in pages] == [3, 3, 3, 1]
    rows = [r for page in pages for r in page]
    assert len({r.id for r in rows}) == 10
    assert [r.sku for r in rows] == [r.sku for r in ten.catalog.find_products(ALL)]
    assert [r.name for r in rows] == ["Apple", "apple", "banana", "cherry", "Drill", "eggplant", "hammer", "Hammer",
                                      "Zebra tape", "Äpfel"]
    assert [(fold_case(r.name), r.id) for r in rows] == sorted((fold_case(r.name), r.id) for r in rows)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 9, 10, 11])
def test_any_page_size_gives_the_same_rows_without_gaps_or_duplicates(ten: Simulator, size: int) -> None:
    rows = [r.id for page in all_pages(ten, ALL, size) for r in page]
    assert rows == [r.id for r in ten.catalog.find_products(ALL)]


@pytest.mark.parametrize("size", [1, 3, 4, 10, 11])
def test_backward_pages_walk_the_same_rows_from_the_end(ten: Simulator, size: int) -> None:
    """What a virtual table does after jumping to the end: the last page, then the pages before it."""
    forward = [r.id for r in ten.catalog.find_products(ALL)]
    pages: list[list[int]] = []
    page = ten.catalog.find_products(ALL, None, size, backward=True)
    while page:
        pages.insert(0, [r.id for r in page])
        page = ten.catalog.find_products(ALL, ProductCursor.after(page[0]), size, backward=True)
    assert [i for p in pages for i in p] == forward
    assert pages[-1] == forward[-size:]


@pytest.mark.parametrize("skip", [0, 1, 4, 9, 10, 25])
def test_skip_jumps_into_the_list_by_offset(ten: Simulator, skip: int) -> None:
    forward = [r.id for r in ten.catalog.find_products(ALL)]
    assert [r.id for r in ten.catalog.find_products(ALL, None, 3, skip=skip)] == forward[skip:skip + 3]
    filtered = ProductQuery(text="p-0")
    expected = [r.id for r in ten.catalog.find_products(filtered)][skip:skip + 2]
    assert [r.id for r in ten.catalog.find_products(filtered, None, 2, skip=skip)] == expected


@pytest.mark.parametrize("skip", [-1, 1.5, True])
def test_a_bad_skip_is_refused(ten: Simulator, store: Store, skip: object) -> None:
    refuse(store, lambda: ten.catalog.find_products(ALL, None, 3, skip=skip), "validation", field="skip")


def test_by_default_only_active_products_are_listed(ten: Simulator) -> None:
    rows = [r for page in all_pages(ten, ProductQuery(), 3) for r in page]
    assert len(rows) == 9
    assert "P-07" not in {r.sku for r in rows}
    assert all(r.active for r in rows)
    assert ten.catalog.count_products() == 9
    assert ten.catalog.count_products(ALL) == 10


@pytest.mark.parametrize(
    ("text", "include_inactive", "skus"),
    [
        ("apple", False, ["P-02", "P-04"]),
        ("APPLE", False, ["P-02", "P-04"]),
        ("  aPpLe ", False, ["P-02", "P-04"]),
        ("ham", False, ["P-06"]),
        ("ham", True, ["P-06", "P-07"]),
        ("p-0", False, ["P-02", "P-04", "P-01", "P-03", "P-05", "P-09", "P-06", "P-08"]),
        ("p-1", False, ["P-10"]),
        ("P-07", True, ["P-07"]),
        ("an", False, ["P-01", "P-09"]),
        ("äpfel", False, []),  # only ASCII letters fold, in SQL lower() and in Python alike
        ("Äpfel", False, ["P-10"]),
        ("nothing", True, []),
    ],
)
def test_filter_text_matches_name_or_sku_case_insensitively(
    ten: Simulator, text: str, include_inactive: bool, skus: list[str]
) -> None:
    query = ProductQuery(text=text, include_inactive=include_inactive)
    rows = [r for page in all_pages(ten, query, 3) for r in page]
    assert [r.sku for r in rows] == skus
    assert ten.catalog.count_products(query) == len(skus)
    with ten.catalog.stream_products(query) as stream:
        assert [row[0] for row in stream] == skus


def test_category_filter_covers_a_subtree(ten: Simulator) -> None:
    cats = {c.name: c.id for c in ten.catalog.categories()}
    tools_tree = ten.catalog.category_subtree(cats["Tools"])
    assert set(tools_tree) == {cats["Tools"], cats["Power tools"]}
    q = ProductQuery(category_ids=tools_tree)
    assert [r.sku for r in ten.catalog.find_products(q)] == ["P-05", "P-06"]
    q_all = ProductQuery(category_ids=tools_tree, include_inactive=True)
    assert [r.sku for r in ten.catalog.find_products(q_all)] == ["P-05", "P-06", "P-07"]
    assert ten.catalog.count_products(q_all) == 3
    fruit = ProductQuery(text="a", category_ids=(cats["Fruit"],))
    assert [r.sku for page in all_pages(ten, fruit, 1) for r in page] == ["P-02", "P-01"]
    assert ten.catalog.count_products(fruit) == 2


def test_listing_rows_carry_category_name_value_and_version(ten: Simulator) -> None:
    drill = ten.catalog.find_products(ProductQuery(text="P-05"))[0]
    assert (drill.sku, drill.name, drill.category, drill.price_minor, drill.quantity, drill.value_minor,
            drill.active, drill.version) == ("P-05", "Drill", "Power tools", 8000, 2, 16000, True, 1)
    assert ten.catalog.find_products(ProductQuery(text="P-08"))[0].category is None


@pytest.mark.parametrize("limit", [0, -1, 10_001])
def test_a_page_size_out_of_range_is_refused(ten: Simulator, store: Store, limit: int) -> None:
    refuse(store, lambda: ten.catalog.find_products(ALL, None, limit), "validation", field="limit")


def test_value_by_category_sums_price_times_quantity_of_active_products(ten: Simulator) -> None:
    values = [(v.category, v.products, v.quantity, v.value_minor) for v in ten.catalog.value_by_category()]
    assert values == [
        ("Fruit", 4, 16, 1000 + 200 + 0 + 400),
        ("Power tools", 1, 2, 16000),
        ("Tools", 1, 3, 3750),  # the inactive Hammer (14.00 x 1) is left out
        ("Vegetables", 1, 5, 550),
        (None, 2, 8, 60 + 1575),
    ]
    cats = {c.name: c.id for c in ten.catalog.categories()}
    assert [v.category_id for v in ten.catalog.value_by_category()] == [
        cats["Fruit"], cats["Power tools"], cats["Tools"], cats["Vegetables"], None]


def test_value_by_category_is_empty_without_active_products(sim: Simulator) -> None:
    sim.catalog.add_category("Tools")
    sim.catalog.add_product("A-1", "a", "1", quantity=3, active=False)
    assert sim.catalog.value_by_category() == []


def test_stream_gives_every_row_of_the_query_in_list_order(ten: Simulator) -> None:
    with ten.catalog.stream_products(ALL) as rows:
        streamed = list(rows)
    expected = [(r.sku, r.name, r.category, r.price_minor, r.quantity, r.value_minor)
                for r in ten.catalog.find_products(ALL)]
    assert streamed == expected
    assert streamed[0] == ("P-02", "Apple", "Fruit", 50, 4, 200)
    with ten.catalog.stream_products() as rows:
        assert len(list(rows)) == 9


def test_all_products_gives_every_product_once_in_id_order_deleted_and_inactive_too(
        ten: Simulator, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `check` reads: the table in its own order, with each row as the list shows it (in chunks of 3
    here, so the SQL stores' chunking is walked too)."""
    small_stream_chunks(monkeypatch, 3)
    gone = ten.catalog.find_products(ALL)[1]
    ten.catalog.delete_product(gone.id)
    with store.unit_of_work(TENANT) as uow:
        everything = list(uow.products.all_products())
        listed = uow.products.find(ProductQuery(include_inactive=True, deleted=None), None, 100)
    assert [r.id for r in everything] == sorted(r.id for r in listed)
    assert len(everything) == 10 and gone.id in {r.id for r in everything}
    assert sorted(everything) == sorted(listed)
    assert any(not r.active for r in everything)


# -- sorted lists: every sort key each way, paged forward, backward and by offset ----------------


def in_order(rows: list[Any], query: ProductQuery) -> list[int]:
    """The definition: the ids sorted in Python by (sort key, id), the whole order reversed when descending."""
    return [r.id for r in sorted(rows, key=query.sort_key, reverse=query.descending)]


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("sort", list(PRODUCT_SORTS))
def test_each_sort_lists_every_row_once_in_its_order_each_way(ten: Simulator, sort: str, descending: bool) -> None:
    query = ProductQuery(include_inactive=True, sort=sort, descending=descending)
    rows = ten.catalog.find_products(query)
    assert [r.id for r in rows] == in_order(rows, query)
    assert [r.id for page in all_pages(ten, query, 3) for r in page] == [r.id for r in rows]
    with ten.catalog.stream_products(query) as stream:
        assert [row[0] for row in stream] == [r.sku for r in rows]


def test_ties_are_broken_by_id_and_descending_reverses_them_too(ten: Simulator) -> None:
    up = ProductQuery(include_inactive=True, sort="quantity")
    down = replace(up, descending=True)
    by_quantity = ["P-03", "P-04", "P-07", "P-05", "P-10", "P-06", "P-02", "P-09", "P-08", "P-01"]
    assert [r.sku for r in ten.catalog.find_products(up)] == by_quantity
    assert [r.sku for r in ten.catalog.find_products(down)] == by_quantity[::-1]
    by_value = ["P-03", "P-04", "P-02", "P-10", "P-09", "P-01", "P-07", "P-08", "P-06", "P-05"]
    assert [r.sku for r in ten.catalog.find_products(replace(up, sort="value"))] == by_value


def test_a_sort_by_sku_is_in_byte_order_and_by_price_in_minor_units(ten: Simulator) -> None:
    assert [r.sku for r in ten.catalog.find_products(ProductQuery(sort="sku"))] == [
        "P-01", "P-02", "P-03", "P-04", "P-05", "P-06", "P-08", "P-09", "P-10"]
    assert [r.price_minor for r in ten.catalog.find_products(ProductQuery(sort="price", descending=True))] == [
        8000, 1250, 300, 225, 200, 110, 100, 60, 50]


@pytest.mark.parametrize("sort", ["colour", "category", "", "Name", "price_minor"])
def test_a_sort_key_that_is_not_a_sortable_column_is_refused(ten: Simulator, store: Store, sort: str) -> None:
    refuse(store, lambda: ten.catalog.find_products(ProductQuery(sort=sort)), "validation", field="sort")
    refuse(store, lambda: replace(ProductQuery(), sort=sort), "validation", field="sort")


def test_a_cursor_of_another_sort_is_refused(ten: Simulator, store: Store) -> None:
    first = ten.catalog.find_products(ALL, limit=1)[0]
    by_price = replace(ALL, sort="price")
    refuse(store, lambda: ten.catalog.find_products(by_price, ProductCursor.after(first)), "validation",
           field="after")
    assert ten.catalog.find_products(by_price, by_price.cursor_after(first), 1)


def test_export_follows_the_sort(ten: Simulator, store_url: str) -> None:
    query = ProductQuery(sort="value", descending=True)
    out = io.StringIO()
    Backend(ten, store_url).export_products(query, out)
    assert [row[0] for row in parse_csv(out.getvalue())[1:]] == [r.sku for r in ten.catalog.find_products(query)]


_tenants = itertools.count()
PRODUCT_ROWS = st.lists(
    st.tuples(st.sampled_from(["a", "A", "ab", "b", "B b", "Äb", "z"]),  # ties, case folding, a non-ASCII letter
              st.integers(0, 4), st.integers(0, 3), st.booleans()),
    max_size=14,
)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=PRODUCT_ROWS, sort=st.sampled_from(list(PRODUCT_SORTS)), descending=st.booleans(),
       include_inactive=st.booleans(), text=st.sampled_from(["", "", "b", "S-1"]), size=st.integers(1, 5))
def test_any_sort_pages_exactly_the_sorted_order_forward_backward_and_by_offset(
    store: Store, rows: list[tuple[str, int, int, bool]], sort: str, descending: bool, include_inactive: bool,
    text: str, size: int,
) -> None:
    """Against Python's sorted(): the pages after each cursor, the pages before each cursor from the end,
    a page at every offset, the count and the export stream give exactly that order: no gaps, no repeats,
    whatever the ties."""
    shop = other_sim(store, f"sorted-{next(_tenants)}")
    shop.catalog.bulk_add([NewProduct(f"S-{n}", name, None, price, quantity, active)
                           for n, (name, price, quantity, active) in enumerate(rows)])
    query = ProductQuery(text=text, include_inactive=include_inactive, sort=sort, descending=descending)
    listed = [r for r in shop.catalog.find_products(ProductQuery(include_inactive=True), limit=100)
              if (include_inactive or r.active)
              and (query.needle in fold_case(r.name) or query.needle in fold_case(r.sku))]
    want = in_order(listed, query)

    assert_pages(shop.catalog, query, want, size, range(len(want) + 2))
    assert shop.catalog.count_products(query) == len(want)
    skus = {r.id: r.sku for r in listed}
    with shop.catalog.stream_products(query) as stream:
        assert [row[0] for row in stream] == [skus[i] for i in want]


# -- import -----------------------------------------------------------------------------------


def rows_of(*specs: tuple[str, ...]) -> list[dict[str, str]]:
    keys = ("sku", "name", "price", "category", "quantity", "active")
    return [dict(zip(keys, spec)) for spec in specs]


GOOD = rows_of(
    ("A-1", "Anvil", "100.00", "Tools", "1"),
    ("B-1", "Bolt", "0.10", "", "500"),
    ("C-1", "Chisel", "7.5", "tools", "3", "no"),
    ("D-1", "Drill", "80", "Power tools", ""),
)


@pytest.fixture
def cats(sim: Simulator) -> Simulator:
    sim.catalog.add_category("Tools")
    sim.catalog.add_category("Power tools", parent="Tools")
    return sim


def test_import_inserts_validated_rows(cats: Simulator, store: Store) -> None:
    result = cats.catalog.import_products(GOOD, source="test.csv")
    assert (result.rows, result.inserted, result.updated, result.unchanged) == (4, 4, 0, 0)
    assert listing(cats) == [
        ("A-1", "Anvil", "Tools", 10000, 1, True, 1),
        ("B-1", "Bolt", None, 10, 500, True, 1),
        ("C-1", "Chisel", "Tools", 750, 3, False, 1),
        ("D-1", "Drill", "Power tools", 8000, 0, True, 1),
    ]
    entry = latest_audit(store)[0]
    assert (entry.actor, entry.entity, entry.entity_id, entry.action, entry.before) == (
        "tester", "product", "*", "import", None)
    assert json.loads(entry.after) == {"source": "test.csv", "rows": 4, "inserted": 4, "updated": 0}


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"price": "12.345"}, "price"),
        ({"price": "abc"}, "price"),
        ({"price": "-1"}, "price"),
        ({"price": ""}, "price"),
        ({"sku": ""}, "sku"),
        ({"sku": "bad sku"}, "sku"),
        ({"name": "  "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"quantity": "-3"}, "quantity"),
        ({"quantity": "1.5"}, "quantity"),
        ({"active": "perhaps"}, "active"),
    ],
    ids=repr,
)
def test_import_with_a_bad_row_in_the_middle_writes_nothing(
    cats: Simulator, store: Store, bad: dict[str, str], field: str
) -> None:
    rows = [dict(r) for r in GOOD]
    rows.insert(2, {"sku": "X-1", "name": "Bad", "price": "1.00"} | bad)
    err = refuse(store, lambda: cats.catalog.import_products(rows), "validation", field=field, row=3)
    assert err.message.startswith("row 3:")
    assert cats.catalog.count_products(ALL) == 0


def test_import_with_a_missing_required_value_names_row_and_field(cats: Simulator, store: Store) -> None:
    rows = [dict(r) for r in GOOD] + [{"sku": "E-1", "name": "Eraser"}]
    err = refuse(store, lambda: cats.catalog.import_products(rows), "validation", field="price", row=5)
    assert "required" in err.message


@pytest.mark.parametrize("category", ["Garden", 999_999])
def test_import_with_an_unknown_category_names_the_row_and_writes_nothing(
    cats: Simulator, store: Store, category: object
) -> None:
    rows: list[dict[str, Any]] = [dict(r) for r in GOOD]
    rows[1]["category"] = category
    err = refuse(store, lambda: cats.catalog.import_products(rows), "not_found", field="category", row=2)
    assert err.message.startswith("row 2:")


def test_import_over_existing_products_writes_nothing_when_a_later_row_is_bad(cats: Simulator, store: Store) -> None:
    cats.catalog.import_products(GOOD)
    changed = [dict(r) | {"price": "1.23"} for r in GOOD] + [{"sku": "Z-1", "name": "Zed", "price": "x"}]
    refuse(store, lambda: cats.catalog.import_products(changed), "validation", row=5)
    assert {r[3] for r in listing(cats)} == {10000, 10, 750, 8000}


def test_importing_the_same_rows_again_changes_nothing(cats: Simulator) -> None:
    cats.catalog.import_products(GOOD)
    before = listing(cats)
    again = cats.catalog.import_products([dict(r) for r in GOOD])
    assert (again.rows, again.inserted, again.updated, again.unchanged) == (4, 0, 0, 4)
    assert listing(cats) == before


def test_importing_changed_rows_updates_them_with_version_plus_one(cats: Simulator) -> None:
    cats.catalog.import_products(GOOD)
    changed = [dict(r) for r in GOOD]
    changed[0]["price"] = "101.00"
    changed[2]["active"] = "yes"
    changed[3]["category"] = ""
    changed.append({"sku": "e-1", "name": "Eraser", "price": "0.99"})
    result = cats.catalog.import_products(changed)
    assert (result.rows, result.inserted, result.updated, result.unchanged) == (5, 1, 3, 1)
    assert listing(cats) == [
        ("A-1", "Anvil", "Tools", 10100, 1, True, 2),
        ("B-1", "Bolt", None, 10, 500, True, 1),
        ("C-1", "Chisel", "Tools", 750, 3, True, 2),
        ("D-1", "Drill", None, 8000, 0, True, 2),
        ("E-1", "Eraser", None, 99, 0, True, 1),
    ]


def test_import_updates_a_product_created_through_the_api_by_its_sku(cats: Simulator) -> None:
    ham = cats.catalog.add_product("HAM-1", "Hammer", "12.50")
    result = cats.catalog.import_products([{"sku": "ham-1", "name": "Hammer", "price": "13.00"}])
    assert (result.inserted, result.updated) == (0, 1)
    now = cats.catalog.get_product(ham.id)
    assert (now.price_minor, now.version) == (1300, 2)


def test_the_same_sku_twice_in_one_import_keeps_the_last_row(cats: Simulator) -> None:
    result = cats.catalog.import_products(rows_of(("A-1", "First", "1"), ("a-1", "Second", "2")))
    assert (result.rows, result.inserted, result.updated) == (2, 1, 1)
    assert listing(cats) == [("A-1", "Second", None, 200, 0, True, 2)]


def test_importing_no_rows_writes_only_the_import_audit_entry(cats: Simulator, store: Store) -> None:
    result = cats.catalog.import_products([])
    assert (result.rows, result.inserted, result.updated) == (0, 0, 0)
    assert cats.catalog.count_products(ALL) == 0
    assert latest_audit(store)[0].action == "import"


# -- unit of work -----------------------------------------------------------------------------


def test_leaving_a_unit_of_work_without_commit_persists_nothing(store: Store) -> None:
    before = state(store)
    with store.unit_of_work(TENANT, write=True) as uow:
        cat = uow.categories.add("Tools", None)
        uow.products.add(NewProduct("HAM-1", "Hammer", cat.id, 1250))
        assert uow.products.count(ALL) == 1  # visible inside the transaction
    assert state(store) == before


def test_an_exception_inside_a_unit_of_work_persists_nothing(store: Store) -> None:
    before = state(store)

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with store.unit_of_work(TENANT, write=True) as uow:
            uow.categories.add("Tools", None)
            uow.products.add(NewProduct("HAM-1", "Hammer", None, 1250))
            raise Boom
    assert state(store) == before


def test_an_exception_after_commit_keeps_what_was_committed(store: Store) -> None:
    with pytest.raises(RuntimeError):
        with store.unit_of_work(TENANT, write=True) as uow:
            uow.categories.add("Tools", None)
            uow.commit()
            raise RuntimeError("after commit")
    with store.unit_of_work(TENANT) as uow:
        assert [c.name for c in uow.categories.list()] == ["Tools"]


def test_commit_persists_the_unit_of_work(store: Store) -> None:
    with store.unit_of_work(TENANT, write=True) as uow:
        cat = uow.categories.add("Tools", None)
        ham = uow.products.add(NewProduct("HAM-1", "Hammer", cat.id, 1250, 3))
        uow.commit()
    with store.unit_of_work(TENANT) as uow:
        assert uow.categories.list() == [cat]
        assert uow.products.get(ham.id) == ham
        assert uow.products.get_by_sku("HAM-1") == ham


def test_explicit_rollback_discards_the_work(store: Store) -> None:
    with store.unit_of_work(TENANT, write=True) as uow:
        uow.categories.add("Tools", None)
        uow.rollback()
    assert state(store)[0] == []


def test_a_failed_repository_call_inside_a_unit_of_work_does_not_undo_earlier_committed_work(store: Store) -> None:
    with store.unit_of_work(TENANT, write=True) as uow:
        uow.categories.add("Tools", None)
        uow.commit()
    with pytest.raises(DomainError) as caught:
        with store.unit_of_work(TENANT, write=True) as uow:
            uow.categories.add("Garden", None)
            uow.categories.add("TOOLS", None)
    assert caught.value.code == "already_exists"
    assert [c.name for c in state(store)[0]] == ["Tools"]


def test_a_nested_unit_of_work_rolled_back_inside_a_committed_one_undoes_only_its_own_work(store: Store) -> None:
    with store.unit_of_work(TENANT, write=True) as outer:
        outer.categories.add("Tools", None)
        with store.unit_of_work(TENANT, write=True) as inner:
            inner.categories.add("Garden", None)
        with store.unit_of_work(TENANT, write=True) as inner:
            inner.categories.add("Kitchen", None)
            inner.commit()
        outer.commit()
    assert [c.name for c in state(store)[0]] == ["Kitchen", "Tools"]


def test_a_committed_nested_unit_of_work_is_undone_when_the_outer_one_is_not_committed(store: Store) -> None:
    with store.unit_of_work(TENANT, write=True) as outer:
        outer.categories.add("Tools", None)
        with store.unit_of_work(TENANT, write=True) as inner:
            inner.categories.add("Garden", None)
            inner.commit()
    assert state(store)[0] == []


# -- tenants ----------------------------------------------------------------------------------


@pytest.fixture
def two(store: Store) -> tuple[Simulator, Simulator]:
    a = other_sim(store, "a")
    b = other_sim(store, "b")
    a.catalog.add_category("Tools")
    a.catalog.add_product("HAM-1", "Hammer", "12.50", category="Tools", quantity=2)
    a.catalog.add_product("SAW-1", "Saw", "20.00", quantity=1, active=False)
    return a, b


def test_a_tenant_sees_nothing_of_another_tenant(two: tuple[Simulator, Simulator], store: Store) -> None:
    a, b = two
    assert b.catalog.categories() == []
    assert b.catalog.find_products(ALL) == []
    assert b.catalog.count_products(ALL) == 0
    assert b.catalog.value_by_category() == []
    with b.catalog.stream_products(ALL) as rows:
        assert list(rows) == []
    assert latest_audit(store, 100, tenant="b") == []
    assert b.is_pristine() and not a.is_pristine()
    with store.unit_of_work("b") as uow:
        assert uow.users.list() == []
        assert uow.categories.get_by_name("Tools") is None
        assert uow.products.get_by_sku("HAM-1") is None


def test_a_tenant_cannot_read_change_or_delete_another_tenants_product_by_id(
    two: tuple[Simulator, Simulator], store: Store
) -> None:
    a, b = two
    ham = a.catalog.get_product_by_sku("HAM-1")
    before_a = state(store, "a")
    refuse(store, lambda: b.catalog.get_product(ham.id), "not_found", tenant="b")
    refuse(store, lambda: b.catalog.get_product_by_sku("HAM-1"), "not_found", tenant="b")
    refuse(store, lambda: b.catalog.update_product(ham.id, 1, name="Stolen"), "not_found", tenant="b")
    refuse(store, lambda: b.catalog.delete_product(ham.id), "not_found", tenant="b")
    refuse(store, lambda: b.catalog.delete_product(ham.id, 1), "not_found", tenant="b")
    assert state(store, "a") == before_a


def test_a_tenant_cannot_use_or_change_another_tenants_category(
    two: tuple[Simulator, Simulator], store: Store
) -> None:
    a, b = two
    tools = a.catalog.categories()[0]
    before_a = state(store, "a")
    refuse(store, lambda: b.catalog.add_product("X-1", "x", "1", category=tools.id), "not_found", tenant="b")
    refuse(store, lambda: b.catalog.add_product("X-1", "x", "1", category="Tools"), "not_found", tenant="b")
    refuse(store, lambda: b.catalog.add_category("Drills", parent=tools.id), "not_found", tenant="b")
    refuse(store, lambda: b.catalog.update_category(tools.id, 1, name="Mine"), "not_found", tenant="b")
    refuse(store, lambda: b.catalog.delete_category(tools.id), "not_found", tenant="b")
    refuse(store, lambda: b.catalog.import_products([{"sku": "X", "name": "x", "price": "1", "category": tools.id}]),
           "not_found", row=1, tenant="b")
    assert state(store, "a") == before_a


def test_the_same_sku_and_category_name_can_exist_in_two_tenants(
    two: tuple[Simulator, Simulator], store: Store
) -> None:
    a, b = two
    before_a = state(store, "a")
    b.catalog.add_category("tools")
    mine = b.catalog.add_product("ham-1", "B's hammer", "1.00", category="Tools")
    result = b.catalog.import_products([{"sku": "SAW-1", "name": "B's saw", "price": "2"}])
    assert (result.inserted, result.updated) == (1, 0)
    assert b.catalog.get_product_by_sku("HAM-1") == mine
    assert [r.sku for r in b.catalog.find_products(ALL)] == ["HAM-1", "SAW-1"]
    assert state(store, "a") == before_a
    assert a.catalog.get_product_by_sku("HAM-1").name == "Hammer"


def test_deleting_in_one_tenant_leaves_the_other_tenant_alone(two: tuple[Simulator, Simulator], store: Store) -> None:
    a, b = two
    b.catalog.add_category("Tools")
    theirs = b.catalog.add_product("HAM-1", "B's hammer", "1.00", category="Tools")
    ham = a.catalog.get_product_by_sku("HAM-1")
    a.catalog.delete_product(ham.id)
    a.catalog.purge_product(ham.id)
    assert b.catalog.get_product(theirs.id) == theirs
    b.catalog.delete_product(theirs.id)
    b.catalog.purge_product(theirs.id)
    b.catalog.delete_category(b.catalog.categories()[0].id)
    assert [c.name for c in a.catalog.categories()] == ["Tools"]


# -- audit ------------------------------------------------------------------------------------


def test_every_mutation_writes_an_audit_entry_with_before_after_or_the_diff(sim: Simulator, store: Store) -> None:
    tools = sim.catalog.add_category("Tools")
    ham = sim.catalog.add_product("HAM-1", "Hammer", "12.50", category="Tools")
    sim.catalog.update_product(ham.id, 1, price="13.00")
    tools2 = sim.catalog.update_category(tools.id, 1, name="Hardware")
    ham3 = sim.catalog.delete_product(ham.id, 2)
    sim.catalog.purge_product(ham.id)
    sim.catalog.delete_category(tools.id)
    entries = list(reversed(latest_audit(store, 100)))
    assert [(e.actor, e.entity, e.entity_id, e.action) for e in entries] == [
        ("tester", "category", str(tools.id), "create"),
        ("tester", "product", str(ham.id), "create"),
        ("tester", "product", str(ham.id), "update"),
        ("tester", "category", str(tools.id), "update"),
        ("tester", "product", str(ham.id), "delete"),
        ("tester", "product", str(ham.id), "purge"),
        ("tester", "category", str(tools.id), "delete"),
    ]
    decoded = [(e.before and json.loads(e.before), e.after and json.loads(e.after)) for e in entries]
    assert decoded == [
        (None, asdict(tools)),
        (None, asdict(ham)),
        ({"price_minor": 1250, "version": 1}, {"price_minor": 1300, "version": 2}),  # an update keeps the diff
        ({"name": "Tools", "version": 1}, {"name": "Hardware", "version": 2}),
        ({"deleted_at": None, "version": 2}, {"deleted_at": ham3.deleted_at, "version": 3}),  # a soft delete
        ({"id": ham.id, "sku": "HAM-1"}, None),  # the purge's tombstone keeps no data
        (asdict(tools2), None),
    ]
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    assert all(e.at.endswith("Z") for e in entries)
    assert len({e.id for e in entries}) == 7


def test_audit_latest_is_newest_first_and_limited(sim: Simulator, store: Store) -> None:
    for name in ("A", "B", "C"):
        sim.catalog.add_category(name)
    assert [json.loads(e.after)["name"] for e in latest_audit(store, 2)] == ["C", "B"]
    assert len(latest_audit(store, 100)) == 3


def test_the_actor_of_a_mutation_is_recorded_as_a_user(store: Store) -> None:
    alice = other_sim(store, TENANT, "alice")
    alice.catalog.add_category("Tools")
    with store.unit_of_work(TENANT) as uow:
        assert [u.name for u in uow.users.list()] == ["alice"]
        assert uow.audit.latest(1)[0].actor == "alice"


def test_a_mutation_and_its_audit_entry_are_one_transaction(store: Store) -> None:
    with store.unit_of_work(TENANT, write=True) as uow:
        uow.categories.add("Tools", None)
        sim = other_sim(store, TENANT)
        sim.ctx.audit(uow, "category", 1, "create", after={"name": "Tools"})
    assert state(store) == ([], [], [], [])


REFUSALS: list[tuple[str, Callable[[Simulator, dict[str, Any]], object], str]] = [
    ("duplicate sku", lambda s, ids: s.catalog.add_product("ham-1", "x", "1"), "already_exists"),
    ("duplicate category", lambda s, ids: s.catalog.add_category("TOOLS"), "already_exists"),
    ("unknown category", lambda s, ids: s.catalog.add_product("NEW-1", "x", "1", category="nope"), "not_found"),
    ("float price", lambda s, ids: s.catalog.add_product("NEW-1", "x", 1.5), "validation"),
    ("stale update", lambda s, ids: s.catalog.update_product(ids["ham"], 0, name="x"), "version_conflict"),
    ("stale delete", lambda s, ids: s.catalog.delete_product(ids["ham"], 5), "version_conflict"),
    ("stale category update", lambda s, ids: s.catalog.update_category(ids["tools"], 9, name="x"), "version_conflict"),
    ("category in use", lambda s, ids: s.catalog.delete_category(ids["tools"]), "in_use"),
    ("cycle", lambda s, ids: s.catalog.update_category(ids["tools"], 1, parent=ids["drills"]), "validation"),
    ("bad import row", lambda s, ids: s.catalog.import_products(rows_of(("N-1", "n", "1"), ("N-2", "n", "x"))),
     "validation"),
    ("unknown product", lambda s, ids: s.catalog.update_product(999_999, 1, name="x"), "not_found"),
]


@pytest.mark.parametrize(("call", "code"), [(c, code) for _, c, code in REFUSALS], ids=[n for n, _, _ in REFUSALS])
def test_a_refused_mutation_writes_no_audit_entry_and_no_user(
    store: Store, call: Callable[[Simulator, dict[str, Any]], object], code: str
) -> None:
    owner = other_sim(store, TENANT, "owner")
    tools = owner.catalog.add_category("Tools")
    drills = owner.catalog.add_category("Drills", parent=tools.id)
    ham = owner.catalog.add_product("HAM-1", "Hammer", "12.50", category="Tools")
    ids = {"tools": tools.id, "drills": drills.id, "ham": ham.id}
    newcomer = other_sim(store, TENANT, "newcomer")  # a refused call must not even register the actor
    refuse(store, lambda: call(newcomer, ids), code)
    with store.unit_of_work(TENANT) as uow:
        assert [u.name for u in uow.users.list()] == ["owner"]
        assert len(uow.audit.latest(100)) == 3


# -- CSV through the composition root ---------------------------------------------------------


def parse_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_export_of_an_empty_view_writes_just_the_header(sim: Simulator, store_url: str) -> None:
    assert export_text(sim, store_url) == ",".join(PRODUCT_EXPORT_HEADER) + "\r\n"
    sim.catalog.add_product("A-1", "a", "1", active=False)
    assert export_text(sim, store_url) == "sku,name,category,price,quantity,value\r\n"


def test_export_writes_every_product_of_the_view(ten: Simulator, store_url: str) -> None:
    out = io.StringIO()
    count = Backend(ten, store_url).export_products(ProductQuery(text="apple"), out)
    assert count == 2
    assert parse_csv(out.getvalue()) == [
        list(PRODUCT_EXPORT_HEADER),
        ["P-02", "Apple", "Fruit", "0.50", "4", "2.00"],
        ["P-04", "apple", "", "0.60", "1", "0.60"],
    ]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"], ids=repr)
def test_export_neutralises_cells_that_a_spreadsheet_would_run_as_formulas(
    store: Store, sim: Simulator, store_url: str, start: str
) -> None:
    evil = start + "SUM(A1)"
    with store.unit_of_work(TENANT, write=True) as uow:  # straight in: the API strips leading tab/CR
        cat = uow.categories.add(evil, None)
        uow.products.add(NewProduct("EVIL-1", evil, cat.id, 100, 1))
        uow.products.add(NewProduct("SAFE-1", "Plain x" + start, None, 100, 1))
        uow.commit()
    by_sku = {cells[0]: cells for cells in parse_csv(export_text(sim, store_url))[1:]}
    assert by_sku["EVIL-1"][1:] == ["'" + evil, "'" + evil, "1.00", "1", "1.00"]
    assert by_sku["SAFE-1"][1:3] == ["Plain x" + start, ""]
    assert safe_cell(evil) == "'" + evil


def test_a_cell_holding_a_carriage_return_survives_export(store: Store, sim: Simulator, store_url: str) -> None:
    with store.unit_of_work(TENANT, write=True) as uow:
        uow.products.add(NewProduct("CR-1", "two\rlines", None, 100, 1))
        uow.commit()
    assert parse_csv(export_text(sim, store_url))[1][:2] == ["CR-1", "two\rlines"]


@pytest.mark.parametrize("text", ["=1+2", "+1", "-1", "@SUM(A1)"])
def test_names_that_look_like_formulas_are_neutralised_on_export(sim: Simulator, store_url: str, text: str) -> None:
    sim.catalog.add_category(text)
    sim.catalog.add_product("F-1", text, "1.00", category=text)
    assert parse_csv(export_text(sim, store_url))[1][:4] == ["F-1", "'" + text, "'" + text, "1.00"]


def test_export_then_import_into_another_tenant_gives_the_same_products(
    ten: Simulator, store: Store, store_url: str, tmp_path: Path
) -> None:
    ten.catalog.add_product("Q-1", 'Quote "and", comma', "3.33", quantity=3)
    ten.catalog.add_product("Q-2", SQL_META, "0.01", quantity=1)
    path = write_csv(tmp_path, export_text(ten, store_url, ALL))
    copy = other_sim(store, "copy")
    for c in ten.catalog.categories():
        copy.catalog.add_category(c.name)
    result = Backend(copy, store_url).import_products(path)
    assert (result.rows, result.inserted, result.updated) == (12, 12, 0)
    with ten.catalog.stream_products(ALL) as rows:
        original = list(rows)
    with copy.catalog.stream_products(ALL) as rows:
        copied = list(rows)
    assert copied == original
    assert export_text(copy, store_url, ALL) == export_text(ten, store_url, ALL)


def test_importing_an_export_into_the_same_tenant_changes_nothing(
    ten: Simulator, store_url: str, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, export_text(ten, store_url))
    before = listing(ten)
    result = Backend(ten, store_url).import_products(path)
    assert (result.rows, result.inserted, result.updated) == (9, 0, 0)
    assert listing(ten) == before


def test_csv_import_accepts_a_byte_order_mark_any_column_order_and_header_case(
    cats: Simulator, store_url: str, tmp_path: Path
) -> None:
    text = "\ufeffQuantity, PRICE ,Name,sku,Category,notes\n2,1.50,Nail,n-1,tools,ignored\n"
    result = Backend(cats, store_url).import_products(write_csv(tmp_path, text))
    assert (result.rows, result.inserted) == (1, 1)
    assert listing(cats) == [("N-1", "Nail", "Tools", 150, 2, True, 1)]


@pytest.mark.parametrize("missing", ["sku", "name", "price"])
def test_csv_import_without_a_required_column_is_refused_naming_it(
    cats: Simulator, store: Store, store_url: str, tmp_path: Path, missing: str
) -> None:
    columns = [c for c in ("sku", "name", "price", "quantity") if c != missing]
    values = {"sku": "A-1", "name": "Anvil", "price": "1.00", "quantity": "1"}
    text = ",".join(columns) + "\n" + ",".join(values[c] for c in columns) + "\n"
    path = write_csv(tmp_path, text)
    err = refuse(store, lambda: Backend(cats, store_url).import_products(path), "validation", field="header")
    assert err.message.startswith(f"missing column(s): {missing} ")


@pytest.mark.parametrize(
    "data",
    [b"sku,name,price\nA-1,Caf\xe9,1.00\n", b"sku,name,price\nA-1,Anvil,1.00\nB-1,Caf\xe9,2.00\n",
     "sku,name,price\nA-1,Café,1.00\n".encode("latin-1"), b"\xff\xfes\x00k\x00u\x00"],
    ids=["first-row", "second-row", "latin-1", "utf-16"],
)
def test_csv_import_of_a_file_that_is_not_utf8_is_refused(
    cats: Simulator, store: Store, store_url: str, tmp_path: Path, data: bytes
) -> None:
    path = write_csv(tmp_path, data)
    err = refuse(store, lambda: Backend(cats, store_url).import_products(path), "validation", field="file")
    assert "UTF-8" in err.message


def test_csv_import_with_a_bad_row_in_the_middle_imports_nothing(
    cats: Simulator, store: Store, store_url: str, tmp_path: Path
) -> None:
    text = "sku,name,price,category\nA-1,Anvil,1.00,Tools\nB-1,Bolt,1.2.3,\nC-1,Chisel,3.00,tools\n"
    path = write_csv(tmp_path, text)
    err = refuse(store, lambda: Backend(cats, store_url).import_products(path), "validation", field="price", row=2)
    assert err.message.startswith("row 2: price:")
    assert cats.catalog.count_products(ALL) == 0


def test_csv_import_with_an_unknown_category_imports_nothing(
    cats: Simulator, store: Store, store_url: str, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, "sku,name,price,category\nA-1,Anvil,1.00,Tools\nB-1,Bolt,1.00,Garden\n")
    refuse(store, lambda: Backend(cats, store_url).import_products(path), "not_found", field="category", row=2)


def test_csv_import_of_a_row_with_more_cells_than_the_header_is_refused(
    cats: Simulator, store: Store, store_url: str, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, "sku,name,price\nA-1,Anvil,1.00\nB-1,Bolt,1.00,extra\n")
    refuse(store, lambda: Backend(cats, store_url).import_products(path), "validation", row=2)


@pytest.mark.parametrize("text", ["", "\ufeff"])
def test_csv_import_of_an_empty_file_is_refused(
    cats: Simulator, store: Store, store_url: str, tmp_path: Path, text: str
) -> None:
    path = write_csv(tmp_path, text)
    refuse(store, lambda: Backend(cats, store_url).import_products(path), "validation", field="file")


def test_csv_import_of_a_missing_file_is_refused(cats: Simulator, store: Store, store_url: str, tmp_path: Path) -> None:
    path = str(tmp_path / "nope.csv")
    refuse(store, lambda: Backend(cats, store_url).import_products(path), "validation", field="file")


def test_csv_import_of_just_a_header_imports_nothing(cats: Simulator, store_url: str, tmp_path: Path) -> None:
    result = Backend(cats, store_url).import_products(write_csv(tmp_path, "sku,name,price\n"))
    assert (result.rows, result.inserted, result.updated) == (0, 0, 0)


# -- limits and identity ---------------------------------------------------------------------


def test_the_largest_stock_value_is_listed_and_exported_exactly(sim: Simulator, store_url: str) -> None:
    sim.catalog.add_product("MAX-1", "max", MAX_MINOR, quantity=1)
    sim.catalog.add_product("HALF-1", "half", MAX_MINOR // 2, quantity=2)
    assert [r.value_minor for r in sim.catalog.find_products()] == [MAX_MINOR - 1, MAX_MINOR]
    assert all(type(r.value_minor) is int for r in sim.catalog.find_products())
    rows = parse_csv(export_text(sim, store_url))
    assert [r[5] for r in rows[1:]] == ["92233720368547758.06", "92233720368547758.07"]
    assert sim.check().ok


def test_a_product_whose_stock_value_would_exceed_a_bigint_is_refused(sim: Simulator, store: Store) -> None:
    refuse(store, lambda: sim.catalog.add_product("BIG-1", "big", MAX_MINOR, quantity=2), "validation",
           field="quantity")
    p = sim.catalog.add_product("BIG-1", "big", MAX_MINOR // 2, quantity=1)
    refuse(store, lambda: sim.catalog.update_product(p.id, 1, quantity=3), "validation", field="quantity")
    refuse(store, lambda: sim.catalog.import_products([{"sku": "BIG-2", "name": "b", "price": str(MAX_MINOR // 100),
                                                        "quantity": "2"}]), "validation", field="quantity", row=1)


def test_the_value_by_category_of_a_huge_stock_is_exact(sim: Simulator, request: pytest.FixtureRequest) -> None:
    sim.catalog.add_product("MAX-1", "max", MAX_MINOR, quantity=1)
    sim.catalog.add_product("MAX-2", "max", MAX_MINOR, quantity=1)
    assert [v.value_minor for v in sim.catalog.value_by_category()] == [2 * MAX_MINOR]


@pytest.mark.parametrize("category", [True, 1.0])
def test_a_category_reference_that_is_not_a_name_or_an_integer_id_is_refused(
    sim: Simulator, store: Store, category: object
) -> None:
    sim.catalog.add_category("Tools")  # id 1: True or 1.0 must not quietly land here
    refuse(store, lambda: sim.catalog.add_product("X-1", "x", "1", category=category), "validation",
           field="category")


def test_an_edit_of_a_deleted_product_is_refused_even_after_a_new_product_is_added(
    store: Store, request: pytest.FixtureRequest
) -> None:
    alice = other_sim(store, TENANT, "alice")
    bob = other_sim(store, TENANT, "bob")
    alice.catalog.add_product("A-1", "Anvil", "1")
    saw = alice.catalog.add_product("SAW-1", "Saw", "2")
    seen_by_alice = alice.catalog.get_product(saw.id)
    bob.catalog.delete_product(saw.id)
    bolt = bob.catalog.add_product("BOLT-1", "Bolt", "0.10")
    refuse(store, lambda: alice.catalog.update_product(seen_by_alice.id, seen_by_alice.version, name="Saw, sharp"),
           "not_found")
    assert bob.catalog.get_product_by_sku("BOLT-1") == bolt


def test_a_closed_store_refuses_units_of_work(store_url: str) -> None:
    closed = open_store(store_url)
    closed.close()
    with pytest.raises(DomainError) as caught:
        with closed.unit_of_work(TENANT):
            pass
    assert caught.value.code == "storage"


# -- the adapters agree with the in-memory reference ------------------------------------------


def _scenario(sim: Simulator) -> list[Any]:
    """A mixed script of successes and refusals; returns what each step gave."""
    out: list[Any] = []

    def step(call: Callable[[], Any]) -> None:
        try:
            value = call()
        except DomainError as e:
            out.append(("refused", e.code, e.field, e.row))
        else:
            out.append(("ok", value))

    c = sim.catalog
    step(lambda: c.add_category("Tools"))
    step(lambda: c.add_category("tools"))
    step(lambda: c.add_category("Drills", parent="TOOLS"))
    step(lambda: c.add_product("a-1", "Anvil", "10", category="Tools", quantity=2))
    step(lambda: c.add_product("A-1", "Anvil", "10"))
    step(lambda: c.add_product("B-1", "bolt", 5, category="Drills", quantity="7"))
    step(lambda: c.add_product("C-1", "chisel", 0.5))
    step(lambda: c.update_product(1, 1, price="11"))
    step(lambda: c.update_product(1, 1, price="12"))
    step(lambda: c.delete_category(1))
    step(lambda: c.update_category(1, 1, parent="Drills"))
    step(lambda: c.import_products(rows_of(("B-1", "bolt", "0.05", "drills", "7"), ("D-1", "Dowel", "1", "", "9"))))
    step(lambda: c.import_products(rows_of(("E-1", "e", "1"), ("F-1", "f", "1", "Nope"))))
    step(lambda: c.find_products(ProductQuery(text="O"), None, 2))
    step(lambda: c.count_products(ALL))
    step(lambda: c.value_by_category())
    step(lambda: c.delete_product(1, 1))
    step(lambda: c.delete_product(1, 2))
    step(lambda: c.get_product(1))
    return out


def test_an_adapter_gives_the_same_results_and_codes_as_the_memory_reference(store: Store) -> None:
    reference = open_store("memory://")
    try:
        expected = _scenario(other_sim(reference, TENANT))
    finally:
        reference.close()
    assert _without_ids(_scenario(other_sim(store, TENANT))) == _without_ids(expected)


def _without_ids(value: object, seen: dict | None = None) -> object:
    """Ids are opaque: unique and never reused, not dense (an upsert that updates may use one up
    on SQL stores, as sequences do). Replace each distinct (kind, id) by its order of appearance."""
    seen = {} if seen is None else seen
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(_without_ids(v, seen) for v in value)
    for field in ("id", "category_id", "parent_id"):
        if hasattr(value, field) and getattr(value, field) is not None:
            kind = "category" if field != "id" or type(value).__name__ == "Category" else type(value).__name__
            key = (kind, getattr(value, field))
            seen.setdefault(key, f"{kind}#{len([k for k in seen if k[0] == kind]) + 1}")
            value = value._replace(**{field: seen[key]}) if hasattr(value, "_replace") else replace(value, **{field: seen[key]})
    return value
