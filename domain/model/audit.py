"""The audit trail: entries, the filters of the Audit screen, and what a chain check found."""

from __future__ import annotations

from typing import NamedTuple


class AuditEntry(NamedTuple):
    """One mutation: who, when (UTC, strictly increasing per tenant), what, the state before and
    after (JSON text; an update keeps only the fields that changed), and its link in the hash chain.
    A NamedTuple: the Audit screen pages through millions of them."""

    at: str
    actor: str
    entity: str
    entity_id: str
    action: str
    before: str | None
    after: str | None
    request_key: str | None = None
    id: int | None = None
    prev_hash: str | None = None
    hash: str | None = None


class AuditQuery(NamedTuple):
    """What the Audit screen shows. Empty fields do not filter; `since`/`until` are ISO timestamps
    or dates (inclusive, compared as text, which orders like time in our one timestamp format);
    `text` looks in the entity id, the before/after JSON and the request key."""

    actor: str = ""
    entity: str = ""
    action: str = ""
    since: str = ""
    until: str = ""
    text: str = ""
    include_archive: bool = True


class ChainReport(NamedTuple):
    """Result of checking the hash chain: `ok`, how many entries were checked, and the first broken
    link (its entry id and what is wrong with it) when not ok."""

    checked: int
    broken_id: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_id is None
