"""CatalogService.bulk_add on every adapter: the same books as the general path (upsert by SKU, then the
batch's counts reconciled into adjustments) whatever path the store takes. The sqlite3 store inserts new
SKUs without lookups and posts their opening stock set-based (`products.bulk_insert()`); the reference is
the same scenario on a fresh store of the same kind made to take the general path: products, stock
moves, levels, the audit trail and the counts returned must match row for row. Refusals change nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import domain.services.catalog as catalog_module
from domain import Simulator
from domain.clock import FixedClock
from domain.errors import DomainError
from domain.model import NewProduct, ProductQuery
from domain.ports import Store
from storage import open_store
from tests.conftest import fresh_store_url

TENANT = "t1"
EVERYTHING = ProductQuery(include_inactive=True, deleted=None)


def books(store: Store, tenant: str = TENANT) -> dict[str, Any]:
    """A tenant's catalog and stock ledger in store-neutral terms (SKUs and names instead of row ids)."""
    with store.unit_of_work(tenant) as uow:
        products = uow.products.find(EVERYTHING, None, 10_000)
        sku = {p.id: p.sku for p in products}
        place = {loc.id: loc.name for loc in uow.locations.list()}
        return {
            "categories": [(c.name, c.parent_id is not None) for c in uow.categories.list()],
            "products": [(p.sku, p.name, p.category, p.price_minor, p.quantity, p.active, p.version) for p in products],
            "moves": [(m.kind, m.reason, sku[m.product_id], place[m.from_location_id], place[m.to_location_id],
                       m.quantity, m.from_after, m.to_after, m.day, m.memo, m.idempotency_key, m.actor, m.created_at)
                      for m in uow.stock.stream_moves()],
            "levels": sorted((sku[lv.product_id], place[lv.location_id], lv.on_hand, lv.incoming, lv.outgoing)
                             for lv in uow.stock.all_levels()),
            "audit": [(e.at, e.actor, e.entity, e.entity_id, e.action, e.before, e.after, e.request_key)
                      for e in reversed(uow.audit.latest(10_000))],
        }


def run_scenario(store: Store, scenario) -> tuple[Any, dict[str, Any]]:
    sim = Simulator(store, actor="tester", tenant=TENANT, clock=FixedClock())
    try:
        outcome: Any = scenario(sim)
    except DomainError as e:
        outcome = ("refused", e.code, e.field)
    return outcome, books(store)


