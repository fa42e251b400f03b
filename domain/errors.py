"""Every refusal the domain makes: a DomainError subclass with a stable snake_case `.code`.

Codes are an API: scripts, the CLI's exit status and the TUI's messages depend on them.
Add new ones; never rename one.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A refusal with a stable code and a human message; nothing was changed."""

    code: ClassVar[str] = "error"

    def __init__(self, message: str, *, field: str | None = None, row: int | None = None, **details: Any):
        super().__init__(message)
        self.message = message
        self.field = field
        self.row = row
        self.details = details

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """The error as plain data, for `--json` output."""
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            data["field"] = self.field
        if self.row is not None:
            data["row"] = self.row
        if self.details:
            data["details"] = self.details
        return data


class ValidationError(DomainError):
    code = "validation"


class NotFound(DomainError):
    code = "not_found"


class AlreadyExists(DomainError):
    code = "already_exists"


class VersionConflict(DomainError):
    code = "version_conflict"


class InUse(DomainError):
    """The thing is still referenced (a category with products or subcategories)."""

    code = "in_use"


class IdempotencyConflict(DomainError):
    """The idempotency key was used before for a different request."""

    code = "idempotency_conflict"


class SameAccount(DomainError):
    code = "same_account"


class InsufficientFunds(DomainError):
    code = "insufficient_funds"


class AccountClosed(DomainError):
    code = "account_closed"


class AccountFrozen(DomainError):
    code = "account_frozen"


class CurrencyMismatch(DomainError):
    code = "currency_mismatch"


class RateLimited(DomainError):
    code = "rate_limited"


class NotPending(DomainError):
    """Post or void of a transfer that is not a pending one."""

    code = "not_pending"


class AlreadyPosted(DomainError):
    code = "already_posted"


class AlreadyVoided(DomainError):
    code = "already_voided"


class Expired(DomainError):
    """The pending transfer passed its timeout; its funds were released."""

    code = "expired"


class InsufficientStock(DomainError):
    """A move would take a location below zero on hand; stock is never clamped."""

    code = "insufficient_stock"


class SameLocation(DomainError):
    code = "same_location"


class AlreadyReceived(DomainError):
    code = "already_received"


class AlreadyCancelled(DomainError):
    code = "already_cancelled"


class AlreadyReversed(DomainError):
    """Undo by compensation happens once per entry: the reversing entry already exists."""

    code = "already_reversed"


class Busy(DomainError):
    """The store stayed locked by another writer for longer than the busy timeout."""

    code = "busy"


class Corrupt(DomainError):
    code = "corrupt"


class UnsupportedVersion(DomainError):
    code = "unsupported_version"


class Tampered(DomainError):
    """A signed file whose signature does not match its bytes (edited, or signed by another installation)."""

    code = "tampered"


class TooLarge(DomainError):
    code = "too_large"


class StorageError(DomainError):
    """A storage failure that is none of the above (disk full, permissions, ...)."""

    code = "storage"


class CacheUnavailable(StorageError):
    """The cache named by --cache (a Redis server) does not answer; raised when the store is opened."""

    code = "cache_unavailable"


def all_codes() -> dict[str, type[DomainError]]:
    """Every code defined here, for the README table and the CLI's help."""
    found: dict[str, type[DomainError]] = {}
    stack = [DomainError]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            found[sub.code] = sub
            stack.append(sub)
    return found
