"""Exact money at the edges: decimal strings and integer minor units in, floats and junk out."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import ValidationError
from domain.money import MAX_MINOR, Money, format_grouped, format_minor, parse_minor


@pytest.mark.parametrize(
    ("value", "minor"),
    [
        ("12.50", 1250),
        ("12.5", 1250),
        ("12", 1200),
        ("0", 0),
        ("0.01", 1),
        ("  7.05 ", 705),
        ("92233720368547758.07", MAX_MINOR),
        (1250, 1250),
        (0, 0),
        (MAX_MINOR, MAX_MINOR),
        (Decimal("12.50"), 1250),
        (Decimal("3"), 300),
    ],
)
def test_parse_minor_accepts_decimal_strings_and_integer_minor_units(value: object, minor: int) -> None:
    assert parse_minor(value) == minor


@pytest.mark.parametrize(
    "value",
    [
        12.5,
        0.0,
        float("nan"),
        float("inf"),
        "NaN",
        "nan",
        "inf",
        "Infinity",
        "1e3",
        "1E3",
        "12.345",
        "12.",
        ".5",
        "+12",
        "1,000.00",
        "12,50",
        "",
        "   ",
        "abc",
        "12 50",
        "0x10",
        "١٢.٥٠",  # Arabic-Indic digits: \d without re.ASCII matches them
        "１２",  # full-width digits
        True,
        False,
        None,
        [],
        {"amount": 1},
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("12.345"),
    ],
    ids=repr,
)
def test_parse_minor_refuses_anything_that_is_not_an_exact_amount(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_minor(value, field="price")
    assert caught.value.code == "validation"
    assert caught.value.field == "price"


def test_float_refusal_says_why() -> None:
    with pytest.raises(ValidationError, match="float"):
        parse_minor(0.1)


@pytest.mark.parametrize("value", ["-1", "-0.01", -1, -1250, Decimal("-1")], ids=repr)
def test_negative_amounts_are_refused_by_default(value: object) -> None:
    with pytest.raises(ValidationError, match="negative"):
        parse_minor(value)


@pytest.mark.parametrize(("value", "minor"), [("-1", -100), ("-0.01", -1), (-1250, -1250), ("-12.5", -1250)])
def test_negative_amounts_are_accepted_when_allowed(value: object, minor: int) -> None:
    assert parse_minor(value, allow_negative=True) == minor


@pytest.mark.parametrize(
    "value",
    [
        MAX_MINOR + 1,
        2**64,
        "92233720368547758.08",
        "9999999999999999999",
        "9999999999999999999.99",
        Decimal("92233720368547758.08"),
    ],
    ids=repr,
)
def test_amounts_beyond_a_sql_bigint_are_refused(value: object) -> None:
    with pytest.raises(ValidationError, match="too large"):
        parse_minor(value)


@pytest.mark.parametrize("value", [-(MAX_MINOR + 1), "-92233720368547758.08"], ids=repr)
def test_negative_amounts_beyond_a_sql_bigint_are_refused_even_when_negatives_are_allowed(value: object) -> None:
    with pytest.raises(ValidationError, match="too large"):
        parse_minor(value, allow_negative=True)


def test_overlong_input_is_shortened_in_the_message() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_minor("x" * 500)
    assert len(caught.value.message) < 200


@pytest.mark.parametrize(
    ("minor", "text"),
    [(0, "0.00"), (1, "0.01"), (1250, "12.50"), (1200, "12.00"), (-5, "-0.05"), (-1250, "-12.50"),
     (MAX_MINOR, "92233720368547758.07")],
)
def test_format_minor_writes_two_decimals(minor: int, text: str) -> None:
    assert format_minor(minor) == text


def test_format_grouped_adds_thousands_separators() -> None:
    assert format_grouped(123456789) == "1,234,567.89"
    assert format_grouped(-100000) == "-1,000.00"


def test_money_parse_and_str() -> None:
    assert Money.parse("12.50") == Money(1250, "EUR")
    assert str(Money(1250)) == "12.50 EUR"
    with pytest.raises(ValidationError):
        Money.parse(12.5)


@given(st.integers(min_value=0, max_value=MAX_MINOR))
def test_format_then_parse_round_trips_every_non_negative_amount(minor: int) -> None:
    text = format_minor(minor)
    assert parse_minor(text) == minor
    assert parse_minor(minor) == minor


@given(st.integers(min_value=-MAX_MINOR, max_value=MAX_MINOR))
def test_format_then_parse_round_trips_signed_amounts_when_negatives_are_allowed(minor: int) -> None:
    assert parse_minor(format_minor(minor), allow_negative=True) == minor


@given(st.integers(min_value=0, max_value=MAX_MINOR // 100 - 1), st.integers(min_value=0, max_value=99))
def test_parsed_decimal_strings_format_back_canonically(whole: int, cents: int) -> None:
    text = f"{whole}.{cents:02d}"
    assert format_minor(parse_minor(text)) == text
