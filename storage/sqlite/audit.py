"""sqlite3 audit log: append-only writes, keyset pages newest first (or the other way, from the
oldest), counts with the same filters, and reads that span the archive table (ids are kept when
entries are archived, so id order is chain order)."""

from __future__ import annotations

from collections.abc import Iterator

from domain.model import AuditEntry, AuditQuery
from storage.sqlite.repositories import STREAM_CHUNK, _Repo, like_pattern

_COLS = "at, actor, entity, entity_id, action, before, after, request_key, id, prev_hash, hash"
_UNCHAINED_COLS = "at, actor, entity, entity_id, action, before, after, request_key, id, NULL, NULL"


def until_bound(until: str) -> str:
    """An inclusive upper bound: every timestamp that starts with `until` sorts at or below it."""
    return until + "~"


class SqliteAudit(_Repo):
    """`chained` is False on a file opened with migrate=no below revision 0005: entries are still
    written, without their hashes (and there is no archive to read)."""

    def __init__(self, conn, tenant: str, chained: bool = True):
        super().__init__(conn, tenant)
        self._chained = chained
        self._tables = ("audit_log", "audit_log_archive") if chained else ("audit_log",)
        self._cols = _COLS if chained else _UNCHAINED_COLS

    def append(self, entry: AuditEntry) -> AuditEntry:
        values = (self._tenant, entry.at, entry.actor, entry.entity, entry.entity_id, entry.action, entry.before,
                  entry.after, entry.request_key)
        if self._chained:
            cur = self._run(
                "INSERT INTO audit_log (tenant_id, at, actor, entity, entity_id, action, before, after, request_key,"
                " prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (*values, entry.prev_hash, entry.hash),
            )
        else:
            cur = self._run(
                "INSERT INTO audit_log (tenant_id, at, actor, entity, entity_id, action, before, after, request_key)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values,
            )
            entry = entry._replace(prev_hash=None, hash=None)
        return entry._replace(id=cur.lastrowid)

    def tail(self) -> AuditEntry | None:
        for table in self._tables:
            row = self._run(
                f"SELECT {self._cols} FROM {table} WHERE tenant_id = ? ORDER BY id DESC LIMIT 1", (self._tenant,)
            ).fetchone()
            if row:
                return AuditEntry(*row)
        return None

    def latest(self, limit: int) -> list[AuditEntry]:
        rows = self._run(
            f"SELECT {self._cols} FROM audit_log WHERE tenant_id = ? ORDER BY id DESC LIMIT ?", (self._tenant, limit)
        )
        return [AuditEntry(*r) for r in rows]

    def get(self, entry_id: int) -> AuditEntry | None:
        for table in self._tables:
            row = self._run(
                f"SELECT {self._cols} FROM {table} WHERE tenant_id = ? AND id = ?", (self._tenant, entry_id)
            ).fetchone()
            if row:
                return AuditEntry(*row)
        return None

    def page(self, query: AuditQuery, before_id: int | None, limit: int, *, backward: bool = False,
             skip: int = 0) -> list[AuditEntry]:
        tables = self._tables if query.include_archive else self._tables[:1]
        order = "" if backward else " DESC"  # backward walks the same index the other way
        if skip:  # a jump: the id of the last entry skipped, read from the indexes, then a keyset page
            before_id = self._last_skipped(query, before_id, backward, skip, tables, order)
            if before_id is None:
                return []
        where, params = _where(self._tenant, query, before_id, newer=backward)
        # Each branch is an index walk that stops after `limit` rows; the outer ORDER BY merges at most
        # 2 x limit rows.
        branches = " UNION ALL ".join(
            f"SELECT * FROM (SELECT {self._cols} FROM {t} WHERE {where} ORDER BY id{order} LIMIT ?)" for t in tables
        )
        rows = self._run(f"{branches} ORDER BY id{order} LIMIT ?", [*[*params, limit] * len(tables), limit]).fetchall()
        page = [AuditEntry(*r) for r in rows]
        return page[::-1] if backward else page

    def _last_skipped(self, query: AuditQuery, before_id: int | None, backward: bool, skip: int,
                      tables: tuple[str, ...], order: str) -> int | None:
        """The id `skip` entries from the cursor (ids only: no entry is read whole on the way). The branches
        are bare index walks, merged in id order as they go: each in a subquery of its own, SQLite sorted
        each one again (0.2 s instead of 0.04 s at 500,000 entries in)."""
        where, params = _where(self._tenant, query, before_id, newer=backward)
        branches = " UNION ALL ".join(f"SELECT id FROM {t} WHERE {where}" for t in tables)
        row = self._run(f"{branches} ORDER BY id{order} LIMIT 1 OFFSET ?",
                        [*params * len(tables), skip - 1]).fetchone()
        return None if row is None else row[0]

    def count(self, query: AuditQuery, before_id: int | None = None) -> int:
        where, params = _where(self._tenant, query, before_id)
        tables = self._tables if query.include_archive else self._tables[:1]
        return sum(self._run(f"SELECT COUNT(*) FROM {t} WHERE {where}", params).fetchone()[0] for t in tables)

    def stream(self, after_id: int = 0) -> Iterator[AuditEntry]:
        last = after_id
        branches = " UNION ALL ".join(
            f"SELECT * FROM (SELECT {self._cols} FROM {t} WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?)"
            for t in self._tables
        )
        while True:
            rows = self._run(
                f"{branches} ORDER BY id LIMIT ?", (*(self._tenant, last, STREAM_CHUNK) * len(self._tables), STREAM_CHUNK)
            ).fetchall()
            if not rows:
                return
            for r in rows:
                yield AuditEntry(*r)
            last = rows[-1][8]


def _where(tenant: str, query: AuditQuery, before_id: int | None, newer: bool = False) -> tuple[str, list[object]]:
    """The query's conditions, and those of the cursor: older than `before_id`, or newer with `newer`."""
    clauses, params = ["tenant_id = ?"], [tenant]
    for column in ("actor", "entity", "action"):
        value = getattr(query, column)
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    if query.since:
        clauses.append("at >= ?")
        params.append(query.since)
    if query.until:
        clauses.append("at <= ?")
        params.append(until_bound(query.until))
    if query.text:
        pattern = like_pattern(query.text)
        clauses.append(
            "(entity_id LIKE ? ESCAPE '\\' OR before LIKE ? ESCAPE '\\' OR after LIKE ? ESCAPE '\\'"
            " OR request_key LIKE ? ESCAPE '\\')"
        )
        params += [pattern] * 4
    if before_id is not None:
        clauses.append("id > ?" if newer else "id < ?")
        params.append(before_id)
    return " AND ".join(clauses), params
