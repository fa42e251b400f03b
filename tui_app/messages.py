"""Messages that carry worker results back to the UI thread."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from domain.model import CategoryValue, ProductListing


@dataclass
class ProductsLoaded(Message):
    """A page of products (and, for the first page, the totals) is ready."""

    generation: int
    rows: list[ProductListing]
    append: bool
    total: int | None = None
    summary: list[CategoryValue] | None = None
