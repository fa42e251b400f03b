"""Damage a database on purpose, the way the recovery tests need it."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def damage_an_index(path: Path) -> None:
    """Scribble over an audit index page: the file still opens (the schema is intact), every store
    call the tests make still works, but quick_check and integrity_check see the damage."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'ix_audit_log_actor'").fetchone()[0]
    conn.close()
    with open(path, "r+b") as fh:
        fh.seek((root - 1) * page_size + 8)
        fh.write(b"\xff" * 64)
