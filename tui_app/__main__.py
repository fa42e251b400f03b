"""`stockbank`: the TUI by default, and its non-interactive twin, the CLI, over the same services.

Exit codes: 0 ok, 1 refused (a DomainError; nothing changed), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from domain.errors import DomainError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stockbank",
        description="A small shop's books in the terminal. Without a command, opens the TUI.",
    )
    parser.add_argument("--db", help="store URL: sqlite:///path.db (default), memory:// ... ; env STOCKBANK_DB")
    parser.add_argument("--tenant", default="default", help="whose books to open (default: default)")
    parser.add_argument("--actor", help="who is acting, recorded in the audit log (default: the OS user)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="add demo categories and products")
    demo.add_argument("--products", type=int, default=50, help="how many products (default 50)")
    demo.add_argument("--seed", type=int, default=7)

    imp = sub.add_parser("import", help="import data from a file (all or nothing)")
    imp_sub = imp.add_subparsers(dest="what", required=True, metavar="WHAT")
    imp_products = imp_sub.add_parser("products", help="upsert products by SKU from a CSV file")
    imp_products.add_argument("file")

    exp = sub.add_parser("export", help="export data to CSV")
    exp_sub = exp.add_subparsers(dest="what", required=True, metavar="WHAT")
    exp_products = exp_sub.add_parser("products", help="export products to CSV")
    exp_products.add_argument("--out", help="file to write (default: standard output)")
    exp_products.add_argument("--filter", default="", help="only products whose name or SKU contains this")
    exp_products.add_argument("--category", help="only this category and its subcategories")
    exp_products.add_argument("--all", action="store_true", help="include inactive products")

    mig = sub.add_parser("migrate", help="upgrade the database schema to this version's head")
    mig.add_argument("--status", action="store_true", help="only show the current revision")

    sub.add_parser("check", help="verify invariants; exit 1 with a report if any fails")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        return _run_tui(args)
    handler: Callable[[argparse.Namespace], Any] = COMMANDS[args.command]
    try:
        result = handler(args)
    except DomainError as e:
        if args.json:
            print(json.dumps({"ok": False, "error": e.to_dict()}))
        else:
            print(f"error [{e.code}]: {e.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; nothing was changed by the unfinished command", file=sys.stderr)
        return 130
    if isinstance(result, int):
        return result
    return 0


def _run_tui(args: argparse.Namespace) -> int:
    from tui_app.app import StockbankApp
    from tui_app.bootstrap import open_backend

    try:
        backend = open_backend(args.db, tenant=args.tenant, actor=args.actor)
    except DomainError as e:
        print(f"error [{e.code}]: {e.message}", file=sys.stderr)
        return 1
    try:
        StockbankApp(backend).run()
    finally:
        backend.close()
    return 0


def _backend(args: argparse.Namespace, demo_if_empty: bool = False):
    from tui_app.bootstrap import open_backend

    return open_backend(args.db, tenant=args.tenant, actor=args.actor, demo_if_empty=demo_if_empty)


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(json.dumps({"ok": True, **data}) if args.json else text)


class _Progress:
    """A rich progress bar on stderr (hidden with --json or when stderr is not a terminal)."""

    def __init__(self, args: argparse.Namespace, label: str, total: int):
        self._bar = None
        if not args.json and sys.stderr.isatty():
            from rich.progress import Progress

            self._bar = Progress(transient=True, console=None)
            self._task = self._bar.add_task(label, total=total)

    def __enter__(self) -> _Progress:
        if self._bar:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar:
            self._bar.stop()

    def update(self, done: int, total: int | None = None) -> None:
        if self._bar:
            self._bar.update(self._task, completed=done, total=total)


def cmd_demo(args: argparse.Namespace) -> None:
    from tui_app.bootstrap import seed_demo

    if args.products < 0 or args.products > 50_000_000:
        raise _usage("--products: between 0 and 50000000")
    backend = _backend(args)
    try:
        with _Progress(args, "demo products", args.products) as bar:
            count = seed_demo(backend.sim, args.products, args.seed, progress=bar.update)
    finally:
        backend.close()
    _emit(args, {"products": count}, f"added or refreshed {count} demo products")


def cmd_import(args: argparse.Namespace) -> None:
    from storage.csvio import file_size

    backend = _backend(args)
    try:
        with _Progress(args, f"import {args.file}", file_size(args.file)) as bar:
            result = backend.import_products(args.file, progress=bar.update)
    finally:
        backend.close()
    _emit(
        args,
        {"rows": result.rows, "inserted": result.inserted, "updated": result.updated, "unchanged": result.unchanged},
        f"imported {result.rows} rows: {result.inserted} new, {result.updated} updated, {result.unchanged} unchanged",
    )


def cmd_export(args: argparse.Namespace) -> None:
    from domain.model import ProductQuery
    from tui_app.files import atomic_text_file

    backend = _backend(args)
    try:
        category_ids: tuple[int, ...] = ()
        if args.category:
            category = backend.sim.catalog.find_category(args.category)
            category_ids = backend.sim.catalog.category_subtree(category.id)
        query = ProductQuery(text=args.filter, category_ids=category_ids, include_inactive=args.all)
        if args.out:
            with atomic_text_file(args.out) as out:
                count = backend.export_products(query, out)
            _emit(args, {"rows": count, "file": args.out}, f"exported {count} products to {args.out}")
        else:
            backend.export_products(query, sys.stdout)
    finally:
        backend.close()


def cmd_migrate(args: argparse.Namespace) -> None:
    from storage.migrations import HEAD
    from tui_app.bootstrap import open_backend, resolve_db_url

    url = resolve_db_url(args.db)
    if args.status and url.startswith("sqlite:///"):
        url += ("&" if "?" in url else "?") + "migrate=no"  # --status only looks
    # opening upgrades an older database (after a backup) or refuses a newer one
    backend = open_backend(url, tenant=args.tenant, actor=args.actor, demo_if_empty=False)
    revision = getattr(backend.sim.store, "revision", HEAD)
    backend.close()
    state = "head" if revision == HEAD else f"older than head {HEAD}; run `stockbank migrate` to upgrade"
    _emit(args, {"revision": revision, "head": HEAD}, f"schema at revision {revision} ({state})")


def cmd_check(args: argparse.Namespace) -> int:
    backend = _backend(args)
    try:
        report = backend.sim.check()
    finally:
        backend.close()
    if args.json:
        print(json.dumps({"ok": report.ok, "problems": report.problems, "checked": report.checked}))
    else:
        counts = ", ".join(f"{v} {k}" for k, v in report.checked.items())
        print(f"ok: checked {counts}" if report.ok else "\n".join(["FAILED:", *report.problems]))
    return 0 if report.ok else 1


def _usage(message: str) -> DomainError:
    from domain.errors import ValidationError

    return ValidationError(message)


COMMANDS: dict[str, Callable[[argparse.Namespace], Any]] = {
    "demo": cmd_demo,
    "import": cmd_import,
    "export": cmd_export,
    "migrate": cmd_migrate,
    "check": cmd_check,
}

if __name__ == "__main__":
    sys.exit(main())
