"""Catalog use cases: categories (a tree) and products, with optimistic locking and bulk import."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from itertools import islice
from typing import TYPE_CHECKING, Any

from domain.errors import AlreadyExists, NotFound, ValidationError, VersionConflict
from domain.model import Category, CategoryValue, NewProduct, Product, ProductListing, ProductQuery, is_id
from domain.model.catalog import ProductCursor, fold_case, subtree_ids
from domain.model.stock import ADJUST, ADJUSTMENT, POSTED, NewStockMove
from domain.services import validation
from domain.services.context import ServiceContext
from domain.services.stock_sync import default_location, reconcile_counts, virtual_location, write_off

if TYPE_CHECKING:
    from domain.ports import ExportRow, UnitOfWork

PRODUCT_CSV_COLUMNS = ("sku", "name", "category", "price", "quantity", "active")
PRODUCT_CSV_REQUIRED = ("sku", "name", "price")
PRODUCT_EXPORT_HEADER = ("sku", "name", "category", "price", "quantity", "value")
IMPORT_BATCH = 5000
_UNSET: Any = object()


@dataclass(frozen=True)
class ImportResult:
    rows: int
    inserted: int
    updated: int

    @property
    def unchanged(self) -> int:
        return self.rows - self.inserted - self.updated


def _resolve_category(uow: UnitOfWork, ref: str | int | None) -> Category | None:
    if ref is None or ref == "":
        return None
    if isinstance(ref, int):
        found = uow.categories.get(ref) if is_id(ref) else None
    else:
        found = uow.categories.get_by_name(ref)
    if found is None:
        raise NotFound(f"category: {ref!r} does not exist; create it first", field="category")
    return found


def _expected(current: Product, expected_version: int | None) -> int:
    """The version a change may apply to: the caller's, refused if someone changed the product since."""
    if expected_version is not None and current.version != expected_version:
        raise VersionConflict(f"{current.sku} was changed by someone else; reload and try again",
                              current_version=current.version)
    return current.version


def _reporting(rows: Iterable[NewProduct], progress: Callable[[int], None]) -> Iterator[NewProduct]:
    """`rows`, calling `progress(count so far)` every IMPORT_BATCH rows."""
    stream = iter(rows)
    done = 0
    while batch := list(islice(stream, IMPORT_BATCH)):
        yield from batch
        done += len(batch)
        progress(done)


