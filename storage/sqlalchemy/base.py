"""What the SQLAlchemy repositories share: the session of the unit of work, the tenant, the dialect,
and statement helpers that translate errors and keep PostgreSQL transactions usable after a refused
insert (a savepoint around it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Connection, Result
from sqlalchemy.orm import Session

from storage.sqlalchemy.errors import translate

STREAM_CHUNK = 2000
# Core DML never touches ORM objects in the session: no synchronisation needed (rows are mapped to
# domain objects at once and never kept).
_DML = {"synchronize_session": False}
# ORM selects always read the row as stored now, never a copy from earlier in the transaction.
_FRESH = {"populate_existing": True}


class SqlAlchemyRepo:
    """Bound to one tenant and one unit of work's session."""

    def __init__(self, session: Session, tenant: str, dialect: str):
        self._session = session
        self._tenant = tenant
        self._dialect = dialect  # "sqlite" or "postgresql"

    @property
    def _pg(self) -> bool:
        return self._dialect == "postgresql"

    @cached_property
    def _connection(self) -> Connection:
        return self._session.connection()

    def _run(self, stmt: Any, params: dict[str, Any] | None = None, /, **named: Any) -> Result[Any]:
        """A prebuilt Core statement straight on the unit of work's connection (the hot paths): the session
        adds nothing to a statement without ORM entities but its own cost per call (about half on SQLite)."""
        try:
            return self._connection.execute(stmt, {**(params or {}), **named})
        except exc.SQLAlchemyError as e:
            raise translate(e) from e

    def _execute(self, stmt: Any, params: Any = None) -> Result[Any]:
        """Run a statement (ORM-enabled select or Core DML); errors come out as domain errors."""
        try:
            return self._session.execute(stmt, params, execution_options={**_DML, **_FRESH})
        except exc.SQLAlchemyError as e:
            raise translate(e) from e

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        """Around a statement whose refusal the caller turns into another error (AlreadyExists with a
        field, NotFound) and then goes on: on PostgreSQL a failed statement aborts the whole transaction
        unless it ran in a savepoint. SQLite undoes just the failed statement, so it pays no savepoint."""
        if not self._pg:
            yield
            return
        nested = self._session.begin_nested()
        try:
            yield
        except BaseException:
            nested.rollback()
            raise
        nested.commit()
