"""Exact money: integer minor units inside, decimal strings or integers at the edges.

Floats are refused outright: 0.1 + 0.2 is not 0.3, and a shop's books must add up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from domain.errors import ValidationError

MINOR_DIGITS = 2
DEFAULT_CURRENCY = "EUR"
MAX_MINOR = 2**63 - 1  # what a SQL BIGINT holds
_DECIMAL = re.compile(r"^(-?)(\d{1,19})(?:\.(\d{1,2}))?$", re.ASCII)  # ASCII digits only


def parse_minor(value: object, *, field: str = "amount", allow_negative: bool = False) -> int:
    """Turn `"12.50"`, `"12"` or the integer `1250` into minor units.

    Raises:
        ValidationError: floats, NaN, exponents, more than two decimals, non-numbers,
            negatives (unless allowed) and amounts beyond 2**63 - 1 minor units.
    """
    if isinstance(value, bool):
        raise ValidationError(f"{field}: expected a decimal like '12.50', got a boolean", field=field)
    if isinstance(value, int):
        minor = value
    elif isinstance(value, float):
        raise ValidationError(
            f"{field}: floats are not exact; pass a string like '12.50' or integer minor units",
            field=field,
        )
    elif isinstance(value, Decimal):
        if not value.is_finite() or value.as_tuple().exponent < -MINOR_DIGITS:  # type: ignore[operator]
            raise ValidationError(f"{field}: {value} is not an amount with at most 2 decimals", field=field)
        minor = int(value * 100)
    elif isinstance(value, str):
        text = value.strip()
        match = _DECIMAL.match(text)
        if match is None:
            shown = text if len(text) <= 40 else text[:40] + "…"
            raise ValidationError(
                f"{field}: {shown!r} is not an amount; use digits with at most 2 decimals, like 12.50",
                field=field,
            )
        sign, whole, frac = match.groups()
        minor = int(whole) * 100 + int((frac or "0").ljust(2, "0"))
        if sign:
            minor = -minor
    else:
        raise ValidationError(f"{field}: expected a decimal string or integer minor units", field=field)
    if minor < 0 and not allow_negative:
        raise ValidationError(f"{field}: must not be negative", field=field)
    if abs(minor) > MAX_MINOR:
        raise ValidationError(f"{field}: too large (at most {format_minor(MAX_MINOR)})", field=field)
    return minor


def format_minor(minor: int) -> str:
    """`1250` -> `"12.50"`; the inverse of parse_minor for strings."""
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 100)
    return f"{sign}{whole}.{frac:02d}"


def to_decimal(minor: int) -> Decimal:
    """`-1250` -> `Decimal("-12.50")`: a number (not text) for CSV cells and reports."""
    return Decimal(minor).scaleb(-MINOR_DIGITS)


def format_grouped(minor: int) -> str:
    """`123456789` -> `"1,234,567.89"`, for screens."""
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 100)
    return f"{sign}{whole:,}.{frac:02d}"


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in one currency."""

    minor: int
    currency: str = DEFAULT_CURRENCY

    @classmethod
    def parse(cls, value: object, currency: str = DEFAULT_CURRENCY, *, allow_negative: bool = False) -> Money:
        """Raises: ValidationError, see parse_minor."""
        return cls(parse_minor(value, allow_negative=allow_negative), currency)

    def __str__(self) -> str:
        return f"{format_minor(self.minor)} {self.currency}"
