"""SQLAlchemy save/load of a tenant's whole books (the SnapshotRepository port): one SELECT per table to
dump, and a replace that deletes the tenant's rows and inserts the renumbered snapshot with
executemany, in the caller's transaction.

Foreign keys are checked as each statement ends (PostgreSQL's are not deferrable), so the replace
orders its writes: categories go in without parents, which are set once all exist; attachments to
keep stay on their old product, parked under a SKU no product can have, until the loaded product of
the same SKU exists; every other old product takes its attachments along (ON DELETE CASCADE).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    String, bindparam, cast, column, delete, func, literal, literal_column, select, table, union_all, update,
)

from domain.clock import utc_iso
from domain.model.snapshot import ProductPlan, TenantSnapshot
from domain.model.stock import GameState
from domain.model.users import User
from storage.renumbering import Renumbered, field_names, renumber
from storage.sqlalchemy.bank import ACCOUNT_COLUMNS, to_account, to_transfer, transfer_columns
from storage.sqlalchemy.base import SqlAlchemyRepo
from storage.sqlalchemy.catalog import (
    _CATEGORY_COLS, _PRODUCT_COLS, _USER_COLS, _dialect_insert, category, product, user,
)
from storage.sqlalchemy.lifecycle import chunks, greatest
from storage.sqlalchemy.stock import (
    SqlAlchemyGame, level_columns, location, location_columns, move_columns, stock_level, stock_move,
)
from storage.sqlalchemy.tables import (
    AccountRow,
    AttachmentRow,
    CategoryRow,
    GameStateRow,
    LocationRow,
    ProductRow,
    StockLevelRow,
    StockMoveArchiveRow,
    StockMoveRow,
    TransferArchiveRow,
    TransferRow,
    UserRow,
)

# Each kind's tables: the live one (its id sequence) and, for the ledgers, its archive.
_TABLES: dict[str, tuple[Any, ...]] = {
    "category": (CategoryRow,),
    "product": (ProductRow,),
    "account": (AccountRow,),
    "transfer": (TransferRow, TransferArchiveRow),
    "location": (LocationRow,),
    "move": (StockMoveRow, StockMoveArchiveRow),
}
_COUNTED = {"categories": "category", "products": "product", "accounts": "account", "transfers": "transfer",
            "locations": "location", "stock_moves": "move"}  # TenantSnapshot.counts() label -> kind
# Children before parents (the ledgers before their accounts and locations, products before categories).
_DELETE_ORDER = (StockLevelRow, StockMoveRow, StockMoveArchiveRow, TransferRow, TransferArchiveRow, AccountRow,
                 ProductRow, CategoryRow, LocationRow)
_SQLITE_SEQUENCE = table("sqlite_sequence", column("name"), column("seq"))
_PARKED = "#"  # a SKU prefix no product can have (SKUs start with a letter or digit)


class SqlAlchemySnapshot(SqlAlchemyRepo):
    """The tenant's books as one TenantSnapshot, and a replace in the caller's transaction."""

    def _count(self, row: Any) -> Any:
        return select(func.count()).select_from(row).where(row.tenant_id == self._tenant).scalar_subquery()

    def counts(self) -> dict[str, int]:
        """Live and archived rows alike, as TenantSnapshot.counts() names them (one statement)."""
        totals = [sum((self._count(r) for r in _TABLES[kind][1:]), self._count(_TABLES[kind][0]))
                  for kind in _COUNTED.values()]
        return dict(zip(_COUNTED, self._execute(select(*totals)).one()))

    def dump(self) -> TenantSnapshot:
        """Every row of the tenant in id order, archived ledger rows included (flagged by a column)."""
        def rows(*cols: Any, order: tuple[Any, ...] | None = None) -> list[Any]:
            owner = cols[0].class_
            tenant = owner.tenant_id == self._tenant if order else self._tenant_in_id_order(owner)
            stmt = select(*cols).where(tenant).order_by(*(order or (owner.id,)))
            return self._execute(stmt).all()

        products = rows(*_PRODUCT_COLS, ProductRow.cost_minor, ProductRow.reorder_level)
        transfers, archived_transfers = self._ledger(TransferRow, TransferArchiveRow, transfer_columns)
        moves, archived_moves = self._ledger(StockMoveRow, StockMoveArchiveRow, move_columns)
        return TenantSnapshot(
            categories=tuple(category(r) for r in rows(*_CATEGORY_COLS)),
            products=tuple(product(r[:9]) for r in products),
            plans=tuple(ProductPlan(r[0], r[9], r[10]) for r in products),
            accounts=tuple(to_account(r) for r in rows(*ACCOUNT_COLUMNS)),
            transfers=tuple(to_transfer(r) for r in transfers),
            archived_transfer_ids=archived_transfers,
            locations=tuple(location(r) for r in rows(*location_columns())),
            levels=tuple(stock_level(r) for r in rows(*level_columns(),
                                                      order=(StockLevelRow.product_id, StockLevelRow.location_id))),
            moves=tuple(stock_move(r) for r in moves),
            archived_move_ids=archived_moves,
            game=SqlAlchemyGame(self._session, self._tenant, self._dialect).get(),
            users=tuple(user(r) for r in rows(*_USER_COLS)),
        )

    def _ledger(self, live: Any, archive: Any, columns: Any) -> tuple[list[Any], frozenset[int]]:
        """A ledger's live and archived rows in id order (without the flag), and the ids of the archived ones."""
        both = union_all(
            select(*columns(live), literal_column("0").label("archived")).where(self._tenant_in_id_order(live)),
            select(*columns(archive), literal_column("1").label("archived")).where(self._tenant_in_id_order(archive)),
        ).subquery()
        found = self._execute(select(both).order_by(both.c.id)).all()
        return [r[:-1] for r in found], frozenset(r[0] for r in found if r[-1])

    def replace(self, snapshot: TenantSnapshot) -> None:
        """Renumber past every id the database ever gave out, then delete the tenant's books and insert
        the snapshot's; attachments follow their product's SKU; users merge by name; the audit log stays.

        Raises: Corrupt (a reference to a row not in the snapshot, before anything is written), StorageError.
        """
        new = renumber(snapshot, self._next_free())
        kept = self._park_attachments({v[1]: v[0] for v in new.rows["product"]})  # sku -> new id
        self._delete()
        self._insert(new)
        attachments = AttachmentRow.__table__
        self._executemany(update(attachments)
                          .where(attachments.c.tenant_id == self._tenant, attachments.c.id == bindparam("attachment"))
                          .values(product_id=bindparam("product")), kept)
        self._execute(delete(ProductRow).where(ProductRow.tenant_id == self._tenant, _parked()))
        self._merge_users(snapshot.users)
        self._save_game(snapshot.game)
        self._bump_sequences(new.top)

    def _executemany(self, stmt: Any, params: list[dict[str, Any]]) -> None:
        if params:
            self._execute(stmt, params)

    def _sequence_state(self, name: str) -> Any:
        """The highest id the live table's sequence handed out (NULL when none)."""
        if self._pg:
            from sqlalchemy.dialects.postgresql import REGCLASS

            return func.pg_sequence_last_value(cast(func.pg_get_serial_sequence(name, "id"), REGCLASS))
        return select(_SQLITE_SEQUENCE.c.seq).where(_SQLITE_SEQUENCE.c.name == name).scalar_subquery()

    def _next_free(self) -> dict[str, int]:
        """Per kind, one above every id ever handed out: the sequence, the live and archived rows. Ids are
        shared by all tenants, so these maxima are deliberately not scoped by tenant."""
        tops = [greatest(self._pg, self._sequence_state(rows[0].__tablename__),
                         *(select(func.max(r.id)).scalar_subquery() for r in rows)) + 1
                for rows in _TABLES.values()]
        return dict(zip(_TABLES, self._execute(select(*tops)).one()))

    def _park_attachments(self, product_by_sku: dict[str, int]) -> list[dict[str, int]]:
        """Keep each attachment whose product's SKU is loaded: its old product stays, under a parked SKU and
        without a category, until the attachment is re-pointed. Returns the re-pointings."""
        found = self._execute(
            select(AttachmentRow.id, ProductRow.id, ProductRow.sku)
            .join(ProductRow, ProductRow.id == AttachmentRow.product_id)
            .where(AttachmentRow.tenant_id == self._tenant, ProductRow.tenant_id == self._tenant)
        ).all()
        kept = [{"attachment": a, "product": product_by_sku[sku]} for a, _, sku in found if sku in product_by_sku]
        parked = sorted({p for _, p, sku in found if sku in product_by_sku})
        for chunk in chunks(parked):
            self._execute(update(ProductRow).where(ProductRow.tenant_id == self._tenant, ProductRow.id.in_(chunk))
                          .values(sku=literal(_PARKED) + cast(ProductRow.id, String), category_id=None))
        return kept

    def _delete(self) -> None:
        """Every row of the tenant's books, archives included, but the parked products (users, audit log,
        game state and attachments stay; the attachments of deleted products go with them)."""
        for row in _DELETE_ORDER:
            where = [row.tenant_id == self._tenant]
            if row is CategoryRow:  # ON DELETE RESTRICT acts row by row, even within one statement
                self._execute(update(CategoryRow).where(*where, CategoryRow.parent_id.is_not(None))
                              .values(parent_id=None))
            if row is ProductRow:
                where.append(~_parked())
            self._execute(delete(row).where(*where))

    def _insert(self, new: Renumbered) -> None:
        """The renumbered rows, each ledger split between its live table and its archive; categories get
        their parents once all of them exist."""
        rows = new.rows
        plans = {product_id: (cost, reorder) for product_id, cost, reorder in rows["plan"]}
        transfers = [v for v in rows["transfer"] if v[0] not in new.archived_transfer_ids]
        archived_transfers = [v for v in rows["transfer"] if v[0] in new.archived_transfer_ids]
        moves = [v for v in rows["move"] if v[0] not in new.archived_move_ids]
        archived_moves = [v for v in rows["move"] if v[0] in new.archived_move_ids]
        parent = field_names("category").index("parent_id")
        self._insert_rows(CategoryRow, "category", [[*v[:parent], None, *v[parent + 1:]] for v in rows["category"]])
        self._insert_rows(ProductRow, "product", [[*v, *plans.get(v[0], (0, 0))] for v in rows["product"]],
                          ("cost_minor", "reorder_level"))
        self._insert_rows(AccountRow, "account", rows["account"])
        self._insert_rows(TransferRow, "transfer", transfers)
        self._insert_rows(TransferArchiveRow, "transfer", archived_transfers)
        self._insert_rows(LocationRow, "location", rows["location"])
        self._insert_rows(StockLevelRow, "level", rows["level"])
        self._insert_rows(StockMoveRow, "move", moves)
        self._insert_rows(StockMoveArchiveRow, "move", archived_moves)
        categories = CategoryRow.__table__
        self._executemany(
            update(categories).where(categories.c.tenant_id == self._tenant, categories.c.id == bindparam("category"))
            .values(parent_id=bindparam("parent")),
            [{"category": v[0], "parent": v[parent]} for v in rows["category"] if v[parent] is not None],
        )

    def _insert_rows(self, row: Any, kind: str, values: list[list[Any]], more_columns: tuple[str, ...] = ()) -> None:
        """executemany over value lists in field order (the columns are named like the fields)."""
        names = ("tenant_id", *field_names(kind), *more_columns)
        tenant = self._tenant
        self._executemany(row.__table__.insert(), [dict(zip(names, (tenant, *v))) for v in values])

    def _merge_users(self, users: tuple[User, ...]) -> None:
        """Users of the snapshot that the tenant lacks, in their snapshot order; existing rows stay."""
        now = utc_iso(datetime.now(timezone.utc))  # only for a user recorded without a time (schema 0001)
        stmt = _dialect_insert(self._pg)(UserRow.__table__).on_conflict_do_nothing(index_elements=["tenant_id", "name"])
        self._executemany(stmt, [{"tenant_id": self._tenant, "name": u.name, "created_at": u.created_at or now}
                                 for u in sorted(users, key=lambda u: u.id)])

    def _save_game(self, game: GameState) -> None:
        """The snapshot's day, seed and generator, with the stored version + 1 (a stale save then conflicts)."""
        g = GameStateRow
        stored = self._execute(select(g.version).where(g.tenant_id == self._tenant)).scalar()
        values = {"day": game.day, "seed": game.seed, "rng_state": game.rng_state, "version": (stored or 0) + 1}
        upsert = _dialect_insert(self._pg)(g).values(tenant_id=self._tenant, **values)
        self._execute(upsert.on_conflict_do_update(index_elements=[g.tenant_id],
                                                   set_={k: upsert.excluded[k] for k in values}))

    def _bump_sequences(self, top: dict[str, int]) -> None:
        """A sequence counts only the live table's own inserts: ids loaded with their values (live or into
        an archive), and a purged product's id in its stock moves, must never be handed out again."""
        raised = {_TABLES[kind][0].__tablename__: highest for kind, highest in top.items() if highest}
        if self._pg:
            if raised:
                self._execute(select(*(
                    func.setval(func.pg_get_serial_sequence(name, "id"),
                                greatest(True, literal(highest), self._sequence_state(name)))
                    for name, highest in raised.items()
                )))
            return
        seq = _SQLITE_SEQUENCE
        for name, highest in raised.items():
            self._execute(update(seq).where(seq.c.name == name, seq.c.seq < highest).values(seq=highest))
            self._execute(seq.insert().from_select(
                ["name", "seq"],
                select(literal(name), literal(highest)).where(~select(seq.c.name).where(seq.c.name == name).exists()),
            ))


def _parked() -> Any:
    """The old products kept only until their attachments are re-pointed."""
    return ProductRow.sku.startswith(_PARKED, autoescape=True)
