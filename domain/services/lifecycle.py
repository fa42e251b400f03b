"""Data lifecycle use cases: archiving old ledger rows and audit entries batch by batch, and time
travel: balances and stock as of any past moment or simulated day, rebuilt from the ledgers.

Balances never depend on the archive: accounts and stock levels keep running totals, and the
archive only moves the rows that explain them. As-of reads both, so it reaches back past the cut.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from typing import NamedTuple

from domain.clock import moment_prefix
from domain.errors import ValidationError
from domain.model import AuditQuery
from domain.model.bank import Account
from domain.model.stock import StockLevel
from domain.services.context import ServiceContext

BATCH_MAX = 100_000
_DAY = re.compile(r"^day[\s:]*(\d{1,9})$", re.IGNORECASE)


class ArchiveReport(NamedTuple):
    """What `archive` moved, and in how many transactions."""

    before: str
    transfers: int
    moves: int
    audit: int
    batches: int


class Moment(NamedTuple):
    """A point in the past the ledgers can be read at: rows created at or before `at` count (before
    it, when not `inclusive`). `label` says it in words for a screen."""

    at: str
    inclusive: bool
    label: str
    transfer_id: int | None = None  # when set (a simulated day's end), rows up to these ids count instead
    move_id: int | None = None


class LifecycleService:
    """Archive and time travel for one tenant."""

    def __init__(self, ctx: ServiceContext):
        self._ctx = ctx

    def archive(self, before: str, *, batch_size: int = 5000,
                progress: Callable[[ArchiveReport], None] | None = None) -> ArchiveReport:
        """Move transfers, stock moves and audit entries older than `before` (a date or time, UTC) into
        the archive tables, `batch_size` rows of each per transaction, each batch with its own audit
        entry. A pending transfer or move goes only with its resolution; balances are untouched.

        Raises: ValidationError (a bad or future date, a batch size outside 1..100000), Busy.
        """
        cut = moment_prefix(before, "before")
        if cut > self._ctx.now():
            raise ValidationError(f"before: {before!r} is in the future; only the past can be archived", field="before")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or not 0 < batch_size <= BATCH_MAX:
            raise ValidationError(f"batch_size: must be 1-{BATCH_MAX}", field="batch_size")
        report = ArchiveReport(cut, 0, 0, 0, 0)
        while True:
            with self._ctx.writing() as uow:
                transfers, moves, audit = uow.lifecycle.archive_batch(cut, batch_size)
                if not (transfers or moves or audit):
                    return report
                self._ctx.audit(uow, "archive", cut, "archive",
                                after={"before": cut, "transfers": transfers, "moves": moves, "audit": audit})
            report = ArchiveReport(cut, report.transfers + transfers, report.moves + moves, report.audit + audit,
                                   report.batches + 1)
            if progress is not None:
                progress(report)

    def moment(self, when: str) -> Moment:
        """Read a past moment: a date (the end of that day, UTC), a time, `now`, or `day N` (the end of
        simulated day N: just before day N+1 began). Raises: ValidationError."""
        text = when.strip() if isinstance(when, str) else ""
        if text.lower() == "now":
            return Moment(self._ctx.now(), True, "now")
        day = _DAY.match(text)
        if day is None:
            stamp = moment_prefix(text, "when")
            return Moment(stamp + "~", True, f"{stamp.replace('T', ' ')} UTC")  # "~" sorts after any time it prefixes
        n = int(day.group(1))
        with self._ctx.reading() as uow:
            today = uow.game.get().day
            if n > today:
                raise ValidationError(f"when: day {n} has not happened yet (the shop is on day {today})", field="when")
            start = _day_start(uow, n + 1)
        if start is None:
            return Moment(self._ctx.now(), True, f"day {n} (today)")
        return Moment(start.at, False, f"end of day {n}", *start.ids)

    def balances_asof(self, when: str | Moment) -> list[Account]:
        """Every account (deleted ones too: they may have held money then) with its totals as they were
        at `when` (text, or a Moment already read), ordered by name. Raises: ValidationError."""
        moment = when if isinstance(when, Moment) else self.moment(when)
        with self._ctx.reading() as uow:
            totals = uow.lifecycle.balances_asof(moment.at, moment.inclusive, moment.transfer_id)
            accounts = uow.accounts.list(include_deleted=True)
        zero = (0, 0, 0, 0)
        return [
            replace(a, debits_posted=t[0], credits_posted=t[1], debits_pending=t[2], credits_pending=t[3])
            for a in accounts
            for t in [totals.get(a.id, zero)]
        ]

    def stock_asof(self, when: str | Moment) -> list[StockLevel]:
        """Stock per product and internal location as it was at `when` (text, or a Moment already
        read; zero levels left out), by product then location. Raises: ValidationError."""
        moment = when if isinstance(when, Moment) else self.moment(when)
        with self._ctx.reading() as uow:
            return uow.lifecycle.levels_asof(moment.at, moment.inclusive, moment.move_id)


class _DayStart(NamedTuple):
    at: str
    ids: tuple[int | None, int | None]  # the newest transfer and move ids before the day began


def _day_start(uow, day: int) -> _DayStart | None:
    """When simulated `day` began: its transaction's first audit entry, which names the newest ledger
    ids at that moment (entries written before that was recorded only have their time)."""
    before = None
    while page := uow.audit.page(AuditQuery(entity="game", action="advance"), before, 500):
        for entry in page:
            if entry.entity_id == str(day):
                after = json.loads(entry.after or "{}")
                return _DayStart(entry.at, (after.get("last_transfer_id"), after.get("last_move_id")))
        before = page[-1].id
    return None
