"""Bank use cases: accounts and double-entry transfers with TigerBeetle's semantics.

Every transfer debits one account and credits another in one transaction, so the sum of all
balances is always zero (money enters through the tenant's system Cash account). Limits hold by
construction: the service checks, and the repository's guarded update re-checks in the same
statement that changes the totals.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any, NamedTuple, TYPE_CHECKING

from domain.clock import utc_iso
from domain.errors import (
    AccountClosed,
    AccountFrozen,
    AlreadyPosted,
    AlreadyReversed,
    AlreadyVoided,
    Busy,
    CurrencyMismatch,
    DomainError,
    Expired,
    IdempotencyConflict,
    InUse,
    InsufficientFunds,
    NotFound,
    NotPending,
    RateLimited,
    SameAccount,
    ValidationError,
    VersionConflict,
)
from domain.model.bank import (  # noqa: F401 (RateLimit: re-exported for callers of this module)
    CLOSED,
    EXPIRE,
    FROZEN,
    OPEN,
    PENDING,
    POST,
    POSTED,
    VOID,
    Account,
    NewAccount,
    NewTransfer,
    RateLimit,
    StatementLine,
    Transfer,
)
from domain.model import is_id
from domain.model.catalog import fold_case
from domain.money import MAX_MINOR, format_minor
from domain.services import validation
from domain.services.context import ServiceContext, same_request

if TYPE_CHECKING:
    from domain.ports import UnitOfWork

AccountRef = int | str
MAX_TIMEOUT_SECONDS = 366 * 24 * 3600


_RESERVED = re.compile(r"cash [a-z]{3}")


def _not_reserved(name: str) -> str:
    """"Cash EUR" and the like name the system cash accounts; a user account taking one would
    block every deposit in that currency."""
    if _RESERVED.fullmatch(fold_case(name)):
        raise ValidationError(f"name: {name!r} is reserved for the system cash account", field="name")
    return name


def _expire_key(pending_id: int) -> str:
    """The key of the transfer that expires `pending_id`: it holds a space, which a client's key never
    does, so no client key can take it first."""
    return f"expire {pending_id}"


class _Request(NamedTuple):
    """An already-validated transfer request (what TransferInput gives the service)."""

    amount: int
    memo: str
    idempotency_key: str | None
    pending: bool = False
    timeout_seconds: int | None = None


def _transfer_data(amount: Any, memo: Any, key: Any, pending: Any = False, timeout: Any = None):
    v = validation()
    data = v.validate(
        v.TransferInput,
        {"amount": amount, "memo": memo, "idempotency_key": key, "pending": pending, "timeout_seconds": timeout},
    )
    if data.amount <= 0:
        raise ValidationError("amount: must be greater than zero", field="amount")
    if data.timeout_seconds is not None:
        if not data.pending:
            raise ValidationError("timeout_seconds: only a pending transfer can time out", field="timeout_seconds")
        if not 1 <= data.timeout_seconds <= MAX_TIMEOUT_SECONDS:
            raise ValidationError(f"timeout_seconds: between 1 and {MAX_TIMEOUT_SECONDS}", field="timeout_seconds")
    return data


class BankService:
    """Accounts and transfers for one tenant, on behalf of one actor."""

    def __init__(self, ctx: ServiceContext, rate_limit: RateLimit | None = None):
        self._ctx = ctx
        self.rate_limit = rate_limit or RateLimit()

    # -- accounts ---------------------------------------------------------------------------

    def open_account(
        self,
        name: str,
        kind: str = "customer",
        *,
        currency: str = "EUR",
        opening_balance: str | int = 0,
        overdraft_limit: str | int = 0,
    ) -> Account:
        """Open an account; an opening balance is deposited from the system Cash account.

        Raises: ValidationError, AlreadyExists (name taken, case-insensitive).
        """
        v = validation()
        data = v.validate(
            v.AccountInput,
            {"name": name, "kind": kind, "currency": currency, "opening_balance": opening_balance,
             "overdraft_limit": overdraft_limit},
        )
        _not_reserved(data.name)
        with self._ctx.writing() as uow:
            account = uow.accounts.add(NewAccount(data.name, data.kind, data.currency, data.overdraft_limit))
            self._ctx.audit(uow, "account", account.id, "open", after=account)
            if data.opening_balance:
                cash = self._cash(uow, data.currency)
                self._move(uow, POSTED, cash, account, data.opening_balance, "opening balance",
                           f"open:{uuid.uuid4()}", None, None)
                account = uow.accounts.get(account.id)  # type: ignore[assignment]
        return account

    def accounts(self, include_deleted: bool = False) -> list[Account]:
        """Every account of the tenant, system accounts included, ordered by name; soft-deleted ones
        only when asked."""
        with self._ctx.reading() as uow:
            return uow.accounts.list(include_deleted)

    def get_account(self, ref: AccountRef) -> Account:
        """An account by id or name (case-insensitive). Raises: NotFound."""
        with self._ctx.reading() as uow:
            return self._account(uow, ref, "account")

    def rename_account(self, ref: AccountRef, expected_version: int, name: str) -> Account:
        """Raises: ValidationError, NotFound, VersionConflict, AlreadyExists."""
        v = validation()
        new_name = _not_reserved(v.validate(v.AccountNameInput, {"name": name}).name)
        return self._edit(ref, expected_version, "rename", lambda a: replace(a, name=new_name))

    def set_overdraft_limit(self, ref: AccountRef, expected_version: int, limit: str | int) -> Account:
        """A new limit must still cover what the account already owes.

        Raises: ValidationError, InsufficientFunds, NotFound, VersionConflict.
        """
        v = validation()
        new_limit = v.validate(v.OverdraftLimitInput, {"overdraft_limit": limit}).overdraft_limit

        def change(a: Account) -> Account:
            if a.debits_posted + a.debits_pending > a.credits_posted + new_limit:
                raise InsufficientFunds(
                    f"{a.name} already owes more than a limit of {format_minor(new_limit)} allows", field="overdraft_limit"
                )
            return replace(a, overdraft_limit=new_limit)

        return self._edit(ref, expected_version, "set_limit", change)

    def freeze(self, ref: AccountRef, expected_version: int) -> Account:
        """No money moves in or out of a frozen account until it is unfrozen.
        Raises: NotFound, VersionConflict, AccountClosed."""
        return self._edit(ref, expected_version, "freeze", lambda a: replace(a, status=FROZEN))

    def unfreeze(self, ref: AccountRef, expected_version: int) -> Account:
        """Raises: NotFound, VersionConflict, AccountClosed."""
        return self._edit(ref, expected_version, "unfreeze", lambda a: replace(a, status=OPEN))

    def close_account(self, ref: AccountRef, expected_version: int) -> Account:
        """Close an account with a zero balance and nothing pending; closing is final.

        Raises: ValidationError (balance or pending not zero), NotFound, VersionConflict, AccountClosed.
        """

        def change(a: Account) -> Account:
            _holds_nothing(a, "close")
            return replace(a, status=CLOSED)

        return self._edit(ref, expected_version, "close", change)

    def delete_account(self, ref: AccountRef, expected_version: int) -> Account:
        """Soft-delete: the account is hidden from the list and refuses money, but its row and its
        transfers stay (statements, check, as-of), and `restore_account` brings it back. Only an account
        holding nothing: its balance and pending amounts must be zero.

        Raises: ValidationError (money left, the Cash account), NotFound, VersionConflict.
        """

        def change(a: Account) -> Account:
            if a.deleted_at is not None:
                raise NotFound(f"{a.name} is already deleted", field="account")
            _holds_nothing(a, "delete")
            return replace(a, deleted_at=self._ctx.now())

        return self._edit(ref, expected_version, "delete", change, allow_closed=True)

    def restore_account(self, ref: AccountRef, expected_version: int) -> Account:
        """Undo a soft delete. Raises: ValidationError (not deleted), NotFound, VersionConflict."""

        def change(a: Account) -> Account:
            if a.deleted_at is None:
                raise ValidationError(f"{a.name} is not deleted", field="account")
            return replace(a, deleted_at=None)

        return self._edit(ref, expected_version, "restore", change, allow_closed=True)

    def purge_account(self, ref: AccountRef, expected_version: int) -> Account:
        """Hard delete of a soft-deleted account that no transfer (live or archived) names: the ledger
        is append-only, so an account with history can be hidden but never purged. Leaves an audit
        tombstone (id and name only).

        Raises: ValidationError (not deleted), InUse (it has transfers), NotFound, VersionConflict.
        """
        with self._ctx.writing() as uow:
            current = self._account(uow, ref, "account")
            if current.version != expected_version:
                raise VersionConflict(f"{current.name} was changed by someone else; reload and try again",
                                      current_version=current.version)
            if current.deleted_at is None:
                raise ValidationError(f"{current.name} is not deleted: delete it first, then purge it", field="account")
            if uow.transfers.names_account(current.id):
                raise InUse(f"{current.name} has transfers in the ledger, which is append-only: it stays deleted "
                            "(hidden) but cannot be purged")
            uow.accounts.delete(current.id)
            self._ctx.audit(uow, "account", current.id, "purge", before={"id": current.id, "name": current.name})
        return current

    def _edit(self, ref: AccountRef, expected_version: int, action: str, change, allow_closed: bool = False) -> Account:
        with self._ctx.writing() as uow:
            current = self._account(uow, ref, "account")
            if current.version != expected_version:
                raise VersionConflict(
                    f"{current.name} was changed by someone else (version {current.version}, you edited "
                    f"{expected_version}); reload and try again", current_version=current.version,
                )
            if current.kind == "system":
                raise ValidationError("the system Cash account cannot be changed", field="account")
            if current.status == CLOSED and not allow_closed:
                raise AccountClosed(f"{current.name} is closed")
            if current.deleted_at is not None and action not in ("delete", "restore"):
                raise AccountClosed(f"{current.name} is deleted; restore it first")
            updated = uow.accounts.update(change(current), expected_version)
            self._ctx.audit(uow, "account", current.id, action, before=current, after=updated)
        return updated

    # -- money in and out -------------------------------------------------------------------

    def deposit(self, ref: AccountRef, amount: str | int, *, idempotency_key: str | None = None, memo: str = "deposit") -> Transfer:
        """Money comes into the shop's world: Cash -> account. Raises: as transfer()."""
        data = _transfer_data(amount, memo, idempotency_key)
        with self._ctx.writing() as uow:  # one transaction: a refused deposit creates no Cash account
            account = self._account(uow, ref, "account")
            cash = self._cash(uow, account.currency)
            return self._transfer(uow, cash.id, account.id, data)

    def withdraw(self, ref: AccountRef, amount: str | int, *, idempotency_key: str | None = None, memo: str = "withdrawal") -> Transfer:
        """Money leaves: account -> Cash. Raises: as transfer()."""
        data = _transfer_data(amount, memo, idempotency_key)
        with self._ctx.writing() as uow:
            account = self._account(uow, ref, "account")
            cash = self._cash(uow, account.currency)
            return self._transfer(uow, account.id, cash.id, data)

    # -- transfers --------------------------------------------------------------------------

    def transfer(
        self,
        source: AccountRef,
        target: AccountRef,
        amount: str | int,
        *,
        idempotency_key: str | None = None,
        memo: str = "",
        pending: bool = False,
        timeout_seconds: int | None = None,
    ) -> Transfer:
        """Move `amount` from `source` to `target` (by id or name) in one transaction.

        With `pending`, the funds are only reserved until post() or void() (or the timeout).
        The same idempotency key with the same request returns the first transfer and writes
        nothing; with a different request it is refused.

        Raises: ValidationError, NotFound, SameAccount, AccountClosed, AccountFrozen,
            CurrencyMismatch, InsufficientFunds, IdempotencyConflict, RateLimited, Busy.
        """
        data = _transfer_data(amount, memo, idempotency_key, pending, timeout_seconds)
        with self._ctx.writing() as uow:
            return self._transfer(uow, source, target, data)

    def transfer_batch(self, items: Iterable[Mapping[str, Any]]) -> list[Transfer]:
        """Apply linked transfers atomically: all of them or none. Each item is a dict with
        source, target, amount and optionally idempotency_key, memo, pending, timeout_seconds.

        Raises: the failing item's error, its message starting "item N:" and `.details["index"]` = N
            (0-based); nothing was written.
        """
        requests = []
        for index, item in enumerate(items):
            try:
                if not isinstance(item, Mapping):
                    raise ValidationError("each item must be a dict with source, target and amount", field="item")
                unknown = set(item) - {"source", "target", "amount", "idempotency_key", "memo", "pending", "timeout_seconds"}
                if unknown:
                    raise ValidationError(f"unknown field(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
                if "source" not in item or "target" not in item or "amount" not in item:
                    raise ValidationError("each item needs source, target and amount", field="item")
                data = _transfer_data(item["amount"], item.get("memo", ""), item.get("idempotency_key"),
                                      item.get("pending", False), item.get("timeout_seconds"))
            except DomainError as e:
                raise _for_item(e, index) from None
            requests.append((item["source"], item["target"], data))
        if not requests:
            return []
        done: list[Transfer] = []
        with self._ctx.writing() as uow:
            for index, (source, target, data) in enumerate(requests):
                try:
                    done.append(self._transfer(uow, source, target, data))
                except DomainError as e:
                    raise _for_item(e, index) from None
        return done

    def post(self, pending_id: int, amount: str | int | None = None, *, idempotency_key: str | None = None) -> Transfer:
        """Post a pending transfer, in full or in part (the rest is released).

        Raises: NotFound, NotPending, AlreadyPosted, AlreadyVoided, Expired (its funds are
            released and that is kept), ValidationError (amount above the pending amount),
            AccountClosed, AccountFrozen, IdempotencyConflict.
        """
        return self._resolve(POST, pending_id, amount, idempotency_key)

    def void(self, pending_id: int, *, idempotency_key: str | None = None) -> Transfer:
        """Cancel a pending transfer and release its funds.

        Raises: NotFound, NotPending, AlreadyPosted, AlreadyVoided, Expired, IdempotencyConflict.
        """
        return self._resolve(VOID, pending_id, None, idempotency_key)

    def expire_due(self) -> int:
        """Release every pending transfer past its timeout; returns how many."""
        with self._ctx.writing() as uow:
            return self._expire(uow, None)

    def pending_transfers(self) -> list[Transfer]:
        """Unresolved pending transfers, oldest first. A read: only when some are past their
        timeout does it take the write lock to release them, and if another writer holds the
        lock they are listed as they are (they are released before any debit is refused)."""
        with self._ctx.reading() as uow:
            pending = uow.transfers.unresolved_pending()
        now = self._ctx.now()
        if not any(t.expires_at is not None and t.expires_at <= now for t in pending):
            return pending
        try:
            self.expire_due()
        except Busy:
            return pending
        with self._ctx.reading() as uow:
            return uow.transfers.unresolved_pending()

    def get_transfer(self, transfer_id: int) -> Transfer:
        """Raises: NotFound."""
        with self._ctx.reading() as uow:
            found = uow.transfers.get(transfer_id) if is_id(transfer_id) else None
        if found is None:
            raise NotFound(f"transfer {transfer_id} does not exist")
        return found

    def statement(self, ref: AccountRef, before_id: int | None = None, limit: int = 100,
                  include_archive: bool = False, *, backward: bool = False, skip: int = 0) -> list[StatementLine]:
        """The account's transfers newest first with the posted balance after each, a page at a
        time: pass the last line's transfer_id as `before_id` for the next page. Archived transfers
        are left out unless `include_archive`. backward: the page of lines newer than `before_id` (the
        oldest page when None), still newest first; skip: leave out that many first (a jump by offset).

        Raises: NotFound, ValidationError (limit, before_id, skip).
        """
        if not 1 <= limit <= 10_000:
            raise ValidationError("limit: must be between 1 and 10000", field="limit")
        if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
            raise ValidationError("skip: must be a whole number, 0 or more", field="skip")
        empty = False  # past either end of the ids: nothing that way, everything the other way
        if before_id is not None:
            if isinstance(before_id, bool) or not isinstance(before_id, int):
                raise ValidationError("before_id: give a transfer id", field="before_id")
            if before_id >= MAX_MINOR:
                empty, before_id = backward, None
            elif before_id < 1:
                empty, before_id = not backward, None
        with self._ctx.reading() as uow:
            account = self._account(uow, ref, "account")
            if empty:
                return []
            return uow.transfers.statement(account.id, before_id, limit, include_archive, backward=backward, skip=skip)

    def count_statement(self, ref: AccountRef, include_archive: bool = False) -> int:
        """How many lines the account's statement has (archived transfers only when asked).

        Raises: NotFound.
        """
        with self._ctx.reading() as uow:
            return uow.transfers.count_statement(self._account(uow, ref, "account").id, include_archive)

    def account_within(self, uow: UnitOfWork, ref: AccountRef, field: str = "account") -> Account:
        """An account by id or name inside the caller's unit of work. Raises: NotFound, ValidationError."""
        return self._account(uow, ref, field)

    def transfer_within(
        self, uow: UnitOfWork, source: AccountRef, target: AccountRef, amount_minor: int, *, idempotency_key: str,
        memo: str = "",
    ) -> Transfer:
        """A posted transfer inside the caller's unit of work, so another service can change both
        ledgers in one transaction (a sale: stock out and payment in, both or neither).

        Raises: as transfer().
        """
        if amount_minor <= 0 or amount_minor > MAX_MINOR:
            raise ValidationError(f"amount: must be between 0.01 and {format_minor(MAX_MINOR)}", field="amount")
        return self._transfer(uow, source, target, _Request(amount_minor, memo, idempotency_key))

    # -- undo by compensation ---------------------------------------------------------------

    def reverse(self, transfer_id: int, reason: str = "") -> Transfer:
        """Undo a transfer without deleting anything: a posted one gets a reversing transfer (the same
        amount back, linked by `reverses_id`, memo naming the original and the reason); a pending one
        is voided. Once per transfer.

        Raises: NotFound, AlreadyReversed, ValidationError (a void or expiry, a pending transfer already
        resolved, a sale's or purchase's payment: undo its stock move), and what transfer() raises
        (the money may have been spent since: insufficient_funds).
        """
        with self._ctx.writing() as uow:
            return self.reverse_within(uow, transfer_id, reason)

    def reverse_within(self, uow: UnitOfWork, transfer_id: int, reason: str = "", *, with_goods: bool = False) -> Transfer:
        """reverse() inside the caller's unit of work; `with_goods` when the caller reverses the stock
        move this transfer pays for in the same transaction."""
        reason = undo_reason(reason)
        original = uow.transfers.get(transfer_id) if is_id(transfer_id) else None
        if original is None:
            raise NotFound(f"transfer {transfer_id!r} does not exist", field="transfer")
        key = undo_key("transfer", original.id)
        done = uow.transfers.get_by_key(key)
        if done is not None:
            raise AlreadyReversed(f"transfer {original.id} was already undone by transfer {done.id}",
                                  reversal_id=done.id)
        if not with_goods:
            goods = uow.stock.paid_by(original.id)
            if goods is not None:
                raise ValidationError(
                    f"transfer {original.id} is the money leg of stock move {goods.id} ({goods.reason}); undo the "
                    "stock move, which reverses the goods and the money together", field="transfer", move_id=goods.id,
                )
        if original.kind in (VOID, EXPIRE):
            raise ValidationError(f"transfer {original.id} only released a reservation ({original.kind}); "
                                  "there is nothing to undo", field="transfer")
        if original.kind == PENDING:
            resolution = uow.transfers.resolution(original.id)
            if resolution is not None:
                raise ValidationError(f"transfer {original.id} was already {resolution.kind}ed by transfer "
                                      f"{resolution.id}; undo that one instead", field="transfer")
            return self._settle(uow, original, VOID, 0, key)
        memo = f"undo of transfer {original.id}" + (f": {reason}" if reason else "")
        request = _Request(original.amount_minor, memo[:500], key)
        return self._transfer(uow, original.credit_account_id, original.debit_account_id, request,
                              reverses_id=original.id)

    # -- internals --------------------------------------------------------------------------

    def _account(self, uow: UnitOfWork, ref: AccountRef, field: str) -> Account:
        if isinstance(ref, bool) or not isinstance(ref, (int, str)):
            raise ValidationError(f"{field}: give an account id or name", field=field)
        if isinstance(ref, int):
            found = uow.accounts.get(ref) if is_id(ref) else None
        else:
            found = uow.accounts.get_by_name(ref.strip())
        if found is None:
            raise NotFound(f"{field}: no account {ref!r}", field=field)
        return found

    def _cash(self, uow: UnitOfWork, currency: str) -> Account:
        cash = uow.accounts.system_account(currency)
        if cash is None:
            cash = uow.accounts.add(NewAccount(f"Cash {currency}", "system", currency, 0))
            self._ctx.audit(uow, "account", cash.id, "open", after=cash)
        return cash

    def _replay(self, uow: UnitOfWork, key: str, expected: dict[str, Any]) -> Transfer | None:
        """The transfer an idempotency key already made, if its request was the same one."""
        return same_request(uow.transfers.get_by_key(key), key, expected, "transfer", "transfer_id")

    def _check_rate(self, uow: UnitOfWork) -> None:
        limit = self.rate_limit
        if limit.max_transfers is None:
            return
        since = utc_iso(self._ctx.clock.now() - timedelta(seconds=limit.window_seconds))
        if uow.transfers.count_by_actor_since(self._ctx.actor, since) >= limit.max_transfers:
            raise RateLimited(
                f"{self._ctx.actor} made {limit.max_transfers} transfers in the last {limit.window_seconds} s; "
                "wait and try again"
            )

    def _transfer(self, uow: UnitOfWork, source: AccountRef, target: AccountRef, data: Any,
                  reverses_id: int | None = None) -> Transfer:
        debit = self._account(uow, source, "source")
        credit = self._account(uow, target, "target")
        kind = PENDING if data.pending else POSTED
        key = data.idempotency_key or str(uuid.uuid4())
        replay = self._replay(uow, key, {"kind": kind, "debit_account_id": debit.id, "credit_account_id": credit.id,
                                         "amount_minor": data.amount, "memo": data.memo})
        if replay is not None:
            if (replay.expires_at is None) != (data.timeout_seconds is None):
                raise IdempotencyConflict(
                    f"idempotency key {key!r} was used for transfer {replay.id} with another timeout",
                    field="idempotency_key", transfer_id=replay.id,
                )
            return replay
        if debit.id == credit.id:
            raise SameAccount(f"{debit.name} cannot pay itself", field="target")
        for role, account in (("source", debit), ("target", credit)):
            if account.deleted_at is not None:
                raise AccountClosed(f"{role}: {account.name} is deleted; restore it first", field=role)
            if account.status == CLOSED:
                raise AccountClosed(f"{role}: {account.name} is closed", field=role)
            if account.status == FROZEN:
                raise AccountFrozen(f"{role}: {account.name} is frozen", field=role)
        if debit.currency != credit.currency:
            raise CurrencyMismatch(
                f"{debit.name} holds {debit.currency} but {credit.name} holds {credit.currency}", field="target"
            )
        self._check_rate(uow)
        expires_at = None
        if data.timeout_seconds is not None:
            expires_at = utc_iso(self._ctx.clock.now() + timedelta(seconds=data.timeout_seconds))
        return self._move(uow, kind, debit, credit, data.amount, data.memo, key, None, expires_at, reverses_id)

    def _move(
        self, uow: UnitOfWork, kind: str, debit: Account, credit: Account, amount: int, memo: str, key: str,
        pending_id: int | None, expires_at: str | None, reverses_id: int | None = None,
    ) -> Transfer:
        for account, side in ((debit, "debits"), (credit, "credits")):
            # Totals are SQL BIGINTs: past 2**63 SQLite would turn them into inexact floats.
            if getattr(account, f"{side}_posted") + getattr(account, f"{side}_pending") + amount > MAX_MINOR:
                raise ValidationError(
                    f"amount: {account.name}'s {side} would exceed {format_minor(MAX_MINOR)}", field="amount"
                )
        field = "debits_pending" if kind == PENDING else "debits_posted"
        debit_after = uow.accounts.apply(debit.id, guard=True, **{field: amount})
        if debit_after is None and self._expire(uow, debit.id):  # released reservations may make room
            debit_after = uow.accounts.apply(debit.id, guard=True, **{field: amount})
        if debit_after is None:
            fresh = uow.accounts.get(debit.id)
            assert fresh is not None
            raise InsufficientFunds(
                f"{debit.name} has {format_minor(fresh.available)} available; {format_minor(amount)} needed",
                field="amount", available=fresh.available,
            )
        credit_field = "credits_pending" if kind == PENDING else "credits_posted"
        credit_after = uow.accounts.apply(credit.id, guard=True, **{credit_field: amount})
        if credit_after is None:  # only if the target closed/froze after we read it
            raise AccountFrozen(f"target: {credit.name} can no longer receive money", field="target")
        transfer = uow.transfers.add(NewTransfer(
            kind, debit.id, credit.id, amount, debit.currency, pending_id, expires_at, memo, key,
            self._ctx.actor, self._ctx.now(), debit_after, credit_after, reverses_id,
        ))
        self._ctx.audit(uow, "transfer", transfer.id, kind, after=transfer, request_key=key)
        return transfer

    def _resolve(self, kind: str, pending_id: int, amount: str | int | None, idempotency_key: str | None) -> Transfer:
        v = validation()
        key = v.validate(v.TransferInput, {"amount": 1, "idempotency_key": idempotency_key}).idempotency_key
        expired = False
        with self._ctx.writing() as uow:
            pending = uow.transfers.get(pending_id) if is_id(pending_id) else None
            if pending is None:
                raise NotFound(f"transfer {pending_id!r} does not exist", field="pending_id")
            post_amount = pending.amount_minor if amount is None or kind == VOID else _transfer_data(amount, "", None).amount
            if key is not None:
                replay = self._replay(uow, key, {"kind": kind, "pending_id": pending.id, "amount_minor": post_amount})
                if replay is not None:
                    return replay
            if pending.kind != PENDING:
                raise NotPending(f"transfer {pending.id} is not a pending transfer (it is {pending.kind})")
            resolution = uow.transfers.resolution(pending.id)
            if resolution is not None:
                raise {POST: AlreadyPosted, VOID: AlreadyVoided, EXPIRE: Expired}[resolution.kind](
                    f"transfer {pending.id} was already {resolution.kind}ed"
                    if resolution.kind != EXPIRE else f"transfer {pending.id} expired at {pending.expires_at}"
                )
            if pending.expires_at is not None and self._ctx.now() >= pending.expires_at:
                self._settle(uow, pending, EXPIRE, 0, _expire_key(pending.id))
                expired = True
            else:
                if post_amount > pending.amount_minor:
                    raise ValidationError(
                        f"amount: {format_minor(post_amount)} is more than the {format_minor(pending.amount_minor)} reserved",
                        field="amount",
                    )
                return self._settle(uow, pending, kind, post_amount if kind == POST else 0,
                                    key or str(uuid.uuid4()))
        assert expired
        raise Expired(f"transfer {pending_id} expired at {pending.expires_at}; its funds were released")

    def _settle(self, uow: UnitOfWork, pending: Transfer, kind: str, posted: int, key: str) -> Transfer:
        """Release the reservation and post `posted` of it (0 for void and expire)."""
        reserved = pending.amount_minor
        debit_after = uow.accounts.apply(pending.debit_account_id, debits_pending=-reserved, debits_posted=posted,
                                         guard=kind == POST)
        credit_after = uow.accounts.apply(pending.credit_account_id, credits_pending=-reserved, credits_posted=posted,
                                          guard=kind == POST)
        if debit_after is None or credit_after is None:
            for account_id in (pending.debit_account_id, pending.credit_account_id):
                account = uow.accounts.get(account_id)
                if account is not None and account.status != OPEN:
                    error = AccountClosed if account.status == CLOSED else AccountFrozen
                    raise error(f"{account.name} is {account.status}; void the transfer instead")
            raise InsufficientFunds("the accounts no longer allow this post")
        transfer = uow.transfers.add(NewTransfer(
            kind, pending.debit_account_id, pending.credit_account_id, posted if kind == POST else reserved,
            pending.currency, pending.id, None, pending.memo, key, self._ctx.actor, self._ctx.now(),
            debit_after, credit_after,
        ))
        self._ctx.audit(uow, "transfer", transfer.id, kind, after=transfer, request_key=key)
        return transfer

    def _expire(self, uow: UnitOfWork, account_id: int | None) -> int:
        due = uow.transfers.unresolved_pending(expired_before=self._ctx.now())
        count = 0
        for pending in due:
            if account_id is None or pending.debit_account_id == account_id:
                self._settle(uow, pending, EXPIRE, 0, _expire_key(pending.id))
                count += 1
        return count


def _holds_nothing(a: Account, action: str) -> None:
    """Closing or deleting an account must not hide money. Raises: ValidationError."""
    if a.balance or a.debits_pending or a.credits_pending:
        raise ValidationError(
            f"{a.name} still holds {format_minor(a.balance)} ({format_minor(a.debits_pending + a.credits_pending)}"
            f" pending); move it out before you {action} it", field="balance",
        )


def undo_key(entity: str, entity_id: int) -> str:
    """The idempotency key of the entry that undoes another: at most one reversal per entry."""
    return f"undo:{entity}:{entity_id}"


def undo_reason(reason: str) -> str:
    if not isinstance(reason, str) or len(reason) > 200 or not reason.isprintable():
        raise ValidationError("reason: at most 200 printable characters", field="reason")
    return reason.strip()


def _for_item(error: DomainError, index: int) -> DomainError:
    """The same error, naming the batch item that failed."""
    named = type(error)(f"item {index}: {error.message}", field=error.field, row=error.row, **error.details)
    named.details["index"] = index
    return named
