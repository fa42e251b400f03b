"""The SQLAlchemy store's text filter reads a window of the list first and then, for a rare text, one pass
over the table (on PostgreSQL ordered by a copy of the key, so the planner does not walk the whole index:
a rare word at 200,000 products took 397 ms that way, 9 ms + 90 ms now). Whatever the window, the pages
must be exactly those of the plain definition, both ways, in every sort, on SQLite and PostgreSQL."""

from __future__ import annotations

import random

import pytest

from domain import Simulator
from domain.clock import FixedClock
from domain.model import NewProduct, ProductQuery
from domain.model.catalog import PRODUCT_SORTS, ProductCursor, fold_case
from storage import open_store
from storage.sqlalchemy import catalog
from tests.conftest import assert_pages, migrated_sqlite_file, new_pg_database, walked_ids

WORDS = ("Blue", "Steel", "Kettle", "Saw", "blue_ish", "100%", "Äpfel", "Zebra")


@pytest.fixture(scope="module", params=["sqlalchemy-sqlite", "postgres"])
def shop(request, tmp_path_factory) -> Simulator:
    tmp = tmp_path_factory.mktemp("window")
    url = f"sqlalchemy+sqlite:///{migrated_sqlite_file(tmp)}" if request.param == "sqlalchemy-sqlite" \
        else new_pg_database(tmp)
    store = open_store(url)
    sim = Simulator(store, actor="tester", tenant="t1", clock=FixedClock())
    rng = random.Random(5)
    sim.catalog.bulk_add([NewProduct(f"W-{i:04d}", f"{rng.choice(WORDS)} {rng.choice(WORDS)} {i}", None,
                                     rng.randint(1, 999), rng.randint(0, 9), rng.random() > 0.1) for i in range(300)])
    for product in sim.catalog.find_products(ProductQuery(include_inactive=True), limit=300)[::3]:
        sim.inventory.set_planning(product.id, reorder_level=5)  # some low (0-5 on hand), some not
    yield sim
    store.close()


def expected(sim: Simulator, query: ProductQuery) -> list[int]:
    rows = sim.catalog.find_products(ProductQuery(include_inactive=True), limit=10_000)
    kept = [r for r in rows if (query.include_inactive or r.active)
            and (query.needle in fold_case(r.name) or query.needle in fold_case(r.sku))]
    return [r.id for r in sorted(kept, key=lambda r: (PRODUCT_SORTS[query.sort](r), r.id), reverse=query.descending)]


@pytest.mark.parametrize("window", [1, 7, 5_000])
@pytest.mark.parametrize(("text", "sort", "descending"), [
    ("blue", "name", False), ("BLUE_", "name", True), ("100%", "value", False), ("äpfel", "price", True),
    ("saw 1", "sku", False), ("zebra 2", "value", True), ("no such thing", "name", False), ("W-00", "quantity", False),
])
def test_a_text_filter_pages_the_same_rows_whatever_the_window(shop: Simulator, monkeypatch, window: int, text: str,
                                                                 sort: str, descending: bool) -> None:
    monkeypatch.setattr(catalog, "TEXT_WINDOW", window)
    query = ProductQuery(text=text, sort=sort, descending=descending, include_inactive=window == 7)
    want = expected(shop, query)
    assert_pages(shop.catalog, query, want, 9, [0, 4, max(len(want) - 3, 0)])
    assert shop.catalog.count_products(query) == len(want)


@pytest.mark.parametrize("window", [1, 7, 5_000])
@pytest.mark.parametrize("low_only", [False, True])
@pytest.mark.parametrize("text", ["blue", "100%", "zebra 2", "no such thing"])
def test_the_stock_list_filters_by_text_through_the_same_window(shop: Simulator, monkeypatch, window: int,
                                                                 low_only: bool, text: str) -> None:
    monkeypatch.setattr(catalog, "TEXT_WINDOW", window)
    query = ProductQuery(text=text)
    rows = shop.inventory.stock(ProductQuery(include_inactive=True), limit=10_000)
    listed = set(expected(shop, query))
    want = [r.product_id for r in sorted(rows, key=lambda r: (fold_case(r.name), r.product_id))
            if r.product_id in listed and (r.low or not low_only)]
    forward, backward = walked_ids(
        lambda after, n, back: shop.inventory.stock(query, after, n, low_only=low_only, backward=back),
        lambda r: ProductCursor(fold_case(r.name), r.product_id), lambda r: r.product_id, 4)
    assert forward == want and backward == want
