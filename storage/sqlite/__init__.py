"""The embedded default store: the stdlib sqlite3 module, no ORM."""

from storage.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
