"""What every service shares: the store, the tenant, the actor, the clock, and the audit write."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, is_dataclass
from typing import TYPE_CHECKING, Any

from domain.audit_chain import chained_entry
from domain.clock import utc_iso
from domain.errors import IdempotencyConflict, NotFound, ValidationError
from domain.model import AuditEntry, Product, is_id

if TYPE_CHECKING:
    from domain.ports import Clock, Store, UnitOfWork

TENANT_MAX = 64


def as_plain(value: Any) -> Any:
    """An entity as a dict of its fields (shallow: our entities hold plain values only, and asdict's
    deep copy cost 3x on every write); NamedTuples likewise; anything else as it is."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in fields(value)}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return value._asdict()
    return value


def canonical_json(value: Any) -> str | None:
    """One stable text form (sorted keys, no spaces) so audit entries can be hashed and compared."""
    if value is None:
        return None
    return json.dumps(as_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def changed_fields(before: Any, after: Any) -> tuple[Any, Any]:
    """An update's before/after reduced to the fields that differ: the audit entry is a JSON diff."""
    before, after = as_plain(before), as_plain(after)
    if not isinstance(before, dict) or not isinstance(after, dict):
        return before, after
    keys = [k for k in before.keys() | after.keys() if before.get(k, None) != after.get(k, None)]
    return {k: before.get(k) for k in keys if k in before}, {k: after.get(k) for k in keys if k in after}


def product_by_ref(uow: UnitOfWork, ref: object, *, allow_deleted: bool = False) -> Product:
    """A product by id or SKU (SKUs are stored upper-case); a soft-deleted one only with `allow_deleted`
    (history and file lists read it; nothing new is done to it).

    Raises: ValidationError (not an id or SKU), NotFound.
    """
    if isinstance(ref, bool) or not isinstance(ref, (int, str)):
        raise ValidationError("product: give a product id or SKU", field="product")
    if isinstance(ref, int):
        found = uow.products.get(ref) if is_id(ref) else None
    else:
        text = ref.strip()
        found = uow.products.get_by_sku(text.upper() if text.isascii() else text)
    if found is None:
        raise NotFound(f"product: no product {ref!r}", field="product")
    if found.deleted_at is not None and not allow_deleted:
        raise NotFound(f"product: {found.sku} is deleted; restore it first", field="product")
    return found


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
    ) -> AuditEntry:
        """Append the entry for a change, in the change's own transaction, chained to the tenant's
        newest entry; its time is strictly after that entry's even if the clock stepped back."""
        if before is not None and after is not None:
            before, after = changed_fields(before, after)
        entry = chained_entry(uow.audit.tail(), self.now(), self.actor, entity, str(entity_id), action,
                              canonical_json(before), canonical_json(after), request_key)
        return uow.audit.append(entry)
