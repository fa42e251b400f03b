"""Regressions found in review: each failed before its fix, on at least one adapter."""

from __future__ import annotations

import pytest

from domain import Simulator
from domain.errors import DomainError
from domain.model import parse_ref


@pytest.mark.parametrize(("typed", "ref"), [("12", 12), (" 7 ", 7), ("²", "²"), ("١٢", "١٢"), ("Shop", "Shop")])
def test_only_ascii_digits_make_an_id(typed: str, ref: object) -> None:
    assert parse_ref(typed) == ref


@pytest.mark.parametrize("price", ["99999999999999999.99", "92233720368547758.08"])
def test_a_price_past_the_bigint_is_refused_on_every_store(sim: Simulator, price: str) -> None:
    with pytest.raises(DomainError) as caught:
        sim.catalog.add_product("BIG-1", "big", price)
    assert (caught.value.code, caught.value.field) == ("validation", "price")
    assert sim.catalog.add_product("MAX-1", "max", "92233720368547758.07").price_minor == 2**63 - 1


@pytest.mark.parametrize("bad_id", [2**63, 2**64, -1, 0, True, "1"])
def test_ids_a_store_cannot_hold_are_not_found_everywhere(sim: Simulator, bad_id: object) -> None:
    sim.catalog.add_category("Tools")
    sim.catalog.add_product("A-1", "a", "1.00", category="Tools")
    for call in (
        lambda: sim.catalog.get_product(bad_id),
        lambda: sim.catalog.update_product(bad_id, 1, name="x"),
        lambda: sim.catalog.delete_product(bad_id),
        lambda: sim.catalog.update_category(bad_id, 1, name="x"),
        lambda: sim.catalog.delete_category(bad_id),
    ):
        with pytest.raises(DomainError) as caught:
            call()
        assert caught.value.code == "not_found"


def test_a_stale_category_rename_is_a_version_conflict_on_every_store(sim: Simulator) -> None:
    tools = sim.catalog.add_category("Tools")
    sim.catalog.add_category("Garden")
    sim.catalog.update_category(tools.id, tools.version, name="Hand tools")
    with pytest.raises(DomainError) as caught:
        sim.catalog.update_category(tools.id, tools.version, name="Garden")  # stale AND taken
    assert caught.value.code == "version_conflict"


def test_an_unchanged_category_edit_writes_nothing(sim: Simulator) -> None:
    tools = sim.catalog.add_category("Tools")
    assert sim.catalog.update_category(tools.id, tools.version, name="Tools") == tools
    assert sim.catalog.find_category("Tools").version == 1
