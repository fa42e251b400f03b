"""SQLAlchemy bank repositories: accounts and the transfer ledger (live and archived), mapped to the
domain's Account, Transfer and StatementLine at the boundary.

The transfer path (account lookups, the idempotency-key lookup, the rate-limit count, the guarded
balance UPDATE, the ledger INSERT) runs Core statements built once at import, straight on the unit of
work's connection: each call pays neither statement construction, cache-key generation nor the ORM
session, and a transfer makes no more round trips than in the sqlite3 store (no savepoint either).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from functools import partial
from typing import Any

from sqlalchemy import (
    BigInteger,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import aliased

from domain.errors import AlreadyExists, NotFound, VersionConflict
from domain.model.bank import Account, LedgerTotals, NewAccount, NewTransfer, StatementLine, Transfer
from storage.sqlalchemy.base import SqlAlchemyRepo, inline, merged_ids, next_chunk, tenant_in_id_order
from storage.sqlalchemy.tables import AccountRow, TransferArchiveRow, TransferRow

# -- row -> domain mappers: the selected columns follow the dataclass fields, so a row maps as is ---------

_ACCOUNT_FIELDS = tuple(f.name for f in fields(Account))
_TRANSFER_FIELDS = tuple(f.name for f in fields(Transfer))
ACCOUNT_COLUMNS = tuple(getattr(AccountRow, name) for name in _ACCOUNT_FIELDS)


def transfer_columns(table: type[TransferRow] | type[TransferArchiveRow]) -> tuple[Any, ...]:
    """The columns of a live or archived transfer, in the order to_transfer() reads them."""
    return tuple(getattr(table, name) for name in _TRANSFER_FIELDS)


def to_account(row: Any) -> Account:
    """An Account from a row of ACCOUNT_COLUMNS."""
    return Account(*row)


def to_transfer(row: Any) -> Transfer:
    """A Transfer from a row of transfer_columns()."""
    return Transfer(*row)


def to_statement_line(row: Any) -> StatementLine:
    """A StatementLine from a row of the statement query; `pending` is 0/1 on SQLite, a boolean on PostgreSQL."""
    return StatementLine(*row[:7], bool(row[7]))


# -- the hot statements, built once ------------------------------------------------------------------

_accounts = AccountRow.__table__
_transfers = TransferRow.__table__
_TENANT = bindparam("tenant")


def _id_param(name: str) -> Any:
    """An id from outside (any 1..2**63-1): bound as a BIGINT, since PostgreSQL's INTEGER id columns
    would refuse a larger one instead of finding nothing."""
    return bindparam(name, type_=BigInteger)


_SELECT_ACCOUNT = select(*(_accounts.c[n] for n in _ACCOUNT_FIELDS)).where(_accounts.c.tenant_id == _TENANT)
_GET_ACCOUNT = _SELECT_ACCOUNT.where(_accounts.c.id == _id_param("id"))
_ACCOUNT_BY_NAME = _SELECT_ACCOUNT.where(func.lower(_accounts.c.name) == func.lower(bindparam("name")))
_SYSTEM_ACCOUNT = (
    _SELECT_ACCOUNT.where(_accounts.c.kind == "system", _accounts.c.currency == bindparam("currency"))
    .order_by(_accounts.c.id).limit(1)
)
_FIRST_OF_KIND = (
    _SELECT_ACCOUNT.where(_accounts.c.kind == bindparam("kind"), _accounts.c.currency == bindparam("currency"),
                          _accounts.c.status == "open", _accounts.c.deleted_at.is_(None))
    .order_by(_accounts.c.id).limit(1)
)

_dp, _cp, _dpe, _cpe = (bindparam(n, type_=_accounts.c.debits_posted.type) for n in ("dp", "cp", "dpe", "cpe"))
_APPLY = (
    update(_accounts)
    .where(_accounts.c.tenant_id == _TENANT, _accounts.c.id == _id_param("account_id"))
    .values(
        debits_posted=_accounts.c.debits_posted + _dp,
        credits_posted=_accounts.c.credits_posted + _cp,
        debits_pending=_accounts.c.debits_pending + _dpe,
        credits_pending=_accounts.c.credits_pending + _cpe,
    )
    .returning(_accounts.c.credits_posted - _accounts.c.debits_posted)
)
# Re-checked in the statement that changes the totals, so no race can slip past it. Written as
# (new debits) - (new credits) <= limit: every intermediate stays within a BIGINT (PostgreSQL raises
# on overflow where SQLite would quietly compare floats).
_APPLY_GUARDED = _APPLY.where(
    _accounts.c.status == "open",
    or_(
        _accounts.c.kind == "system",
        _accounts.c.debits_posted + _accounts.c.debits_pending + bindparam("dsum", type_=_accounts.c.debits_posted.type)
        - (_accounts.c.credits_posted + _cp)
        <= _accounts.c.overdraft_limit,
    ),
)


def _inserts(table: Any) -> dict[bool, Any]:
    """INSERT ... RETURNING id, keyed by "is PostgreSQL"; executed with a dict of the columns to set.

    On PostgreSQL with ON CONFLICT DO NOTHING: a taken unique key returns no row instead of failing,
    so the transaction stays usable without a savepoint. SQLite gets a plain INSERT, whose refusal
    undoes just itself: DO NOTHING there would still advance the AUTOINCREMENT counter and leave a
    gap in the ids that the sqlite3 store does not leave.
    """
    return {False: insert(table).returning(table.c.id),
            True: postgresql.insert(table).on_conflict_do_nothing().returning(table.c.id)}


_ADD_ACCOUNT = _inserts(_accounts)
_ADD_TRANSFER = _inserts(_transfers)


def _one_transfer(where: Any) -> Any:
    """Live first, then archived: an idempotency key or an id still finds its transfer after archiving.
    One statement, so a miss (the usual case for a new key) costs one round trip, not two."""
    sides = [
        select(*transfer_columns(table), literal_column(rank).label("rank")).where(table.tenant_id == _TENANT, where(table))
        for rank, table in (("0", TransferRow), ("1", TransferArchiveRow))
    ]
    both = union_all(*sides).subquery()
    return select(*(both.c[n] for n in _TRANSFER_FIELDS)).order_by(both.c.rank).limit(1)


_TRANSFER_BY_ID = _one_transfer(lambda t: t.id == _id_param("id"))
_TRANSFER_BY_KEY = _one_transfer(lambda t: t.idempotency_key == bindparam("key"))
_RESOLUTION = _one_transfer(lambda t: t.pending_id == bindparam("pending_id"))

_STREAM = {pg: next_chunk((TransferRow, TransferArchiveRow), transfer_columns, partial(tenant_in_id_order, pg=pg))
           for pg in (False, True)}
_COUNT_BY_ACTOR = select(func.count()).select_from(_transfers).where(
    _transfers.c.tenant_id == _TENANT,
    _transfers.c.actor == bindparam("actor"),
    _transfers.c.created_at >= bindparam("since"),
)


class _BankRepo(SqlAlchemyRepo):
    def _insert(self, inserts: dict[bool, Any], params: dict[str, Any]) -> int | None:
        """The new row's id, or None when a unique key is taken (see _inserts)."""
        try:
            return self._run(inserts[self._pg], params).scalar()
        except AlreadyExists:
            return None


