"""Durability helpers for the files storage writes next to the database (save files, keys, backups,
attachment bytes): an fsync of a file's bytes, and of a folder so a rename or a new entry survives a
power cut."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def replace_file(target: str | os.PathLike[str], data: bytes, temp_prefix: str) -> None:
    """Replace `target` with `data` so that a crash leaves the old file or the new one, never half of
    one: a temp file (named with `temp_prefix`) in the same folder, fsync, rename, fsync of the folder.
    The temp file is removed on any failure. Raises: OSError."""
    target = Path(target)
    fd, temp = tempfile.mkstemp(prefix=temp_prefix, dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename or a new entry in the folder durable (POSIX only: Windows cannot open a folder)."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: str | os.PathLike[str]) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())
