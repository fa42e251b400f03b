"""sqlite3 data lifecycle: moving old ledger rows and audit entries into the archive tables, and
reconstructing balances and stock levels as of a past moment from both ledgers (live + archive)."""

from __future__ import annotations

from domain.model.bank import LedgerTotals
from domain.model.stock import StockLevel
from storage.sqlite.repositories import _Repo

_TRANSFER_COLS = (
    "id, tenant_id, kind, debit_account_id, credit_account_id, amount_minor, currency, pending_id, expires_at, memo,"
    " idempotency_key, actor, created_at, debit_balance_after, credit_balance_after, reverses_id"
)
_MOVE_COLS = (
    "id, tenant_id, kind, reason, product_id, from_location_id, to_location_id, quantity, pending_id, transfer_id,"
    " due_day, day, memo, idempotency_key, actor, created_at, from_after, to_after, reverses_id"
)
_AUDIT_COLS = "id, tenant_id, at, actor, entity, entity_id, action, before, after, request_key, prev_hash, hash"

# A pending row is old enough only once its resolution is too (a live reservation stays live); a batch
# takes a pending row's resolution along, so no live row ever points at an archived one.
_ELIGIBLE = (
    "SELECT id FROM {table} t WHERE tenant_id = :tenant AND created_at < :before"
    " AND (kind <> 'pending' OR EXISTS (SELECT 1 FROM {table} r WHERE r.pending_id = t.id AND r.created_at < :before))"
    " {extra} ORDER BY id LIMIT :limit"
)
# A transfer stays while a live stock move points at it (the move is archived first, or in the same run).
_TRANSFER_EXTRA = "AND NOT EXISTS (SELECT 1 FROM stock_moves m WHERE m.transfer_id = t.id)"


