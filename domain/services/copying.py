"""Copy one tenant's books from one store to another (e.g. SQLite to PostgreSQL), all or nothing.

The source is read in one transaction: its books as a snapshot and its audit log. The target's books
are replaced in one write transaction that checks every invariant before it commits (the same replace
a load uses: ids are renumbered, references kept). The audit log comes along, entry by entry with its
hashes, when the target tenant has none yet (a fresh store: the chain verifies there as it did at the
source); a target with a log of its own keeps it. Either way the target's log records the copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from domain.errors import Corrupt, ValidationError

if TYPE_CHECKING:
    from domain.model import ChainReport
    from domain.simulator import CheckReport, Simulator


@dataclass(frozen=True)
class CopyReport:
    counts: dict[str, int]  # what was copied, by kind
    replaced: dict[str, int]  # what the target tenant held before
    audit_entries: int  # audit entries carried over (0 when the target kept its own log)
    source_check: CheckReport
    target_check: CheckReport
    target_chain: ChainReport  # the target's audit chain, verified after the copy

    @property
    def ok(self) -> bool:
        return self.source_check.ok and self.target_check.ok and self.target_chain.ok


def copy_tenant(source: Simulator, target: Simulator, source_label: str) -> CopyReport:
    """Replace the target tenant's books with the source tenant's, then check both ends.

    Raises: ValidationError (the same store and tenant on both ends), Corrupt (the source's books do not
    add up at the target: nothing was written), Busy, StorageError.
    """
    from domain.simulator import check_books

    if source.store is target.store and source.tenant == target.tenant:
        raise ValidationError("copy needs two different stores or tenants", field="to")
    with source.ctx.reading() as uow:
        snapshot = uow.snapshot.dump()
        entries = list(uow.audit.stream())
    with target.ctx.writing() as uow:
        replaced = uow.snapshot.counts()
        carried = 0
        if uow.audit.tail() is None:
            for entry in entries:
                uow.audit.append(entry)
            carried = len(entries)
        uow.snapshot.replace(snapshot)
        report = check_books(target.ctx)  # inside the transaction: the copied books
        if not report.ok:
            raise Corrupt(f"the copied books do not add up at the target, nothing was written: "
                          f"{'; '.join(report.problems[:3])}")
        target.ctx.audit(uow, "store", source.tenant, "copy", before=replaced,  # the id: the source's tenant
                         after={**snapshot.counts(), "audit_entries": carried, "from": source_label})
    return CopyReport(snapshot.counts(), replaced, carried, source.check(), target.check(), target.audit.verify())
