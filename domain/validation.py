"""Pydantic models for everything that crosses into the domain: forms, CLI args, CSV rows.

Pydantic's messages are rewritten into short field-specific ones and raised as our own
ValidationError, so callers see one error type with a stable code.
"""

from __future__ import annotations

from typing import Annotated, Any

import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints

from domain.errors import ValidationError
from domain.money import parse_minor

NAME_MAX = 200
SKU_MAX = 64
_NO_CONTROL = r"^[^\x00-\x1f\x7f]+$"
_SKU = r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"
MAX_QUANTITY = 2**53  # far beyond any shop; keeps price x quantity inside SQL integers for sane prices


def _price(value: Any) -> int:
    return parse_minor(value, field="price")


def _quantity(value: Any) -> int:
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError("quantity")
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return 0
        if not text.isdigit() or not text.isascii():
            raise ValueError("quantity")
        value = int(text)
    if not isinstance(value, int) or value < 0 or value > MAX_QUANTITY:
        raise ValueError("quantity")
    return value


def _blank_is_true(value: Any) -> Any:
    return True if isinstance(value, str) and not value.strip() else value


def _upper_sku(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX, pattern=_NO_CONTROL)]
Sku = Annotated[str, BeforeValidator(_upper_sku), StringConstraints(min_length=1, max_length=SKU_MAX, pattern=_SKU)]
PriceMinor = Annotated[int, BeforeValidator(_price)]
Quantity = Annotated[int, BeforeValidator(_quantity)]
CategoryRef = Annotated[str, StringConstraints(strip_whitespace=True, max_length=NAME_MAX, pattern=_NO_CONTROL)] | int | None


class CategoryInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    parent: CategoryRef = None


class ProductInput(BaseModel):
    """A product as typed into a form, passed to the API or read from a CSV row."""

    model_config = ConfigDict(extra="ignore")
    sku: Sku
    name: Name
    price: PriceMinor
    category: CategoryRef = None
    quantity: Quantity = 0
    active: Annotated[bool, BeforeValidator(_blank_is_true)] = True


_FIELD_HINTS = {
    "sku": f"letters, digits and . _ - / only, starting with a letter or digit, at most {SKU_MAX} characters",
    "quantity": "a whole number of units, 0 or more",
    "active": "yes/no, true/false or 1/0",
}


def _message(err: dict[str, Any]) -> tuple[str, str]:
    field = str(err["loc"][0]) if err["loc"] else "value"
    kind = err["type"]
    ctx_error = (err.get("ctx") or {}).get("error")
    if isinstance(ctx_error, ValidationError):
        return field, ctx_error.message
    if kind == "missing":
        return field, f"{field}: is required"
    if kind == "string_too_short" or (isinstance(err.get("input"), str) and not err["input"].strip()):
        return field, f"{field}: must not be empty"
    if kind == "string_too_long":
        return field, f"{field}: is longer than {err['ctx']['max_length']} characters"
    if kind == "string_pattern_mismatch":
        if field in _FIELD_HINTS:
            return field, f"{field}: use {_FIELD_HINTS[field]}"
        return field, f"{field}: must not contain control characters (tab, newline, NUL, ...)"
    if field in _FIELD_HINTS:
        return field, f"{field}: expected {_FIELD_HINTS[field]}"
    return field, f"{field}: {err['msg']}"


def validate(model: type[pydantic.BaseModel], data: dict[str, Any], *, row: int | None = None) -> Any:
    """Validate `data` with `model`, raising our ValidationError (first problem, named by field).

    Raises:
        ValidationError: with `.field` set, and `.row` when validating a CSV row.
    """
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as e:
        field, message = _message(e.errors()[0])
        if row is not None:
            message = f"row {row}: {message}"
        raise ValidationError(message, field=field, row=row) from None
