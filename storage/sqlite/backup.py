"""Backups, restore, export/import and health checks of the sqlite3 store's file.

A backup is the database copied with SQLite's online backup API (one consistent snapshot while
others keep writing), its attachment files, and a manifest written last: sha256 and size of the
copy, the schema revision, and each tenant's newest audit hash (so a cut-off audit log is
detectable). Every file is written under a `.tmp-` name that never matches the listing pattern,
fsynced, then renamed; only a manifest whose checksum matches makes a backup valid. A crash at any
point leaves a complete, verifiable backup or nothing that looks like one.

Restore verifies before it touches anything (checksum, integrity_check, a revision this version
knows, the audit tails, the attachment files), keeps a safety copy of the current database, then
copies the backup INTO the live file with the backup API (SQLite takes the locks and handles the
WAL; other connections see the new content). A live file too damaged for that is moved aside and
replaced. sqlite3 errors are translated here; none leave this module.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from domain.errors import (
    AlreadyExists,
    Busy,
    Corrupt,
    DomainError,
    NotFound,
    StorageError,
    Tampered,
    UnsupportedVersion,
    ValidationError,
)
from storage import migrations
from storage.sqlite.errors import translate
from storage.sqlite.store import current_revision
from storage.durable import fsync_dir, fsync_file, replace_file

MANIFEST_SUFFIX = ".manifest.json"
FILES_SUFFIX = ".files"
BACKUPS_SUFFIX = ".backups"
MANIFEST_FORMAT = "stockbank-db-copy"
MANIFEST_VERSION = 1
_TMP = ".tmp-"
_STALE_TMP_SECONDS = 3600  # a temp file untouched this long belongs to a backup that died
_CHUNK = 1 << 20
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


@dataclass(frozen=True)
class BackupInfo:
    """One backup (or export) file as found on disk; `ok` means its manifest's checksum matches
    (and, when verified deeply, integrity_check, revision and attachments passed too)."""

    path: str
    name: str
    kind: str  # backup | pre-restore | export
    created_at: str
    size: int
    ok: bool
    problem: str = ""
    revision: str | None = None
    attachments: int = 0
    missing_attachments: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VerifiedCopy:
    """A database file that passed every check restore makes; what restore needs to swap it in."""

    path: str
    revision: str
    audit_tails: dict[str, str | None]
    attachments: list[dict[str, Any]]  # [{"sha256", "size"}] to bring back into <db>.files/
    created_at: str = ""
    has_manifest: bool = True
    missing_attachments: int = 0


@dataclass(frozen=True)
class RestoreReport:
    database: str
    source: str
    method: str  # backup-api (copied into the live file) | file-swap (live file moved aside) | new-file
    revision: str
    safety_copy: str | None = None  # a pre-restore backup of what was replaced
    moved_aside: list[str] = field(default_factory=list)  # damaged files kept for inspection
    attachments: int = 0
    missing_attachments: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- small file helpers -------------------------------------------------------------------------


def backups_folder(db_path: str | os.PathLike[str]) -> Path:
    """Where backups go by default: `<db path>.backups/`, next to the database."""
    return Path(os.path.abspath(db_path) + BACKUPS_SUFFIX)


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime())


def _sha256_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    replace_file(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8"), _TMP)


def _remove_sqlite_files(path: str | os.PathLike[str]) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _file_uri(path: str, mode: str) -> str:
    return f"file:{quote(os.path.abspath(path))}?mode={mode}"


def _connect(path: str, mode: str, busy_timeout_ms: int = 5000) -> sqlite3.Connection:
    """`mode=ro` for files we only verify (never creates or changes them), `mode=rw` for the live
    database (never creates a missing one)."""
    conn = sqlite3.connect(_file_uri(path, mode), uri=True, isolation_level=None, timeout=busy_timeout_ms / 1000)
    conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    return conn


def _os_error(e: OSError, what: str) -> StorageError:
    return StorageError(f"{what}: {e.strerror or e}")


# -- reading a database file --------------------------------------------------------------------


def _check(conn: sqlite3.Connection, pragma: str) -> str | None:
    """None when `PRAGMA quick_check` / `integrity_check` says ok, else the first problems it names."""
    try:
        rows = [r[0] for r in conn.execute(f"PRAGMA {pragma}(5)")]
    except sqlite3.DatabaseError as e:
        if isinstance(translate(e), Busy):
            raise Busy("the database is busy with another writer; try again") from e
        return str(e)
    if rows == ["ok"]:
        return None
    lines = [ln for r in rows for ln in str(r).splitlines() if ln and not ln.startswith("*** in database")]
    more = f" (and {len(lines) - 3} more)" if len(lines) > 3 else ""
    return "; ".join(lines[:3]) + more


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _audit_tails(conn: sqlite3.Connection) -> dict[str, str | None]:
    """{tenant: hash of its newest audit entry} across the live and archived log ({} before the
    hash chain existed, revision 0005)."""
    tables = _tables(conn)
    if "audit_log" not in tables or "hash" not in {r[1] for r in conn.execute("PRAGMA table_info(audit_log)")}:
        return {}
    newest: dict[str, tuple[int, str]] = {}
    for table in ("audit_log", "audit_log_archive"):
        if table not in tables:
            continue
        for tenant, top in conn.execute(f"SELECT tenant_id, MAX(id) FROM {table} GROUP BY tenant_id"):
            if tenant not in newest or top > newest[tenant][0]:
                newest[tenant] = (top, table)
    tails = {}
    for tenant, (top, table) in sorted(newest.items()):
        row = conn.execute(f"SELECT hash FROM {table} WHERE id = ?", (top,)).fetchone()
        tails[tenant] = row[0] if row else None
    return tails


def _attachment_files(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The content files the database's rows name (file-mode attachments of every tenant)."""
    if "attachments" not in _tables(conn):
        return []
    rows = conn.execute(
        "SELECT sha256, MAX(size_bytes) FROM attachments WHERE storage = 'file' GROUP BY sha256 ORDER BY sha256"
    )
    return [{"sha256": sha, "size": size} for sha, size in rows]


