"""The crash drill: a real `kill -9` at random points, 20 times, on one database file (each run starts
from the previous crash). After each: integrity_check ok, the books' invariants hold, and every
transfer the writer acknowledged (printed only after the call returned, synchronous=FULL) is there.
Then kill -9 during backups: whatever they leave, every backup listed as good really verifies, and
nothing half-written looks valid."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from domain import Simulator
from domain.model.bank import RateLimit
from storage import open_store
from storage.sqlite import backup
from tests.integration.kill9 import kill_at_random

ROOT = Path(__file__).resolve().parents[2]
KILLS = 20
ACCOUNTS = 4

WRITER = """
import sys
from domain import Simulator
from domain.model.bank import RateLimit
from storage import open_store

url, run = sys.argv[1], sys.argv[2]
sim = Simulator(open_store(url), actor="drill", rate_limit=RateLimit(10**9, 60))
ids = [a.id for a in sim.bank.accounts() if a.name.startswith("drill-")]
n = 0
while True:
    n += 1
    key = f"{run}-{n}"
    sim.bank.transfer(ids[n % len(ids)], ids[(n + 1) % len(ids)], "0.01", idempotency_key=key, memo="drill")
    sys.stdout.write(key + "\\n")  # acknowledged: the transfer call returned (committed)
    sys.stdout.flush()
"""


def _sim(url: str) -> Simulator:
    return Simulator(open_store(url), actor="drill", rate_limit=RateLimit(10**9, 60))


def _start(argv: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kill_writer_at_random(url: str, run: str, rng: random.Random) -> list[str]:
    """The acknowledged keys of one writer killed at a random point."""
    return kill_at_random(WRITER, [url, run], rng)


def _integrity(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()


def test_kill_9_during_transfers_loses_no_acknowledged_write(tmp_path: Path) -> None:
    path = tmp_path / "drill.db"
    url = f"sqlite:///{path}?synchronous=FULL"
    sim = _sim(url)
    for n in range(ACCOUNTS):
        sim.bank.open_account(f"drill-{n}", kind="customer", opening_balance="1000.00")
    sim.store.close()
    rng = random.Random(os.environ.get("DRILL_SEED", time.time_ns()))
    acknowledged_total = 0
    for run in range(KILLS):
        acknowledged = _kill_writer_at_random(url, f"run{run}", rng)
        acknowledged_total += len(acknowledged)

        assert _integrity(path) == ["ok"], f"after kill {run}"
        sim = _sim(url)
        try:
            report = sim.check()
            assert report.ok, (run, report.problems)
            conn = sim.store.connect()
            stored = {k for (k,) in conn.execute(
                "SELECT idempotency_key FROM transfers WHERE idempotency_key LIKE ?", (f"run{run}-%",))}
            conn.close()
        finally:
            sim.store.close()
        lost = [k for k in acknowledged if k not in stored]
        assert not lost, f"kill {run}: {len(lost)} acknowledged transfers lost, e.g. {lost[:3]}"
        # at most the one in flight when the kill came was committed but not yet acknowledged
        assert len(stored) - len(acknowledged) in (0, 1), (run, len(stored), len(acknowledged))
    assert acknowledged_total >= KILLS, "every run acknowledges at least one transfer before its kill"


def test_kill_9_during_backups_never_leaves_a_valid_looking_bad_backup(tmp_path: Path) -> None:
    path = tmp_path / "big.db"
    sim = _sim(f"sqlite:///{path}?attachments=blob")
    rng = random.Random(os.environ.get("DRILL_SEED", time.time_ns()))
    for n in range(12):  # ~24 MiB of rows, so a backup takes a moment
        product = sim.catalog.add_product(sku=f"BIG-{n}", name=f"Big {n}", price="1.00")
        sim.attachments.attach(product.id, f"scan-{n}.bin", rng.randbytes(2 * 2**20))
    sim.store.close()
    sim = _sim(f"sqlite:///{path}")  # and a few content files next to the database
    for n in range(6):
        sim.attachments.attach(f"BIG-{n}", f"photo-{n}.jpg", rng.randbytes(256 * 1024))
    sim.store.close()

    command = [sys.executable, "-m", "tui_app", "--db", f"sqlite:///{path}", "backup"]
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    whole = time.perf_counter() - started  # interpreter start + the backup itself
    for _ in range(8):
        proc = _start(command)
        time.sleep(rng.uniform(0.3, 1.0) * whole)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    folder = Path(f"{path}.backups")
    listed = backup.list_backups(str(path))
    assert listed and listed[-1].ok  # the first, uninterrupted backup
    for info in listed:
        if info.ok:
            copy = backup.verify_copy(info.path)  # checksum, integrity_check, revision, audit tails, files
            assert copy.attachments and _integrity(Path(info.path)) == ["ok"]
    names = {p.name for p in folder.iterdir()}
    for name in names:  # anything else is a temp file (never listed) or belongs to a listed backup
        owner = name.split(".db")[0] + ".db"
        assert name.startswith(".tmp-") or owner in {b.name for b in listed}, name
    assert _integrity(path) == ["ok"]
    with open_store(f"sqlite:///{path}") as store:
        assert Simulator(store).check().ok

