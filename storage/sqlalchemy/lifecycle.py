"""SQLAlchemy data lifecycle: moving old ledger rows and audit entries into the archive tables, and
reconstructing balances and stock levels as of a past moment from both ledgers (live + archive)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger, Select, and_, cast, delete, exists, func, insert, literal_column, or_, select, union_all,
)
from sqlalchemy.orm import aliased

from domain.model.bank import LedgerTotals
from domain.model.stock import StockLevel
from storage.sqlalchemy.base import SqlAlchemyRepo
from storage.sqlalchemy.tables import (
    AuditArchiveRow,
    AuditRow,
    LocationRow,
    StockMoveArchiveRow,
    StockMoveRow,
    TransferArchiveRow,
    TransferRow,
)

_IN_CHUNK = 900  # ids per IN (...): under SQLite's bound-parameter limit
_POSTED_TRANSFERS = ("posted", "post")
_POSTED_MOVES = ("posted", "received")


class SqlAlchemyLifecycle(SqlAlchemyRepo):
    def archive_batch(self, before: str, limit: int) -> tuple[int, int, int]:
        moves = self._archive_ledger(StockMoveRow, StockMoveArchiveRow, before, limit)
        transfers = self._archive_ledger(TransferRow, TransferArchiveRow, before, limit)
        audit = self._ids(select(AuditRow.id).where(AuditRow.tenant_id == self._tenant, AuditRow.at < before)
                          .order_by(AuditRow.id).limit(limit))
        self._move(AuditRow, AuditArchiveRow, audit)
        return transfers, moves, len(audit)

    def _ids(self, stmt: Select[Any]) -> list[int]:
        return list(self._execute(stmt).scalars())

    def _archive_ledger(self, live: Any, archive: Any, before: str, limit: int) -> int:
        """Copy one batch of a ledger into its archive and delete it; returns how many rows moved.

        A pending row is old enough only once its resolution is too (a live reservation stays live); the
        batch takes a pending row's resolution along, so no live row ever points at an archived one. A
        transfer stays while a live stock move points at it (moves are archived first, in the same run)."""
        resolution = aliased(live)
        eligible = select(live.id).where(
            live.tenant_id == self._tenant,
            live.created_at < before,
            or_(live.kind != "pending",
                exists().where(resolution.pending_id == live.id, resolution.created_at < before)),
        )
        if live is TransferRow:
            eligible = eligible.where(~exists().where(StockMoveRow.transfer_id == live.id))
        ids = self._ids(eligible.order_by(live.id).limit(limit))
        batch = set(ids)
        for chunk in chunks(ids):
            batch.update(self._ids(select(live.id).where(live.tenant_id == self._tenant, live.pending_id.in_(chunk))))
        self._move(live, archive, sorted(batch))
        return len(batch)

    def _move(self, live: Any, archive: Any, ids: list[int]) -> None:
        """Insert the rows into the archive table (same columns), then delete them from the live one."""
        names = [c.name for c in archive.__table__.columns]
        source = [live.__table__.c[n] for n in names]
        scoped = live.tenant_id == self._tenant
        for chunk in chunks(ids):
            self._execute(insert(archive).from_select(names, select(*source).where(scoped, live.id.in_(chunk))))
        if hasattr(live, "pending_id"):  # resolutions first: they point at their pending rows
            for chunk in chunks(ids):
                self._execute(delete(live).where(scoped, live.id.in_(chunk), live.pending_id.is_not(None)))
        for chunk in chunks(ids):
            self._execute(delete(live).where(scoped, live.id.in_(chunk)))

    def last_ids(self) -> tuple[int, int]:
        def top(row: Any) -> Any:
            return select(func.max(row.id)).where(row.tenant_id == self._tenant).scalar_subquery()

        t, m = self._execute(select(
            greatest(self._pg, top(TransferRow), top(TransferArchiveRow)),
            greatest(self._pg, top(StockMoveRow), top(StockMoveArchiveRow)),
        )).one()
        return t, m

    def balances_asof(self, at: str, inclusive: bool = True, through_id: int | None = None) -> dict[int, LedgerTotals]:
        t = self._ledger(TransferRow, TransferArchiveRow, at, inclusive, through_id, "t",
                         d=TransferRow.debit_account_id, c=TransferRow.credit_account_id, a=TransferRow.amount_minor)
        posted = t.c.kind.in_(_POSTED_TRANSFERS)
        pending = _open_pending(t)
        legs = _legs(("account", "dp", "cp", "dq", "cq"), [
            (t.c.d, t.c.a, 0, 0, 0, posted),
            (t.c.c, 0, t.c.a, 0, 0, posted),
            (t.c.d, 0, 0, t.c.a, 0, pending),
            (t.c.c, 0, 0, 0, t.c.a, pending),
        ])
        rows = self._execute(select(legs.c.account, *_sums(legs, "dp", "cp", "dq", "cq")).group_by(legs.c.account))
        return {r[0]: LedgerTotals(*r[1:]) for r in rows}

    def levels_asof(self, at: str, inclusive: bool = True, through_id: int | None = None) -> list[StockLevel]:
        m = self._ledger(StockMoveRow, StockMoveArchiveRow, at, inclusive, through_id, "m",
                         p=StockMoveRow.product_id, f=StockMoveRow.from_location_id, t=StockMoveRow.to_location_id,
                         q=StockMoveRow.quantity)
        posted = m.c.kind.in_(_POSTED_MOVES)
        pending = _open_pending(m)
        legs = _legs(("p", "loc", "on_hand", "incoming", "outgoing"), [
            (m.c.p, m.c.f, -m.c.q, 0, 0, posted),
            (m.c.p, m.c.t, m.c.q, 0, 0, posted),
            (m.c.p, m.c.f, 0, 0, m.c.q, pending),
            (m.c.p, m.c.t, 0, m.c.q, 0, pending),
        ])
        sums = _sums(legs, "on_hand", "incoming", "outgoing")
        rows = self._execute(
            select(legs.c.p, legs.c.loc, *sums)
            .join(LocationRow, and_(LocationRow.id == legs.c.loc, LocationRow.tenant_id == self._tenant,
                                    LocationRow.kind == "internal"))
            .group_by(legs.c.p, legs.c.loc)
            .having(or_(*(s != 0 for s in sums)))
            .order_by(legs.c.p, legs.c.loc)
        )
        return [StockLevel(*r) for r in rows]

    def _ledger(self, live: Any, archive: Any, at: str, inclusive: bool, through_id: int | None, name: str,
                **columns: Any) -> Any:
        """The ledger's rows (live and archived) that existed at the moment, as a CTE with id, kind,
        pending_id and the named columns."""
        def part(row: Any) -> Select[Any]:
            picked = [getattr(row, col.key).label(label) for label, col in columns.items()]
            return select(row.id, row.kind, row.pending_id, *picked).where(
                row.tenant_id == self._tenant, _upto(row, at, inclusive, through_id))

        return union_all(part(live), part(archive)).cte(name)


def _upto(row: Any, at: str, inclusive: bool, through_id: int | None) -> Any:
    """Which rows existed then: by id when the boundary is a row id (ids follow commit order), else by time."""
    if through_id is not None:
        return row.id <= through_id
    return row.created_at <= at if inclusive else row.created_at < at


def _open_pending(ledger: Any) -> Any:
    """Pending rows of the ledger CTE that no row of it resolves."""
    resolved = select(ledger.c.pending_id).where(ledger.c.pending_id.is_not(None))
    return and_(ledger.c.kind == "pending", ledger.c.id.not_in(resolved))


def _legs(names: tuple[str, ...], parts: list[tuple[Any, ...]]) -> Any:
    """One row per leg: each part is (values..., condition); literal zeros are typed BIGINT."""
    def value(v: Any) -> Any:
        return literal_column("0", BigInteger) if isinstance(v, int) else v

    selects = [select(*(value(v).label(n) for v, n in zip(part[:-1], names))).where(part[-1]) for part in parts]
    return union_all(*selects).subquery("legs")


def _sums(legs: Any, *names: str) -> list[Any]:
    """SUM as BIGINT (PostgreSQL sums bigints into numeric, which the driver returns as Decimal)."""
    return [cast(func.sum(legs.c[n]), BigInteger) for n in names]


def greatest(pg: bool, *values: Any) -> Any:
    """The largest of some nullable integers, 0 when all are NULL (SQLite's max() is the scalar one)."""
    zeroed = [func.coalesce(v, 0) for v in values]
    if len(zeroed) == 1:
        return zeroed[0]
    return func.greatest(*zeroed) if pg else func.max(*zeroed)


def chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i:i + _IN_CHUNK] for i in range(0, len(ids), _IN_CHUNK)]