class SqlAlchemyAccounts(_BankRepo):
    def add(self, account: NewAccount) -> Account:
        """Raises: AlreadyExists (name taken in this tenant, case-insensitive)."""
        new_id = self._insert(_ADD_ACCOUNT, {"tenant_id": self._tenant, **account._asdict()})
        if new_id is None:
            raise AlreadyExists(f"an account named {account.name!r} already exists", field="name")
        return Account(new_id, account.name, account.kind, account.currency, 0, 0, 0, 0, account.overdraft_limit,
                       "open", 1)

    def _one(self, stmt: Any, **params: Any) -> Account | None:
        row = self._run(stmt, {"tenant": self._tenant, **params}).first()
        return None if row is None else to_account(row)

    def get(self, account_id: int) -> Account | None:
        return self._one(_GET_ACCOUNT, id=account_id)

    def get_by_name(self, name: str) -> Account | None:
        return self._one(_ACCOUNT_BY_NAME, name=name)

    def system_account(self, currency: str) -> Account | None:
        return self._one(_SYSTEM_ACCOUNT, currency=currency)

    def first_of_kind(self, kind: str, currency: str) -> Account | None:
        return self._one(_FIRST_OF_KIND, kind=kind, currency=currency)

    def list(self, include_deleted: bool = False) -> list[Account]:
        stmt = select(*ACCOUNT_COLUMNS).where(AccountRow.tenant_id == self._tenant)
        if not include_deleted:
            stmt = stmt.where(AccountRow.deleted_at.is_(None))
        return [to_account(r) for r in self._execute(stmt.order_by(func.lower(AccountRow.name), AccountRow.id))]

    def delete(self, account_id: int) -> None:
        self._execute(delete(AccountRow).where(AccountRow.tenant_id == self._tenant, AccountRow.id == account_id))

    def update(self, account: Account, expected_version: int) -> Account:
        """Raises: VersionConflict, NotFound, AlreadyExists (the name is another account's)."""
        stmt = (
            update(AccountRow)
            .where(AccountRow.tenant_id == self._tenant, AccountRow.id == account.id,
                   AccountRow.version == expected_version)
            .values(name=account.name, overdraft_limit=account.overdraft_limit, status=account.status,
                    deleted_at=account.deleted_at, version=AccountRow.version + 1)
            .returning(*ACCOUNT_COLUMNS)
        )
        try:
            with self._savepoint():
                row = self._execute(stmt).first()
        except AlreadyExists as e:
            raise AlreadyExists(f"an account named {account.name!r} already exists", field="name") from e
        if row is None:
            if self.get(account.id) is None:
                raise NotFound(f"account {account.id} does not exist")
            raise VersionConflict(f"{account.name} was changed by someone else; reload and try again")
        return to_account(row)

    def apply(self, account_id: int, *, debits_posted: int = 0, credits_posted: int = 0, debits_pending: int = 0,
              credits_pending: int = 0, guard: bool = False) -> int | None:
        """One UPDATE ... RETURNING; with `guard`, refused (None) when the account is not open or a limited
        account's debits would pass its credits plus the overdraft limit."""
        params = {"tenant": self._tenant, "account_id": account_id, "dp": debits_posted, "cp": credits_posted,
                  "dpe": debits_pending, "cpe": credits_pending}
        if guard:
            params["dsum"] = debits_posted + debits_pending
        return self._run(_APPLY_GUARDED if guard else _APPLY, params).scalar()

    def totals(self) -> LedgerTotals:
        # Added up in Python: SQLite's SUM() fails with "integer overflow" once a tenant's total passes 2**63.
        t = [0, 0, 0, 0]
        for row in self._execute(
            select(AccountRow.debits_posted, AccountRow.credits_posted, AccountRow.debits_pending,
                   AccountRow.credits_pending).where(AccountRow.tenant_id == self._tenant)
        ):
            t = [x + y for x, y in zip(t, row)]
        return LedgerTotals(*t)


