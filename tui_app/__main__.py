"""`stockbank`: the TUI by default, and its non-interactive twin, the CLI, over the same services.

Exit codes: 0 ok, 1 refused (a DomainError; nothing changed), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from domain.errors import DomainError
from domain.model import parse_ref
from tui_app.cli_attachments import ATTACHMENT_COMMANDS, add_attachment_commands
from tui_app.cli_audit import AUDIT_COMMANDS, add_audit_commands
from tui_app.cli_backup import BACKUP_COMMANDS, add_backup_commands
from tui_app.cli_cache import CACHE_COMMANDS, add_cache_commands
from tui_app.cli_copy import COPY_COMMANDS, add_copy_commands
from tui_app.cli_legacy import LEGACY_COMMANDS, add_legacy_commands
from tui_app.cli_lifecycle import LIFECYCLE_COMMANDS, add_lifecycle_commands
from tui_app.cli_saves import SAVES_COMMANDS, add_saves_commands
from tui_app.cli_serve import SERVE_COMMANDS, add_serve_commands
from tui_app.cli_stock import STOCK_COMMANDS, add_stock_commands
from tui_app.cli_support import (
    Progress,
    bulk_loading,
    emit,
    money,
    open_cli_backend,
    text_table,
    usage_error,
    whole_number,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stockbank",
        description="A small shop's books in the terminal. Without a command, opens the TUI.",
    )
    parser.add_argument("--db", help="store URL: sqlite:///path.db (default), memory:// ... ; env STOCKBANK_DB")
    parser.add_argument("--tenant", default="default", help="whose books to open (default: default)")
    parser.add_argument("--actor", help="who is acting, recorded in the audit log (default: the OS user)")
    parser.add_argument(
        "--rate-limit", metavar="N/SECONDS",
        help="at most N transfers per actor in any SECONDS window (default 10000/60); env STOCKBANK_RATE_LIMIT",
    )
    parser.add_argument(
        "--cache", metavar="SPEC",
        help="read cache for hot reads: memory, redis://127.0.0.1:6379/0 or off (default off); env STOCKBANK_CACHE",
    )
    parser.add_argument("--config", metavar="FILE",
                        help="settings file (keys, theme); default: the user config folder; env STOCKBANK_CONFIG")
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
    exp_products.add_argument("--sort", default="name", metavar="COLUMN",
                              help="order by name (default), sku, price, quantity or value, as the Products screen")
    exp_products.add_argument("--desc", action="store_true", help="in descending order")

    mig = sub.add_parser("migrate", help="upgrade the database schema to this version's head")
    mig.add_argument("--status", action="store_true", help="only show the current revision")

    sub.add_parser("check", help="verify invariants (catalog and ledger); exit 1 with a report if any fails")

    _add_bank_commands(sub)
    add_stock_commands(sub)
    add_audit_commands(sub)
    add_lifecycle_commands(sub)
    add_attachment_commands(sub)
    add_backup_commands(sub)
    add_saves_commands(sub)
    add_copy_commands(sub)
    add_legacy_commands(sub)
    add_cache_commands(sub)
    add_serve_commands(sub)
    return parser


_REF = "an account name, or its id when all digits"


def _add_bank_commands(sub: argparse._SubParsersAction) -> None:
    acct = sub.add_parser("account", help="bank accounts: open, list, show, statement, freeze, unfreeze, close")
    acct_sub = acct.add_subparsers(dest="action", required=True, metavar="ACTION")
    opening = acct_sub.add_parser("open", help="open an account (an opening balance comes from the Cash account)")
    opening.add_argument("name")
    opening.add_argument("--kind", default="customer", help="customer (default), shop or supplier")
    opening.add_argument("--currency", default="EUR", help="three-letter code (default EUR)")
    opening.add_argument("--opening-balance", default="0", metavar="AMOUNT", help="e.g. 100.00 (default 0)")
    opening.add_argument("--overdraft-limit", default="0", metavar="AMOUNT", help="how far below zero it may go (default 0)")
    listing = acct_sub.add_parser("list", help="every account with its balance")
    listing.add_argument("--deleted", action="store_true", help="also list soft-deleted accounts")
    show = acct_sub.add_parser("show", help="one account: balance, available, pending, status")
    show.add_argument("ref", metavar="REF", help=_REF)
    statement = acct_sub.add_parser("statement", help="an account's transfers, newest first, with the balance after each")
    statement.add_argument("ref", metavar="REF", help=_REF)
    statement.add_argument("--limit", default="50", metavar="N", help="lines to show (default 50, at most 10000)")
    statement.add_argument("--out", metavar="FILE.csv", help="write the whole statement to this CSV file instead")
    statement.add_argument("--archive", action="store_true", help="include archived transfers")
    for action, text in (("freeze", "stop all money moving in or out"), ("unfreeze", "let money move again"),
                         ("close", "close for good (balance and pending must be zero)"),
                         ("delete", "hide an empty account (soft delete: restorable, kept for history)"),
                         ("restore", "bring a deleted account back"),
                         ("purge", "remove a deleted account for good (only if no transfer names it)")):
        one = acct_sub.add_parser(action, help=text)
        one.add_argument("ref", metavar="REF", help=_REF)
        if action == "purge":
            one.add_argument("--yes", action="store_true", help="confirm: purging cannot be undone")

    transfer = sub.add_parser("transfer", help="move money between two accounts in one transaction")
    transfer.add_argument("source", metavar="SRC", help=_REF)
    transfer.add_argument("target", metavar="DST", help=_REF)
    transfer.add_argument("amount", metavar="AMOUNT", help="e.g. 12.50")
    transfer.add_argument("--key", help="idempotency key: a retry with the same key is applied once")
    transfer.add_argument("--memo", default="")
    transfer.add_argument("--pending", action="store_true", help="only reserve the money until `post` or `void`")
    transfer.add_argument("--timeout", metavar="SECONDS", help="a pending transfer is voided after this long")

    post = sub.add_parser("post", help="post a pending transfer, in full or in part")
    post.add_argument("id", metavar="ID", help="the pending transfer's id")
    post.add_argument("--amount", help="post only this much; the rest is released (default: all)")
    post.add_argument("--key", help="idempotency key")
    void = sub.add_parser("void", help="cancel a pending transfer and release its money")
    void.add_argument("id", metavar="ID", help="the pending transfer's id")
    void.add_argument("--key", help="idempotency key")

    for name, text in (("deposit", "money comes in: Cash -> account"), ("withdraw", "money goes out: account -> Cash")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("ref", metavar="REF", help=_REF)
        cmd.add_argument("amount", metavar="AMOUNT", help="e.g. 12.50")
        cmd.add_argument("--key", help="idempotency key")
        cmd.add_argument("--memo", help=f"default: {'deposit' if name == 'deposit' else 'withdrawal'}")


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
    except BrokenPipeError:  # `stockbank ... | head`: the reader left; the command itself finished
        sys.stdout = open(os.devnull, "w")
        return 0
    if isinstance(result, int):
        return result
    return 0


def _run_tui(args: argparse.Namespace) -> int:
    """The app, with the start-up check: a damaged database gets the recovery screen (tui_app/recovery.py)."""
    from tui_app.recovery import launch_tui

    return launch_tui(args.db, tenant=args.tenant, actor=args.actor, rate_limit=args.rate_limit, cache=args.cache,
                      config=args.config)


def cmd_demo(args: argparse.Namespace) -> None:
    import gc

    from tui_app.bootstrap import seed_demo

    if args.products < 0 or args.products > 50_000_000:
        raise usage_error("--products: between 0 and 50000000")
    backend = open_cli_backend(args)
    collecting = gc.isenabled()
    try:
        # One transaction (the services' own become savepoints): all or nothing, and one commit
        # instead of one per demo cost, account and transfer. The cyclic GC is off meanwhile: millions
        # of short-lived row tuples, no cycles, and its passes over them cost ~5 % of a 1M-product demo.
        gc.disable()
        with Progress(args, "demo products", args.products) as bar, bulk_loading(backend), backend.sim.ctx.writing():
            count = seed_demo(backend.sim, args.products, args.seed, progress=bar.update)
    finally:
        if collecting:
            gc.enable()
        backend.close()
    emit(args, {"products": count}, f"added or refreshed {count} demo products")


def cmd_import(args: argparse.Namespace) -> None:
    from storage.csvio import file_size

    backend = open_cli_backend(args)
    try:
        with Progress(args, f"import {args.file}", file_size(args.file)) as bar, bulk_loading(backend):
            result = backend.import_products(args.file, progress=bar.update)
    finally:
        backend.close()
    emit(
        args,
        {"rows": result.rows, "inserted": result.inserted, "updated": result.updated, "unchanged": result.unchanged},
        f"imported {result.rows} rows: {result.inserted} new, {result.updated} updated, {result.unchanged} unchanged",
    )


def cmd_export(args: argparse.Namespace) -> None:
    from domain.model import ProductQuery
    from tui_app.files import atomic_text_file

    backend = open_cli_backend(args)
    try:
        category_ids: tuple[int, ...] = ()
        if args.category:
            category = backend.sim.catalog.find_category(args.category)
            category_ids = backend.sim.catalog.category_subtree(category.id)
        query = ProductQuery(text=args.filter, category_ids=category_ids, include_inactive=args.all, sort=args.sort,
                             descending=args.desc)
        if args.out:
            with atomic_text_file(args.out) as out:
                count = backend.export_products(query, out)
            emit(args, {"rows": count, "file": args.out}, f"exported {count} products to {args.out}")
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
    backend = open_backend(url, tenant=args.tenant, actor=args.actor, demo_if_empty=False, rate_limit=args.rate_limit)
    revision = getattr(backend.sim.store, "revision", HEAD)
    backend.close()
    state = "head" if revision == HEAD else f"older than head {HEAD}; run `stockbank migrate` to upgrade"
    emit(args, {"revision": revision, "head": HEAD}, f"schema at revision {revision} ({state})")


def cmd_check(args: argparse.Namespace) -> int:
    backend = open_cli_backend(args)
    try:
        report = backend.sim.check()
    finally:
        backend.close()
    if args.json:
        print(json.dumps({"ok": report.ok, "problems": report.problems, "checked": report.checked}))
    else:
        counts = ", ".join(_checked(k, v) for k, v in report.checked.items())
        if report.ok:
            print(f"ok: checked {counts}")
        else:
            print("\n".join([f"FAILED: {len(report.problems)} problem(s)", *(f"  {p}" for p in report.problems),
                             f"checked {counts}"]))
    return 0 if report.ok else 1


def _checked(key: str, value: int) -> str:
    from domain.money import format_minor

    if key.endswith("_minor"):  # e.g. cash_brought_in_minor -> "1,000.00 cash brought in"
        return f"{format_minor(value)} {key.removesuffix('_minor').replace('_', ' ')}"
    return f"{value} {key}"


# -- bank ---------------------------------------------------------------------------------------


def _account_data(a: Any) -> dict[str, Any]:
    return {
        "id": a.id, "name": a.name, "kind": a.kind, "currency": a.currency, "status": a.status, "version": a.version,
        "balance": money(a.balance), "available": money(a.available), "pending_out": money(a.debits_pending),
        "pending_in": money(a.credits_pending), "overdraft_limit": money(a.overdraft_limit),
        "balance_minor": a.balance, "available_minor": a.available, "deleted_at": a.deleted_at,
    }


def _account_text(a: Any) -> str:
    limit = f", overdraft limit {money(a.overdraft_limit)}" if a.overdraft_limit else ""
    return (
        f"account {a.id} {a.name} ({a.kind}, {a.status}{limit})\n"
        f"  balance    {money(a.balance):>15} {a.currency}\n"
        f"  available  {money(a.available):>15} {a.currency}\n"
        f"  pending    {money(a.debits_pending):>15} {a.currency} out, {money(a.credits_pending)} in"
    )


def _transfer_data(t: Any) -> dict[str, Any]:
    return {
        "id": t.id, "kind": t.kind, "source_id": t.debit_account_id, "target_id": t.credit_account_id,
        "amount": money(t.amount_minor), "amount_minor": t.amount_minor, "currency": t.currency, "memo": t.memo,
        "idempotency_key": t.idempotency_key, "pending_id": t.pending_id, "expires_at": t.expires_at,
        "created_at": t.created_at, "actor": t.actor, "source_balance_after": money(t.debit_balance_after),
        "target_balance_after": money(t.credit_balance_after),
    }


def _emit_transfer(args: argparse.Namespace, backend: Any, t: Any) -> None:
    if args.json:
        emit(args, {"transfer_id": t.id, "transfer": _transfer_data(t)}, "")
        return
    source = backend.sim.bank.get_account(t.debit_account_id).name
    target = backend.sim.bank.get_account(t.credit_account_id).name
    amount = f"{money(t.amount_minor)} {t.currency}"
    if t.kind == "pending":
        expires = f", expires {t.expires_at}" if t.expires_at else ""
        text = f"{amount} reserved from {source} for {target} (post or void it by id{expires})"
    elif t.kind == "void":
        text = f"pending transfer {t.pending_id} voided; {amount} released to {source}"
    elif t.kind == "expire":
        text = f"pending transfer {t.pending_id} expired; {amount} released to {source}"
    else:
        what = f"posted {amount} of pending transfer {t.pending_id}" if t.kind == "post" else amount
        text = (f"{what} from {source} to {target}; {source} balance {money(t.debit_balance_after)}, "
                f"{target} balance {money(t.credit_balance_after)}")
    print(f"transfer {t.id} {t.kind}: {text}")


def cmd_account(args: argparse.Namespace) -> None:
    backend = open_cli_backend(args)
    try:
        bank = backend.sim.bank
        if args.action == "open":
            account = bank.open_account(args.name, args.kind, currency=args.currency,
                                        opening_balance=args.opening_balance, overdraft_limit=args.overdraft_limit)
            emit(args, {"account": _account_data(account)}, f"opened {_account_text(account)}")
        elif args.action == "list":
            accounts = bank.accounts(include_deleted=args.deleted)
            rows = [(str(a.id), a.name, a.kind, a.currency, money(a.balance), money(a.available), a.status)
                    for a in accounts]
            header = ("id", "name", "kind", "currency", "balance", "available", "status")
            emit(args, {"accounts": [_account_data(a) for a in accounts]},
                 text_table(header, rows, {0, 4, 5}) if rows else "no accounts yet; open one with `stockbank account open NAME`")
        elif args.action == "show":
            account = bank.get_account(parse_ref(args.ref))
            emit(args, {"account": _account_data(account)}, _account_text(account))
        elif args.action == "statement":
            _statement(args, backend)
        else:  # freeze, unfreeze, close, delete, restore, purge: apply to the version just read
            if args.action == "purge" and not args.yes:
                raise usage_error("purge removes the account for good; add --yes to confirm")
            change = {"freeze": bank.freeze, "unfreeze": bank.unfreeze, "close": bank.close_account,
                      "delete": bank.delete_account, "restore": bank.restore_account,
                      "purge": bank.purge_account}[args.action]
            current = bank.get_account(parse_ref(args.ref))
            account = change(current.id, current.version)
            state = {"delete": "deleted (restore with `account restore`)", "restore": "restored",
                     "purge": "purged"}.get(args.action, f"now {account.status}")
            emit(args, {"account": _account_data(account)}, f"account {account.id} {account.name} is {state}")
    finally:
        backend.close()


def _statement(args: argparse.Namespace, backend: Any) -> None:
    from tui_app.files import atomic_text_file

    bank = backend.sim.bank
    account = bank.get_account(parse_ref(args.ref))
    if args.out:
        with atomic_text_file(args.out) as out:
            count = backend.export_statement(account.id, out)
        emit(args, {"account_id": account.id, "rows": count, "file": args.out},
              f"exported {count} statement lines of {account.name} to {args.out}")
        return
    lines = bank.statement(account.id, limit=whole_number(args.limit, "limit") or 0, include_archive=args.archive)
    data = [{"transfer_id": ln.transfer_id, "at": ln.at, "kind": ln.kind, "counterparty": ln.counterparty,
             "memo": ln.memo, "amount": money(ln.amount_minor), "balance_after": money(ln.balance_after),
             "pending": ln.pending} for ln in lines]
    text = [f"{account.name} (account {account.id}): balance {money(account.balance)} {account.currency}, "
            f"available {money(account.available)}"]
    for ln in lines:
        sign = "+" if ln.amount_minor > 0 else ""
        text.append(f"{ln.transfer_id:>8}  {ln.at[:19]}  {ln.kind:<7}  {sign + money(ln.amount_minor):>14}  "
                    f"{money(ln.balance_after):>14}  {ln.counterparty}{'  ' + ln.memo if ln.memo else ''}")
    if not lines:
        text.append("no transfers yet")
    emit(args, {"account": _account_data(account), "lines": data}, "\n".join(text))


def cmd_transfer(args: argparse.Namespace) -> None:
    timeout = whole_number(args.timeout, "timeout_seconds")
    backend = open_cli_backend(args)
    try:
        done = backend.sim.bank.transfer(parse_ref(args.source), parse_ref(args.target), args.amount, idempotency_key=args.key,
                                         memo=args.memo, pending=args.pending, timeout_seconds=timeout)
        _emit_transfer(args, backend, done)
    finally:
        backend.close()


def cmd_post(args: argparse.Namespace) -> None:
    pending_id = whole_number(args.id, "id")
    backend = open_cli_backend(args)
    try:
        _emit_transfer(args, backend, backend.sim.bank.post(pending_id, args.amount, idempotency_key=args.key))
    finally:
        backend.close()


def cmd_void(args: argparse.Namespace) -> None:
    pending_id = whole_number(args.id, "id")
    backend = open_cli_backend(args)
    try:
        _emit_transfer(args, backend, backend.sim.bank.void(pending_id, idempotency_key=args.key))
    finally:
        backend.close()


def cmd_cash(args: argparse.Namespace) -> None:
    backend = open_cli_backend(args)
    try:
        move = backend.sim.bank.deposit if args.command == "deposit" else backend.sim.bank.withdraw
        extra = {"memo": args.memo} if args.memo is not None else {}
        _emit_transfer(args, backend, move(parse_ref(args.ref), args.amount, idempotency_key=args.key, **extra))
    finally:
        backend.close()


COMMANDS: dict[str, Callable[[argparse.Namespace], Any]] = {
    "demo": cmd_demo,
    "import": cmd_import,
    "export": cmd_export,
    "migrate": cmd_migrate,
    "check": cmd_check,
    "account": cmd_account,
    "transfer": cmd_transfer,
    "post": cmd_post,
    "void": cmd_void,
    "deposit": cmd_cash,
    "withdraw": cmd_cash,
    **STOCK_COMMANDS,
    **AUDIT_COMMANDS,
    **LIFECYCLE_COMMANDS,
    **ATTACHMENT_COMMANDS,
    **BACKUP_COMMANDS,
    **SAVES_COMMANDS,
    **COPY_COMMANDS,
    **LEGACY_COMMANDS,
    **CACHE_COMMANDS,
    **SERVE_COMMANDS,
}

if __name__ == "__main__":
    sys.exit(main())
