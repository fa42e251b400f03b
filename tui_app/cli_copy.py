"""`stockbank copy --from URL --to URL`: one tenant's books from one store to another, checked at both ends."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from tui_app.cli_support import confirm, emit, usage_error


def add_copy_commands(sub: argparse._SubParsersAction) -> None:
    copy = sub.add_parser(
        "copy", help="copy a tenant's books between stores (e.g. SQLite -> PostgreSQL), then check both ends")
    copy.add_argument("--from", dest="source", required=True, metavar="URL", help="the store to copy from")
    copy.add_argument("--to", dest="target", required=True, metavar="URL", help="the store to copy into")
    copy.add_argument("--to-tenant", metavar="TENANT", help="the tenant at the target (default: --tenant)")
    copy.add_argument("--yes", action="store_true", help="replace the target's books without asking")


def cmd_copy(args: argparse.Namespace) -> int:
    from domain.services.copying import copy_tenant
    from domain.errors import NotFound
    from tui_app.bootstrap import masked, missing_database, open_backend

    if args.source == args.target and (args.to_tenant or args.tenant) == args.tenant:
        raise usage_error("--from and --to name the same store and tenant")
    if missing := missing_database(args.source):
        raise NotFound(f"no database at {missing} to copy from", field="from")
    source = open_backend(args.source, tenant=args.tenant, actor=args.actor, demo_if_empty=False, cache=args.cache)
    try:
        if source.sim.is_pristine():
            raise NotFound(f"tenant {args.tenant!r} has no books at {masked(args.source)}: nothing to copy", field="from")
        target = open_backend(args.target, tenant=args.to_tenant or args.tenant, actor=args.actor, demo_if_empty=False,
                              cache=args.cache)
        try:
            if not target.sim.is_pristine() and not confirm(
                    args, f"{masked(args.target)} already holds books for tenant {target.sim.tenant!r}; "
                          "the copy replaces them (its audit log is kept).", "the target's books"):
                print("nothing was copied")
                return 1
            report = copy_tenant(source.sim, target.sim, masked(args.source))
        finally:
            target.close()
    finally:
        source.close()
    counts = ", ".join(f"{v} {k}" for k, v in report.counts.items() if v)
    checks = (f"check at the source: {'ok' if report.source_check.ok else 'FAILED'}; at the target: "
              f"{'ok' if report.target_check.ok else 'FAILED'}; target audit chain: "
              f"{'ok' if report.target_chain.ok else 'BROKEN'} ({report.target_chain.checked} entries)")
    problems = [*report.source_check.problems, *report.target_check.problems]
    if not report.target_chain.ok:
        problems.append(f"audit entry {report.target_chain.broken_id}: {report.target_chain.problem}")
    emit(args, {"copied": report.counts, "replaced": report.replaced, "audit_entries": report.audit_entries,
                "source_ok": report.source_check.ok, "target_ok": report.target_check.ok,
                "chain_ok": report.target_chain.ok, "problems": problems},
         "\n".join([f"copied {counts or 'nothing'} and {report.audit_entries} audit entries "
                    f"from {masked(args.source)} to {masked(args.target)}", checks, *problems]))
    return 0 if report.ok else 1


COPY_COMMANDS: dict[str, Callable[[argparse.Namespace], Any]] = {"copy": cmd_copy}
