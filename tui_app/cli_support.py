"""What every CLI command shares: opening the backend, printing results, progress bars, argument checks."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from domain.errors import DomainError


def open_cli_backend(args: argparse.Namespace, demo_if_empty: bool = False):
    from tui_app.bootstrap import open_backend

    return open_backend(
        args.db, tenant=args.tenant, actor=args.actor, demo_if_empty=demo_if_empty, rate_limit=args.rate_limit,
        cache=getattr(args, "cache", None),
    )


def bulk_loading(backend: Any) -> AbstractContextManager[object]:
    """The store's bulk_load() where it has one (the sqlite3 store): for a long write by this process alone."""
    load = getattr(backend.sim.store, "bulk_load", None)
    return load() if load is not None else nullcontext()


def emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(json.dumps({"ok": True, **data}) if args.json else text)


class Progress:
    """A rich progress bar on stderr (hidden with --json or when stderr is not a terminal)."""

    def __init__(self, args: argparse.Namespace, label: str, total: int):
        self._bar = None
        if not args.json and sys.stderr.isatty():
            from rich.progress import Progress

            self._bar = Progress(transient=True, console=None)
            self._task = self._bar.add_task(label, total=total)

    def __enter__(self) -> Progress:
        if self._bar:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar:
            self._bar.stop()

    def update(self, done: int, total: int | None = None) -> None:
        if self._bar:
            self._bar.update(self._task, completed=done, total=total)


def whole_number(text: str | None, field: str) -> int | None:
    """A whole number option, refused as a `validation` error (not a usage error) so --json sees it."""
    if text is None:
        return None
    stripped = text.strip()
    if not (stripped.isascii() and stripped.isdigit()) or len(stripped) > 18:
        raise usage_error(f"{field}: {text!r} is not a whole number")
    return int(stripped)


def money(minor: int) -> str:
    from domain.money import format_minor

    return format_minor(minor)


def text_table(header: tuple[str, ...], rows: list[tuple[str, ...]], right: set[int]) -> str:
    """Columns padded to their widest cell; the columns in `right` (numbers) are right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
        for r in [header, *rows]
    )


def usage_error(message: str) -> DomainError:
    from domain.errors import ValidationError

    return ValidationError(message)


def confirm(args: argparse.Namespace, question: str, what: str = "the database") -> bool:
    """--yes, or a y on a terminal; without a terminal (scripts, --json) --yes is required."""
    if args.yes:
        return True
    if args.json or not sys.stdin.isatty():
        raise usage_error(f"{args.command} replaces {what}; add --yes to confirm (there is no terminal to ask on)")
    print(question, file=sys.stderr)
    try:
        answer = input("Replace it? [y/N] ")
    except EOFError:
        answer = ""
    return answer.strip().lower() in ("y", "yes")
