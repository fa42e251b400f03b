"""One app factory for Pilot and snapshot tests: memory store, fixed clock, demo data, files
delivered into a temp folder."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from textual import _wait
from textual.worker import WorkerCancelled

from domain.clock import FixedClock
from tui_app.app import StockbankApp
from tui_app.bootstrap import open_backend

# Pilot waits for the app to go idle twice after every key it presses (textual._wait.wait_for_idle):
# each wait sleeps at least 20 ms and calls the app idle once it used under 1 ms of CPU in that sleep.
# The same rule at a quarter of the slice (5 ms, 0.25 ms) is the same test of idleness, four times as
# fast: the Pilot and snapshot tests spent ~90 s of a run asleep between key presses.
_wait.SLEEP_GRANULARITY = 1 / 200
_wait.SLEEP_IDLE = _wait.SLEEP_GRANULARITY / 20


def make_app(export_dir: Path, *, url: str = "memory://", demo: bool = True) -> StockbankApp:
    backend = open_backend(url, actor="tester", clock=FixedClock(), demo_if_empty=demo)
    return StockbankApp(backend, export_dir=export_dir)


async def settle(pilot) -> None:
    """Wait until every worker finished and the screen repainted. An exclusive worker replaced while
    we wait raises WorkerCancelled out of wait_for_complete: that is not a failure, wait again."""
    for _ in range(2):
        for _attempt in range(50):
            try:
                await pilot.app.workers.wait_for_complete()
                break
            except WorkerCancelled:
                await pilot.pause()
        await pilot.pause()


async def until(pilot, ready, what: str = "the screen", seconds: float = 20.0) -> None:
    """Until `ready()` holds: for what a timer or a worker brings, without counting on how many frames
    it takes (a loaded machine takes more)."""
    deadline = time.monotonic() + seconds
    await settle(pilot)  # what is under way lands first: a status line may change before its rows come
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not get there in {seconds:g} s")
        await asyncio.sleep(0.02)
        await settle(pilot)


@pytest.fixture
def app_factory(tmp_path: Path):
    made: list[StockbankApp] = []

    def factory(**kwargs) -> StockbankApp:
        app = make_app(tmp_path / "downloads", **kwargs)
        made.append(app)
        return app

    yield factory
    for app in made:
        app.backend.close()
