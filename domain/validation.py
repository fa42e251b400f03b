"""Pydantic models for everything that crosses into the domain: forms, CLI args, CSV rows.

Pydantic's messages are rewritten into short field-specific ones and raised as our own
ValidationError, so callers see one error type with a stable code.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from typing_extensions import NotRequired, TypedDict

import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict, Strict, StringConstraints, TypeAdapter, model_validator

from domain.errors import ValidationError
from domain.money import MAX_MINOR, format_minor, parse_minor

NAME_MAX = 200
SKU_MAX = 64
_NO_CONTROL = r"^[^\x00-\x1f\x7f]+$"
_SKU = r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"
MAX_QUANTITY = 2**53  # far beyond any shop; keeps price x quantity inside SQL integers for sane prices


_PLAIN_PRICE = re.compile(r"(\d{1,17})(?:\.(\d\d?))?", re.ASCII)


def _price(value: Any) -> int:
    if type(value) is str:  # the common CSV/form case, without parse_minor's general checks
        match = _PLAIN_PRICE.fullmatch(value)
        if match is not None:
            whole, frac = match.groups()
            minor = int(whole) * 100 + (0 if frac is None else int(frac) * (1 if len(frac) == 2 else 10))
            if minor <= MAX_MINOR:
                return minor
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
    # Only ASCII: str.upper() would turn "straße" into a valid-looking "STRASSE".
    return value.strip().upper() if isinstance(value, str) and value.isascii() else value


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX, pattern=_NO_CONTROL)]
Sku = Annotated[str, BeforeValidator(_upper_sku), StringConstraints(min_length=1, max_length=SKU_MAX, pattern=_SKU)]
PriceMinor = Annotated[int, BeforeValidator(_price)]
Quantity = Annotated[int, BeforeValidator(_quantity)]
CategoryRef = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, max_length=NAME_MAX, pattern=_NO_CONTROL)]
    | Annotated[int, Strict()]  # an id; True or 1.0 must not quietly become category 1
    | None,
    BeforeValidator(_blank_is_none),  # an empty CSV cell means "no category"
]


def _amount(value: Any) -> int:
    return parse_minor(value, field="amount")


def _limit(value: Any) -> int:
    return parse_minor(value, field="overdraft_limit")


def _opening(value: Any) -> int:
    return parse_minor(value, field="opening_balance")


Currency = Annotated[str, BeforeValidator(lambda v: v.strip().upper() if isinstance(v, str) and v.isascii() else v),
                     StringConstraints(pattern=r"^[A-Z]{3}$")]
Memo = Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00-\x1f\x7f]*$")]
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")]


class AccountInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    kind: Annotated[str, StringConstraints(pattern=r"^(customer|shop|supplier)$")]
    currency: Currency = "EUR"
    opening_balance: Annotated[int, BeforeValidator(_opening)] = 0
    overdraft_limit: Annotated[int, BeforeValidator(_limit)] = 0


class AccountNameInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name


class OverdraftLimitInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    overdraft_limit: Annotated[int, BeforeValidator(_limit)]


class TransferInput(BaseModel):
    """The client-side parts of a transfer request (accounts are resolved by the service)."""

    model_config = ConfigDict(extra="forbid")
    amount: Annotated[int, BeforeValidator(_amount)]
    memo: Memo = ""
    idempotency_key: IdempotencyKey | None = None
    pending: Annotated[bool, Strict()] = False
    timeout_seconds: Annotated[int, Strict()] | None = None


def _cost(value: Any) -> int:
    return parse_minor(value, field="cost")


def _unit_price(value: Any) -> int:
    return parse_minor(value, field="unit_price")


class StockInput(BaseModel):
    """The client-side parts of a stock move (product and locations are resolved by the service)."""

    model_config = ConfigDict(extra="forbid")
    quantity: Quantity
    memo: Memo = ""
    idempotency_key: IdempotencyKey | None = None
    unit_price: Annotated[int, BeforeValidator(_unit_price)] | None = None
    lead_days: Annotated[int, Strict()] = 0


class PlanningInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cost: Annotated[int, BeforeValidator(_cost)]
    reorder_level: Quantity


class LocationInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name


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

    @model_validator(mode="after")
    def _value_fits(self) -> ProductInput:
        check_value_fits(self.price, self.quantity)
        return self


def check_value_fits(price: int, quantity: int) -> None:
    """price x quantity is computed in SQL (listing, export, value by category): keep it a BIGINT."""
    if price * quantity > MAX_MINOR:
        raise ValidationError(f"quantity: price x quantity would exceed {format_minor(MAX_MINOR)}", field="quantity")


class ProductRow(TypedDict):
    """The same fields as ProductInput, validated into a plain dict: the bulk-import fast path
    (no model instance per row). Both share the field types, so they accept the same rows."""

    __pydantic_config__ = ConfigDict(extra="ignore")  # type: ignore[misc]
    sku: Sku
    name: Name
    price: PriceMinor
    category: NotRequired[CategoryRef]
    quantity: NotRequired[Quantity]
    active: NotRequired[Annotated[bool, BeforeValidator(_blank_is_true)]]


_validate_row = TypeAdapter(ProductRow).validate_python


def validate_row(row: Any, number: int) -> dict[str, Any]:
    """Validate one CSV row (numbered from 1); the error names the row and the field.

    Raises: ValidationError.
    """
    try:
        data = _validate_row(row)
    except (pydantic.ValidationError, ValidationError):
        validate(ProductInput, dict(row), row=number)  # the same rules, with our message
        raise ValidationError(f"row {number}: not a valid product", row=number) from None
    try:
        check_value_fits(data["price"], data.get("quantity", 0))
    except ValidationError as e:
        raise ValidationError(f"row {number}: {e.message}", field=e.field, row=number) from None
    return data


_FIELD_HINTS = {
    "kind": "one of customer, shop, supplier",
    "currency": "a three-letter code like EUR",
    "memo": "at most 500 characters, no control characters",
    "idempotency_key": "1-200 printable characters without spaces",
    "pending": "true or false",
    "timeout_seconds": "a whole number of seconds",
    "sku": f"letters, digits and . _ - / only, starting with a letter or digit, at most {SKU_MAX} characters",
    "quantity": "a whole number of units, 0 or more",
    "reorder_level": "a whole number of units, 0 or more",
    "lead_days": "a whole number of days",
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
    except ValidationError as e:  # raised by our own validators (price); pydantic lets it through
        if row is None:
            raise
        raise ValidationError(f"row {row}: {e.message}", field=e.field, row=row) from None
    except pydantic.ValidationError as e:
        field, message = _message(e.errors()[0])
        if row is not None:
            message = f"row {row}: {message}"
        raise ValidationError(message, field=field, row=row) from None
