"""The game as an object graph through every save format and back: cycles (category parent/children,
product <-> category) rebuilt with identity preserved, the custom SkuIndex collection, secrets never
written, the schema's refusals. Pure: a folder of files and no store (the store side is in
tests/contract/test_saves_contract.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.errors import DomainError
from domain.model.bank import Account, Transfer
from domain.model.catalog import Category, Product
from domain.model.saves import SAVE_FORMATS
from domain.model.snapshot import ProductPlan, TenantSnapshot
from domain.model.stock import GameState, Location, StockLevel, StockMove
from domain.model.users import User
from domain.model.world import GameWorld, SkuIndex
from storage.savefiles import container, schema
from storage.savefiles.slots import FileSaveSlots

WHEN = "2026-11-22T10:00:00.000000Z"
SECRET_PIN = "PIN-8675309"
SECRET_TOKEN = "tok_live_Zq9xW2sD4fG6hJ8k"


def rng_state(seed: int) -> str:
    version, internal, gauss = random.Random(seed).getstate()
    return json.dumps([version, list(internal), gauss])


names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(str.strip)


@st.composite
def snapshots(draw) -> TenantSnapshot:
    """A catalog tree of random shape with products hanging anywhere in it, plus ledger rows that refer
    to them (the schema checks references, not balances)."""
    n_categories = draw(st.integers(0, 8))
    categories = []
    for i in range(n_categories):
        parent = draw(st.sampled_from([None, *range(1, i + 1)])) if i else None
        categories.append(Category(i + 1, f"{draw(names)} #{i}", parent, draw(st.integers(1, 5))))
    n_products = draw(st.integers(0, 10))
    products, plans = [], []
    for i in range(n_products):
        pid = 100 + i * draw(st.integers(1, 3))
        if products and pid <= products[-1].id:
            pid = products[-1].id + 1
        category = draw(st.sampled_from([None, *range(1, n_categories + 1)]))
        deleted = draw(st.sampled_from([None, WHEN]))
        products.append(Product(pid, f"SKU-{i}-{draw(st.text('ABCxyz09', max_size=4))}", draw(names), category,
                                draw(st.integers(0, 10**12)), draw(st.integers(0, 10**6)), draw(st.booleans()),
                                draw(st.integers(1, 9)), deleted))
        plans.append(ProductPlan(pid, draw(st.integers(0, 10**9)), draw(st.integers(0, 100))))
    accounts = (Account(1, "Cash", "system", "EUR", 5000, 0, 0, 0, 0, "open", 1),
                Account(2, draw(names), "customer", "EUR", 0, 5000, 0, 0, draw(st.integers(0, 10**6)), "open", 2))
    transfers = tuple(
        Transfer(10 + i, "posted", 1, 2, draw(st.integers(1, 10**9)), "EUR", None, None, draw(names),
                 f"key-{i}", "tester", WHEN, -1, 1)
        for i in range(draw(st.integers(0, 4)))
    )
    locations = (Location(1, "Warehouse", "internal"), Location(2, "Suppliers", "supplier"))
    levels = tuple(StockLevel(p.id, 1, p.quantity, 0, 0) for p in products if p.quantity)
    moves = tuple(
        StockMove(50 + i, "posted", "receive", p.id, 2, 1, p.quantity, None, None, None, 0, "", None, "tester", WHEN,
                  None, p.quantity)
        for i, p in enumerate(products) if p.quantity
    )
    return TenantSnapshot(
        categories=tuple(categories), products=tuple(products), plans=tuple(plans), accounts=accounts,
        transfers=transfers,
        archived_transfer_ids=frozenset(t.id for t in transfers if draw(st.booleans())),
        locations=locations, levels=levels, moves=moves,
        archived_move_ids=frozenset(m.id for m in moves if draw(st.booleans())),
        game=GameState(draw(st.integers(0, 5000)), draw(st.integers(0, 2**63 - 1)),
                       draw(st.sampled_from([None, rng_state(draw(st.integers(0, 99)))]))),
        users=(User(0, "tester", WHEN), User(0, draw(names), None)),
    )


def assert_graph(world: GameWorld) -> None:
    """Every reference in the rebuilt graph is the very object listed elsewhere: identity, not copies."""
    by_id = {c.id: c for c in world.categories}
    for c in world.categories:
        if c.parent is not None:
            assert c.parent is by_id[c.parent.id]
            assert any(child is c for child in c.parent.children)
        for child in c.children:
            assert child.parent is c
        for p in c.products:
            assert p.category is c
            assert world.products[p.sku] is p
    for p in world.products.values():
        if p.category is not None:
            assert any(q is p for q in p.category.products)


@pytest.fixture
def slots(tmp_path: Path) -> FileSaveSlots:
    return FileSaveSlots(tmp_path / "saves", source="postgresql+psycopg://shop:hunter2@db.example/shop")


@pytest.mark.parametrize("fmt", SAVE_FORMATS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(snap=snapshots())
def test_any_game_round_trips_through_every_format_with_identity_preserved(slots, fmt, snap):
    world = GameWorld.from_snapshot(snap)
    info = slots.write("round trip", fmt, world, tenant="t1", saved_by="tester", created_at=WHEN)
    assert info.ok and info.codec == fmt and info.day == snap.game.day

    loaded, read_info, upgraded_from = slots.read("round trip")

    assert upgraded_from is None and read_info.codec == fmt
    assert loaded.to_snapshot() == snap
    assert isinstance(loaded.products, SkuIndex) and loaded.products == world.products
    assert_graph(loaded)


def test_a_cyclic_catalog_keeps_its_shape_and_identity(slots):
    snap = TenantSnapshot(
        categories=(Category(1, "Tools", None), Category(2, "Hand tools", 1), Category(3, "Saws", 2)),
        products=(Product(7, "HAM-1", "Hammer", 2, 1250, 3, True, 1), Product(8, "SAW-1", "Saw", 3, 990, 0, True, 1),
                  Product(9, "NAIL", "Nails", 2, 5, 0, True, 1)),
        plans=(ProductPlan(7, 700, 2), ProductPlan(8, 0, 0), ProductPlan(9, 1, 100)),
    )
    for fmt in SAVE_FORMATS:
        slots.write("graph", fmt, GameWorld.from_snapshot(snap), tenant="t", saved_by="me", created_at=WHEN)
        world, _info, _v = slots.read("graph")
        tools, hand, saws = (world.category(n) for n in ("Tools", "Hand tools", "Saws"))
        assert hand.parent is tools and tools.children == [hand] and saws.parent is hand
        assert [p.sku for p in hand.products] == ["HAM-1", "NAIL"]
        assert hand.products[0] is world.products["ham-1"]  # the index is case-insensitive, like the stores
        assert world.products["SAW-1"].category is saws
        assert saws.path() == "Tools / Hand tools / Saws"
        assert repr(tools) == "CategoryNode(1, 'Tools')"  # no recursion into the cycle


def test_secrets_are_never_written_in_any_format(slots, tmp_path):
    snap = TenantSnapshot(users=(User(0, "alice", WHEN), User(0, "bob", WHEN)))
    world = GameWorld.from_snapshot(snap)
    world.users[0].pin, world.users[0].api_token = SECRET_PIN, SECRET_TOKEN
    for fmt in SAVE_FORMATS:
        info = slots.write(f"secrets {fmt}", fmt, world, tenant="t", saved_by="alice", created_at=WHEN)
        raw = Path(info.path).read_bytes()
        for secret in (SECRET_PIN, SECRET_TOKEN, "hunter2"):
            assert secret.encode() not in raw, f"{secret} written in {fmt}"
            assert secret.encode("utf-16-le") not in raw
        loaded, _info, _v = slots.read(f"secrets {fmt}")
        assert [(u.name, u.pin, u.api_token) for u in loaded.users] == [("alice", None, None), ("bob", None, None)]
    header, payload = container.decode(Path(slots.info("secrets json").path).read_bytes())
    assert payload["users"][0]["pin"] == "<redacted>" and payload["users"][1]["pin"] is None
    assert payload["source"] == "postgresql+psycopg://shop:***@db.example/shop"


def _payload(**changes) -> dict:
    snap = TenantSnapshot(
        categories=(Category(1, "Tools", None),),
        products=(Product(5, "HAM-1", "Hammer", 1, 1250, 0, True, 1),),
        plans=(ProductPlan(5, 800, 2),),
        game=GameState(3, 9, rng_state(1)),
    )
    doc = schema.document(GameWorld.from_snapshot(snap), tenant="t", saved_by="me", source="")
    doc.update(changes)
    return doc


@pytest.mark.parametrize(
    "change, code",
    [
        ({"products": [{"id": 5, "sku": "HAM-1", "name": "Hammer", "category": 99, "price_minor": 1}]}, "corrupt"),
        ({"categories": [{"id": 1, "name": "A", "parent": 2}, {"id": 2, "name": "B", "parent": 1}]}, "corrupt"),
        ({"products": [{"id": 5, "sku": "H", "name": "Hammer", "price_minor": "12.50", "quantity": 0}]}, "corrupt"),
        ({"products": [{"id": 5, "sku": "H", "name": "Hammer", "price_minor": -1, "quantity": 0}]}, "corrupt"),
        ({"users": [{"name": "alice", "pin": "1234"}]}, "corrupt"),
        ({"surprise": 1}, "corrupt"),
        ({"game": {"day": 1, "seed": 1, "rng": {"version": 3, "internal": [1, 2, 3], "gauss": None}}}, "corrupt"),
        ({"accounts": [{"id": 1, "name": "A", "kind": "pirate", "currency": "EUR", "debits_posted": 0,
                        "credits_posted": 0, "debits_pending": 0, "credits_pending": 0}]}, "corrupt"),
    ],
)
def test_a_payload_that_does_not_fit_the_schema_is_refused(change, code):
    with pytest.raises(DomainError) as caught:
        schema.world_from(schema.validate(_payload(**change), schema.CURRENT_VERSION))
    assert caught.value.code == code, caught.value.message


def test_a_newer_format_version_is_refused_and_an_older_one_is_upgraded():
    with pytest.raises(DomainError) as caught:
        schema.validate(_payload(), schema.CURRENT_VERSION + 1)
    assert caught.value.code == "unsupported_version"
    v1 = _payload()
    del v1["users"]
    for p in v1["products"]:
        p["price"] = p.pop("price_minor")
        del p["cost_minor"], p["reorder_level"]
    upgraded = schema.validate(v1, 1)
    assert upgraded.products[0].price_minor == 1250 and upgraded.products[0].cost_minor == 1250
    assert upgraded.products[0].reorder_level == 0 and upgraded.users == []
    with pytest.raises(DomainError) as caught:
        schema.validate(_payload(), 1)  # a v2 payload claiming to be v1: price_minor is unknown there
    assert caught.value.code == "corrupt"


def test_slot_names_are_checked(slots):
    world = GameWorld()
    for bad in ("", " ", "../escape", "a/b", ".hidden", "x" * 65, "bad\nname", "end."):
        with pytest.raises(DomainError) as caught:
            slots.write(bad, "json", world, tenant="t", saved_by="me", created_at=WHEN)
        assert caught.value.code == "validation" and caught.value.field == "name"
    with pytest.raises(DomainError) as caught:
        slots.write("ok", "xml", world, tenant="t", saved_by="me", created_at=WHEN)
    assert caught.value.code == "validation"
    assert not (slots.folder / "..").joinpath("escape.json").exists()
    with pytest.raises(DomainError) as caught:
        slots.read("missing")
    assert caught.value.code == "not_found"


def test_saving_a_slot_in_another_format_replaces_it(slots):
    world = GameWorld()
    slots.write("one", "json", world, tenant="t", saved_by="me", created_at=WHEN)
    slots.write("one", "pickle", world, tenant="t", saved_by="me", created_at=WHEN)
    assert [(s.name, s.codec) for s in slots.list()] == [("one", "pickle")]