class CatalogService:
    """Products and categories for one tenant, on behalf of one actor."""

    def __init__(self, ctx: ServiceContext):
        self._ctx = ctx

    # -- categories -------------------------------------------------------------------------

    def add_category(self, name: str, parent: str | int | None = None) -> Category:
        """Create a category, optionally under a parent (by name or id).

        Raises: ValidationError (name), AlreadyExists (name taken, case-insensitive), NotFound (parent).
        """
        v = validation()
        data = v.validate(v.CategoryInput, {"name": name, "parent": parent})
        with self._ctx.writing() as uow:
            parent_cat = _resolve_category(uow, data.parent)
            category = uow.categories.add(data.name, parent_cat.id if parent_cat else None)
            self._ctx.audit(uow, "category", category.id, "create", after=category)
        return category

    def update_category(
        self, category_id: int, expected_version: int, *, name: str = _UNSET, parent: str | int | None = _UNSET
    ) -> Category:
        """Rename or move a category if nobody changed it since `expected_version`.

        Raises: ValidationError (name, or a parent inside its own subtree), NotFound,
            VersionConflict, AlreadyExists.
        """
        with self._ctx.writing() as uow:
            current = uow.categories.get(category_id) if is_id(category_id) else None
            if current is None:
                raise NotFound(f"category {category_id} does not exist")
            if current.version != expected_version:  # first, as for products: the same code on every store
                raise VersionConflict(
                    f"category {current.name!r} was changed by someone else; reload and try again",
                    current_version=current.version,
                )
            v = validation()
            data = v.validate(
                v.CategoryInput,
                {"name": current.name if name is _UNSET else name, "parent": current.parent_id if parent is _UNSET else parent},
            )
            parent_cat = _resolve_category(uow, data.parent)
            parent_id = parent_cat.id if parent_cat else None
            if parent_id is not None and parent_id in subtree_ids(uow.categories.list(), category_id):
                raise ValidationError("parent: a category cannot sit inside itself", field="parent")
            wanted = replace(current, name=data.name, parent_id=parent_id)
            if wanted == current:
                return current
            updated = uow.categories.update(wanted, expected_version)
            self._ctx.audit(uow, "category", category_id, "update", before=current, after=updated)
        return updated

    def delete_category(self, category_id: int) -> Category:
        """Delete an empty category.

        Raises: NotFound; InUse when products or subcategories still belong to it.
        """
        with self._ctx.writing() as uow:
            current = uow.categories.get(category_id) if is_id(category_id) else None
            if current is None:
                raise NotFound(f"category {category_id} does not exist")
            uow.categories.delete(category_id)
            self._ctx.audit(uow, "category", category_id, "delete", before=current)
        return current

    def categories(self) -> list[Category]:
        """Every category, ordered by name."""
        with self._ctx.reading() as uow:
            return uow.categories.list()

    def find_category(self, ref: str | int) -> Category:
        """A category by name (case-insensitive) or id.

        Raises: NotFound.
        """
        with self._ctx.reading() as uow:
            found = _resolve_category(uow, ref)
        if found is None:
            raise NotFound("category: give a name or an id", field="category")
        return found

    def category_subtree(self, category_id: int) -> tuple[int, ...]:
        """The category and all its descendants, for filtering by a branch of the tree."""
        return subtree_ids(self.categories(), category_id)

    # -- products ---------------------------------------------------------------------------

    def add_product(
        self,
        sku: str,
        name: str,
        price: str | int,
        category: str | int | None = None,
        quantity: int | str = 0,
        active: bool = True,
    ) -> Product:
        """Create a product. Price is a decimal string ("12.50") or integer minor units.

        Raises: ValidationError (any field), AlreadyExists (SKU taken), NotFound (category).
        """
        v = validation()
        data = v.validate(
            v.ProductInput,
            {"sku": sku, "name": name, "price": price, "category": category, "quantity": quantity, "active": active},
        )
        with self._ctx.writing() as uow:
            taken = uow.products.get_by_sku(data.sku)
            if taken is not None and taken.deleted_at is not None:
                raise AlreadyExists(f"SKU {data.sku} belongs to deleted product {taken.id}: restore it, or purge it "
                                    "to reuse the SKU", field="sku", product_id=taken.id)
            cat = _resolve_category(uow, data.category)
            product = uow.products.add(
                NewProduct(data.sku, data.name, cat.id if cat else None, data.price, data.quantity, data.active)
            )
            self._ctx.audit(uow, "product", product.id, "create", after=product)
            if product.quantity:
                reconcile_counts(self._ctx, uow, [product.sku], "opening stock")
        return product

    def update_product(self, product_id: int, expected_version: int, **changes: Any) -> Product:
        """Change any of sku, name, price, category, quantity, active — only if the stored
        version is still `expected_version` (optimistic locking: the form's reload offer).

        Raises: ValidationError, NotFound, VersionConflict, AlreadyExists (SKU).
        """
        v = validation()
        unknown = set(changes) - set(v.ProductInput.model_fields)
        if unknown:
            raise ValidationError(f"unknown field(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
        with self._ctx.writing() as uow:
            current = uow.products.get(product_id) if is_id(product_id) else None
            if current is None:
                raise NotFound(f"product {product_id} does not exist (purged by someone else?)")
            if current.deleted_at is not None:
                raise NotFound(f"{current.sku} is deleted; restore it first")
            if current.version != expected_version:
                raise VersionConflict(
                    f"{current.sku} was changed by someone else (version {current.version}, you edited "
                    f"{expected_version}); reload and try again",
                    current_version=current.version,
                )
            base = {
                "sku": current.sku,
                "name": current.name,
                "price": current.price_minor,
                "category": current.category_id,
                "quantity": current.quantity,
                "active": current.active,
            }
            data = v.validate(v.ProductInput, base | changes)
            cat = _resolve_category(uow, data.category)
            wanted = replace(
                current,
                sku=data.sku,
                name=data.name,
                price_minor=data.price,
                category_id=cat.id if cat else None,
                quantity=data.quantity,
                active=data.active,
            )
            if wanted == current:
                return current
            updated = uow.products.update(wanted, expected_version)
            self._ctx.audit(uow, "product", product_id, "update", before=current, after=updated)
            if updated.quantity != current.quantity:
                reconcile_counts(self._ctx, uow, [updated.sku], f"on hand set to {updated.quantity} in the catalog")
        return updated

    def delete_product(self, product_id: int, expected_version: int | None = None) -> Product:
        """Soft-delete: the product is hidden from every list and refused by sales and moves, but its
        row, stock and history stay, so `restore_product` brings it back exactly as it was. With
        `expected_version`, only if nobody changed it meanwhile.

        Raises: NotFound (also when already deleted), VersionConflict.
        """
        with self._ctx.writing() as uow:
            current = self._stored(uow, product_id)
            if current.deleted_at is not None:
                raise NotFound(f"{current.sku} is already deleted")
            deleted = uow.products.set_deleted(current.id, _expected(current, expected_version), self._ctx.now())
            self._ctx.audit(uow, "product", current.id, "delete", before=current, after=deleted)
        return deleted

    def restore_product(self, product_id: int, expected_version: int | None = None) -> Product:
        """Undo a soft delete. Raises: NotFound, ValidationError (not deleted), VersionConflict."""
        with self._ctx.writing() as uow:
            current = self._stored(uow, product_id)
            if current.deleted_at is None:
                raise ValidationError(f"{current.sku} is not deleted", field="product")
            restored = uow.products.set_deleted(current.id, _expected(current, expected_version), None)
            self._ctx.audit(uow, "product", current.id, "restore", before=current, after=restored)
        return restored

    def purge_product(self, product_id: int, expected_version: int | None = None) -> Product:
        """Hard delete of a soft-deleted product: its stock is written off to Scrap (the moves stay, so
        the stock ledger still adds up), its row, levels and attachments go, and the audit log keeps a
        tombstone (id and SKU only). Returns what was purged.

        Raises: NotFound, ValidationError (delete it first), InUse (goods in transit), VersionConflict.
        """
        with self._ctx.writing() as uow:
            current = self._stored(uow, product_id)
            if current.deleted_at is None:
                raise ValidationError(f"{current.sku} is not deleted: delete it first, then purge it", field="product")
            _expected(current, expected_version)
            write_off(self._ctx, uow, current)
            gone = uow.products.delete(current.id)
            self._ctx.audit(uow, "product", current.id, "purge", before={"id": gone.id, "sku": gone.sku})
        return gone

    def _stored(self, uow: UnitOfWork, product_id: int) -> Product:
        found = uow.products.get(product_id) if is_id(product_id) else None
        if found is None:
            raise NotFound(f"product {product_id} does not exist")
        return found

    def get_product(self, product_id: int) -> Product:
        """Raises: NotFound."""
        with self._ctx.reading() as uow:
            found = uow.products.get(product_id) if is_id(product_id) else None
        if found is None:
            raise NotFound(f"product {product_id} does not exist")
        return found

    def get_product_by_sku(self, sku: str) -> Product:
        """Raises: NotFound."""
        with self._ctx.reading() as uow:
            found = uow.products.get_by_sku(sku.strip().upper())
        if found is None:
            raise NotFound(f"no product with SKU {sku!r}")
        return found

    def find_products(
        self, query: ProductQuery = ProductQuery(), after: ProductCursor | None = None, limit: int = 100,
        *, backward: bool = False, skip: int = 0,
    ) -> list[ProductListing]:
        """One page of products in the query's order (`sort`, by name unless told), after `after` (keyset
        pagination: `query.cursor_after(row)`); backward: the page before it (the last page when None);
        skip: leave out that many first (a jump by offset).

        Raises: ValidationError (limit, skip, or a cursor of another sort's type).
        """
        if not 1 <= limit <= 10_000:
            raise ValidationError("limit: must be between 1 and 10000", field="limit")
        if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
            raise ValidationError("skip: must be a whole number, 0 or more", field="skip")
        if after is not None and not query.fits(after):
            raise ValidationError(f"after: not a cursor of the {query.sort} order", field="after")
        with self._ctx.reading() as uow:
            return uow.products.find(query, after, limit, backward=backward, skip=skip)

    def count_products(self, query: ProductQuery = ProductQuery()) -> int:
        with self._ctx.reading() as uow:
            return uow.products.count(query)

    def value_by_category(self) -> list[CategoryValue]:
        """Stock value of active products per category, aggregated by the store."""
        with self._ctx.reading() as uow:
            return uow.products.value_by_category()

    @contextmanager
    def stream_products(self, query: ProductQuery = ProductQuery()) -> Iterator[Iterator[ExportRow]]:
        """Every product of the query from one consistent snapshot, in constant memory:
        `with catalog.stream_products(q) as rows: for row in rows: ...`."""
        with self._ctx.reading() as uow:
            yield uow.products.stream(query)

    def import_products(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        source: str = "import",
        progress: Callable[[int], None] | None = None,
    ) -> ImportResult:
        """Validate and upsert products by SKU, all or nothing: one bad row rolls back the batch.

        Importing the same rows again changes nothing (identical rows keep their version).
        Rows are numbered from 1 (the first data row) in errors.

        Raises: ValidationError or NotFound naming the row and the field; Busy.
        """
        with self._ctx.writing() as uow:
            category_ids = {fold_case(c.name): c.id for c in uow.categories.list()}
            known_ids = set(category_ids.values())

            def validated() -> Iterator[NewProduct]:
                validate_row = validation().validate_row
                for number, row in enumerate(rows, start=1):
                    data = validate_row(row, number)
                    category_id = None
                    category = data.get("category")
                    if category is not None:
                        category_id = category_ids.get(fold_case(category)) if isinstance(category, str) else (
                            category if category in known_ids else None
                        )
                        if category_id is None:
                            raise NotFound(
                                f"row {number}: category: {category!r} does not exist; create it first",
                                field="category",
                                row=number,
                            )
                    yield NewProduct(
                        data["sku"], data["name"], category_id, data["price"], data.get("quantity", 0),
                        data.get("active", True),
                    )
                    if progress is not None and number % IMPORT_BATCH == 0:
                        progress(number)

            result = self._upsert_in_batches(uow, validated(), source)
        if progress is not None:
            progress(result.rows)
        return result

    def bulk_add(self, products: Iterable[NewProduct], *, source: str = "demo",
                 progress: Callable[[int], None] | None = None) -> ImportResult:
        """Upsert already-validated products (generated in the domain, e.g. demo data) in one transaction.

        On a store that can insert new products with their opening stock set-based (the optional
        `products.bulk_insert()`: the sqlite3 store), rows with new SKUs take that path and only the
        others are upserted; the books come out as `_upsert_in_batches` leaves them.

        Raises: NotFound (category); AlreadyExists (the SKU of a soft-deleted product); Busy.
        """
        if progress is not None:
            products = _reporting(products, progress)
        with self._ctx.writing() as uow:
            bulk_insert = getattr(uow.products, "bulk_insert", None)
            if bulk_insert is None:
                result = self._upsert_in_batches(uow, products, source)
            else:
                with bulk_insert() as add_new:
                    result = self._add_in_batches(uow, add_new, products, source)
        if progress is not None:
            progress(result.rows)
        return result

    def _upsert_in_batches(self, uow: UnitOfWork, products: Iterable[NewProduct], source: str) -> ImportResult:
        """Feed the store IMPORT_BATCH rows at a time (memory stays flat) and audit the import once."""
        total = inserted = updated = 0
        stream = iter(products)
        while batch := list(islice(stream, IMPORT_BATCH)):
            total += len(batch)
            ins, upd = uow.products.upsert_many(batch)
            inserted += ins
            updated += upd
            if ins or upd:
                reconcile_counts(self._ctx, uow, [p.sku for p in batch], f"on hand set by {source}")
        result = ImportResult(total, inserted, updated)
        self._ctx.audit(uow, "product", "*", "import", after={"source": source, **result.__dict__})
        return result

    def _add_in_batches(self, uow: UnitOfWork, add_new: Callable[..., tuple[int, int]], products: Iterable[NewProduct],
                        source: str) -> ImportResult:
        """`_upsert_in_batches` with a fast path for new SKUs: the store inserts a batch's rows in order,
        no lookups, with their opening adjustments and levels (what `reconcile_counts` posts for products
        with no stock yet). If it meets a SKU it already holds, it stops there and posts nothing; the rest
        of the batch is upserted and the whole batch reconciled, as the general path does. The same rows
        and audit entries, in the same order."""
        ctx = self._ctx
        memo = f"on hand set by {source}"
        total = inserted = updated = 0
        stream = iter(products)
        locations: tuple[int, int] | None = None

        def template() -> NewStockMove:
            return NewStockMove(POSTED, ADJUST, 0, 0, 0, 0, None, None, None, uow.game.get().day, memo, None,
                                ctx.actor, ctx.now(), None, None)

        while batch := list(islice(stream, IMPORT_BATCH)):
            total += len(batch)
            added = posted = 0
            move = None
            # Until something is inserted, a batch that starts with a known SKU goes the general way
            # (which creates the default locations only if it changes anything).
            if locations is not None or uow.products.get_by_sku(batch[0].sku) is None:
                if locations is None:
                    locations = default_location(ctx, uow).id, virtual_location(ctx, uow, ADJUSTMENT).id
                move = template()
                added, posted = add_new(batch, *locations, move)
                inserted += added
            if added < len(batch):
                ins, upd = uow.products.upsert_many(batch[added:])
                inserted += ins
                updated += upd
                if added or ins or upd:
                    if locations is None:
                        locations = default_location(ctx, uow).id, virtual_location(ctx, uow, ADJUSTMENT).id
                    posted = uow.stock.reconcile([p.sku for p in batch], *locations, move or template())
            if posted:
                ctx.audit(uow, "stock_move", "*", "reconcile", after={"memo": memo, "adjusted": posted})
        result = ImportResult(total, inserted, updated)
        ctx.audit(uow, "product", "*", "import", after={"source": source, **result.__dict__})
        return result
