"""SVG snapshots of the Saves screen: two slots (one ok, one corrupt) with the diff of the ok one
against books that moved on since; the load confirmation saying what is replaced; and a refused
load (a pickle signed by another installation) showing the red banner with its code.

Stable by construction: the fixed clock and demo data of the other snapshots, fixed uuids, the
saves in a relative folder (`saves/default` under the test's temp folder, made the working
directory) so no temp path is drawn, and no toasts. Update only after looking at the SVGs."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path

import pytest

from tests.snapshots.test_products_snapshots import SIZE, _app
from tests.tui.conftest import settle


@pytest.fixture(autouse=True)
def _stable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = itertools.count(1)
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(counter)))
    monkeypatch.chdir(tmp_path)  # the saves folder is drawn on screen: relative to here
    monkeypatch.setenv("STOCKBANK_SAVE_KEY_FILE", str(tmp_path / "save-signing.key"))


def _saves_app(tmp_path: Path):
    app = _app(tmp_path)
    app.backend.sim.store._saves_folder = "saves"  # before the first use of sim.saves
    return app


def _moved_on(app) -> None:
    """The live books after the save: a payment and two simulated days."""
    sim = app.backend.sim
    sim.bank.transfer("Alice", "Shop", "42.00", memo="after the save")
    sim.simulation.advance(2, seed=11)


def _two_slots(app) -> Path:
    """`monday` (ok, the demo's books) and `broken` (newer, its payload damaged); returns broken's path."""
    saves = app.backend.sim.saves
    saves.save("monday", "json")
    _moved_on(app)
    broken = Path(saves.save("broken", "yaml").path)
    data = bytearray(broken.read_bytes())
    data[data.index(b"\n") + 40] ^= 0x01
    broken.write_bytes(bytes(data))
    return broken


async def _on_saves(pilot, *keys: str) -> None:
    await settle(pilot)
    await pilot.press("4")
    await settle(pilot)
    for key in keys:
        await pilot.press(key)
        await settle(pilot)


def test_saves_screen_with_an_ok_and_a_corrupt_slot_and_the_diff(snap_compare, tmp_path: Path):
    app = _saves_app(tmp_path)
    _two_slots(app)

    async def run_before(pilot) -> None:
        await _on_saves(pilot, "down")  # broken is newest, so first: the cursor goes to monday

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_load_confirmation(snap_compare, tmp_path: Path):
    app = _saves_app(tmp_path)
    _two_slots(app)

    async def run_before(pilot) -> None:
        await _on_saves(pilot, "down", "l")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_refused_load_of_a_pickle_signed_elsewhere(snap_compare, tmp_path: Path):
    app = _saves_app(tmp_path)
    saves = app.backend.sim.saves
    saves.save("monday", "json")
    _moved_on(app)
    saves.save("foreign", "pickle")
    saves._slots.__dict__["_key"] = b"another installation's key......"  # the file was signed with ours

    async def run_before(pilot) -> None:
        await _on_saves(pilot, "l")  # foreign is newest: the cursor is on it

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
