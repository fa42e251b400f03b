"""Entities and value objects: plain, immutable data with no I/O."""

from domain.model.catalog import Category, CategoryValue, NewProduct, Product, ProductListing, ProductQuery
from domain.model.users import AuditEntry, User

__all__ = [
    "AuditEntry",
    "Category",
    "CategoryValue",
    "NewProduct",
    "Product",
    "ProductListing",
    "ProductQuery",
    "User",
]
