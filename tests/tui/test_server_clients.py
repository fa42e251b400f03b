"""The TUI on PostgreSQL with several clients at once: a product typed into one client shows in the
other after `r` (refresh), and a client opened for another tenant never shows it."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.clock import FixedClock
from domain.errors import NotFound
from tests.conftest import new_pg_database
from tests.tui.conftest import settle
from tests.tui.test_products_screen import type_new_product, visible_skus
from tui_app.app import StockbankApp
from tui_app.bootstrap import open_backend


def _client(url: str, tmp_path: Path, tenant: str = "default", demo: bool = False) -> StockbankApp:
    backend = open_backend(url, tenant=tenant, actor=f"clerk-{tenant}", clock=FixedClock(), demo_if_empty=demo)
    return StockbankApp(backend, export_dir=tmp_path / "downloads")


async def test_a_product_added_in_one_client_shows_in_the_other_on_refresh_and_not_in_another_tenant(tmp_path: Path):
    url = new_pg_database(tmp_path)
    first, second = _client(url, tmp_path, demo=True), _client(url, tmp_path)
    stranger = _client(url, tmp_path, tenant="other-shop")
    try:
        async with first.run_test(size=(120, 40)) as one, second.run_test(size=(120, 40)) as two, \
                stranger.run_test(size=(120, 40)) as three:
            await settle(one)
            await settle(two)
            await settle(three)
            assert "NEW-1" not in visible_skus(second)
            await type_new_product(one, "new-1", "Brand new", "3.00")
            await one.press("enter")
            await settle(one)
            assert "NEW-1" in visible_skus(first)
            assert "NEW-1" not in visible_skus(second)  # not yet: the second client has not refreshed
            await two.press("r")
            await settle(two)
            assert "NEW-1" in visible_skus(second)
            await three.press("r")
            await settle(three)
            assert visible_skus(stranger) == []  # another tenant's client sees none of the shop's products
            with pytest.raises(NotFound):  # nor can it reach it by SKU
                stranger.backend.sim.catalog.get_product_by_sku("NEW-1")
    finally:
        for app in (first, second, stranger):
            app.backend.close()


async def test_the_title_bar_never_shows_the_database_password(tmp_path: Path):
    url = new_pg_database(tmp_path).replace("postgresql+psycopg://postgres@", "postgresql+psycopg://postgres:hunter2@", 1)
    app = _client(url, tmp_path)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert "hunter2" not in app.sub_title and "postgres:***@" in app.sub_title
    finally:
        app.backend.close()
