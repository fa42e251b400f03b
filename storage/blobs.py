"""A content-addressed file store for attachment bytes: `<root>/<sha[:2]>/<sha>`.

A file's name is the sha256 of its bytes, so identical content is stored once, a write never
changes what another row points at, and every read can be verified. Files are written atomically
(temp file in the same folder, fsync, os.replace, fsync of the folder): a crash leaves either no
file or the whole file, never a torn one under the real name.

The store knows nothing of rows. A database writes the file *before* inserting the row that names
it, inside its write transaction: a rollback leaves at most an unreferenced file, which is harmless
here (nothing points at it, and the next identical upload reuses it) and is removed by `collect`.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

from domain.errors import Corrupt, StorageError
from storage.durable import fsync_dir, replace_file

_SHA = re.compile(r"[0-9a-f]{64}")
_TMP = ".tmp-"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileContentStore:
    """Files named by their sha256 under `root`; the folder is created on the first write."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def path(self, sha: str) -> Path:
        if not _SHA.fullmatch(sha):
            raise Corrupt(f"attachment checksum {sha!r} is not a sha256")
        return self.root / sha[:2] / sha

    def put(self, data: bytes, sha: str | None = None) -> str:
        """Store the bytes (once: an intact file with the same sha is reused) and return the sha256.

        A file under that name whose bytes no longer match (damaged on disk) is replaced, which also
        repairs every row that shares it. Raises: StorageError (disk full, permissions).
        """
        sha = sha or sha256_hex(data)
        target = self.path(sha)
        try:
            if self._intact(target, sha, len(data)):
                return sha
            folder = target.parent
            if not folder.is_dir():
                if not self.root.is_dir():
                    self.root.mkdir(parents=True, exist_ok=True)
                    fsync_dir(self.root.parent)
                folder.mkdir(exist_ok=True)
                fsync_dir(self.root)
            replace_file(target, data, _TMP)
        except OSError as e:
            raise StorageError(f"cannot store the attachment under {self.root}: {e.strerror or e}") from e
        return sha

    def _intact(self, target: Path, sha: str, size: int) -> bool:
        try:
            if target.stat().st_size != size:
                return False
            return sha256_hex(target.read_bytes()) == sha
        except FileNotFoundError:
            return False

    def get(self, sha: str, size: int | None = None) -> bytes:
        """The bytes stored under `sha`, verified.

        Raises: Corrupt (missing, or the bytes do not hash to `sha`), StorageError.
        """
        target = self.path(sha)
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            raise Corrupt(f"the attachment file {target} is missing") from None
        except OSError as e:
            raise StorageError(f"cannot read {target}: {e.strerror or e}") from e
        if (size is not None and len(data) != size) or sha256_hex(data) != sha:
            raise Corrupt(f"the attachment file {target} was changed: its bytes no longer match sha256 {sha[:12]}...")
        return data

    def collect(self, referenced: set[str], min_age_seconds: float = 0.0) -> tuple[int, int]:
        """Delete files no row references, and temp files left by a crash; returns (files, bytes) freed.

        Only safe while no writer can add a row naming a file: the caller holds the database's write
        lock (a writer stores its file inside its write transaction). `min_age_seconds` spares recent
        files as a second guard. Raises: StorageError.
        """
        if not self.root.is_dir():
            return 0, 0
        cutoff = time.time() - min_age_seconds
        removed = freed = 0
        try:
            for folder in self.root.iterdir():
                if not (folder.is_dir() and len(folder.name) == 2):
                    continue
                for entry in folder.iterdir():
                    stale = _SHA.fullmatch(entry.name) and entry.name not in referenced
                    if not (stale or entry.name.startswith(_TMP)):
                        continue
                    st = entry.stat()
                    if st.st_mtime > cutoff:
                        continue
                    entry.unlink(missing_ok=True)
                    removed += 1
                    freed += st.st_size
        except OSError as e:
            raise StorageError(f"cannot clean {self.root}: {e.strerror or e}") from e
        return removed, freed
