"""Actors and the audit trail they leave."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class User:
    """An actor. `created_at` is None when read from a database still at schema revision 1."""

    id: int
    name: str
    created_at: str | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One mutation: who, when, what, and the state before and after (JSON text)."""

    at: str
    actor: str
    entity: str
    entity_id: str
    action: str
    before: str | None
    after: str | None
    request_key: str | None = None
    id: int | None = None
