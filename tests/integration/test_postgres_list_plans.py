"""On PostgreSQL a product-list page in name or value order seeks into its index even under the forced
tenant policy (migration 0011): the cursor condition is on the stored keys `name_key` / `value_minor`,
which compare leakproof, not on lower(name) or price * quantity, which PostgreSQL may only filter with after
the policy (a page deep in a 200,000-product list read 180,000 index entries first: 0.24 s). The pages
themselves must be exactly the list's order, both ways, which `assert_pages` walks."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import event

from domain import Simulator
from domain.clock import FixedClock
from domain.model import NewProduct, ProductQuery
from domain.model.catalog import PRODUCT_SORTS
from storage import open_store
from tests.conftest import assert_pages, new_pg_database

NAMES = ("apple", "Apple", "kiwi", "Kettle", "zebra", "Äpfel", "blue", "Blue")


@pytest.fixture(scope="module")
def pg_sim(tmp_path_factory):
    store = open_store(new_pg_database(tmp_path_factory.mktemp("pg-list")))
    sim = Simulator(store, actor="tester", tenant="t1", clock=FixedClock())
    rng = random.Random(3)
    sim.catalog.bulk_add([NewProduct(f"L-{i:03d}", f"{rng.choice(NAMES)} {rng.randint(1, 9)}", None,
                                     rng.randint(1, 500), rng.randint(0, 6), i % 9 != 0) for i in range(150)])
    yield sim
    store.close()


@pytest.mark.parametrize("include_inactive", [False, True])
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("sort", ["name", "value"])
def test_a_page_after_a_cursor_seeks_on_the_stored_key_under_row_level_security(
        pg_sim: Simulator, sort: str, descending: bool, include_inactive: bool) -> None:
    query = ProductQuery(sort=sort, descending=descending, include_inactive=include_inactive)
    rows = pg_sim.catalog.find_products(ProductQuery(include_inactive=True), limit=1000)
    kept = [r for r in rows if include_inactive or r.active]
    want = [r.id for r in sorted(kept, key=lambda r: (PRODUCT_SORTS[sort](r), r.id), reverse=descending)]
    assert_pages(pg_sim.catalog, query, want, 40, [0, 37, len(want) - 5])

    middle = pg_sim.catalog.find_products(query, None, 1, skip=len(want) // 2)[0]
    seen: list[tuple[str, object]] = []
    engine = pg_sim.store.engine

    def _seen(_conn, _cursor, statement, parameters, _context, _many):
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", _seen)
    try:
        pg_sim.catalog.find_products(query, query.cursor_after(middle), 20)
    finally:
        event.remove(engine, "before_cursor_execute", _seen)
    statement, parameters = next((s, p) for s, p in seen if "FROM products" in s)
    with pg_sim.store.unit_of_work("t1") as uow:  # as the store's role, with the tenant set: the policy applies
        connection = uow.session.connection()
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # 150 rows: make the index the only way
        plan = "\n".join(r[0] for r in connection.exec_driver_sql("EXPLAIN " + statement, parameters))
    key = {"name": "name_key", "value": "value_minor"}[sort]
    conditions = [line for line in plan.splitlines() if "Index Cond" in line]
    assert any(f"({key})" in line or f"{key} " in line for line in conditions), plan
