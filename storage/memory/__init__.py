"""The in-memory store: everything in dicts, transactions by undo log. For tests and learning."""

from storage.memory.store import MemoryStore

__all__ = ["MemoryStore"]
