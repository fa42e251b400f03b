"""Translate sqlite3 exceptions into domain errors at the storage boundary."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from domain.errors import AlreadyExists, Busy, Corrupt, DomainError, StorageError, ValidationError


def translate(e: sqlite3.Error) -> DomainError:
    text = str(e)
    low = text.lower()
    if isinstance(e, sqlite3.IntegrityError):
        if "unique" in low:
            return AlreadyExists(f"already exists ({text})")
        if "check constraint" in low:
            return ValidationError(f"refused by the database: {text}")
        return ValidationError(f"refused by the database: {text}")
    if "locked" in low or "busy" in low:
        return Busy("the database is busy with another writer; try again")
    if "malformed" in low or "not a database" in low or "corrupt" in low:
        return Corrupt(f"the database file is damaged: {text}")
    return StorageError(f"storage error: {text}")


@contextmanager
def translating() -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as e:
        raise translate(e) from e
