"""Importing a whole catalog from another system (a legacy database that storage/legacy.py reflects
and maps): its category tree, then its products, every row validated with the same rules as a
CSV import, written through the catalog service in one transaction.

The rule for bad rows: every source row and category is checked first and each refusal is kept
with its reason. With `skip_bad=False` (the default) one refusal refuses the whole import and
nothing is written; with `skip_bad=True` the refused ones are left out and reported, the rest is
imported. Either way it is one transaction: all of it or none of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from domain.errors import ValidationError
from domain.model.catalog import fold_case
from domain.services import validation

if TYPE_CHECKING:
    from domain.model import Category
    from domain.ports import UnitOfWork
    from domain.services.catalog import CatalogService
    from domain.services.context import ServiceContext

OPTIONAL_FIELDS = ("category", "quantity", "active")
REPORT_LIMIT = 1000  # refusals kept in a report (all of them are counted)


@dataclass(frozen=True)
class SourceCategory:
    """A category as the source holds it: its own key (as text), a name, the key (or name) of its parent."""

    key: str
    name: Any
    parent_key: str | None = None
    ref: str = ""


@dataclass(frozen=True)
class SourceRow:
    """One source product, already in our field names (sku, name, price, quantity, active, and either
    `category` = a category name or `category_key` = a SourceCategory key). A field left out (or None)
    means "not given": a new product gets the default, an existing one keeps its value.
    `problem` = (field, message) when the mapping already found the row unusable."""

    number: int
    ref: str
    data: Mapping[str, Any]
    problem: tuple[str, str] | None = None


@dataclass(frozen=True)
class Refusal:
    """A source row or category left out, and why."""

    what: str  # "product" or "category"
    number: int | None
    ref: str
    field: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "row": self.number, "ref": self.ref, "field": self.field, "reason": self.reason}

    def __str__(self) -> str:
        where = f"row {self.number}" if self.number is not None else self.what
        ref = f" ({self.ref})" if self.ref else ""
        return f"{where}{ref}: {self.reason}"


@dataclass(frozen=True)
class CatalogImportReport:
    """What an import did (or, for a dry run, would do)."""

    rows: int
    imported: int
    inserted: int
    updated: int
    categories_created: tuple[str, ...]
    categories_existing: tuple[str, ...]
    refused: tuple[Refusal, ...]
    refused_count: int
    notes: tuple[str, ...]
    skip_bad: bool
    dry_run: bool

    @property
    def unchanged(self) -> int:
        return self.imported - self.inserted - self.updated

    @property
    def aborts(self) -> bool:
        """True when the import is (or would be) refused as a whole: something refused, no skip_bad."""
        return bool(self.refused_count) and not self.skip_bad

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows, "imported": self.imported, "inserted": self.inserted, "updated": self.updated,
            "unchanged": self.unchanged,
            "categories": {"created": list(self.categories_created), "existing": list(self.categories_existing)},
            "refused_count": self.refused_count, "refused": [r.to_dict() for r in self.refused],
            "notes": list(self.notes), "skip_bad": self.skip_bad, "dry_run": self.dry_run, "aborts": self.aborts,
        }


@dataclass
class _CategoryPlan:
    creates: list[tuple[str, str | None]] = field(default_factory=list)  # (name, parent name), parents first
    existing: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # source key -> our category name
    refused: dict[str, Refusal] = field(default_factory=dict)  # source key -> why
    also_refused: list[Refusal] = field(default_factory=list)  # refusals without a key of their own
    notes: list[str] = field(default_factory=list)


class _DryRun(Exception):
    def __init__(self, report: CatalogImportReport):
        self.report = report


def _is_root(parent: str | None, keys: Mapping[str, Any]) -> bool:
    """No parent: NULL, blank, or 0 when no category has the key 0 (a common legacy convention)."""
    return parent is None or not parent.strip() or (parent.strip() == "0" and "0" not in keys)


def plan_categories(sources: list[SourceCategory], existing: list[Category]) -> _CategoryPlan:
    """Decide, without writing, which source categories become which of ours (pure: tested alone).

    A category is refused when its name is not valid, its key repeats, its parent is missing, it sits
    in a parent loop, or its parent was refused. Names that repeat case-insensitively are merged into
    the first (our names are unique); a name we already have is reused where it is."""
    v = validation()
    plan = _CategoryPlan()
    by_key: dict[str, SourceCategory] = {}
    names: dict[str, str] = {}  # source key -> valid name
    by_name: dict[str, str] = {}  # folded name -> first key with it
    for c in sources:
        if c.key in by_key:
            plan.also_refused.append(Refusal("category", None, c.ref, "key",
                                             f"key {c.key!r} appears twice in the categories table"))
            continue
        by_key[c.key] = c
        try:
            names[c.key] = v.validate(v.CategoryInput, {"name": c.name}).name
        except ValidationError as e:
            plan.refused[c.key] = Refusal("category", None, c.ref, "name", e.message)
            continue
        by_name.setdefault(fold_case(names[c.key]), c.key)

    parents: dict[str, str | None] = {}  # key -> parent key, for the valid ones
    for key, c in by_key.items():
        if key in plan.refused:
            continue
        if _is_root(c.parent_key, by_key):
            parents[key] = None
            continue
        parent = c.parent_key.strip() if c.parent_key is not None else None
        if parent in by_key:
            parents[key] = parent
        elif parent is not None and fold_case(parent) in by_name:  # a parent named, not keyed
            parents[key] = by_name[fold_case(parent)]
        else:
            plan.refused[key] = Refusal("category", None, c.ref, "parent",
                                        f"parent {c.parent_key!r} is not in the categories table")

    depth: dict[str, int] = {}
    for start in parents:  # walk up each chain: a depth for every placed key, a reason for the others
        path: list[str] = []
        key: str | None = start
        why = ""
        while key is not None and key not in depth:
            if key in plan.refused:
                why = f"its parent {names.get(key, key)!r} was refused"
                break
            if key in path:
                why = "its parent chain loops back to itself"
                break
            path.append(key)
            key = parents[key]
        if why:
            for k in path:
                plan.refused[k] = Refusal("category", None, by_key[k].ref, "parent", why)
            continue
        base = -1 if key is None else depth[key]
        for k in reversed(path):
            base += 1
            depth[k] = base

    ours = {fold_case(c.name): c for c in existing}
    ours_by_id = {c.id: c for c in existing}
    made: dict[str, str] = {}  # folded name -> the name it is created or found under
    for key in sorted(depth, key=lambda k: depth[k]):  # parents first; stable within a depth
        name = names[key]
        folded = fold_case(name)
        parent_key = parents[key]
        parent_name = plan.names[parent_key] if parent_key is not None else None
        if folded in made:
            first = made[folded]
            plan.names[key] = first
            plan.notes.append(f"category {name!r} ({by_key[key].ref}) merged into {first!r}: category names "
                              "are unique, case-insensitively")
            continue
        if folded in ours:
            have = ours[folded]
            made[folded] = have.name
            plan.names[key] = have.name
            plan.existing.append(have.name)
            have_parent = ours_by_id[have.parent_id].name if have.parent_id in ours_by_id else None
            if fold_case(have_parent or "") != fold_case(parent_name or ""):
                where = f"under {have_parent!r}" if have_parent else "at the top"
                plan.notes.append(f"category {have.name!r} exists already {where}; it stays there")
            continue
        made[folded] = name
        plan.names[key] = name
        plan.creates.append((name, parent_name))
    return plan


class CatalogImportService:
    """Import a source's categories and products for one tenant, on behalf of one actor."""

    def __init__(self, ctx: ServiceContext, catalog: CatalogService):
        self._ctx = ctx
        self._catalog = catalog

    def import_catalog(
        self,
        categories: Iterable[SourceCategory],
        rows: Iterable[SourceRow],
        *,
        skip_bad: bool = False,
        dry_run: bool = False,
        source: str = "import",
    ) -> CatalogImportReport:
        """Check every category and row, then (unless something was refused and not `skip_bad`) create
        the missing categories, parents first, and upsert the products by SKU through the catalog
        service: a product's quantity becomes its on-hand total, the difference posted as a stock
        adjustment, so the books add up. `dry_run` does all of it in a transaction that is rolled
        back, so its counts are exact and nothing is written.

        Raises: ValidationError (something refused and not skip_bad; `.details["refused"]` lists up
            to REPORT_LIMIT refusals, `.details["refused_count"]` counts them), InsufficientStock
            (a quantity below what other locations hold), AlreadyExists, Busy.
        """
        sources = list(categories)
        try:
            with self._ctx.writing() as uow:
                plan = plan_categories(sources, uow.categories.list())
                refusals = _Refusals([*plan.refused.values(), *plan.also_refused])
                good, total, text_names = self._checked_rows(uow, rows, plan, refusals)
                if refusals.count and not skip_bad and not dry_run:
                    shown = "; ".join(str(r) for r in refusals.kept[:3])
                    more = f"; and {refusals.count - 3} more" if refusals.count > 3 else ""
                    raise ValidationError(
                        f"{refusals.count} refused (of {total} product rows and {len(sources)} categories), "
                        f"nothing was imported: {shown}{more}",
                        refused=[r.to_dict() for r in refusals.kept], refused_count=refusals.count,
                    )
                created = self._create_categories(uow, plan, text_names)
                result = self._catalog.import_products(good, source=source)
                report = CatalogImportReport(
                    rows=total, imported=result.rows, inserted=result.inserted, updated=result.updated,
                    categories_created=tuple(created), categories_existing=tuple(plan.existing),
                    refused=tuple(refusals.kept), refused_count=refusals.count, notes=tuple(plan.notes),
                    skip_bad=skip_bad, dry_run=dry_run,
                )
                if dry_run:
                    raise _DryRun(report)  # leaves the block: the unit of work rolls everything back
        except _DryRun as done:
            return done.report
        return report

    def _checked_rows(
        self, uow: UnitOfWork, rows: Iterable[SourceRow], plan: _CategoryPlan, refusals: _Refusals
    ) -> tuple[list[dict[str, Any]], int, dict[str, str]]:
        """The rows that pass, ready for CatalogService.import_products; how many rows there were;
        the category names (by folded name) good rows give as text."""
        validate_row = validation().validate_row
        good: list[dict[str, Any]] = []
        first_row: dict[str, int] = {}
        text_names: dict[str, str] = {}
        total = 0
        for row in rows:
            total += 1
            if row.problem is not None:
                refusals.add(Refusal("product", row.number, row.ref, row.problem[0], row.problem[1]))
                continue
            data = {k: v for k, v in row.data.items() if v is not None and k != "category_key"}
            key = row.data.get("category_key")
            if key is not None:
                key = str(key)
                if key in plan.refused:
                    refusals.add(Refusal("product", row.number, row.ref, "category",
                                         f"category: its category ({plan.refused[key].ref or key}) was refused"))
                    continue
                if key not in plan.names:
                    refusals.add(Refusal("product", row.number, row.ref, "category",
                                         f"category: key {key!r} is not in the categories table"))
                    continue
                data["category"] = plan.names[key]
            try:
                checked = validate_row(data, row.number)
            except ValidationError as e:
                reason = e.message.removeprefix(f"row {row.number}: ")
                refusals.add(Refusal("product", row.number, row.ref, e.field, reason))
                continue
            sku = checked["sku"]
            if sku in first_row:
                refusals.add(Refusal("product", row.number, row.ref, "sku",
                                     f"sku: {sku} appears again (first on row {first_row[sku]}, which is kept)"))
                continue
            stored = uow.products.get_by_sku(sku)
            if stored is not None and stored.deleted_at is not None:
                refusals.add(Refusal("product", row.number, row.ref, "sku",
                                     f"sku: {sku} belongs to deleted product {stored.id}; restore or purge it first"))
                continue
            first_row[sku] = row.number
            if stored is not None:  # what the source does not say, the product keeps
                kept = {"category": stored.category_id, "quantity": stored.quantity, "active": stored.active}
                for name in OPTIONAL_FIELDS:
                    if name not in checked and kept[name] is not None:
                        checked[name] = kept[name]
            category = checked.get("category")
            if isinstance(category, str):
                text_names.setdefault(fold_case(category), category)
            good.append(checked)
        return good, total, text_names

    def _create_categories(self, uow: UnitOfWork, plan: _CategoryPlan, text_names: Mapping[str, str]) -> list[str]:
        """The planned tree, parents first, then the names rows give that nobody has yet (top level)."""
        created = []
        for name, parent in plan.creates:
            created.append(self._catalog.add_category(name, parent).name)
        have = {fold_case(c.name): c.name for c in uow.categories.list()}
        made = {fold_case(name) for name in created}
        for folded, name in text_names.items():
            if folded not in have:
                created.append(self._catalog.add_category(name).name)
                have[folded] = name
            elif folded not in made and have[folded] not in plan.existing:
                plan.existing.append(have[folded])
        return created


class _Refusals:
    """Every refusal counted, the first REPORT_LIMIT kept."""

    def __init__(self, initial: Iterable[Refusal] = ()):
        self.kept: list[Refusal] = []
        self.count = 0
        for r in initial:
            self.add(r)

    def add(self, refusal: Refusal) -> None:
        self.count += 1
        if len(self.kept) < REPORT_LIMIT:
            self.kept.append(refusal)

    def __iter__(self) -> Iterator[Refusal]:
        return iter(self.kept)
