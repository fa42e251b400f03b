"""Entities and value objects: plain, immutable data with no I/O."""

from domain.model.catalog import Category, CategoryValue, NewProduct, Product, ProductListing, ProductQuery
from domain.model.audit import AuditEntry, AuditQuery, ChainReport
from domain.model.users import User

MAX_ID = 2**63 - 1


def is_id(value: object) -> bool:
    """A row id every store can hold: an int (not a bool) in 1..2**63-1. Anything else finds nothing."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def parse_ref(text: str) -> int | str:
    """What someone typed to name a record: an id when it is all ASCII digits, else the name."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() else text

__all__ = [
    "MAX_ID",
    "is_id",
    "parse_ref",
    "AuditEntry",
    "AuditQuery",
    "ChainReport",
    "Category",
    "CategoryValue",
    "NewProduct",
    "Product",
    "ProductListing",
    "ProductQuery",
    "User",
]
