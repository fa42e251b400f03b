"""What every service shares: the store, the tenant, the actor, the clock, and the audit write."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from domain.clock import utc_iso
from domain.errors import IdempotencyConflict, ValidationError
from domain.model import AuditEntry
from domain.ports import Clock, Store, UnitOfWork

TENANT_MAX = 64


def canonical_json(value: Any) -> str | None:
    """One stable text form (sorted keys, no spaces) so audit entries can be hashed and compared."""
    if value is None:
        return None
    if is_dataclass(value) and not isinstance(value, type):
        # shallow: our entities hold plain values only, and asdict's deep copy cost 3x on every write
        value = {f.name: getattr(value, f.name) for f in fields(value)}
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def same_request(first: Any, key: str, expected: dict[str, Any], what: str, id_detail: str) -> Any:
    """`first` (what an idempotency key already made) if it was made by the same request; otherwise
    IdempotencyConflict naming the fields that differ. `first` None passes through."""
    if first is None:
        return None
    seen = {k: getattr(first, k) for k in expected}
    if seen != expected:
        differs = ", ".join(sorted(k for k in expected if seen[k] != expected[k]))
        raise IdempotencyConflict(
            f"idempotency key {key!r} was used for {what} {first.id} with another {differs}",
            field="idempotency_key", **{id_detail: first.id},
        )
    return first


@dataclass
class ServiceContext:
    store: Store
    tenant: str
    actor: str
    clock: Clock

    def __post_init__(self) -> None:
        for label, value in (("tenant", self.tenant), ("actor", self.actor)):
            if not isinstance(value, str) or not value.strip() or len(value) > TENANT_MAX or not value.isprintable():
                raise ValidationError(f"{label}: must be 1-{TENANT_MAX} printable characters", field=label)

    def now(self) -> str:
        return utc_iso(self.clock.now())

    @contextmanager
    def reading(self) -> Iterator[UnitOfWork]:
        with self.store.unit_of_work(self.tenant) as uow:
            yield uow

    @contextmanager
    def writing(self) -> Iterator[UnitOfWork]:
        """A write transaction with the actor recorded as a user; commits if the block succeeds."""
        with self.store.unit_of_work(self.tenant, write=True) as uow:
            uow.users.ensure(self.actor, self.now())
            yield uow
            uow.commit()

    def audit(
        self,
        uow: UnitOfWork,
        entity: str,
        entity_id: object,
        action: str,
        before: Any = None,
        after: Any = None,
        request_key: str | None = None,
    ) -> None:
        uow.audit.append(
            AuditEntry(
                at=self.now(),
                actor=self.actor,
                entity=entity,
                entity_id=str(entity_id),
                action=action,
                before=canonical_json(before),
                after=canonical_json(after),
                request_key=request_key,
            )
        )