class SqlAlchemyTransfers(_BankRepo):
    def add(self, transfer: NewTransfer) -> Transfer:
        """Raises: AlreadyExists (the idempotency key is taken, or the pending transfer is already resolved,
        or the transfer already reversed)."""
        params = dict(zip(NewTransfer._fields, transfer), tenant_id=self._tenant)
        new_id = self._insert(_ADD_TRANSFER, params)
        if new_id is None:
            raise AlreadyExists(f"transfer already recorded ({self._conflict(transfer)})", field="idempotency_key")
        return Transfer(new_id, *transfer)

    def _conflict(self, transfer: NewTransfer) -> str:
        """Which unique rule a refused transfer ran into, for the message (the refusal path only)."""
        taken = select(TransferRow.id).where(TransferRow.tenant_id == self._tenant,
                                             TransferRow.idempotency_key == transfer.idempotency_key)
        if self._execute(taken).first() is not None:
            return f"idempotency key {transfer.idempotency_key!r} is taken"
        if transfer.pending_id is not None:
            return f"transfer {transfer.pending_id} is already resolved"
        return f"transfer {transfer.reverses_id} is already reversed"

    def _one(self, stmt: Any, **params: Any) -> Transfer | None:
        row = self._run(stmt, {"tenant": self._tenant, **params}).first()
        return None if row is None else to_transfer(row)

    def get(self, transfer_id: int) -> Transfer | None:
        return self._one(_TRANSFER_BY_ID, id=transfer_id)

    def get_by_key(self, idempotency_key: str) -> Transfer | None:
        return self._one(_TRANSFER_BY_KEY, key=idempotency_key)

    def resolution(self, pending_id: int) -> Transfer | None:
        return self._one(_RESOLUTION, pending_id=pending_id)

    def unresolved_pending(self, expired_before: str | None = None) -> list[Transfer]:
        t, r = TransferRow, aliased(TransferRow)
        stmt = select(*transfer_columns(t)).where(
            t.tenant_id == self._tenant, t.kind == inline("pending"), ~exists().where(r.pending_id == t.id)
        )
        if expired_before is not None:
            stmt = stmt.where(t.expires_at.is_not(None), t.expires_at <= expired_before)
        return [to_transfer(row) for row in self._execute(stmt.order_by(t.id))]

    def count_by_actor_since(self, actor: str, since: str) -> int:
        return self._run(_COUNT_BY_ACTOR, {"tenant": self._tenant, "actor": actor, "since": since}).scalar_one()

    def statement(self, account_id: int, before_id: int | None, limit: int,
                  include_archive: bool = False, *, backward: bool = False, skip: int = 0) -> list[StatementLine]:
        tables = (TransferRow, TransferArchiveRow) if include_archive else (TransferRow,)
        if skip:  # a jump: the id of the last line skipped, read from the indexes alone, then a keyset page
            # Bare index ranges, merged in id order as they are walked (see merged_ids).
            sides = [side for t in tables for side in self._sides(t, account_id, before_id, None, backward)]
            before_id = self._execute(merged_ids(sides, newest_first=not backward).offset(skip - 1)).scalar()
            if before_id is None:
                return []
        if len(tables) == 1:
            stmt = self._statement(tables[0], account_id, before_id, limit, backward)
        else:  # both tables' lines cut at `limit`, merged
            both = union_all(*(select(self._statement(t, account_id, before_id, limit, backward).subquery().c)
                               for t in tables)).subquery()
            stmt = select(both).order_by(both.c.id if backward else both.c.id.desc()).limit(limit)
        lines = [to_statement_line(r) for r in self._execute(stmt)]
        return lines[::-1] if backward else lines  # backward walked oldest first: turned round here

    def _sides(self, t: Any, account_id: int, before_id: int | None, limit: int | None, backward: bool) -> list[Any]:
        """The account's transfer ids in one table as debit and as credit: two ordered index ranges, each
        cut at `limit` (backward walks them the other way); with no limit, the bare ranges."""
        sides = []
        for leg in (t.debit_account_id, t.credit_account_id):
            side = select(t.id).where(t.tenant_id == self._tenant, leg == account_id)
            if before_id is not None:
                bound = literal(before_id, BigInteger)
                side = side.where(t.id > bound if backward else t.id < bound)
            sides.append(side if limit is None else side.order_by(t.id if backward else t.id.desc()).limit(limit))
        return sides

    def _statement(self, t: Any, account_id: int, before_id: int | None, limit: int, backward: bool) -> Any:
        # The two index ranges merged: O(page), not O(history).
        sides = [select(side.subquery()) for side in self._sides(t, account_id, before_id, limit, backward)]
        incoming = t.credit_account_id == account_id
        return (
            select(
                t.id.label("id"), t.created_at, t.kind, AccountRow.name, t.memo,
                case((incoming, t.amount_minor), else_=-t.amount_minor),
                case((incoming, t.credit_balance_after), else_=t.debit_balance_after),
                t.kind == "pending",
            )
            .join(AccountRow, and_(AccountRow.tenant_id == self._tenant,
                                   AccountRow.id == case((incoming, t.debit_account_id), else_=t.credit_account_id)))
            .where(t.id.in_(union_all(*sides)))
            .order_by(t.id if backward else t.id.desc())
            .limit(limit)
        )

    def count_statement(self, account_id: int, include_archive: bool = False) -> int:
        # Two index-only counts per table: a transfer never debits and credits the same account.
        tables = (TransferRow, TransferArchiveRow) if include_archive else (TransferRow,)
        counts = [
            select(func.count()).select_from(t).where(t.tenant_id == self._tenant, leg == account_id).scalar_subquery()
            for t in tables for leg in (t.debit_account_id, t.credit_account_id)
        ]
        total = counts[0]
        for more in counts[1:]:
            total = total + more
        return self._execute(select(total)).scalar_one()

    def stream(self) -> Iterator[Transfer]:
        for rows in self._in_chunks(_STREAM[self._pg]):
            yield from map(to_transfer, rows)

    def names_account(self, account_id: int) -> bool:
        legs = [
            exists().where(table.tenant_id == self._tenant,
                           or_(table.debit_account_id == account_id, table.credit_account_id == account_id))
            for table in (TransferRow, TransferArchiveRow)
        ]
        return bool(self._execute(select(or_(*legs))).scalar())
