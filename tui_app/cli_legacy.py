"""`stockbank import-legacy FILE.db`: another program's SQLite database (a `products` table and maybe a
`categories` table), reflected and mapped onto our fields (storage/legacy.py), checked and imported
through the catalog services all or nothing (domain/services/catalog_import.py)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from contextlib import closing
from typing import Any

from tui_app.cli_support import emit, open_cli_backend

_TEXT_REFUSALS = 50  # refusals listed in text; --json lists up to the report's limit


def add_legacy_commands(sub: argparse._SubParsersAction) -> None:
    imp = sub.add_parser(
        "import-legacy",
        help="import products and categories from another program's SQLite database (schema reflected, "
             "columns mapped; all or nothing)",
        description="Reflect FILE's products/categories tables, map their columns onto sku, name, price, "
                    "quantity, active and category, and import them into the current store and tenant in one "
                    "transaction. Any refused row refuses the whole import unless --skip-bad. Legacy stock "
                    "becomes an opening stock adjustment. FILE is only read.",
    )
    imp.add_argument("file", metavar="FILE.db", help="the legacy SQLite database (opened read-only)")
    imp.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                     help="take FIELD from COLUMN (repeatable): sku, name, price, quantity, active, category, and "
                          "category.key, category.name, category.parent for the categories table; FIELD= leaves a "
                          "field out; active=!COLUMN inverts a flag")
    imp.add_argument("--price-unit", choices=("auto", "cents", "decimal"), default="auto",
                     help="how to read prices: auto (default: cents when the column's name says so or it is an "
                          "INTEGER column, else a decimal amount), cents, decimal")
    imp.add_argument("--products-table", metavar="NAME", help="the products table (default: products, product, items)")
    imp.add_argument("--categories-table", metavar="NAME",
                     help="the categories table (default: categories, category)")
    imp.add_argument("--skip-bad", action="store_true",
                     help="import the rows that pass and report the refused ones (default: any refusal refuses "
                          "everything)")
    imp.add_argument("--dry-run", action="store_true",
                     help="show the mapping, the counts and the refusals; write nothing")


def _store_file(url: str) -> str | None:
    for prefix in ("sqlite:///", "sqlalchemy+sqlite:///"):
        if url.startswith(prefix):
            return url[len(prefix):].split("?")[0] or None
    return None


def _refuse_same_file(args: argparse.Namespace) -> None:
    """Importing the current database into itself would read what it writes.

    Raises: ValidationError."""
    from domain.errors import ValidationError
    from tui_app.bootstrap import resolve_db_url

    target = _store_file(resolve_db_url(args.db))
    if target and os.path.exists(target) and os.path.exists(args.file) and os.path.samefile(target, args.file):
        raise ValidationError(f"{args.file} is the database being imported into; import from another file",
                              field="file")


def _with_columns(refused: list[dict[str, Any]], mapping: Any) -> list[dict[str, Any]]:
    """Each refusal with the legacy column its field came from."""
    for r in refused:
        if r.get("what") == "product":
            r["column"] = mapping.column_of(r.get("field"))
        elif r.get("field"):
            found = mapping.category_fields.get(f"category.{r['field']}")
            r["column"] = found.column if found else None
    return refused


def _refusal_line(r: dict[str, Any]) -> str:
    where = f"row {r['row']}" if r.get("row") is not None else "category"
    ref = f" ({r['ref']})" if r.get("ref") else ""
    column = f" [column {r['column']}]" if r.get("column") else ""
    return f"  {where}{ref}: {r['reason']}{column}"


def _mapping_text(mapping: Any) -> list[str]:
    tables = f"table {mapping.products_table}"
    if mapping.categories_table:
        tables += f", categories from table {mapping.categories_table}"
    lines = [f"{os.path.basename(mapping.path)}: {tables}", "mapping:"]
    for name, m in [*mapping.fields.items(), *mapping.category_fields.items()]:
        by = " (--map)" if m.by == "--map" else ""
        lines.append(f"  {name:<16}<- {m.column:<20} {m.how}{by}")
    leftover = [f"{table}.{c}" for table, cols in mapping.unmapped.items() for c in cols]
    lines.append(f"not mapped: {', '.join(leftover)}" if leftover else "not mapped: nothing (every column is used)")
    for note in mapping.notes:
        lines.append(f"note: {note}")
    return lines


def cmd_import_legacy(args: argparse.Namespace) -> int | None:
    from domain.errors import ValidationError
    from domain.services.catalog_import import CatalogImportService
    from storage.legacy import open_legacy, parse_overrides

    overrides = parse_overrides(args.map)
    _refuse_same_file(args)
    with open_legacy(args.file, overrides=overrides, price_unit=args.price_unit,  # bad input: refused before
                     products_table=args.products_table, categories_table=args.categories_table) as legacy:  # the store opens
        mapping = legacy.mapping
        backend = open_cli_backend(args)
        try:
            service = CatalogImportService(backend.sim.ctx, backend.sim.catalog)
            try:
                with closing(legacy.source_rows()) as rows:  # its read cursor closes even if the import fails
                    report = service.import_catalog(
                        legacy.source_categories(), rows, skip_bad=args.skip_bad, dry_run=args.dry_run,
                        source=f"import-legacy {os.path.basename(args.file)}",
                    )
            except ValidationError as e:
                if "refused" in e.details:
                    _with_columns(e.details["refused"], mapping)
                    e.details["mapping"] = mapping.to_dict()
                    if not args.json:
                        shown = e.details["refused"][:_TEXT_REFUSALS]
                        more = e.details["refused_count"] - len(shown)
                        print("\n".join([*_mapping_text(mapping), f"refused {e.details['refused_count']}:",
                                         *map(_refusal_line, shown),
                                         *([f"  ... and {more} more (--json lists up to 1000)"] if more > 0 else []),
                                         "nothing was imported: fix these in the legacy database, or add --skip-bad "
                                         "to import the rest (--dry-run shows it all without writing)"]),
                              file=sys.stderr)
                raise
        finally:
            backend.close()

    data = report.to_dict()
    _with_columns(data["refused"], mapping)
    text = _mapping_text(mapping)
    if report.refused_count:
        state = "would refuse the import" if report.aborts else ("skipped" if not report.dry_run else "would skip")
        text.append(f"refused {report.refused_count} ({state}):")
        text += [_refusal_line(r) for r in data["refused"][:_TEXT_REFUSALS]]
        if report.refused_count > _TEXT_REFUSALS:
            text.append(f"  ... and {report.refused_count - _TEXT_REFUSALS} more (--json lists up to 1000)")
    for note in report.notes:
        text.append(f"note: {note}")
    names = ", ".join(report.categories_created[:10]) + (", ..." if len(report.categories_created) > 10 else "")
    cats = (f"categories: {len(report.categories_created)} created"
            + (f" ({names})" if report.categories_created else "")
            + f", {len(report.categories_existing)} already there")
    counts = (f"{report.imported} of {report.rows} products: {report.inserted} new, {report.updated} updated, "
              f"{report.unchanged} unchanged; {cats}")
    if report.dry_run:
        verdict = ("dry run, nothing was written: the import would be refused (add --skip-bad to import the rest: "
                   if report.aborts else "dry run, nothing was written: would import ")
        text.append(verdict + counts + (")" if report.aborts else ""))
    else:
        text.append(f"imported {counts}; legacy stock posted as opening stock adjustments")
    emit(args, {"mapping": mapping.to_dict(), **data}, "\n".join(text))
    return None


LEGACY_COMMANDS: dict[str, Callable[[argparse.Namespace], Any]] = {"import-legacy": cmd_import_legacy}
