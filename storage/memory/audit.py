"""In-memory audit log: the same reads as the SQL stores, over a list of live entries and a list of
archived ones (both in id order)."""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from domain.model import AuditEntry, AuditQuery
from domain.model.catalog import fold_case
from storage.memory.base import Repo


class MemoryAudit(Repo):
    def append(self, entry: AuditEntry) -> AuditEntry:
        stored = entry._replace(id=self._store._next_id("audit"))
        self._undo.append(self._data.audit, stored)
        return stored

    def tail(self) -> AuditEntry | None:
        for entries in (self._data.audit, self._data.audit_archive):
            if entries:
                return entries[-1]
        return None

    def latest(self, limit: int) -> list[AuditEntry]:
        return list(reversed(self._data.audit[-limit:])) if limit > 0 else []

    def get(self, entry_id: int) -> AuditEntry | None:
        return next((e for e in self._all() if e.id == entry_id), None)

    def page(self, query: AuditQuery, before_id: int | None, limit: int, *, backward: bool = False,
             skip: int = 0) -> list[AuditEntry]:
        sources = self._sources(query)
        if backward:  # oldest first from the cursor, turned round at the end
            walk = heapq.merge(*sources, key=lambda e: e.id)
            inside = (lambda e: e.id > before_id) if before_id is not None else (lambda e: True)
        else:
            walk = heapq.merge(*(reversed(s) for s in sources), key=lambda e: -e.id)
            inside = (lambda e: e.id < before_id) if before_id is not None else (lambda e: True)
        found: list[AuditEntry] = []
        for entry in walk:
            if len(found) >= skip + limit:
                break
            if inside(entry) and _matches(entry, query):
                found.append(entry)
        found = found[skip:]
        return found[::-1] if backward else found

    def count(self, query: AuditQuery, before_id: int | None = None) -> int:
        return sum(1 for s in self._sources(query) for e in s
                   if (before_id is None or e.id < before_id) and _matches(e, query))

    def _sources(self, query: AuditQuery) -> list[list[AuditEntry]]:
        return [self._data.audit, self._data.audit_archive] if query.include_archive else [self._data.audit]

    def stream(self, after_id: int = 0) -> Iterator[AuditEntry]:
        return (e for e in list(self._all()) if e.id > after_id)

    def _all(self) -> Iterator[AuditEntry]:
        return heapq.merge(self._data.audit_archive, self._data.audit, key=lambda e: e.id)


def _matches(entry: AuditEntry, query: AuditQuery) -> bool:
    if (query.actor and entry.actor != query.actor) or (query.entity and entry.entity != query.entity):
        return False
    if query.action and entry.action != query.action:
        return False
    if query.since and entry.at < query.since:
        return False
    if query.until and entry.at > query.until + "~":
        return False
    if query.text:
        needle = fold_case(query.text)
        return any(needle in fold_case(v) for v in (entry.entity_id, entry.before, entry.after, entry.request_key) if v)
    return True
