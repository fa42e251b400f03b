"""The demo catalog (domain/services/demo.py): the same products for a seed as it has always made (its
draws are inlined for speed, so this pins them), valid under the product rules without a validation
pass per row, and unique SKUs at any size."""

from __future__ import annotations

import hashlib
from itertools import islice

import pytest

from domain import validation
from domain.model import NewProduct
from domain.money import format_minor
from domain.services.demo import demo_products


def digest(count: int, seed: int) -> str:
    h = hashlib.sha256()
    for product, category in demo_products(count, seed):
        h.update(repr((tuple(product), category)).encode())
    return h.hexdigest()


def test_a_seed_makes_the_catalog_it_always_made() -> None:
    """Digests and rows taken from the generator before it was inlined (rng.choice / rng.randrange)."""
    assert list(islice(demo_products(50, 7), 2)) == [
        (NewProduct("POW-0000001", "Heavy-duty Sander", None, 13036, 83, True), "Power tools"),
        (NewProduct("GAR-0000002", "Compact Rake", None, 17658, 12, True), "Garden"),
    ]
    assert list(demo_products(100, 3))[-1] == (
        NewProduct("HAN-0000100", "Classic Tape measure 100", None, 20511, 113, True), "Hand tools")
    assert digest(50, 7) == "9f5eb946f9880809b3b9ce446bffa7c084615b28db6b86dc9cd7950bc621c0a6"
    assert digest(20_000, 7) == "4e81b0d12761cd7308f3baba4f3a882ecff642008bc89bf43a88251224dc8c88"
    assert digest(20_000, 11) == "2be03c52a2b0b8fdb9b286d112ee1c18e76df2b340eb1ce9f5ac7b73c787b950"


def test_category_ids_are_filled_in_from_the_names_given() -> None:
    ids = {"Hand tools": 12, "Power tools": 13, "Garden": 14, "Kitchen": 15, "Office": 16}
    plain = list(demo_products(30, 5))
    with_ids = list(demo_products(30, 5, ids))
    assert [(p._replace(category_id=ids[c]), c) for p, c in plain] == with_ids
    assert all(type(p) is NewProduct for p, _ in with_ids)


@pytest.mark.parametrize("count", [0, 1, 60, 61])
def test_small_catalogs_number_their_names_only_beyond_sixty(count: int) -> None:
    rows = [p for p, _ in demo_products(count)]
    assert len(rows) == count
    assert all(p.name.endswith(f" {n}") == (count > 60) for n, p in enumerate(rows, start=1))


def test_demo_products_pass_the_product_rules_unchanged() -> None:
    """bulk_add takes them without a Pydantic pass per row: a sample through the rules every form, API
    call and CSV row goes through must come out as it went in."""
    rows = list(demo_products(100_000, 7, {"Hand tools": 2, "Power tools": 3, "Garden": 4, "Kitchen": 5, "Office": 6}))
    skus = [p.sku for p, _ in rows]
    assert len(set(skus)) == len(skus)
    for product, _ in [*rows[::997], rows[-1]]:
        data = validation.validate(validation.ProductInput, {
            "sku": product.sku, "name": product.name, "price": format_minor(product.price_minor),
            "category": product.category_id, "quantity": product.quantity, "active": product.active,
        })
        assert NewProduct(data.sku, data.name, data.category, data.price, data.quantity, data.active) == product
