"""The async store: the same services with coroutine methods, on aiosqlite and psycopg's async driver.
Concurrent coroutines keep the ledger exact, a bulk insert with one bad row rolls back every row (sync and
async alike), and the contract suites run on it too (the async-sqlite / async-postgres parameters)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from domain import Simulator
from domain.async_simulator import AsyncSimulator
from domain.clock import FixedClock
from domain.errors import NotFound
from domain.model import NewProduct, ProductQuery
from domain.services.catalog import IMPORT_BATCH
from storage import open_store
from storage.sqlalchemy.asyncio import AsyncSqlAlchemyStore
from tests.conftest import STORE_FACTORIES

ASYNC = ["async-sqlite", "async-postgres"]


@pytest.fixture(params=ASYNC)
def async_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return STORE_FACTORIES[request.param](tmp_path)


def _rows(n: int, bad_at: int | None = None) -> list[NewProduct]:
    """n products; the one at `bad_at` names a category that does not exist."""
    return [NewProduct(f"BULK-{i:05d}", f"Bulk {i}", 999_999 if i == bad_at else None, 100 + i, i % 7)
            for i in range(n)]


def test_the_async_api_moves_money_with_concurrent_coroutines_and_the_books_add_up(async_url: str) -> None:
    async def scenario() -> tuple[int, bool]:
        store = await AsyncSqlAlchemyStore.open(async_url)
        try:
            sim = AsyncSimulator(store, actor="api", tenant="t1", clock=FixedClock())
            ann = await sim.bank.open_account("Ann", opening_balance="100.00")
            ben = await sim.bank.open_account("Ben")
            done = await asyncio.gather(*(sim.bank.transfer(ann.id, ben.id, "1.00", idempotency_key=f"k{i % 15}")
                                          for i in range(30)))  # every key sent twice: each lands once
            assert len({t.id for t in done}) == 15
            accounts = {a.name: a.balance for a in await sim.bank.accounts()}
            return accounts["Ben"], (await sim.check()).ok
        finally:
            await store.aclose()

    ben, ok = asyncio.run(scenario())
    assert (ben, ok) == (1500, True)


def test_an_async_bulk_insert_with_a_bad_row_rolls_back_every_row(async_url: str) -> None:
    async def scenario() -> tuple[int, int]:
        store = await AsyncSqlAlchemyStore.open(async_url)
        try:
            sim = AsyncSimulator(store, actor="api", tenant="t1", clock=FixedClock())
            with pytest.raises(NotFound):
                await sim.catalog.bulk_add(_rows(IMPORT_BATCH + 10, bad_at=IMPORT_BATCH + 5))  # after a full batch
            refused = await sim.catalog.count_products(ProductQuery(include_inactive=True))
            result = await sim.catalog.bulk_add(_rows(50))
            return refused, result.inserted
        finally:
            await store.aclose()

    assert asyncio.run(scenario()) == (0, 50)


@pytest.mark.parametrize("kind", ["sqlite", "sqlalchemy-sqlite", "postgres"])
def test_a_sync_bulk_insert_with_a_bad_row_rolls_back_every_row(kind: str, tmp_path: Path) -> None:
    store = open_store(STORE_FACTORIES[kind](tmp_path))
    try:
        sim = Simulator(store, actor="api", tenant="t1", clock=FixedClock())
        with pytest.raises(NotFound):
            sim.catalog.bulk_add(_rows(IMPORT_BATCH + 10, bad_at=IMPORT_BATCH + 5))
        assert sim.catalog.count_products(ProductQuery(include_inactive=True)) == 0
        assert sim.is_pristine()  # not even the import's audit entry
    finally:
        store.close()


def test_the_blocking_bridge_is_the_same_store_for_sync_callers(tmp_path: Path) -> None:
    url = STORE_FACTORIES["async-sqlite"](tmp_path)
    store = open_store(url)
    try:
        sim = Simulator(store, actor="cli", tenant="t1", clock=FixedClock())
        sim.bank.open_account("Ann", opening_balance="5.00")
    finally:
        store.close()
    reopened = open_store(url.replace("sqlite+aiosqlite:///", "sqlite:///"))  # the sqlite3 store reads it
    try:
        assert [a.name for a in Simulator(reopened, actor="x", tenant="t1").bank.accounts()] == ["Ann", "Cash EUR"]
    finally:
        reopened.close()
