"""The sqlite3 store's product list at scale (issue #8): a text filter reads a window of the list in
index order and falls back to a table scan; a jump by offset finds its row in the index alone; the
default list is counted from a partial index. Each shortcut must give exactly the rows the plain
definition gives, whatever the window, which these tests check against a brute-force listing."""

from __future__ import annotations

import random
import sqlite3

import pytest

from domain import Simulator
from domain.clock import FixedClock
from domain.model import NewProduct, ProductQuery
from domain.model.catalog import fold_case
from storage import open_store
from storage.sqlite import repositories
from tests.conftest import assert_pages

WORDS = ("Blue", "Steel", "Kettle", "Saw", "blue_ish", "100%", "back\\slash", "Äpfel", "Zebra")


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Simulator:
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('scale') / 'shop.db'}")
    sim = Simulator(store, actor="tester", clock=FixedClock())
    rng = random.Random(8)
    rows = [NewProduct(f"S-{i:04d}", f"{rng.choice(WORDS)} {rng.choice(WORDS)} {i}", None, rng.randint(1, 999),
                       rng.randint(0, 9), rng.random() > 0.1) for i in range(400)]
    sim.catalog.bulk_add(rows)
    for product in sim.catalog.find_products(ProductQuery(include_inactive=True), limit=400)[::37]:
        sim.catalog.delete_product(product.id, product.version)  # a few soft-deleted rows in the way
    yield sim
    store.close()


def expected(sim: Simulator, query: ProductQuery) -> list[int]:
    """The definition: every product, filtered and sorted in Python."""
    rows = sim.catalog.find_products(ProductQuery(include_inactive=True, deleted=None), limit=10_000)
    needle = query.needle
    kept = [r for r in rows
            if (query.include_inactive or r.active)
            and (not needle or needle in fold_case(r.name) or needle in fold_case(r.sku))
            and (r.id not in deleted_ids(sim))]
    return [r.id for r in sorted(kept, key=lambda r: (fold_case(r.name), r.id))]


def deleted_ids(sim: Simulator) -> set[int]:
    return {r.id for r in sim.catalog.find_products(ProductQuery(include_inactive=True, deleted=True), limit=10_000)}


@pytest.mark.parametrize("window", [1, 7, 5_000])
@pytest.mark.parametrize("text", ["blue", "BLUE_", "100%", "\\", "saw 1", "äpfel", "Äpfel", "no such thing", "1"])
@pytest.mark.parametrize("size", [3, 50])
def test_a_text_filter_pages_the_same_rows_whatever_the_window(shop, monkeypatch, window: int, text: str,
                                                                 size: int) -> None:
    monkeypatch.setattr(repositories, "TEXT_WINDOW", window)
    query = ProductQuery(text=text)
    want = expected(shop, query)
    assert_pages(shop.catalog, query, want, size, (0, 1, len(want) // 2, len(want)))
    assert shop.catalog.count_products(query) == len(want)


@pytest.mark.parametrize("include_inactive", [False, True])
def test_a_jump_by_offset_lands_on_the_same_rows_as_walking_there(shop, include_inactive: bool) -> None:
    query = ProductQuery(include_inactive=include_inactive)
    want = expected(shop, query)
    for skip in (1, 2, 99, len(want) - 1, len(want), len(want) + 5):
        assert [r.id for r in shop.catalog.find_products(query, None, 10, skip=skip)] == want[skip:skip + 10]


def test_the_default_list_is_counted_and_jumped_on_the_partial_index(shop) -> None:
    """The count and the offset of a jump walk ix_products_listed, whose WHERE is the default list."""
    with sqlite3.connect(shop.store.path) as raw:
        repo = repositories.SqliteProducts(raw, "default")
        query = ProductQuery()
        where, params = repositories._where("default", query)
        for sql in (f"SELECT COUNT(*) FROM {repo._source(query)}{where}",
                    f"SELECT p.id FROM {repo._source(query)}{where} ORDER BY lower(p.name), p.id LIMIT 1 OFFSET 9"):
            plan = " ".join(step[-1] for step in raw.execute("EXPLAIN QUERY PLAN " + sql, params))
            assert "ix_products_listed" in plan and "TEMP B-TREE" not in plan, plan
        assert "NOT INDEXED" in repo._source(ProductQuery(text="blue"))
        assert "ix_products_listed" not in repo._source(ProductQuery(include_inactive=True))


@pytest.fixture(scope="module")
def sorted_shop(tmp_path_factory) -> Simulator:
    """Products in three categories (one nearly empty), with ties on every sort key."""
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('sorted') / 'shop.db'}")
    sim = Simulator(store, actor="tester", clock=FixedClock())
    ids = [sim.catalog.add_category(name).id for name in ("Big", "Small", "Empty")]
    rng = random.Random(9)
    rows = [NewProduct(f"S-{rng.randint(0, 999):03d}-{i}", f"{rng.choice(WORDS)} {i % 7}",
                       ids[1] if i % 50 == 0 else rng.choice([ids[0], None]), rng.randint(0, 20), rng.randint(0, 5),
                       rng.random() > 0.1) for i in range(300)]
    sim.catalog.bulk_add(rows)
    for product in sim.catalog.find_products(ProductQuery(include_inactive=True), limit=400)[::41]:
        sim.catalog.delete_product(product.id, product.version)
    yield sim
    store.close()


@pytest.mark.parametrize("window", [1, 7, 5_000])
@pytest.mark.parametrize("category", ["Big", "Small", "Empty"])
@pytest.mark.parametrize(("sort", "descending"), [("price", False), ("value", True), ("sku", False), ("name", True)])
def test_a_category_in_any_order_pages_the_same_rows_whatever_the_window(
    sorted_shop, monkeypatch, window: int, category: str, sort: str, descending: bool
) -> None:
    """No index has a category in another order than the name: such a list reads a window of the sort's
    index, then makes one pass over the table, and must page exactly what sorting the category gives."""
    monkeypatch.setattr(repositories, "TEXT_WINDOW", window)
    catalog = sorted_shop.catalog
    category_id = catalog.find_category(category).id
    query = ProductQuery(category_ids=(category_id,), sort=sort, descending=descending)
    every = catalog.find_products(ProductQuery(include_inactive=True), limit=10_000)
    names = {r.id: r.category for r in every}
    want = [r.id for r in sorted((r for r in every if r.active and names[r.id] == category),
                                 key=query.sort_key, reverse=descending)]
    assert_pages(catalog, query, want, 4, {0, 1, len(want) // 2, max(len(want) - 1, 0), len(want)})
    assert catalog.count_products(query) == len(want)
