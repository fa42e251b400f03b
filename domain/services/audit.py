"""Audit use cases: page through the tamper-evident log, check its hash chain, and export it.

Entries are written by the other services through `ServiceContext.audit`, in the same transaction
as the change they record; nothing here (or anywhere) updates or deletes one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from domain.audit_chain import GENESIS, entry_hash
from domain.clock import moment_prefix
from domain.errors import NotFound, ValidationError
from domain.model import MAX_ID, AuditEntry, AuditQuery, ChainReport, is_id
from domain.services.context import ServiceContext

PAGE_MAX = 10_000
EXPORT_HEADER = ("id", "at", "actor", "entity", "entity_id", "action", "before", "after", "request_key", "hash")


class FieldChange(NamedTuple):
    """One line of an entry's before/after diff; `before`/`after` are None when the side lacks the field."""

    field: str
    before: Any
    after: Any


def entry_changes(entry: AuditEntry) -> list[FieldChange]:
    """The fields an entry changed, sorted by name: what the Audit screen's detail pane shows.
    A create shows every field as new, a delete every field as gone."""
    before = json.loads(entry.before) if entry.before else None
    after = json.loads(entry.after) if entry.after else None
    if not isinstance(before, dict) or not isinstance(after, dict):
        if before is not None and not isinstance(before, dict):
            before = {"value": before}
        if after is not None and not isinstance(after, dict):
            after = {"value": after}
    before, after = before or {}, after or {}
    return [
        FieldChange(k, before.get(k), after.get(k))
        for k in sorted(before.keys() | after.keys())
        if k not in before or k not in after or before[k] != after[k]
    ]


def normalise_query(query: AuditQuery) -> AuditQuery:
    """Trim the filters and check the dates. Raises: ValidationError (field since/until)."""
    values = {k: (v.strip() if isinstance(v, str) else v) for k, v in query._asdict().items()}
    for bound in ("since", "until"):
        if values[bound]:
            values[bound] = moment_prefix(values[bound], bound)
    if len(values["text"]) > 200:
        raise ValidationError("text: at most 200 characters", field="text")
    return AuditQuery(**values)


def _check_before(before_id: object) -> None:
    if before_id is not None and not is_id(before_id):
        raise ValidationError("before: not an entry id", field="before")


def _check_skip(skip: object) -> None:
    if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
        raise ValidationError("skip: must be a whole number, 0 or more", field="skip")


UNDOABLE = ("transfer", "stock_move")


class AuditService:
    """Read, verify and export one tenant's audit log, and undo what an entry recorded."""

    def __init__(self, ctx: ServiceContext, bank: Any = None, inventory: Callable[[], Any] | None = None):
        self._ctx = ctx
        self._bank = bank
        self._inventory = inventory  # built on first undo of a stock move

    def undo(self, entry_id: int, reason: str = "") -> Any:
        """Undo by compensation what an audit entry recorded: a transfer or a stock move gets its
        reversing entry (see BankService.reverse and InventoryService.reverse); nothing is deleted.
        The payment of a sale or purchase is undone with its goods. Returns the reversing Transfer or
        StockMove (a void or a cancellation for something still pending).

        Raises: NotFound, ValidationError (not a transfer or stock move), AlreadyReversed, and what the
        reversal itself raises (insufficient_funds, insufficient_stock, ...).
        """
        entry = self.entry(entry_id)
        target = int(entry.entity_id) if entry.entity_id.isascii() and entry.entity_id.isdigit() else None
        if entry.entity not in UNDOABLE or target is None:
            raise ValidationError(
                f"entry {entry.id} records {entry.action} of {entry.entity} {entry.entity_id}: only single transfers "
                "and stock moves can be undone (edit or delete other records where they live)", field="entry",
            )
        if entry.entity == "transfer":
            try:
                return self._bank.reverse(target, reason)
            except ValidationError as e:
                if "move_id" not in e.details:
                    raise
                target = e.details["move_id"]  # a sale's or purchase's payment: undo the goods and the money
        return self._inventory().reverse(target, reason)

    def entries(self, query: AuditQuery = AuditQuery(), before_id: int | None = None, limit: int = 200, *,
                backward: bool = False, skip: int = 0) -> list[AuditEntry]:
        """One page, newest first, strictly before `before_id` (pass the last id of the previous page).
        backward: the page of entries newer than `before_id` (the oldest page when None), still newest
        first; skip: leave out that many first (a jump by offset).

        Raises: ValidationError (a bad date, a limit outside 1..10000, a bad before id or skip).
        """
        query = normalise_query(query)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= PAGE_MAX:
            raise ValidationError(f"limit: must be 1-{PAGE_MAX}", field="limit")
        _check_before(before_id)
        _check_skip(skip)
        if backward and before_id is not None and before_id >= MAX_ID:
            return []  # nothing is newer
        with self._ctx.reading() as uow:
            return uow.audit.page(query, before_id, limit, backward=backward, skip=skip)

    def count_entries(self, query: AuditQuery = AuditQuery(), before_id: int | None = None) -> int:
        """How many entries match the query (only those older than `before_id` when given).

        Raises: ValidationError (a bad date, a bad before id).
        """
        query = normalise_query(query)
        _check_before(before_id)
        with self._ctx.reading() as uow:
            return uow.audit.count(query, before_id)

    def entry(self, entry_id: int) -> AuditEntry:
        """One entry, live or archived. Raises: NotFound."""
        if is_id(entry_id):
            with self._ctx.reading() as uow:
                found = uow.audit.get(entry_id)
            if found is not None:
                return found
        raise NotFound(f"audit entry {entry_id} does not exist", field="id")

    def verify(self, progress: Callable[[int], None] | None = None) -> ChainReport:
        """Recompute the hash chain over every entry, archived ones included, in id order, and report
        the first broken link: an entry whose contents no longer match its hash (edited), or whose
        previous-hash is not the hash of the entry before it (one was removed, inserted or reordered).
        Times are not compared: they increase for every entry written since the chain exists, but an
        upgraded database may hold older entries with equal times, and the hash already covers each time.
        `progress` is called with the count every 10,000 entries."""
        prev, checked = GENESIS, 0
        with self._ctx.reading() as uow:
            for e in uow.audit.stream():
                if e.hash is None or e.prev_hash is None:
                    return ChainReport(checked, e.id, "the entry has no hash: it was not written through stockbank")
                if e.prev_hash != prev:
                    return ChainReport(
                        checked, e.id,
                        "the link to the previous entry is broken: an entry before it was removed, added or changed",
                    )
                if entry_hash(prev, e.at, e.actor, e.entity, e.entity_id, e.action, e.before, e.after,
                              e.request_key) != e.hash:
                    return ChainReport(checked, e.id, "the entry was changed after it was written: its hash does not match")
                prev = e.hash
                checked += 1
                if progress is not None and checked % 10_000 == 0:
                    progress(checked)
        return ChainReport(checked)

    def export_rows(self, query: AuditQuery = AuditQuery()) -> Iterator[tuple]:
        """Every entry matching the query, newest first, as CSV rows (EXPORT_HEADER order), read a
        page at a time so a million entries never sit in memory."""
        query = normalise_query(query)
        before: int | None = None
        while True:
            with self._ctx.reading() as uow:
                page = uow.audit.page(query, before, 2000)
            if not page:
                return
            for e in page:
                yield (e.id, e.at, e.actor, e.entity, e.entity_id, e.action, e.before or "", e.after or "",
                       e.request_key or "", e.hash or "")
            before = page[-1].id
