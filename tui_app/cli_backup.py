"""`stockbank backup | backups | restore | export-db | import-db`: copies of the sqlite3 database file
that verify before they are trusted (see storage/sqlite/backup.py for how)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from tui_app.cli_support import confirm, emit, text_table


def add_backup_commands(sub: argparse._SubParsersAction) -> None:
    backup = sub.add_parser("backup", help="copy the database (online, consistent) and its attachment files to a "
                                           "timestamped backup with a sha256 manifest")
    backup.add_argument("--to", metavar="DIR", help="folder for the backup (default: <database>.backups/ next to it)")
    listing = sub.add_parser("backups", help="the database's backups, newest first, with their checksum status")
    listing.add_argument("--dir", metavar="DIR", help="folder to look in (default: <database>.backups/)")
    listing.add_argument("--verify", action="store_true", help="also run integrity_check and check the attachment "
                                                                "files of each (reads every backup fully)")
    restore = sub.add_parser("restore", help="replace the database with a verified backup (the current one is "
                                             "kept as a pre-restore backup, or moved aside when damaged)")
    restore.add_argument("file", metavar="FILE", help="a backup .db file (its .manifest.json must be next to it)")
    restore.add_argument("--yes", action="store_true", help="do not ask (needed when not on a terminal)")
    export = sub.add_parser("export-db", help="a compact single-file copy to move to another machine "
                                              "(plus FILE.files/ and FILE.manifest.json)")
    export.add_argument("file", metavar="FILE")
    imp = sub.add_parser("import-db", help="replace the database with a file from export-db (or any stockbank "
                                           "database file), checked first; an older schema is upgraded on next open")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--yes", action="store_true", help="do not ask (needed when not on a terminal)")


def _database(args: argparse.Namespace) -> tuple[str, int]:
    """The database file the --db URL names, and its busy timeout.

    Raises: ValidationError (not a sqlite:/// URL: memory:// has no file to copy)."""
    from domain.errors import ValidationError
    from storage.sqlite.store import parse_url
    from tui_app.bootstrap import resolve_db_url

    url = resolve_db_url(args.db)
    if not url.startswith("sqlite:///"):
        raise ValidationError(f"{args.command} works on a sqlite:/// database file; {url.split('?')[0]!r} is not one "
                              "(use `stockbank export` or save/load for other stores)", field="db")
    options = parse_url(url)
    return options.path, options.busy_timeout_ms


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def cmd_backup(args: argparse.Namespace) -> None:
    from storage.sqlite.backup import create_backup

    path, busy = _database(args)
    info = create_backup(path, args.to, busy_timeout_ms=busy)
    missing = (f"; {info.missing_attachments} attachment file(s) were already missing from the database's folder"
               if info.missing_attachments else "")
    emit(args, {"backup": info.to_dict()},
         f"backed up {path} to {info.path} ({_size(info.size)}, revision {info.revision}, "
         f"{info.attachments} attachment file(s)){missing}")


def cmd_backups(args: argparse.Namespace) -> None:
    from storage.sqlite.backup import backups_folder, list_backups

    path, _busy = _database(args)
    found = list_backups(path, args.dir, verify=args.verify)
    folder = args.dir or str(backups_folder(path))
    rows = [(b.name, b.created_at, b.kind, _size(b.size), b.revision or "?", "ok" if b.ok else f"BAD: {b.problem}")
            for b in found]
    text = (text_table(("file", "created (UTC)", "kind", "size", "revision", "status"), rows, {3})
            if rows else f"no backups in {folder}; make one with `stockbank backup`")
    emit(args, {"folder": folder, "backups": [b.to_dict() for b in found]}, text)


def _restore(args: argparse.Namespace, require_manifest: bool) -> int | None:
    from storage.sqlite.backup import restore_copy, verify_copy

    path, busy = _database(args)
    copy = verify_copy(args.file, require_manifest=require_manifest)  # before asking: never confirm a bad file
    made = f"made {copy.created_at}, " if copy.created_at else ""
    if not confirm(args, f"{path} will be replaced by {copy.path} ({made}revision {copy.revision}); "
                          "the current database is kept as a pre-restore backup (or moved aside if damaged)."):
        print("cancelled; nothing was changed", file=sys.stderr)
        return 1
    report = restore_copy(path, copy, busy_timeout_ms=busy)
    kept = (f"the previous database is kept as {report.safety_copy}" if report.safety_copy else
            f"the damaged files were moved aside: {', '.join(report.moved_aside)}" if report.moved_aside else
            "there was no database before")
    missing = (f"; {report.missing_attachments} attachment file(s) were not in the copy (reading them will say so)"
               if report.missing_attachments else "")
    emit(args, {"restored": report.to_dict()},
         f"restored {path} from {report.source} (revision {report.revision}, {report.attachments} attachment "
         f"file(s)); integrity_check ok, audit tails match; {kept}{missing}")
    return None


def cmd_restore(args: argparse.Namespace) -> int | None:
    return _restore(args, require_manifest=True)


def cmd_import_db(args: argparse.Namespace) -> int | None:
    return _restore(args, require_manifest=False)


def cmd_export_db(args: argparse.Namespace) -> None:
    from storage.sqlite.backup import export_database

    path, busy = _database(args)
    info = export_database(path, args.file, busy_timeout_ms=busy)
    files = f", {info.attachments} attachment file(s) in {info.name}.files/" if info.attachments else ""
    emit(args, {"export": info.to_dict()},
         f"exported {path} to {info.path} ({_size(info.size)}, revision {info.revision}{files}); copy it with "
         f"{info.name}.manifest.json{' and the folder' if files else ''} to the other machine and run "
         f"`stockbank import-db {info.name}` there")


BACKUP_COMMANDS: dict[str, Callable[[argparse.Namespace], Any]] = {
    "backup": cmd_backup, "backups": cmd_backups, "restore": cmd_restore,
    "export-db": cmd_export_db, "import-db": cmd_import_db,
}
