"""Save and load of the whole game behave the same on every adapter: a load brings back the books a
save held (by names and SKUs: ids are renumbered), the day and the random generator (so the same
days simulate the same way), in all three formats; a bad file is refused with its code and changes
nothing at all; committed format-v1 files still load; every save, load and delete is audited."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from domain import Simulator
from domain.clock import FixedClock
from domain.errors import DomainError
from domain.model import AuditQuery
from domain.model.saves import SAVE_FORMATS
from storage.savefiles import container
from tui_app.bootstrap import seed_demo

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "saves"


@pytest.fixture
def shop(sim: Simulator) -> Simulator:
    seed_demo(sim, products=30, seed=4)
    sim.simulation.advance(2, seed=9)
    return sim


def books(sim: Simulator) -> dict:
    """What a person sees of the books, independent of ids: by names and SKUs."""
    world = sim.saves.world()
    return {
        "day": world.day,
        "rng": world.game.rng_state,
        "seed": world.game.seed,
        "categories": sorted((c.path(), len(c.products)) for c in world.categories),
        "products": sorted((p.sku, p.name, p.price_minor, p.quantity, p.active, p.deleted_at, p.cost_minor,
                            p.reorder_level, p.category.name if p.category else None) for p in world.products.values()),
        "accounts": sorted((a.name, a.kind, a.balance, a.debits_pending, a.credits_pending, a.status, a.deleted_at)
                           for a in world.accounts),
        "transfers": [(t.kind, t.amount_minor, t.memo, t.idempotency_key, t.created_at) for t in world.transfers],
        "moves": [(m.kind, m.reason, m.quantity, m.day, m.idempotency_key) for m in world.moves],
        "levels": len(world.levels),
    }


def everything(sim: Simulator) -> tuple:
    """The stored state including ids and the audit log: a refused load must leave all of it."""
    with sim.store.unit_of_work(sim.tenant) as uow:
        return uow.snapshot.dump(), list(uow.audit.stream())


def refused(sim: Simulator, name: str, code: str) -> DomainError:
    before = everything(sim)
    with pytest.raises(DomainError) as caught:
        sim.saves.load(name)
    assert caught.value.code == code, caught.value.message
    assert caught.value.message
    assert everything(sim) == before, "a refused load changed the stored state"
    return caught.value


@pytest.mark.parametrize("fmt", SAVE_FORMATS)
def test_load_brings_back_the_saved_books_day_and_generator(shop: Simulator, fmt: str):
    saved = books(shop)
    info = shop.saves.save("before", fmt)
    assert info.ok and info.day == saved["day"] and info.codec == fmt

    shop.simulation.advance(2)
    shop.bank.transfer("Alice", "Shop", "1.00", idempotency_key="after-save")
    assert books(shop) != saved

    report = shop.saves.load("before")
    assert books(shop) == saved
    assert shop.check().ok, shop.check().problems
    assert report.upgraded_from is None and report.after["products"] == 30
    assert shop.saves.diff("before").same


def test_the_same_save_simulates_the_same_days(shop: Simulator):
    shop.saves.save("fork", "json")
    shop.simulation.advance(3)
    first = books(shop)
    shop.saves.load("fork")
    shop.simulation.advance(3)
    again = books(shop)
    assert again["accounts"] == first["accounts"] and again["products"] == first["products"]
    assert [m[:4] for m in again["moves"]] == [m[:4] for m in first["moves"]]  # keys of automatic moves are random


def test_a_retried_request_finds_its_loaded_transfer(shop: Simulator):
    t = shop.bank.transfer("Alice", "Shop", "2.00", idempotency_key="order-77", memo="retry me")
    shop.saves.save("with order", "yaml")
    shop.saves.load("with order")
    again = shop.bank.transfer("Alice", "Shop", "2.00", idempotency_key="order-77", memo="retry me")
    assert (again.amount_minor, again.memo, again.idempotency_key) == (t.amount_minor, t.memo, t.idempotency_key)
    assert again.id != t.id  # renumbered by the load, still the same transfer: no second one was made
    assert sum(1 for x in shop.saves.world().transfers if x.idempotency_key == "order-77") == 1


def test_save_load_and_delete_are_audited_and_the_chain_holds(shop: Simulator):
    shop.saves.save("audited", "pickle")
    shop.saves.load("audited")
    shop.saves.delete("audited")
    entries = shop.audit.entries(AuditQuery(entity="save"), None, 10)
    assert [(e.entity_id, e.action, e.actor) for e in entries] == [
        ("audited", "delete", "tester"), ("audited", "load", "tester"), ("audited", "save", "tester")]
    assert json.loads(entries[2].after)["products"] == 30  # a save records what it holds
    assert json.loads(entries[1].after)["format"] == "pickle"  # a load records what changed
    assert shop.audit.verify().ok


def test_slots_are_listed_newest_first_with_their_status(shop: Simulator):
    shop.saves.save("a", "json")
    shop.saves.save("b", "yaml")
    listed = shop.saves.slots()
    assert {s.name for s in listed} == {"a", "b"} and all(s.ok for s in listed)
    Path(shop.saves.slot("a").path).write_bytes(Path(shop.saves.slot("a").path).read_bytes()[:-10])
    bad = shop.saves.slot("a")
    assert (bad.ok, bad.problem) == (False, "corrupt")


def _rewrite(path: str, edit) -> None:
    """Edit a JSON save's payload and fix its checksum, as someone tampering on purpose would."""
    raw = Path(path).read_bytes()
    first, _, body = raw.partition(b"\n")
    payload = json.loads(body)
    edit(payload)
    body = json.dumps(payload).encode()
    header = json.loads(first[len(container.MAGIC):])
    header.update(sha256=hashlib.sha256(body).hexdigest(), size=len(body))
    Path(path).write_bytes(container.MAGIC + json.dumps(header).encode() + b"\n" + body)


