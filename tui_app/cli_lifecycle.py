"""`stockbank product delete|restore|purge`, `archive` and `asof`: the data lifecycle from the shell."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from tui_app.cli_support import Progress, emit, money, open_cli_backend, text_table, usage_error, whole_number


def add_lifecycle_commands(sub: argparse._SubParsersAction) -> None:
    product = sub.add_parser("product", help="a product's lifecycle: delete (soft), restore, purge, deleted")
    act = product.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (("delete", "hide a product (soft delete: restorable, its stock and history stay)"),
                         ("restore", "bring a deleted product back as it was"),
                         ("purge", "remove a deleted product for good (its stock is written off; a tombstone stays)")):
        one = act.add_parser(action, help=text)
        one.add_argument("sku", metavar="SKU")
        if action == "purge":
            one.add_argument("--yes", action="store_true", help="confirm: purging cannot be undone")
    act.add_parser("deleted", help="the soft-deleted products")

    archive = sub.add_parser("archive", help="move transfers, stock moves and audit entries older than a date "
                                             "into the archive tables, batch by batch")
    archive.add_argument("--before", required=True, metavar="WHEN", help="a date or time, UTC (e.g. 2026-01-01)")
    archive.add_argument("--batch", default="5000", metavar="N", help="rows of each kind per transaction (default 5000)")

    asof = sub.add_parser("asof", help="balances (and with --stock, stock) as they were at a past moment")
    asof.add_argument("when", metavar="WHEN", help="a date (its end), a time (UTC), `day N` (end of day N) or now")
    asof.add_argument("--stock", action="store_true", help="show stock per product and location instead")


def cmd_product(args: argparse.Namespace) -> None:
    backend = open_cli_backend(args)
    try:
        catalog = backend.sim.catalog
        if args.action == "deleted":
            from domain.model import ProductQuery

            rows = catalog.find_products(ProductQuery(include_inactive=True, deleted=True), limit=10_000)
            table = [(str(p.id), p.sku, p.name, str(p.quantity)) for p in rows]
            emit(args, {"products": [{"id": p.id, "sku": p.sku, "name": p.name} for p in rows]},
                 text_table(("id", "sku", "name", "on hand"), table, {0, 3}) if rows else "no deleted products")
            return
        if args.action == "purge" and not args.yes:
            raise usage_error("purge removes the product for good; add --yes to confirm")
        current = catalog.get_product_by_sku(args.sku)
        change = {"delete": catalog.delete_product, "restore": catalog.restore_product,
                  "purge": catalog.purge_product}[args.action]
        product = change(current.id, current.version)
        done = {"delete": "deleted (restore with `product restore`)", "restore": "restored", "purge": "purged"}
        emit(args, {"product": {"id": product.id, "sku": product.sku, "deleted_at": product.deleted_at}},
             f"product {product.id} {product.sku} is {done[args.action]}")
    finally:
        backend.close()


def cmd_archive(args: argparse.Namespace) -> None:
    backend = open_cli_backend(args)
    try:
        with Progress(args, "archiving", total=None) as bar:  # type: ignore[arg-type]
            report = backend.sim.lifecycle.archive(
                args.before, batch_size=whole_number(args.batch, "batch") or 0,
                progress=lambda r: bar.update(r.transfers + r.moves + r.audit),
            )
        emit(args, {"archive": report._asdict()},
             f"archived {report.transfers} transfers, {report.moves} stock moves and {report.audit} audit entries "
             f"older than {report.before} in {report.batches} batches" if report.batches else
             f"nothing older than {report.before} to archive")
    finally:
        backend.close()


def cmd_asof(args: argparse.Namespace) -> None:
    backend = open_cli_backend(args)
    try:
        life = backend.sim.lifecycle
        moment = life.moment(args.when)
        if args.stock:
            levels = life.stock_asof(args.when)
            names = {loc.id: loc.name for loc in backend.sim.inventory.locations(include_virtual=True)}
            skus = _skus(backend.sim, {lv.product_id for lv in levels})
            rows = [(skus.get(lv.product_id, f"#{lv.product_id}"), names.get(lv.location_id, str(lv.location_id)),
                     str(lv.on_hand), str(lv.incoming), str(lv.outgoing)) for lv in levels]
            emit(args, {"as_of": moment.label, "levels": [lv._asdict() for lv in levels]},
                 f"stock as of {moment.label}\n" + (text_table(("sku", "location", "on hand", "incoming", "outgoing"),
                                                                rows, {2, 3, 4}) if rows else "no stock"))
            return
        accounts = life.balances_asof(args.when)
        rows = [(str(a.id), a.name, a.kind, money(a.balance), money(a.debits_pending), money(a.credits_pending))
                for a in accounts]
        emit(args, {"as_of": moment.label, "accounts": [
            {"id": a.id, "name": a.name, "balance": money(a.balance), "balance_minor": a.balance,
             "pending_out_minor": a.debits_pending, "pending_in_minor": a.credits_pending} for a in accounts]},
             f"balances as of {moment.label}\n"
             + text_table(("id", "name", "kind", "balance", "pending out", "pending in"), rows, {0, 3, 4, 5}))
    finally:
        backend.close()


def _skus(sim: Any, product_ids: set[int]) -> dict[int, str]:
    from domain.errors import NotFound

    found = {}
    for pid in product_ids:
        try:
            found[pid] = sim.catalog.get_product(pid).sku
        except NotFound:  # a purged product: its history stays, its row went (shown as #id)
            pass
    return found


LIFECYCLE_COMMANDS: dict[str, Callable[[argparse.Namespace], Any]] = {
    "product": cmd_product, "archive": cmd_archive, "asof": cmd_asof,
}