@pytest.fixture
def reference(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Runs a scenario on a fresh store of the kind under test, every bulk_add on the general path."""
    kind = request.node.callspec.params["store_url"]

    def run(scenario) -> tuple[Any, dict[str, Any]]:
        folder = tmp_path / "reference"
        folder.mkdir()
        with monkeypatch.context() as m:
            m.setattr(catalog_module.CatalogService, "_add_in_batches",
                      lambda self, uow, add_new, products, source: self._upsert_in_batches(uow, products, source))
            store = open_store(fresh_store_url(kind, folder))
            try:
                return run_scenario(store, scenario)
            finally:
                store.close()

    return run


def product(n: int, *, qty: int | None = None, price: int | None = None, category: int | None = None,
            name: str | None = None) -> NewProduct:
    return NewProduct(f"B-{n:04d}", name or f"Bulk {n}", category, 100 + n if price is None else price,
                      n % 7 if qty is None else qty)


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Four rows a batch, so a few rows cross batch boundaries (the rule is the same at 5,000)."""
    monkeypatch.setattr(catalog_module, "IMPORT_BATCH", 4)


def same_as_the_general_path(store: Store, reference, scenario) -> Any:
    got = run_scenario(store, scenario)
    want = reference(scenario)
    assert got[0] == want[0]
    for part in want[1]:
        assert got[1][part] == want[1][part], part
    return got[0]


def test_bulk_add_to_an_empty_catalog_writes_the_books_of_the_general_path(
        store: Store, reference, small_batches: None) -> None:
    def scenario(sim: Simulator):
        tools = sim.catalog.add_category("Tools")
        rows = [product(n, category=tools.id if n % 3 else None) for n in range(1, 15)]  # some with no stock
        result = sim.catalog.bulk_add(rows, source="test")
        assert sim.check().ok
        return result

    result = same_as_the_general_path(store, reference, scenario)
    assert (result.rows, result.inserted, result.updated) == (14, 14, 0)


def test_bulk_add_over_known_and_repeated_skus_writes_the_books_of_the_general_path(
        store: Store, reference, small_batches: None) -> None:
    def scenario(sim: Simulator):
        sim.catalog.bulk_add([product(n) for n in (1, 2, 3)], source="first")
        sim.inventory.add_location("Shop floor")
        sim.inventory.move_stock(sim.catalog.get_product_by_sku("B-0003").id, 2, "Warehouse", "Shop floor",
                                 idempotency_key="to-the-floor")
        rows = [
            product(4), product(5), product(2), product(6),  # a batch with a known SKU in its middle
            product(1, qty=20), product(7), product(8), product(9),  # one that starts with a known SKU (changed)
            product(10), product(10, qty=9), product(11), product(3, qty=5),  # a repeat in the batch; a count down
            product(12), product(5, price=7), product(13, qty=0), product(4),  # repeats of earlier batches
            product(14),
        ]
        result = sim.catalog.bulk_add(rows, source="second")
        assert sim.check().ok
        return result

    result = same_as_the_general_path(store, reference, scenario)
    assert (result.rows, result.inserted, result.updated) == (17, 11, 4)


def test_bulk_add_of_nothing_and_of_unchanged_rows_writes_only_the_import_entry(
        store: Store, reference, small_batches: None) -> None:
    def scenario(sim: Simulator):
        empty = sim.catalog.bulk_add([], source="nothing")
        sim.catalog.add_product("B-0001", "Bulk 1", "1.01", quantity=1)
        same = sim.catalog.bulk_add([product(1, qty=1, price=101)], source="again")
        return empty, same

    same_as_the_general_path(store, reference, scenario)


def refused_without_a_trace(sim: Simulator, call) -> Any:
    before = books(sim.store)
    try:
        return call()
    finally:
        assert books(sim.store) == before


def test_bulk_add_with_a_missing_category_in_a_later_batch_changes_nothing(
        store: Store, reference, small_batches: None) -> None:
    def scenario(sim: Simulator):
        sim.catalog.bulk_add([product(1)], source="first")
        rows = [product(n, category=999_999 if n == 9 else None) for n in range(2, 12)]
        return refused_without_a_trace(sim, lambda: sim.catalog.bulk_add(rows))

    outcome = same_as_the_general_path(store, reference, scenario)
    assert outcome == ("refused", "not_found", "category")


def test_bulk_add_refuses_the_sku_of_a_soft_deleted_product_and_changes_nothing(
        store: Store, reference, small_batches: None) -> None:
    def scenario(sim: Simulator):
        sim.catalog.bulk_add([product(n) for n in range(1, 4)], source="first")
        gone = sim.catalog.get_product_by_sku("B-0002")
        sim.catalog.delete_product(gone.id, gone.version)
        rows = [product(n) for n in range(4, 10)] + [product(2)]
        return refused_without_a_trace(sim, lambda: sim.catalog.bulk_add(rows))

    outcome = same_as_the_general_path(store, reference, scenario)
    assert outcome[:2] == ("refused", "already_exists")


def test_bulk_add_reports_progress_a_batch_at_a_time_and_at_the_end(sim: Simulator, small_batches: None) -> None:
    seen: list[int] = []
    result = sim.catalog.bulk_add([product(n) for n in range(1, 11)], progress=seen.append)
    assert result.rows == 10
    assert seen == [4, 8, 10, 10]
