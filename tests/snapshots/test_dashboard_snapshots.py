"""SVG snapshot of the Dashboard (fixed clock, demo data and ten seeded days of the simulation, memory store:
the monitor shows no figures that change from run to run)."""

from __future__ import annotations

from pathlib import Path

from tests.snapshots.test_products_snapshots import SIZE, _app
from tests.tui.conftest import settle


def test_dashboard(snap_compare, tmp_path: Path):
    async def run_before(pilot) -> None:
        await settle(pilot)
        pilot.app.backend.sim.simulation.advance(10, seed=11)
        await pilot.press("6")
        await settle(pilot)

    assert snap_compare(_app(tmp_path), terminal_size=SIZE, run_before=run_before)
