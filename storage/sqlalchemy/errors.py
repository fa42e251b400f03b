"""Translate SQLAlchemy and driver exceptions into domain errors at the storage boundary."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc

from domain.errors import AlreadyExists, Busy, Corrupt, DomainError, StorageError, ValidationError

# PostgreSQL SQLSTATE codes (https://www.postgresql.org/docs/current/errcodes-appendix.html)
_BUSY_STATES = {
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "55P03",  # lock_not_available (lock_timeout)
    "57014",  # query_canceled (statement_timeout)
}
_CORRUPT_STATES = {"XX001", "XX002"}  # data_corrupted, index_corrupted


def translate(e: BaseException) -> DomainError:
    """One domain error for any SQLAlchemy, sqlite3 or psycopg failure; the cause stays chained."""
    if isinstance(e, DomainError):
        return e
    orig = getattr(e, "orig", None) or e
    if isinstance(orig, sqlite3.Error):
        from storage.sqlite.errors import translate as translate_sqlite

        return translate_sqlite(orig)
    state = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "diag", None), "sqlstate", None)
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    if state == "23505" or (state is None and isinstance(e, exc.IntegrityError) and "unique" in text.lower()):
        return AlreadyExists(f"already exists ({text})")
    if isinstance(e, exc.IntegrityError) or (state or "").startswith("23"):
        return ValidationError(f"refused by the database: {text}")
    if state in _BUSY_STATES:
        return Busy("the database is busy with another writer; try again")
    if state in _CORRUPT_STATES:
        return Corrupt(f"the database is damaged: {text}")
    if (state or "").startswith("08") or isinstance(e, exc.OperationalError) and "connect" in text.lower():
        return StorageError(f"cannot reach the database: {text}")
    return StorageError(f"storage error: {text}")


@contextmanager
def translating() -> Iterator[None]:
    try:
        yield
    except (exc.SQLAlchemyError, sqlite3.Error) as e:
        raise translate(e) from e
    except Exception as e:  # psycopg errors raised outside SQLAlchemy (e.g. at connect)
        if type(e).__module__.startswith("psycopg"):
            raise translate(e) from e
        raise
