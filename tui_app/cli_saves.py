"""`stockbank save`, `load` and `saves`: the whole game to a file and back, from the shell."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from tui_app.cli_support import confirm, emit, money, open_cli_backend, text_table, usage_error

FORMATS = ("json", "yaml", "pickle")


def add_saves_commands(sub: argparse._SubParsersAction) -> None:
    save = sub.add_parser("save", help="save the whole game (catalog, bank, stock, clock) to a named slot")
    save.add_argument("name", help="the slot's name (letters, digits, space, _ - .)")
    save.add_argument("--format", default="json", choices=FORMATS, help="json (default), yaml or pickle (signed)")

    load = sub.add_parser("load", help="replace the live game with a slot's (all or nothing)")
    load.add_argument("name", help="a slot's name, or the path of a save file")
    load.add_argument("--yes", action="store_true", help="do not ask (needed when not on a terminal)")

    saves = sub.add_parser("saves", help="the save slots: list (default), show, diff, delete")
    act = saves.add_subparsers(dest="action", metavar="ACTION")
    act.add_parser("list", help="every slot, newest first, with its checksum status")
    for action, text in (("show", "one slot's header"), ("diff", "what loading the slot would change"),
                         ("delete", "remove a slot's file")):
        one = act.add_parser(action, help=text)
        one.add_argument("name")
        if action == "delete":
            one.add_argument("--yes", action="store_true", help="confirm the deletion")


def _slot_data(s: Any) -> dict[str, Any]:
    return {"name": s.name, "format": s.codec, "day": s.day, "size": s.size, "created_at": s.created_at,
            "format_version": s.format_version, "app_version": s.app_version, "ok": s.ok, "problem": s.problem,
            "path": s.path}


def _slot_row(s: Any) -> tuple[str, ...]:
    return (s.name, s.codec, "" if s.day is None else str(s.day), f"{s.size:,}", s.created_at[:19].replace("T", " "),
            "ok" if s.ok else f"BAD ({s.problem})")


def cmd_save(args: argparse.Namespace) -> None:
    backend = open_cli_backend(args)
    try:
        info = backend.sim.saves.save(args.name, args.format)
        emit(args, {"slot": _slot_data(info)}, f"saved day {info.day} to {info.name!r} ({info.codec}, {info.size:,} bytes): {info.path}")
    finally:
        backend.close()


def cmd_load(args: argparse.Namespace) -> int | None:
    backend = open_cli_backend(args)
    try:
        if not args.yes:
            diff = backend.sim.saves.diff(args.name)  # before asking: a bad file is refused, never confirmed
            question = (f"The live books (day {diff.day[0]}) will be replaced by {args.name!r} (day {diff.day[1]}); "
                        f"{len(diff.balances)} balance(s) and {len(diff.stock)} stock level(s) differ.")
            if not confirm(args, question, "the live books with the save's"):
                print("cancelled; nothing was changed", file=sys.stderr)
                return 1
        report = backend.sim.saves.load(args.name)
        upgraded = f" (upgraded from format v{report.upgraded_from})" if report.upgraded_from else ""
        counts = ", ".join(f"{k.replace('_', ' ')} {report.before[k]} -> {v}" for k, v in report.after.items())
        emit(args, {"slot": _slot_data(report.slot), "before": report.before, "after": report.after,
                    "upgraded_from": report.upgraded_from},
             f"loaded {report.slot.name!r} (day {report.slot.day}){upgraded}: {counts}")
    finally:
        backend.close()
    return None


def cmd_saves(args: argparse.Namespace) -> None:
    backend = open_cli_backend(args)
    try:
        saves = backend.sim.saves
        action = args.action or "list"
        if action == "list":
            slots = saves.slots()
            emit(args, {"slots": [_slot_data(s) for s in slots]},
                 text_table(("name", "format", "day", "bytes", "saved", "checksum"), [_slot_row(s) for s in slots], {2, 3})
                 if slots else "no saves yet (make one with `stockbank save NAME`)")
        elif action == "show":
            info = saves.slot(args.name)
            emit(args, {"slot": _slot_data(info)},
                 "\n".join(f"{k}: {v}" for k, v in _slot_data(info).items()))
        elif action == "diff":
            diff = saves.diff(args.name)
            emit(args, {"same": diff.same, "day": list(diff.day), "counts": {k: list(v) for k, v in diff.counts.items()},
                        "balances": [list(b) for b in diff.balances], "stock": [list(s) for s in diff.stock]},
                 _diff_text(args.name, diff))
        elif action == "delete":
            if not args.yes:
                raise usage_error("delete removes the save file; add --yes to confirm")
            info = saves.delete(args.name)
            emit(args, {"slot": _slot_data(info)}, f"deleted save {info.name!r} ({info.path})")
    finally:
        backend.close()


def _diff_text(name: str, diff: Any) -> str:
    if diff.same:
        return f"{name!r} holds the same books as the live game"
    lines = [f"day: live {diff.day[0]}, save {diff.day[1]}"]
    lines += [f"{kind.replace('_', ' ')}: live {live}, save {slot}" for kind, (live, slot) in diff.counts.items() if live != slot]

    def show(v: int | None, fmt: Callable[[int], str]) -> str:
        return "-" if v is None else fmt(v)

    if diff.balances:
        lines.append("balances (live -> save):")
        lines += [f"  {n}: {show(a, money)} -> {show(b, money)}" for n, a, b in diff.balances]
    if diff.stock:
        lines.append("stock on hand (live -> save):")
        lines += [f"  {sku}: {show(a, str)} -> {show(b, str)}" for sku, a, b in diff.stock[:50]]
        if len(diff.stock) > 50:
            lines.append(f"  ... and {len(diff.stock) - 50} more")
    return "\n".join(lines)


SAVES_COMMANDS: dict[str, Callable[[argparse.Namespace], Any]] = {
    "save": cmd_save,
    "load": cmd_load,
    "saves": cmd_saves,
}
