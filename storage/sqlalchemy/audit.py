"""SQLAlchemy audit log: append-only writes, keyset pages newest first (or the other way, from the
oldest), counts with the same filters, and reads that span the archive table (ids are kept when entries
are archived, so id order is chain order)."""

from __future__ import annotations

from collections.abc import Iterator
from operator import eq
from typing import Any

from sqlalchemy import Select, String, bindparam, func, insert, select, union_all

from domain.model import AuditEntry, AuditQuery
from storage.sqlalchemy.base import SqlAlchemyRepo, merged_ids, next_chunk
from storage.sqlalchemy.catalog import bigint
from storage.sqlalchemy.tables import AuditArchiveRow, AuditRow
from storage.sqlite.audit import like_pattern, until_bound

_TABLES = (AuditRow, AuditArchiveRow)
_LIKE_ESCAPE = "\\"


def audit_columns(table: Any) -> tuple[Any, ...]:
    """The columns of a live or archived entry in AuditEntry's field order."""
    return (table.at, table.actor, table.entity, table.entity_id, table.action, table.before, table.after,
            table.request_key, table.id, table.prev_hash, table.hash)


# Built once on the tables (Core: no ORM layer to pass) and run with parameters: every write reads the
# tail and appends.
_TAIL = tuple(
    select(*audit_columns(t.__table__.c)).where(t.__table__.c.tenant_id == bindparam("tenant", type_=String))
    .order_by(t.__table__.c.id.desc()).limit(1)
    for t in _TABLES
)
_APPEND = insert(AuditRow.__table__).returning(AuditRow.__table__.c.id)
_STREAM = next_chunk(_TABLES, audit_columns, eq)  # through the index of (tenant_id, id), as the sqlite3 store


def _merge(branches: list[Select[Any]], newest_first: bool, limit: int) -> Select[Any]:
    """One branch as it is, or the branches merged in id order and cut at `limit`."""
    if len(branches) == 1:
        return branches[0]
    merged = union_all(*(select(b.subquery().c) for b in branches)).subquery()
    return select(merged).order_by(merged.c.id.desc() if newest_first else merged.c.id).limit(limit)


def audit_entry(row: Any) -> AuditEntry:
    """A selected row (columns as in audit_columns) as the domain entry."""
    return AuditEntry._make(row)


class SqlAlchemyAudit(SqlAlchemyRepo):
    """Append-only; reads go across the live and the archive table in id order."""

    def _select(self, table: Any) -> Select[Any]:
        return select(*audit_columns(table)).where(table.tenant_id == self._tenant)

    def _merged(self, branches: list[Select[Any]], newest_first: bool, limit: int) -> list[AuditEntry]:
        """Each branch is an index walk cut at `limit`; the outer ORDER BY merges at most 2 x limit rows."""
        return [audit_entry(r) for r in self._execute(_merge(branches, newest_first, limit))]

    def append(self, entry: AuditEntry) -> AuditEntry:
        values = entry._asdict()
        del values["id"]  # the database gives it
        new_id = self._run(_APPEND, {**values, "tenant_id": self._tenant}).scalar_one()
        return entry._replace(id=new_id)

    def tail(self) -> AuditEntry | None:
        for stmt in _TAIL:
            row = self._run(stmt, {"tenant": self._tenant}).first()
            if row:
                return audit_entry(row)
        return None

    def latest(self, limit: int) -> list[AuditEntry]:
        return self._merged([self._select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)], True, limit)

    def get(self, entry_id: int) -> AuditEntry | None:
        for table in _TABLES:
            row = self._execute(self._select(table).where(table.id == bigint(entry_id))).first()
            if row:
                return audit_entry(row)
        return None

    def page(self, query: AuditQuery, before_id: int | None, limit: int, *, backward: bool = False,
             skip: int = 0) -> list[AuditEntry]:
        tables = _TABLES if query.include_archive else _TABLES[:1]
        if skip:  # a jump: the id of the last entry skipped, read from the indexes, then a keyset page
            ids = [select(t.id).where(t.tenant_id == self._tenant, *self._filters(t, query, before_id, newer=backward))
                   for t in tables]
            before_id = self._execute(merged_ids(ids, newest_first=not backward).offset(skip - 1)).scalar()
            if before_id is None:
                return []
        # Backward walks the same index the other way (oldest first) and the page is turned round here.
        branches = [
            self._select(t).where(*self._filters(t, query, before_id, newer=backward))
            .order_by(t.id if backward else t.id.desc()).limit(limit)
            for t in tables
        ]
        page = self._merged(branches, not backward, limit)
        return page[::-1] if backward else page

    def count(self, query: AuditQuery, before_id: int | None = None) -> int:
        tables = _TABLES if query.include_archive else _TABLES[:1]
        return sum(
            self._execute(select(func.count()).select_from(t).where(
                t.tenant_id == self._tenant, *self._filters(t, query, before_id))).scalar_one()
            for t in tables
        )

    def stream(self, after_id: int = 0) -> Iterator[AuditEntry]:
        for rows in self._in_chunks(_STREAM, after_id, AuditEntry._fields.index("id")):
            yield from map(audit_entry, rows)

    def _filters(self, table: Any, query: AuditQuery, before_id: int | None, newer: bool = False) -> list[Any]:
        """The query's conditions on one table (the tenant is in _select), and the cursor's: older than
        `before_id`, or newer with `newer`."""
        clauses: list[Any] = []
        for column in ("actor", "entity", "action"):
            value = getattr(query, column)
            if value:
                clauses.append(getattr(table, column) == value)
        if query.since:
            clauses.append(table.at >= query.since)
        if query.until:
            clauses.append(table.at <= until_bound(query.until))
        if query.text:
            pattern = like_pattern(query.text)
            clauses.append(
                self._like(table.entity_id, pattern) | self._like(table.before, pattern)
                | self._like(table.after, pattern) | self._like(table.request_key, pattern)
            )
        if before_id is not None:
            clauses.append(table.id > bigint(before_id) if newer else table.id < bigint(before_id))
        return clauses

    def _like(self, column: Any, pattern: Any) -> Any:
        """SQLite's LIKE: ASCII case-insensitive. PostgreSQL's ILIKE in the "C" collation folds ASCII only too."""
        if self._pg:
            return column.collate("C").ilike(pattern, escape=_LIKE_ESCAPE)
        return column.like(pattern, escape=_LIKE_ESCAPE)

