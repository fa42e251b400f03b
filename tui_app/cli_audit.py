"""`stockbank audit ...`: the Audit screen's non-interactive twin (list, show, verify, export, undo)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from tui_app.cli_support import Progress, emit, open_cli_backend, text_table, whole_number


def add_audit_commands(sub: argparse._SubParsersAction) -> None:
    audit = sub.add_parser("audit", help="the tamper-evident audit log: list, show, verify, export, undo")
    act = audit.add_subparsers(dest="action", required=True, metavar="ACTION")

    def filters(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--actor", default="", help="only entries by this user")
        cmd.add_argument("--entity", default="", help="only this kind of record: product, account, transfer, ...")
        cmd.add_argument("--action", dest="what", default="", help="only this action: create, update, delete, ...")
        cmd.add_argument("--since", default="", metavar="WHEN", help="from this date or time (UTC, inclusive)")
        cmd.add_argument("--until", default="", metavar="WHEN", help="up to this date or time (UTC, inclusive)")
        cmd.add_argument("--text", default="", help="only entries whose id, data or request key contains this")
        cmd.add_argument("--live-only", action="store_true", help="leave out archived entries")

    listing = act.add_parser("list", help="entries, newest first")
    filters(listing)
    listing.add_argument("--limit", default="50", metavar="N", help="entries to show (default 50, at most 10000)")
    show = act.add_parser("show", help="one entry with its before/after diff")
    show.add_argument("id", metavar="ID")
    act.add_parser("verify", help="recompute the hash chain; exit 1 naming the first broken link")
    undo = act.add_parser("undo", help="undo the transfer or stock move an entry recorded, by a reversing entry")
    undo.add_argument("id", metavar="ID", help="the audit entry's id")
    undo.add_argument("--reason", default="", help="why (kept in the reversing entry's memo)")
    export = act.add_parser("export", help="write the entries a filter matches to a CSV file")
    filters(export)
    export.add_argument("--out", required=True, metavar="FILE.csv")


def _query(args: argparse.Namespace):
    from domain.model import AuditQuery

    return AuditQuery(actor=args.actor, entity=args.entity, action=args.what, since=args.since, until=args.until,
                      text=args.text, include_archive=not args.live_only)


def entry_data(e: Any) -> dict[str, Any]:
    return {"id": e.id, "at": e.at, "actor": e.actor, "entity": e.entity, "entity_id": e.entity_id,
            "action": e.action, "before": json.loads(e.before) if e.before else None,
            "after": json.loads(e.after) if e.after else None, "request_key": e.request_key,
            "prev_hash": e.prev_hash, "hash": e.hash}


def cmd_audit(args: argparse.Namespace) -> int | None:
    backend = open_cli_backend(args)
    try:
        return _ACTIONS[args.action](args, backend)
    finally:
        backend.close()


def _list(args: argparse.Namespace, backend: Any) -> None:
    limit = whole_number(args.limit, "limit") or 0
    entries = backend.sim.audit.entries(_query(args), limit=limit)
    rows = [(str(e.id), e.at[:19].replace("T", " "), e.actor, e.entity, e.entity_id, e.action) for e in entries]
    text = text_table(("id", "at (UTC)", "actor", "entity", "entity id", "action"), rows, {0}) if rows else "no entries match"
    emit(args, {"entries": [entry_data(e) for e in entries]}, text)


def _show(args: argparse.Namespace, backend: Any) -> None:
    from domain.services.audit import entry_changes

    entry = backend.sim.audit.entry(whole_number(args.id, "id"))
    changes = entry_changes(entry)
    lines = [f"entry {entry.id} at {entry.at} by {entry.actor}: {entry.action} {entry.entity} {entry.entity_id}"]
    if entry.request_key:
        lines.append(f"request key: {entry.request_key}")
    lines += [f"  {c.field}: {json.dumps(c.before)} -> {json.dumps(c.after)}" for c in changes]
    lines.append(f"hash {entry.hash} (previous {entry.prev_hash})")
    emit(args, {"entry": entry_data(entry),
                "changes": [{"field": c.field, "before": c.before, "after": c.after} for c in changes]},
         "\n".join(lines))


def _verify(args: argparse.Namespace, backend: Any) -> int:
    with Progress(args, "verifying the audit chain", total=None) as bar:  # type: ignore[arg-type]
        report = backend.sim.audit.verify(progress=bar.update)
    if report.ok:
        emit(args, {"verified": True, "checked": report.checked},
             f"audit chain ok: {report.checked} entries, every link verified")
        return 0
    data = {"verified": False, "checked": report.checked, "broken_id": report.broken_id, "problem": report.problem}
    if args.json:
        print(json.dumps({"ok": False, **data}))
    else:
        print(f"audit chain BROKEN at entry {report.broken_id}: {report.problem} "
              f"({report.checked} entries before it verified)")
    return 1


def _export(args: argparse.Namespace, backend: Any) -> None:
    from tui_app.files import atomic_text_file

    query = _query(args)
    backend.sim.audit.entries(query, limit=1)  # a bad filter is refused before the file is created
    with atomic_text_file(args.out) as out:
        count = backend.export_audit(query, out)
    emit(args, {"rows": count, "file": args.out}, f"exported {count} audit entries to {args.out}")


def _undo(args: argparse.Namespace, backend: Any) -> None:
    reversal = backend.sim.audit.undo(whole_number(args.id, "id"), args.reason)
    what = "stock move" if hasattr(reversal, "product_id") else "transfer"
    emit(args, {"reversal": {"entity": what.replace(" ", "_"), "id": reversal.id, "kind": reversal.kind,
                             "reverses_id": reversal.reverses_id, "pending_id": reversal.pending_id}},
         f"undone: {what} {reversal.id} ({reversal.kind}) "
         + (f"reverses {reversal.reverses_id}" if reversal.reverses_id else f"resolves {reversal.pending_id}"))


_ACTIONS: dict[str, Callable[[argparse.Namespace, Any], Any]] = {
    "list": _list, "show": _show, "verify": _verify, "export": _export, "undo": _undo,
}
AUDIT_COMMANDS: dict[str, Callable[[argparse.Namespace], Any]] = {"audit": cmd_audit}
