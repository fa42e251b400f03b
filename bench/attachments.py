"""Attachments (issue #5): content-addressed files next to the database (`attachments=file`, the
default) against BLOBs in the database (`attachments=blob`), each against a raw baseline measured
in the same run: plain file writes (write + fsync per file) and plain sqlite3 BLOB inserts (one
commit each, WAL, synchronous=FULL, like the store).

Ours does, per attachment: validation, sha256, the bytes (file mode: temp file, fsync, rename, fsync
of the folder), the row and an audit entry in one committed transaction. Reads are verified
against the sha256. "Cold" reads first drop the OS page cache of the files and the database
(posix_fadvise DONTNEED after fsync); "warm" reads follow right after.

Every measurement runs in its own interpreter: `python -m bench.attachments KIND ARGS...` prints JSON.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIB = 2**20


# -- helpers (run inside the measuring interpreter) --------------------------------------------------


def _payloads(n: int, size: int):
    """n distinct incompressible payloads, built one at a time (1,000 x 1 MiB never sits in memory)."""
    base = random.Random(5).randbytes(size)
    for i in range(n):
        yield i, i.to_bytes(8, "big") + base[8:] if size >= 8 else i.to_bytes(8, "big")[:size]


def _drop_cache(*paths: Path) -> None:
    """Evict clean pages of these files (or every file under a folder) from the OS page cache."""
    if not hasattr(os, "posix_fadvise"):
        return
    for path in paths:
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path] if path.exists() else []
        for f in files:
            fd = os.open(f, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def _db_size(db: Path) -> int:
    return sum(os.path.getsize(p) for p in (db, Path(f"{db}-wal")) if p.exists())


def _dir_size(folder: Path) -> tuple[int, int]:
    """(apparent bytes, bytes allocated on disk) of every file under `folder`."""
    files = [p.stat() for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
    return sum(s.st_size for s in files), sum(s.st_blocks * 512 for s in files)


def _clean(*paths: Path) -> None:
    for p in paths:
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)


def _timed_reads(read, ids: list, drop) -> tuple[float, float]:
    drop()
    start = time.perf_counter()
    for i in ids:
        read(i)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    for i in ids:
        read(i)
    return cold, time.perf_counter() - start


# -- measurements --------------------------------------------------------------------------------------


def raw_files(folder: str, n: str, size: str) -> dict:
    """Baseline: open, write, fsync, close per file in one folder; then read every file back."""
    root = Path(folder)
    root.mkdir()
    paths = []
    start = time.perf_counter()
    for i, data in _payloads(int(n), int(size)):
        path = root / f"{i:06d}"
        with open(path, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        paths.append(path)
    write = time.perf_counter() - start
    cold, warm = _timed_reads(lambda p: p.read_bytes(), paths, lambda: _drop_cache(root))
    files, on_disk = _dir_size(root)
    _clean(root)
    return {"write": write, "read_cold": cold, "read_warm": warm, "db_bytes": 0, "files_bytes": files,
            "files_on_disk": on_disk}


def raw_blobs(db: str, n: str, size: str) -> dict:
    """Baseline: plain sqlite3 INSERT of the BLOB into the same table, one commit each (WAL,
    synchronous=FULL); then SELECT every BLOB back."""
    from storage import open_store

    path = Path(db)
    open_store(f"sqlite:///{db}").close()  # the same schema as ours
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("INSERT INTO products (tenant_id, sku, name, price_minor, quantity, active, version)"
                 " VALUES ('bench', 'RAW-1', 'Raw', 100, 0, 1, 1)")
    ids = []
    start = time.perf_counter()
    for i, data in _payloads(int(n), int(size)):
        conn.execute("BEGIN IMMEDIATE")
        cur = conn.execute(
            "INSERT INTO attachments (tenant_id, product_id, name, media_type, size_bytes, sha256, storage, content,"
            " actor, created_at) VALUES ('bench', 1, ?, 'application/octet-stream', ?, '', 'blob', ?, 'bench', '')",
            (f"file-{i}.bin", len(data), data),
        )
        conn.execute("COMMIT")
        ids.append(cur.lastrowid)
    write = time.perf_counter() - start

    def read(attachment_id: int) -> bytes:
        return conn.execute("SELECT content FROM attachments WHERE id = ?", (attachment_id,)).fetchone()[0]

    cold, warm = _timed_reads(read, ids, lambda: _drop_cache(path, Path(f"{db}-wal")))
    conn.close()
    size_now = _db_size(path)
    _clean(path, Path(f"{db}-wal"), Path(f"{db}-shm"))
    return {"write": write, "read_cold": cold, "read_warm": warm, "db_bytes": size_now, "files_bytes": 0,
            "files_on_disk": 0}


def our_attachments(db: str, mode: str, n: str, size: str) -> dict:
    """Ours: AttachmentService.attach per file (one transaction each, audited), then read (verified)."""
    from domain import Simulator
    from storage import open_store

    path = Path(db)
    store = open_store(f"sqlite:///{db}?attachments={mode}")
    sim = Simulator(store, actor="bench", tenant="bench")
    sim.catalog.add_product(sku="BENCH-1", name="Bench", price="1.00")
    service = sim.attachments
    made = []
    start = time.perf_counter()
    for i, data in _payloads(int(n), int(size)):
        made.append(service.attach("BENCH-1", f"file-{i}.bin", data))
    write = time.perf_counter() - start
    if any(a.storage != mode for a in made):
        raise SystemExit(f"asked for {mode} mode, stored {made[0].storage}")
    folder = Path(f"{db}.files")
    cold, warm = _timed_reads(service.read, [a.id for a in made],
                              lambda: _drop_cache(path, Path(f"{db}-wal"), folder))
    store.close()
    files, on_disk = _dir_size(folder)
    result = {"write": write, "read_cold": cold, "read_warm": warm, "db_bytes": _db_size(path), "files_bytes": files,
              "files_on_disk": on_disk}
    _clean(path, Path(f"{db}-wal"), Path(f"{db}-shm"), folder)
    return result


KINDS = {f.__name__: f for f in (raw_files, raw_blobs, our_attachments)}


# -- the report (run by `python -m bench`) -------------------------------------------------------------


def _measure(kind: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.attachments", kind, *args], cwd=ROOT, capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"attachments {kind} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _best(runs: list[dict]) -> dict:
    """Each figure's best over the runs (the disk's slow spells hit every variant alike)."""
    return {k: min(r[k] for r in runs) for k in runs[0]}


def _mib(n: float) -> str:
    return f"{n / MIB:,.1f} MiB" if n >= MIB else f"{n / 1024:,.1f} KiB"


def attachment_results(args, tmpdir: Path) -> tuple[list[tuple], str]:
    """Runs interleaved (raw files, ours file, raw BLOBs, ours blob, ...), best of `args.repeat` kept.
    Returns (result lines, a file-vs-blob summary table)."""
    n, size = str(args.attachments), str(args.attachment_kib * 1024)
    runs: dict[str, list[dict]] = {"raw_files": [], "file": [], "raw_blobs": [], "blob": []}
    for i in range(args.repeat):
        runs["raw_files"].append(_measure("raw_files", str(tmpdir / f"att-raw-{i}"), n, size))
        runs["file"].append(_measure("our_attachments", str(tmpdir / f"att-file-{i}.db"), "file", n, size))
        runs["raw_blobs"].append(_measure("raw_blobs", str(tmpdir / f"att-rawblob-{i}.db"), n, size))
        runs["blob"].append(_measure("our_attachments", str(tmpdir / f"att-blob-{i}.db"), "blob", n, size))
    best = {k: _best(v) for k, v in runs.items()}
    total = args.attachments * args.attachment_kib * 1024
    count = args.attachments

    def rate(seconds: float) -> str:
        return f"{total / MIB / seconds:,.0f} MiB/s ({seconds / count * 1000:.2f} ms/file)"

    lines = []
    for mode, raw, raw_name in (("file", "raw_files", "raw file writes"), ("blob", "raw_blobs", "raw BLOB inserts")):
        ours, base = best[mode], best[raw]
        lines.append((f"Attachments write, {mode} mode vs {raw_name}", "record", f"{base['write'] / ours['write']:.2f}x",
                      f"raw {rate(base['write'])}, ours {rate(ours['write'])}", True))
    for temp in ("cold", "warm"):
        for mode, raw, raw_name in (("file", "raw_files", "raw file reads"), ("blob", "raw_blobs", "raw BLOB reads")):
            ours, base = best[mode], best[raw]
            key = f"read_{temp}"
            lines.append((f"Attachments read ({temp}, verified), {mode} mode vs {raw_name}", "record",
                          f"{base[key] / ours[key]:.2f}x", f"raw {rate(base[key])}, ours {rate(ours[key])}", True))
    f, b = best["file"], best["blob"]
    lines.append(("Attachments storage, file mode: database + files vs content", "record",
                  f"{(f['db_bytes'] + f['files_bytes']) / total:.2f}x",
                  f"database {_mib(f['db_bytes'])} + files {_mib(f['files_bytes'])} "
                  f"({_mib(f['files_on_disk'])} allocated) for {_mib(total)}", True))
    lines.append(("Attachments storage, blob mode: database vs content", "record", f"{b['db_bytes'] / total:.2f}x",
                  f"database {_mib(b['db_bytes'])} for {_mib(total)} (raw BLOB inserts: {_mib(best['raw_blobs']['db_bytes'])})",
                  True))
    rows = [("write", "write"), ("read, cold cache", "read_cold"), ("read, warm cache", "read_warm")]
    table = [f"-- attachments: {count:,} x {args.attachment_kib:,} KiB, file mode vs blob mode (best of {args.repeat}) --",
             f"{'':<18}{'file':>12}{'blob':>12}{'blob/file':>11}"]
    for label, key in rows:
        table.append(f"{label:<18}{f[key]:>11.3f}s{b[key]:>11.3f}s{b[key] / f[key]:>10.2f}x")
    table.append(f"{'database size':<18}{_mib(f['db_bytes']):>12}{_mib(b['db_bytes']):>12}")
    table.append(f"{'files size':<18}{_mib(f['files_bytes']):>12}{_mib(b['files_bytes']):>12}")
    return lines, "\n".join(table)


if __name__ == "__main__":
    print(json.dumps(KINDS[sys.argv[1]](*sys.argv[2:])))
