"""Everything that crosses into the domain is validated into one error type with a field (and row)."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import ValidationError
from domain.money import MAX_MINOR
from domain.validation import MAX_QUANTITY, NAME_MAX, SKU_MAX, CategoryInput, ProductInput, validate


def product(**overrides: Any) -> dict[str, Any]:
    return {"sku": "HAM-1", "name": "Hammer", "price": "12.50"} | overrides


def refused(model: type, data: dict[str, Any], *, row: int | None = None) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        validate(model, data, row=row)
    assert caught.value.code == "validation"
    return caught.value


# -- products ---------------------------------------------------------------------------------


def test_a_valid_product_gets_defaults_and_minor_units() -> None:
    p = validate(ProductInput, product())
    assert (p.sku, p.name, p.price, p.category, p.quantity, p.active) == ("HAM-1", "Hammer", 1250, None, 0, True)


def test_names_are_stripped_of_surrounding_whitespace() -> None:
    assert validate(ProductInput, product(name="  Hammer \n")).name == "Hammer"


def test_a_name_of_exactly_the_maximum_length_is_accepted() -> None:
    assert len(validate(ProductInput, product(name="x" * NAME_MAX)).name) == NAME_MAX


@pytest.mark.parametrize(
    "name",
    ["", " ", "\t \n", "x" * (NAME_MAX + 1), "Ham\x00mer", "Ham\tmer", "Ham\nmer", "Ham\rmer", "Ham\x1bmer",
     "Ham\x7fmer", "\x00", None, 12],
    ids=repr,
)
def test_bad_product_names_are_refused_naming_the_field(name: object) -> None:
    err = refused(ProductInput, product(name=name))
    assert err.field == "name"
    assert err.row is None
    assert err.message.startswith("name:")


def test_an_empty_name_says_it_must_not_be_empty() -> None:
    assert "must not be empty" in refused(ProductInput, product(name="   ")).message


def test_an_overlong_name_says_how_long_it_may_be() -> None:
    assert str(NAME_MAX) in refused(ProductInput, product(name="x" * (NAME_MAX + 1))).message


def test_a_name_with_a_control_character_says_so() -> None:
    assert "control characters" in refused(ProductInput, product(name="a\x00b")).message


def test_a_missing_required_field_is_named() -> None:
    data = product()
    del data["price"]
    err = refused(ProductInput, data)
    assert err.field == "price"
    assert "required" in err.message


@pytest.mark.parametrize(("raw", "stored"), [("ham-1", "HAM-1"), ("  abc.def/1_x ", "ABC.DEF/1_X"), ("9", "9"),
                                              ("a" * SKU_MAX, "A" * SKU_MAX)])
def test_skus_are_stripped_and_upper_cased(raw: str, stored: str) -> None:
    assert validate(ProductInput, product(sku=raw)).sku == stored


@pytest.mark.parametrize(
    "sku",
    ["", "   ", "-HAM", ".HAM", "_HAM", "/HAM", "HAM 1", "HAM\x00", "HAM;1", "HAM'1", "HAM%", "a" * (SKU_MAX + 1),
     "straße", "ﬁx", "ÄBC", "é", None, 12],
    ids=repr,
)
def test_bad_skus_are_refused_naming_the_field(sku: object) -> None:
    err = refused(ProductInput, product(sku=sku))
    assert err.field == "sku"


@pytest.mark.parametrize("price", [12.5, "12.345", "-1", "abc", "1e3", True, None, "NaN"], ids=repr)
def test_bad_prices_are_refused_naming_the_field(price: object) -> None:
    err = refused(ProductInput, product(price=price))
    assert err.field == "price"
    assert err.message.startswith("price:")


def test_a_float_price_message_comes_from_the_money_rules() -> None:
    assert "float" in refused(ProductInput, product(price=0.1)).message


@pytest.mark.parametrize(("raw", "quantity"), [(0, 0), (7, 7), ("7", 7), (" 12 ", 12), ("", 0), (MAX_QUANTITY, MAX_QUANTITY)])
def test_quantities_accept_whole_non_negative_numbers(raw: object, quantity: int) -> None:
    assert validate(ProductInput, product(price="0.01", quantity=raw)).quantity == quantity


@pytest.mark.parametrize(
    "quantity",
    [-1, "-1", 1.5, 2.0, "1.5", "abc", True, False, None, MAX_QUANTITY + 1, "١٢", "1e3", "+3"],
    ids=repr,
)
def test_bad_quantities_are_refused_naming_the_field(quantity: object) -> None:
    err = refused(ProductInput, product(quantity=quantity))
    assert err.field == "quantity"
    assert "whole number" in err.message


@pytest.mark.parametrize(("raw", "active"), [(True, True), (False, False), ("", True), ("  ", True), ("yes", True),
                                             ("no", False), ("1", True), ("0", False), ("false", False)])
def test_active_accepts_booleans_and_csv_words(raw: object, active: bool) -> None:
    assert validate(ProductInput, product(active=raw)).active is active


def test_a_bad_active_value_is_refused_naming_the_field() -> None:
    assert refused(ProductInput, product(active="maybe")).field == "active"


@pytest.mark.parametrize(("raw", "category"), [("Tools", "Tools"), ("  Tools ", "Tools"), (3, 3), (None, None),
                                               ("", None), ("   ", None)])
def test_category_references_are_a_name_an_id_or_nothing(raw: object, category: object) -> None:
    assert validate(ProductInput, product(category=raw)).category == category


@pytest.mark.parametrize("category", ["x" * (NAME_MAX + 1), "To\x00ols", "To\nols", True, False, 1.0, 2.5], ids=repr)
def test_bad_category_references_are_refused(category: str) -> None:
    assert refused(ProductInput, product(category=category)).field == "category"


def test_a_product_whose_stock_value_would_exceed_a_bigint_is_refused() -> None:
    assert validate(ProductInput, product(price=MAX_MINOR, quantity=1)).price == MAX_MINOR
    assert validate(ProductInput, product(price=MAX_MINOR // 2, quantity=2)).quantity == 2
    err = refused(ProductInput, product(price=MAX_MINOR // 2 + 1, quantity=2), row=4)
    assert (err.field, err.row) == ("quantity", 4)
    assert err.message.startswith("row 4: quantity:")
    assert validate(ProductInput, product(price="1.00", quantity=MAX_QUANTITY)).quantity == MAX_QUANTITY
    assert refused(ProductInput, product(price="20.00", quantity=MAX_QUANTITY)).field == "quantity"


def test_unknown_columns_of_a_csv_row_are_ignored() -> None:
    assert validate(ProductInput, product(value="99.00", colour="red")).sku == "HAM-1"


def test_row_number_is_set_and_named_in_the_message_when_given() -> None:
    err = refused(ProductInput, product(price="oops"), row=7)
    assert err.row == 7
    assert err.field == "price"
    assert err.message.startswith("row 7: price:")
    assert err.to_dict() == {"code": "validation", "message": err.message, "field": "price", "row": 7}


# -- categories -------------------------------------------------------------------------------


def test_a_valid_category_is_stripped_and_may_have_a_parent() -> None:
    c = validate(CategoryInput, {"name": "  Hand tools ", "parent": "Tools"})
    assert (c.name, c.parent) == ("Hand tools", "Tools")
    assert validate(CategoryInput, {"name": "Tools"}).parent is None
    assert validate(CategoryInput, {"name": "Tools", "parent": 4}).parent == 4


@pytest.mark.parametrize(
    "name", ["", "  ", "x" * (NAME_MAX + 1), "a\x00b", "a\tb", "a\nb", "\x07", None], ids=repr
)
def test_bad_category_names_are_refused_naming_the_field(name: object) -> None:
    err = refused(CategoryInput, {"name": name})
    assert err.field == "name"


def test_bad_category_parent_is_refused_naming_the_field() -> None:
    assert refused(CategoryInput, {"name": "Tools", "parent": "a\x00"}).field == "parent"


def test_categories_refuse_unknown_fields() -> None:
    assert refused(CategoryInput, {"name": "Tools", "colour": "red"}).field == "colour"


def test_category_row_number_is_set_when_given() -> None:
    err = refused(CategoryInput, {"name": ""}, row=3)
    assert (err.row, err.field) == (3, "name")
