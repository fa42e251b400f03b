"""Messages that carry worker results back to the UI thread."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from domain.model import CategoryValue


@dataclass
class ValueSummaryLoaded(Message):
    """The stock value per category is ready (for the products screen's summary bar)."""

    generation: int
    summary: list[CategoryValue]