def _known_revision(conn: sqlite3.Connection, what: str) -> str:
    revision = current_revision(conn)  # Corrupt, or UnsupportedVersion for a foreign schema
    if revision is None:
        raise ValidationError(f"{what} holds no stockbank data (an empty database); nothing to restore")
    if revision not in migrations.REVISIONS:
        raise UnsupportedVersion(
            f"{what} is at schema revision {revision!r}, newer than this stockbank knows "
            f"(head {migrations.HEAD}); upgrade stockbank to restore it"
        )
    return revision


def _content_path(root: Path, sha: str) -> Path:
    return root / sha[:2] / sha


def _intact(path: Path, sha: str, size: int | None) -> bool:
    try:
        if size is not None and path.stat().st_size != size:
            return False
        return _sha256_file(path)[0] == sha
    except OSError:
        return False


def _copy_file_atomic(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{_TMP}{os.getpid()}-{dest.name}")
    try:
        shutil.copyfile(src, tmp)
        fsync_file(tmp)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(dest.parent)


def _copy_content_files(
    wanted: list[dict[str, Any]], sources: list[Path], dest_root: Path, *, link_from: Path | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Bring each wanted content file into dest_root, verified by its sha256; returns (copied,
    missing). A file already intact in `link_from` (a previous backup) is hard-linked to save
    space; otherwise it is copied from the first source that holds it intact."""
    copied, missing = [], []
    for item in wanted:
        sha, size = item["sha256"], item.get("size")
        target = _content_path(dest_root, sha)
        if _intact(target, sha, size):
            copied.append(item)
            continue
        if link_from is not None and _intact(_content_path(link_from, sha), sha, size):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            try:
                os.link(_content_path(link_from, sha), target)
                copied.append(item)
                continue
            except OSError:
                pass  # another filesystem, or no hard links: copy instead
        for root in sources:
            if _intact(_content_path(root, sha), sha, size):
                _copy_file_atomic(_content_path(root, sha), target)
                copied.append(item)
                break
        else:
            missing.append(item)
    return copied, missing


# -- backup -------------------------------------------------------------------------------------


def _name_pattern(stem: str) -> re.Pattern[str]:
    return re.compile(rf"{re.escape(stem)}-(?:(pre-restore)-)?(\d{{8}}-\d{{6}})(?:-(\d+))?\.db")


def _stem(db_path: str) -> str:
    return Path(db_path).stem or "stockbank"


def _reserve_name(folder: Path, stem: str, kind: str) -> tuple[Path, Path]:
    """A fresh `<stem>-[pre-restore-]YYYYmmdd-HHMMSS[-N].db` and its temp file, created exclusively
    so two backups in the same second never pick the same name."""
    stamp = _stamp()
    n = 1
    while True:
        suffix = "" if n == 1 else f"-{n}"
        # one sequence N per second for both kinds, so "newest first" is never a tie
        names = [f"{stem}-{stamp}{suffix}.db", f"{stem}-pre-restore-{stamp}{suffix}.db"]
        name = names[1] if kind == "pre-restore" else names[0]
        tmp = folder / f"{_TMP}{name}"
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            n += 1
            continue
        os.close(fd)
        taken = [folder / f"{x}{extra}" for x in names for extra in ("", MANIFEST_SUFFIX, FILES_SUFFIX)]
        taken.append(folder / f"{_TMP}{names[0] if name == names[1] else names[1]}")
        if any(p.exists() for p in taken):
            tmp.unlink()
            n += 1
            continue
        return folder / name, tmp


def _clean_stale_temps(folder: Path) -> None:
    cutoff = time.time() - _STALE_TMP_SECONDS
    try:
        for entry in folder.iterdir():
            if entry.name.startswith(_TMP) and entry.is_file() and entry.stat().st_mtime < cutoff:
                entry.unlink(missing_ok=True)
    except OSError:
        pass  # tidying is best effort


def _require_database(db_path: str) -> str:
    path = os.path.abspath(db_path)
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        raise NotFound(f"no database at {path}", field="db")
    return path


def _snapshot_facts(copy: sqlite3.Connection, what: str) -> tuple[str | None, dict[str, str | None], list[dict[str, Any]]]:
    """Make a fresh copy one self-contained file (journal_mode=DELETE) and read what its manifest
    records; a copy that fails quick_check is refused (the source is damaged)."""
    copy.execute("PRAGMA journal_mode=DELETE")
    problem = _check(copy, "quick_check")
    if problem:
        raise Corrupt(f"the database is damaged ({problem}); {what} was not made. "
                      "Restore a good backup, or copy the file by hand to inspect it")
    return current_revision(copy), _audit_tails(copy), _attachment_files(copy)


def _finish_copy(
    db_path: str, final: Path, tmp: Path, kind: str, facts: tuple, link_from: Path | None
) -> BackupInfo:
    """fsync + rename the copy, bring its attachment files next to it, then (last) the manifest."""
    revision, tails, wanted = facts
    fsync_file(tmp)
    os.replace(tmp, final)
    fsync_dir(final.parent)
    live_files = Path(db_path + FILES_SUFFIX)
    copied, missing = _copy_content_files(wanted, [live_files], Path(f"{final}{FILES_SUFFIX}"), link_from=link_from)
    sha, size = _sha256_file(final)
    created = _utc_now()
    manifest = {
        "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "kind": kind, "file": final.name,
        "sha256": sha, "size": size, "created_at": created, "revision": revision, "source": db_path,
        "audit_tails": tails, "attachments": copied, "missing_attachments": missing,
    }
    _write_json_atomic(Path(f"{final}{MANIFEST_SUFFIX}"), manifest)
    return BackupInfo(str(final), final.name, kind, created, size, True, "", revision, len(copied), len(missing))


def create_backup(
    db_path: str, folder: str | os.PathLike[str] | None = None, *, kind: str = "backup", busy_timeout_ms: int = 5000
) -> BackupInfo:
    """Back up the live database with the online backup API (consistent while others write) into
    `folder` (default `<db>.backups/`), with its attachment files and a sha256 manifest.

    Raises: NotFound (no database), Corrupt (the database fails quick_check: no backup is made),
    UnsupportedVersion (not a stockbank database), Busy, StorageError.
    """
    source = _require_database(db_path)
    target = Path(folder) if folder is not None else backups_folder(source)
    try:
        target.mkdir(parents=True, exist_ok=True)
        _clean_stale_temps(target)
        final, tmp = _reserve_name(target, _stem(source), kind)
    except OSError as e:
        raise _os_error(e, f"cannot write backups to {target}") from e
    try:
        try:
            live = _connect(source, "rw", busy_timeout_ms)
            try:
                copy = sqlite3.connect(tmp, isolation_level=None)
                try:
                    _copy_pages(live, copy, busy_timeout_ms)
                    facts = _snapshot_facts(copy, "the backup")
                finally:
                    copy.close()
            finally:
                live.close()
            return _finish_copy(source, final, tmp, kind, facts, _previous_files(target, _stem(source), final))
        except sqlite3.Error as e:
            raise _unreadable(e, source) from e
        except OSError as e:
            raise _os_error(e, f"cannot write the backup {final}") from e
    finally:
        _remove_sqlite_files(tmp)


def _copy_pages(src: sqlite3.Connection, dest: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """The online backup API in one step (pages=-1: one consistent snapshot of the source, one
    transaction on the destination). Python retries a busy step forever; past the busy timeout this
    gives up with Busy instead."""
    deadline = time.monotonic() + busy_timeout_ms / 1000

    def give_up_when_busy_too_long(status: int, _remaining: int, _total: int) -> None:
        if status in (_SQLITE_BUSY, _SQLITE_LOCKED) and time.monotonic() > deadline:
            raise TimeoutError

    try:
        src.backup(dest, progress=give_up_when_busy_too_long)
    except TimeoutError as e:
        raise Busy("the database is busy with another writer; try again") from e


def _previous_files(folder: Path, stem: str, final: Path) -> Path | None:
    """The attachment folder of the newest finished backup before this one: files intact there are
    hard-linked instead of copied again (each is verified by its sha256 first)."""
    pattern = _name_pattern(stem)
    names = sorted((p.name for p in folder.iterdir() if pattern.fullmatch(p.name) and p != final), reverse=True)
    for name in names:
        if (folder / f"{name}{MANIFEST_SUFFIX}").exists() and (folder / f"{name}{FILES_SUFFIX}").is_dir():
            return folder / f"{name}{FILES_SUFFIX}"
    return None


def _unreadable(e: sqlite3.Error, path: str) -> DomainError:
    translated = translate(e)
    if isinstance(translated, StorageError) and "unable to open" in str(e):
        return StorageError(f"cannot open {path}: {e}")
    return translated


def export_database(db_path: str, target: str | os.PathLike[str], *, busy_timeout_ms: int = 5000) -> BackupInfo:
    """A compact single-file copy for another machine (VACUUM INTO; journal_mode=DELETE, so no -wal
    file belongs to it), plus `<target>.files/` for attachments and `<target>.manifest.json`.

    Raises: NotFound, AlreadyExists (target exists), Corrupt, Busy, StorageError, ValidationError.
    """
    source = _require_database(db_path)
    final = Path(os.path.abspath(target))
    if str(final) == source:
        raise ValidationError("export-db needs another file name than the database itself", field="file")
    if final.exists():
        raise AlreadyExists(f"{final} exists; choose another name or remove it first", field="file")
    if not final.parent.is_dir():
        raise NotFound(f"folder {final.parent} does not exist", field="file")
    tmp = final.with_name(f"{_TMP}{os.getpid()}-{final.name}")
    try:
        Path(f"{final}{MANIFEST_SUFFIX}").unlink(missing_ok=True)  # a stale manifest must never vouch for the new file
        _remove_sqlite_files(tmp)
        try:
            live = _connect(source, "rw", busy_timeout_ms)
            try:
                live.execute("VACUUM INTO ?", (str(tmp),))
            finally:
                live.close()
            copy = sqlite3.connect(tmp, isolation_level=None)
            try:
                facts = _snapshot_facts(copy, "the export")
            finally:
                copy.close()
            return _finish_copy(source, final, tmp, "export", facts, None)
        except sqlite3.Error as e:
            raise _unreadable(e, source) from e
        except OSError as e:
            raise _os_error(e, f"cannot write {final}") from e
    finally:
        _remove_sqlite_files(tmp)


# -- listing and verifying ----------------------------------------------------------------------


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise Corrupt(f"the manifest {path.name} cannot be read: {e}") from e
    if not (isinstance(data, dict) and data.get("format") == MANIFEST_FORMAT and isinstance(data.get("sha256"), str)
            and isinstance(data.get("size"), int) and isinstance(data.get("attachments", []), list)
            and isinstance(data.get("audit_tails", {}), dict)):
        raise Corrupt(f"the manifest {path.name} is not a stockbank manifest")
    if data.get("version") != MANIFEST_VERSION:
        raise UnsupportedVersion(f"the manifest {path.name} has version {data.get('version')!r}; "
                                 f"this stockbank reads version {MANIFEST_VERSION}")
    return data


def _checksum_problem(path: Path, manifest: dict[str, Any]) -> str:
    try:
        sha, size = _sha256_file(path)
    except OSError as e:
        return f"cannot read it: {e.strerror or e}"
    if size != manifest["size"] or sha != manifest["sha256"]:
        return (f"checksum mismatch: the file has {size} bytes, sha256 {sha[:12]}..., its manifest says "
                f"{manifest['size']} bytes, sha256 {manifest['sha256'][:12]}...")
    return ""


def _name_time(match: re.Match[str]) -> str:
    t = time.strptime(match.group(2), "%Y%m%d-%H%M%S")
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", t)


def list_backups(db_path: str, folder: str | os.PathLike[str] | None = None, *, verify: bool = False) -> list[BackupInfo]:
    """Backups of this database in `folder` (default `<db>.backups/`), newest first. A backup is ok
    when its manifest exists and its checksum matches; `verify` also runs integrity_check and checks
    the revision and attachment files (slower).

    Raises: StorageError (folder unreadable).
    """
    where = Path(folder) if folder is not None else backups_folder(db_path)
    if not where.is_dir():
        return []
    pattern = _name_pattern(_stem(os.path.abspath(db_path)))
    found = []
    try:
        entries = sorted(where.iterdir(), key=lambda p: p.name)
    except OSError as e:
        raise _os_error(e, f"cannot list {where}") from e
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or not entry.is_file():
            continue
        order = (match.group(2), int(match.group(3) or 1))
        found.append((order, inspect_backup(entry, verify=verify, _match=match)))
    return [info for _order, info in sorted(found, key=lambda x: x[0], reverse=True)]


def inspect_backup(path: str | os.PathLike[str], *, verify: bool = False, _match: re.Match[str] | None = None) -> BackupInfo:
    """What a backup file is and whether it checks out; never raises for a bad backup (see `.problem`)."""
    path = Path(path)
    kind = "pre-restore" if _match is not None and _match.group(1) else "backup"
    created = _name_time(_match) if _match is not None else ""
    size = path.stat().st_size if path.exists() else 0
    manifest_path = Path(f"{path}{MANIFEST_SUFFIX}")
    if not manifest_path.exists():
        return BackupInfo(str(path), path.name, kind, created, size, False, "no manifest: unfinished or not a backup")
    try:
        manifest = _read_manifest(manifest_path)
    except DomainError as e:
        return BackupInfo(str(path), path.name, kind, created, size, False, e.message)
    kind, created = manifest.get("kind", kind), manifest.get("created_at", created)
    revision = manifest.get("revision")
    attachments = len(manifest.get("attachments", []))
    missing = len(manifest.get("missing_attachments", []))
    if verify:
        try:
            verify_copy(path)
            problem = ""
        except DomainError as e:
            problem = e.message
    else:
        problem = _checksum_problem(path, manifest)
    return BackupInfo(str(path), path.name, kind, created, size, not problem, problem, revision, attachments, missing)


def verify_copy(path: str | os.PathLike[str], *, require_manifest: bool = True) -> VerifiedCopy:
    """Every check restore makes before it touches anything: the manifest's checksum (if there is a
    manifest; `require_manifest` for backups), integrity_check (read-only), a schema revision this
    version knows, the audit tails the manifest recorded, and the attachment files.

    Raises: NotFound, Corrupt (checksum, integrity, attachment files), Tampered (the audit log does
    not end where the manifest says), UnsupportedVersion (newer schema), ValidationError (empty).
    """
    source = Path(os.path.abspath(path))
    if not source.is_file():
        raise NotFound(f"no such file: {source}", field="file")
    manifest_path = Path(f"{source}{MANIFEST_SUFFIX}")
    manifest = None
    if manifest_path.exists():
        manifest = _read_manifest(manifest_path)
        problem = _checksum_problem(source, manifest)
        if problem:
            raise Corrupt(f"{source.name}: {problem}; it was not restored")
    elif require_manifest:
        raise Corrupt(f"{source.name} has no manifest ({manifest_path.name}): an unfinished backup, or not one; "
                      "a bare database file can be loaded with import-db")
    try:
        conn = _connect(str(source), "ro")
    except sqlite3.Error as e:
        raise Corrupt(f"{source.name} cannot be opened as a database: {e}") from e
    try:
        problem = _check(conn, "integrity_check")
        if problem:
            raise Corrupt(f"{source.name} fails integrity_check: {problem}")
        revision = _known_revision(conn, source.name)
        tails = _audit_tails(conn)
        wanted = _attachment_files(conn)
    except sqlite3.DatabaseError as e:
        raise Corrupt(f"{source.name} cannot be read: {e}") from e
    finally:
        conn.close()
    files_root = Path(f"{source}{FILES_SUFFIX}")
    missing = 0
    if manifest is not None:
        if manifest.get("audit_tails", {}) != tails:
            raise Tampered(f"the audit log in {source.name} does not end where its manifest says "
                           "(entries cut off, or the manifest edited); it was not restored")
        wanted = manifest.get("attachments", [])
        for item in wanted:
            if not _intact(_content_path(files_root, item["sha256"]), item["sha256"], item.get("size")):
                raise Corrupt(f"the attachment file {item['sha256'][:12]}... of {source.name} is missing or changed")
        missing = len(manifest.get("missing_attachments", []))
    else:  # a bare file: bring what its folder holds intact; the rest is reported
        present = [i for i in wanted if _intact(_content_path(files_root, i["sha256"]), i["sha256"], i["size"])]
        missing, wanted = len(wanted) - len(present), present
    created = manifest.get("created_at", "") if manifest else ""
    return VerifiedCopy(str(source), revision, tails, wanted, created, manifest is not None, missing)


def newest_good_backup(db_path: str, folder: str | os.PathLike[str] | None = None) -> BackupInfo | None:
    """The newest backup whose checksum matches AND that passes integrity_check, a known revision
    and its attachment files: the one worth offering when the database is damaged."""
    for info in list_backups(db_path, folder):
        if not info.ok:
            continue
        deep = inspect_backup(info.path, verify=True)
        if deep.ok:
            return BackupInfo(**{**info.to_dict(), "revision": deep.revision})
    return None


def check_database(db_path: str, *, busy_timeout_ms: int = 5000) -> str | None:
    """None when the file opens and passes `PRAGMA quick_check`, else what is wrong (for the
    start-up check: a busy database is not a damaged one, so Busy counts as fine)."""
    path = os.path.abspath(db_path)
    if not os.path.isfile(path):
        return None
    try:
        conn = _connect(path, "rw", busy_timeout_ms)
    except sqlite3.Error as e:
        return f"cannot open it: {e}"
    try:
        return _check(conn, "quick_check")
    except Busy:
        return None
    finally:
        conn.close()


# -- restore ------------------------------------------------------------------------------------


class _NeedsSwap(Exception):
    """The backup API could not write into the live file (e.g. another page size): swap the file."""


def _backup_into_live(source: str, live: str, busy_timeout_ms: int) -> None:
    src = _connect(source, "ro")
    try:
        dest = _connect(live, "rw", busy_timeout_ms)
        try:
            _copy_pages(src, dest, busy_timeout_ms)
            try:
                dest.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass  # readers still on the old snapshot; SQLite checkpoints later
        finally:
            dest.close()
    except sqlite3.Error as e:
        if isinstance(translate(e), Busy):
            raise Busy("the database is busy with another writer; nothing was restored, try again") from e
        raise _NeedsSwap(str(e)) from e
    finally:
        src.close()


def _move_aside(live: str) -> list[str]:
    """Keep the damaged database (and its -wal/-shm, which belong to it) as `<db>.damaged-<stamp>`."""
    stamp, moved = _stamp(), []
    base = f"{live}.damaged-{stamp}"
    n = 1
    while any(os.path.exists(f"{base}{s}") for s in ("", "-wal", "-shm", "-journal")):
        n += 1
        base = f"{live}.damaged-{stamp}-{n}"
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(live + suffix):
            os.replace(live + suffix, base + suffix)
            moved.append(base + suffix)
    fsync_dir(os.path.dirname(live))
    return moved


def _copy_in(source: str, live: str) -> None:
    _copy_file_atomic(Path(source), Path(live))


def restore_copy(db_path: str, copy: VerifiedCopy, *, busy_timeout_ms: int = 5000) -> RestoreReport:
    """Replace the database with a verified copy (see verify_copy).

    A readable live database is first backed up as `...-pre-restore-...` and then overwritten with
    the backup API; one that cannot be read is moved aside to `<db>.damaged-<stamp>` and the copy
    put in its place (temp file, fsync, rename). Attachment files come back into `<db>.files/`
    before the rows that name them. Afterwards integrity_check and the audit tails are checked.

    Raises: Busy, UnsupportedVersion (the live file is not a stockbank database), Corrupt (the
    result does not verify), StorageError.
    """
    live = os.path.abspath(db_path)
    if live == copy.path:
        raise ValidationError("that file is the database itself", field="file")
    safety, moved, method = None, [], "backup-api"
    try:
        if not os.path.isfile(live) or os.path.getsize(live) == 0:
            method = "new-file"
        else:
            try:
                safety = create_backup(live, backups_folder(live), kind="pre-restore", busy_timeout_ms=busy_timeout_ms).path
            except Corrupt:
                method = "file-swap"  # too damaged to copy: kept aside instead
        copied, missing = _copy_content_files(copy.attachments, [Path(f"{copy.path}{FILES_SUFFIX}")],
                                              Path(live + FILES_SUFFIX))
        if missing:
            raise Corrupt(f"{len(missing)} attachment file(s) of {os.path.basename(copy.path)} went missing; "
                          "nothing was restored")
        if method == "backup-api":
            try:
                _backup_into_live(copy.path, live, busy_timeout_ms)
            except _NeedsSwap:
                method = "file-swap"
        if method != "backup-api":
            moved = _move_aside(live)
            _copy_in(copy.path, live)
    except OSError as e:
        raise _os_error(e, f"cannot restore into {live}") from e
    _verify_restored(live, copy)
    return RestoreReport(live, copy.path, method, copy.revision, safety, moved, len(copied),
                         copy.missing_attachments)


def _verify_restored(live: str, copy: VerifiedCopy) -> None:
    try:
        conn = _connect(live, "rw")
        try:
            problem = _check(conn, "integrity_check")
            tails = _audit_tails(conn)
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise Corrupt(f"the restored database cannot be read: {e}") from e
    if problem:
        raise Corrupt(f"the restored database fails integrity_check: {problem}")
    if tails != copy.audit_tails:
        raise Corrupt("the restored database's audit log does not end where the backup's does "
                      "(another process wrote meanwhile?); check it with `stockbank audit verify`")
