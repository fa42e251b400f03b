"""In-memory data lifecycle: archived ledger rows stay in their dicts and are marked archived (reads
that include the archive see everything; live-only reads skip them); audit entries move to the
archive list. As-of replays the rows up to a moment, the way the SQL stores aggregate them."""

from __future__ import annotations

from domain.model.bank import MOVES_POSTED, PENDING, LedgerTotals
from domain.model.stock import PENDING as MOVE_PENDING
from domain.model.stock import POSTED as MOVE_POSTED
from domain.model.stock import RECEIVED, StockLevel
from storage.memory.base import Repo


class MemoryLifecycle(Repo):
    def archive_batch(self, before: str, limit: int) -> tuple[int, int, int]:
        d = self._data
        moves = self._batch(d.moves, d.move_resolutions, d.archived_moves, before, limit, lambda m: True)
        live_payments = {m.transfer_id for m in d.moves.values() if m.id not in d.archived_moves and m.transfer_id}
        transfers = self._batch(d.transfers, d.resolutions, d.archived_transfers, before, limit,
                                lambda t: t.id not in live_payments)
        count = 0  # times strictly increase, so the old entries are the first ones
        while count < min(limit, len(d.audit)) and d.audit[count].at < before:
            count += 1
        moved = d.audit[:count]
        if moved:
            d.audit_archive.extend(moved)
            del d.audit[:count]

            def put_back() -> None:
                del d.audit_archive[-len(moved):]
                d.audit[0:0] = moved

            self._undo.ops.append(put_back)
        return transfers, moves, count

    def _batch(self, rows: dict, resolutions: dict, archived: set, before: str, limit: int, allowed) -> int:
        def resolved_in_time(row) -> bool:
            done = resolutions.get(row.id)
            return done is not None and rows[done].created_at < before

        chosen: list[int] = []
        for row in sorted(rows.values(), key=lambda r: r.id):
            if len(chosen) >= limit:
                break
            if row.id in archived or row.created_at >= before or not allowed(row):
                continue
            if row.kind in (PENDING, MOVE_PENDING) and not resolved_in_time(row):
                continue
            chosen.append(row.id)
        batch = set(chosen)
        batch |= {resolutions[i] for i in chosen if i in resolutions}
        for row_id in batch - archived:
            archived.add(row_id)
            self._undo.ops.append(lambda row_id=row_id: archived.discard(row_id))
        return len(batch)

    def last_ids(self) -> tuple[int, int]:
        return max(self._data.transfers, default=0), max(self._data.moves, default=0)

    def balances_asof(self, at: str, inclusive: bool = True, through_id: int | None = None) -> dict[int, LedgerTotals]:
        rows = [t for t in self._data.transfers.values() if _existed(t, at, inclusive, through_id)]
        resolved = {t.pending_id for t in rows if t.pending_id is not None}
        totals: dict[int, list[int]] = {}
        for t in rows:
            debit = totals.setdefault(t.debit_account_id, [0, 0, 0, 0])
            credit = totals.setdefault(t.credit_account_id, [0, 0, 0, 0])
            if t.kind in MOVES_POSTED:
                debit[0] += t.amount_minor
                credit[1] += t.amount_minor
            elif t.kind == PENDING and t.id not in resolved:
                debit[2] += t.amount_minor
                credit[3] += t.amount_minor
        return {account: LedgerTotals(*v) for account, v in totals.items()}

    def levels_asof(self, at: str, inclusive: bool = True, through_id: int | None = None) -> list[StockLevel]:
        rows = [m for m in self._data.moves.values() if _existed(m, at, inclusive, through_id)]
        resolved = {m.pending_id for m in rows if m.pending_id is not None}
        internal = {loc.id for loc in self._data.locations.values() if loc.internal}
        levels: dict[tuple[int, int], list[int]] = {}

        def add(product: int, location: int, on_hand: int = 0, incoming: int = 0, outgoing: int = 0) -> None:
            if location in internal:
                level = levels.setdefault((product, location), [0, 0, 0])
                level[0] += on_hand
                level[1] += incoming
                level[2] += outgoing

        for m in rows:
            if m.kind in (MOVE_POSTED, RECEIVED):
                add(m.product_id, m.from_location_id, on_hand=-m.quantity)
                add(m.product_id, m.to_location_id, on_hand=m.quantity)
            elif m.kind == MOVE_PENDING and m.id not in resolved:
                add(m.product_id, m.from_location_id, outgoing=m.quantity)
                add(m.product_id, m.to_location_id, incoming=m.quantity)
        return [StockLevel(p, loc, *v) for (p, loc), v in sorted(levels.items()) if any(v)]


def _existed(row, at: str, inclusive: bool, through_id: int | None) -> bool:
    if through_id is not None:
        return row.id <= through_id
    return row.created_at <= at if inclusive else row.created_at < at
