"""The crash drill for saves and loads: `kill -9` at random points while a process saves the game
over and over (the slot is always a whole, valid save: the old one or the new one, never half of
one, and no temp file ever looks like a slot), and while it loads two saves in turn (the books are
always exactly one of the two, never a mix, and every invariant holds)."""

from __future__ import annotations

import os
import random
import sqlite3
from pathlib import Path

import pytest

from domain import Simulator
from domain.clock import FixedClock
from storage import open_store
from tests.integration.kill9 import kill_at_random
from tui_app.bootstrap import seed_demo

KILLS = 8

WRITER = """
import sys
from domain import Simulator
from storage import open_store

url, mode = sys.argv[1], sys.argv[2]
sim = Simulator(open_store(url), actor="drill", tenant="t1")
sim.saves.diff("a" if mode == "load" else "slot")  # imports and warms everything a save or load needs
n = 0
while True:
    n += 1
    if mode == "save":
        info = sim.saves.save("slot", ("json", "yaml", "pickle")[n % 3])
        print(f"saved {info.codec}", flush=True)
    else:
        sim.saves.load(("a", "b")[n % 2])
        print(f"loaded {('a', 'b')[n % 2]}", flush=True)
"""


def _shop(url: str) -> Simulator:
    sim = Simulator(open_store(url), actor="drill", tenant="t1", clock=FixedClock())
    seed_demo(sim, products=40, seed=2)
    return sim


def _books(sim: Simulator) -> tuple:
    world = sim.saves.world()
    return (world.day, tuple(sorted(world.balances().items())), tuple(sorted(world.stock().items())),
            len(world.transfers), len(world.moves))


def _run_and_kill(url: str, mode: str, rng: random.Random) -> list[str]:
    return kill_at_random(WRITER, [url, mode], rng, longest=0.6)


def test_kill_9_while_saving_always_leaves_a_whole_valid_slot(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'shop.db'}?synchronous=FULL"
    sim = _shop(url)
    expected = _books(sim)
    sim.saves.save("slot", "json")
    rng = random.Random(6)
    done = 0
    for _ in range(KILLS):
        acknowledged = _run_and_kill(url, "save", rng)
        done += len(acknowledged)
        slots = sim.saves.slots()
        assert [(s.name, s.ok) for s in slots] == [("slot", True)], slots  # no half file, no stray temp file
        slot_file = Path(slots[0].path)
        others = [p for p in slot_file.parent.iterdir() if p != slot_file and p.suffix in (".json", ".yaml", ".pickle")]
        # a kill between writing the new format and removing the old one leaves the old file: older, so the
        # newest wins (the listing above shows one slot) and the next save or delete removes it
        assert all(p.stat().st_mtime_ns <= slot_file.stat().st_mtime_ns for p in others), others
        world, _info, _v = sim.saves._slots.read("slot")  # noqa: SLF001 - read without loading
        assert (world.day, tuple(sorted(world.balances().items()))) == expected[:2]
    assert done > KILLS, "the writer was killed before it saved anything: the drill tested nothing"
    sim.store.close()


def test_kill_9_while_loading_leaves_one_save_or_the_other_never_a_mix(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'shop.db'}?synchronous=FULL"
    sim = _shop(url)
    sim.saves.save("a", "json")
    state_a = _books(sim)
    sim.simulation.advance(2, seed=3)
    sim.bank.transfer("Alice", "Shop", "5.00", idempotency_key="between")
    sim.saves.save("b", "pickle")
    state_b = _books(sim)
    assert state_a != state_b
    rng = random.Random(8)
    done = 0
    for _ in range(KILLS):
        done += len(_run_and_kill(url, "load", rng))
        with sqlite3.connect(tmp_path / "shop.db") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        reopened = Simulator(open_store(url), actor="drill", tenant="t1")
        now = _books(reopened)
        assert now in (state_a, state_b), "a killed load left a mix of two saves"
        report = reopened.check()
        assert report.ok, report.problems
        assert reopened.audit.verify().ok
        reopened.store.close()
    assert done > KILLS, "the writer was killed before it loaded anything: the drill tested nothing"
    sim.store.close()


@pytest.fixture(autouse=True)
def _same_key_for_the_writer(monkeypatch, tmp_path: Path):
    """The writer subprocess signs pickles with the same installation key as the test process."""
    key_file = os.environ.get("STOCKBANK_SAVE_KEY_FILE") or str(tmp_path / "save.key")
    monkeypatch.setenv("STOCKBANK_SAVE_KEY_FILE", key_file)
