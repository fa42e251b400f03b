"""Pilot: with --cache, the header shows this process's read-cache hit ratio next to the database;
without it, the header is as it always was."""

from __future__ import annotations

from pathlib import Path

from textual.widgets._header import HeaderTitle

from domain.clock import FixedClock
from tests.tui.conftest import settle
from tui_app.app import StockbankApp
from tui_app.bootstrap import open_backend


def header_text(app: StockbankApp) -> str:
    return str(app.screen.query_one(HeaderTitle).render())


async def test_the_header_shows_the_cache_hit_ratio(tmp_path: Path) -> None:
    backend = open_backend("memory://", actor="tester", clock=FixedClock(), cache="memory")
    app = StockbankApp(backend, export_dir=tmp_path)
    try:
        async with app.run_test(size=(160, 40)) as pilot:
            await settle(pilot)
            for _ in range(3):  # the Bank screen lists the accounts: a miss, then hits
                await pilot.press("2")
                await settle(pilot)
                await pilot.press("r")
                await settle(pilot)
            app._show_cache_ratio()  # what the 2 s timer does
            await pilot.pause()
            stats = backend.cache_stats()
            assert stats is not None and stats["hits"] >= 2
            lookups = stats["hits"] + stats["misses"]
            expected = f"cache memory {stats['ratio']:.0%} hits of {lookups:,}"
            assert app.sub_title.endswith(expected)
            assert expected in header_text(app)
    finally:
        backend.close()


async def test_without_a_cache_the_header_names_only_the_database(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("STOCKBANK_CACHE", raising=False)
    backend = open_backend("memory://", actor="tester", clock=FixedClock())
    app = StockbankApp(backend, export_dir=tmp_path)
    try:
        async with app.run_test(size=(160, 40)) as pilot:
            await settle(pilot)
            assert backend.cache_stats() is None
            assert app.sub_title == "default · memory://"
            assert "cache" not in header_text(app)
    finally:
        backend.close()