class SqliteLifecycle(_Repo):
    def archive_batch(self, before: str, limit: int) -> tuple[int, int, int]:
        moves = self._move_rows("stock_moves", _MOVE_COLS, before, limit, "")
        transfers = self._move_rows("transfers", _TRANSFER_COLS, before, limit, _TRANSFER_EXTRA)
        audit = self._new_batch(
            "SELECT id FROM audit_log WHERE tenant_id = :tenant AND at < :before ORDER BY id LIMIT :limit",
            {"tenant": self._tenant, "before": before, "limit": limit},
        )
        if audit:
            self._run(f"INSERT INTO audit_log_archive ({_AUDIT_COLS}) SELECT {_AUDIT_COLS} FROM audit_log"
                      " WHERE id IN (SELECT id FROM archive_batch) ORDER BY id")
            self._run("DELETE FROM audit_log WHERE id IN (SELECT id FROM archive_batch)")
        return transfers, moves, audit

    def _new_batch(self, select_ids: str, params: dict) -> int:
        """Fill the connection's temp table `archive_batch` with the ids a query picks; returns how many."""
        self._run("CREATE TEMP TABLE IF NOT EXISTS archive_batch (id INTEGER PRIMARY KEY)")
        self._run("DELETE FROM archive_batch")
        self._run(f"INSERT INTO archive_batch {select_ids}", params)
        return self._run("SELECT count(*) FROM archive_batch").fetchone()[0]

    def _move_rows(self, table: str, cols: str, before: str, limit: int, extra: str) -> int:
        """Copy one batch of `table` into its archive and delete it; returns how many rows moved."""
        params = {"tenant": self._tenant, "before": before, "limit": limit}
        self._new_batch(_ELIGIBLE.format(table=table, extra=extra), params)
        # Resolutions of the batch's pending rows come along (they are old enough: see _ELIGIBLE).
        self._run(f"INSERT OR IGNORE INTO archive_batch SELECT id FROM {table}"
                  " WHERE pending_id IN (SELECT id FROM archive_batch)")
        count = self._run("SELECT count(*) FROM archive_batch").fetchone()[0]
        if count:
            self._run(f"INSERT INTO {table}_archive ({cols}) SELECT {cols} FROM {table}"
                      " WHERE id IN (SELECT id FROM archive_batch) ORDER BY id")
            # Resolutions first: they point at their pending rows.
            self._run(f"DELETE FROM {table} WHERE id IN (SELECT id FROM archive_batch) AND pending_id IS NOT NULL")
            self._run(f"DELETE FROM {table} WHERE id IN (SELECT id FROM archive_batch)")
        return count

    def last_ids(self) -> tuple[int, int]:
        return tuple(  # type: ignore[return-value]
            max(self._run(f"SELECT COALESCE(MAX(id), 0) FROM {t} WHERE tenant_id = ?", (self._tenant,)).fetchone()[0]
                for t in (table, f"{table}_archive"))
            for table in ("transfers", "stock_moves")
        )

    def balances_asof(self, at: str, inclusive: bool = True, through_id: int | None = None) -> dict[int, LedgerTotals]:
        upto = _upto(inclusive, through_id)
        rows = self._run(
            "WITH t AS ("
            f" SELECT id, kind, debit_account_id AS d, credit_account_id AS c, amount_minor AS a, pending_id FROM transfers"
            f" WHERE tenant_id = :tenant AND {upto}"
            " UNION ALL"
            f" SELECT id, kind, debit_account_id, credit_account_id, amount_minor, pending_id FROM transfers_archive"
            f" WHERE tenant_id = :tenant AND {upto}),"
            " open_pending AS (SELECT * FROM t WHERE kind = 'pending'"
            "  AND id NOT IN (SELECT pending_id FROM t WHERE pending_id IS NOT NULL)),"
            " legs (account, dp, cp, dq, cq) AS ("
            "  SELECT d, a, 0, 0, 0 FROM t WHERE kind IN ('posted', 'post')"
            "  UNION ALL SELECT c, 0, a, 0, 0 FROM t WHERE kind IN ('posted', 'post')"
            "  UNION ALL SELECT d, 0, 0, a, 0 FROM open_pending"
            "  UNION ALL SELECT c, 0, 0, 0, a FROM open_pending)"
            " SELECT account, SUM(dp), SUM(cp), SUM(dq), SUM(cq) FROM legs GROUP BY account",
            {"tenant": self._tenant, "at": at, "through": through_id},
        )
        return {r[0]: LedgerTotals(*r[1:]) for r in rows}

    def levels_asof(self, at: str, inclusive: bool = True, through_id: int | None = None) -> list[StockLevel]:
        upto = _upto(inclusive, through_id)
        rows = self._run(
            "WITH m AS ("
            " SELECT id, kind, product_id AS p, from_location_id AS f, to_location_id AS t, quantity AS q, pending_id"
            f" FROM stock_moves WHERE tenant_id = :tenant AND {upto}"
            " UNION ALL"
            " SELECT id, kind, product_id, from_location_id, to_location_id, quantity, pending_id"
            f" FROM stock_moves_archive WHERE tenant_id = :tenant AND {upto}),"
            " open_pending AS (SELECT * FROM m WHERE kind = 'pending'"
            "  AND id NOT IN (SELECT pending_id FROM m WHERE pending_id IS NOT NULL)),"
            " legs (p, loc, on_hand, incoming, outgoing) AS ("
            "  SELECT p, f, -q, 0, 0 FROM m WHERE kind IN ('posted', 'received')"
            "  UNION ALL SELECT p, t, q, 0, 0 FROM m WHERE kind IN ('posted', 'received')"
            "  UNION ALL SELECT p, f, 0, 0, q FROM open_pending"
            "  UNION ALL SELECT p, t, 0, q, 0 FROM open_pending)"
            " SELECT legs.p, legs.loc, SUM(on_hand), SUM(incoming), SUM(outgoing) FROM legs"
            " JOIN locations l ON l.id = legs.loc AND l.kind = 'internal'"
            " GROUP BY legs.p, legs.loc HAVING SUM(on_hand) <> 0 OR SUM(incoming) <> 0 OR SUM(outgoing) <> 0"
            " ORDER BY legs.p, legs.loc",
            {"tenant": self._tenant, "at": at, "through": through_id},
        )
        return [StockLevel(*r) for r in rows]


def _upto(inclusive: bool, through_id: int | None) -> str:
    """Which rows existed then: by id when the boundary is a row id (ids follow commit order), else by time."""
    if through_id is not None:
        return "id <= :through"
    return "created_at <= :at" if inclusive else "created_at < :at"
