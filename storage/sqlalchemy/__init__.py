"""SQLAlchemy 2 adapter (SQLite and PostgreSQL): ORM models in tables.py, mapped to domain objects at
the boundary by the repositories."""

from storage.sqlalchemy.store import SqlAlchemyStore

__all__ = ["SqlAlchemyStore"]
