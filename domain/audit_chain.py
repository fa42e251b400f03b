"""The audit log's hash chain: each entry's sha256 covers the previous entry's hash and a canonical
form of the entry, so editing, removing or reordering any stored entry breaks every link after it.

Pure and dependency-free: the services, the stores and the schema migration that chained the
entries written before the chain existed all hash the same way.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from domain.model.audit import AuditEntry

GENESIS = "0" * 64  # the "previous hash" of a tenant's first entry


def entry_hash(
    prev_hash: str,
    at: str,
    actor: str,
    entity: str,
    entity_id: str,
    action: str,
    before: str | None,
    after: str | None,
    request_key: str | None,
) -> str:
    """sha256 over the previous hash and the entry's fields as one JSON array (ids are not hashed:
    they are the store's, and archiving keeps them anyway)."""
    canonical = json.dumps(
        [prev_hash, at, actor, entity, entity_id, action, before, after, request_key],
        ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def chained_entry(
    tail: AuditEntry | None,
    now: str,
    actor: str,
    entity: str,
    entity_id: str,
    action: str,
    before: str | None,
    after: str | None,
    request_key: str | None = None,
) -> AuditEntry:
    """The next entry after `tail` (the tenant's newest, or None): its time strictly after the tail's
    even if the clock stepped back, its previous-hash the tail's hash, and its own hash."""
    from domain.clock import just_after
    from domain.model.audit import AuditEntry

    at = just_after(tail.at) if tail is not None and now <= tail.at else now
    prev = tail.hash if tail is not None and tail.hash else GENESIS
    digest = entry_hash(prev, at, actor, entity, entity_id, action, before, after, request_key)
    return AuditEntry(at, actor, entity, entity_id, action, before, after, request_key, None, prev, digest)