def test_bad_files_are_refused_with_their_code_and_change_nothing(shop: Simulator, tmp_path: Path):
    for fmt in SAVE_FORMATS:
        shop.saves.save(fmt, fmt)
    path = {fmt: shop.saves.slot(fmt).path for fmt in SAVE_FORMATS}

    raw = Path(path["json"]).read_bytes()
    Path(path["json"]).write_bytes(raw[: len(raw) // 2])  # truncated
    refused(shop, "json", "corrupt")

    raw = bytearray(Path(path["pickle"]).read_bytes())
    raw[-20] ^= 0x01  # one bit of the payload
    Path(path["pickle"]).write_bytes(bytes(raw))
    refused(shop, "pickle", "tampered")

    Path(path["yaml"]).write_bytes(Path(path["yaml"]).read_bytes() + b"\n- extra")  # one line appended
    refused(shop, "yaml", "corrupt")

    shop.saves.save("rich", "json")
    _rewrite(shop.saves.slot("rich").path, lambda p: p["accounts"][1].update(credits_posted=p["accounts"][1]["credits_posted"] + 100_00))
    err = refused(shop, "rich", "corrupt")
    assert "do not add up" in err.message

    shop.saves.save("future", "json")
    raw = Path(shop.saves.slot("future").path).read_bytes()
    first, _, body = raw.partition(b"\n")
    header = json.loads(first[len(container.MAGIC):])
    header["format_version"] = 99
    Path(shop.saves.slot("future").path).write_bytes(container.MAGIC + json.dumps(header).encode() + b"\n" + body)
    refused(shop, "future", "unsupported_version")

    refused(shop, "no such slot", "not_found")
    refused(shop, str(tmp_path / "missing.json"), "not_found")


@pytest.mark.parametrize("fmt", SAVE_FORMATS)
def test_committed_v1_files_load_and_are_upgraded(sim: Simulator, fmt: str, monkeypatch):
    monkeypatch.setenv("STOCKBANK_SAVE_KEY_FILE", str(FIXTURES / "fixture-signing.key"))
    fresh = Simulator(sim.store, actor="tester", tenant="v1 reader", clock=FixedClock())
    report = fresh.saves.load(str(FIXTURES / f"shop.v1.{fmt}"))
    assert report.upgraded_from == 1
    assert fresh.check().ok, fresh.check().problems
    world = fresh.saves.world()
    assert world.day == report.slot.day == 3 and len(world.products) == 12
    for p in world.products.values():
        assert p.cost_minor == p.price_minor and p.reorder_level == 0  # what the v1 -> v2 upgrader sets
    assert fresh.saves.save("now v2", fmt).format_version == 2


def test_a_pickle_signed_by_another_installation_is_refused(shop: Simulator, monkeypatch):
    refused(shop, str(FIXTURES / "shop.v1.pickle"), "tampered")  # signed with the fixtures' key, not ours
