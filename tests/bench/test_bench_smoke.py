"""`python -m bench` still runs end to end and reports every goal. A tiny size and one repeat:
this proves the harness works, not the speed (no timing asserts; the numbers are the bench's job)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

GOALS = (
    "Validated CSV import",
    "CSV export, time vs sqlite3 -csv",
    "TUI cold start to first frame",
    "Transfers, one commit each, synchronous=FULL",
    "Transfers, one commit each, synchronous=NORMAL",
    "Transfers, 1,000 per transfer_batch commit",
    "Simulation, days/s",
    "Simulation, ledger rows written/s vs raw INSERTs",
    *(f"Attachments write, {m} mode" for m in ("file", "blob")),
    *(f"Attachments read ({t}, verified), {m} mode" for t in ("cold", "warm") for m in ("file", "blob")),
    "Attachments storage, file mode",
    "Attachments storage, blob mode",
    "Soft delete (hide), rows/s vs raw UPDATE",
    "Delete + purge (write-off, tombstone), rows/s vs raw DELETE",
    *(f"Save + load, {fmt}: time vs the bare library" for fmt in ("json", "yaml", "pickle")),
    "Transfers, PostgreSQL store vs raw psycopg",
    "Transfers, SQLAlchemy store on SQLite vs the sqlite3 store",
    *(f"Writers, {mode} x {n}, ours vs raw sqlite3" for mode in ("threads", "processes") for n in (1, 2, 4)),
    "Demo data, stockbank demo --products",
    "Products list, first paint vs fastdatatable load+mount",
    "Products list, jump to the end vs fastdatatable",
    "Products list, peak RSS vs fastdatatable",
    "Products list, RSS while browsing",
    "Text filter, first results",
)
LINE = re.compile(r"^(PASS|MISS)  (.+?)  goal (.+?) got (\d+\.\d+(?:x|/s|s| ms| MiB)) ")


def run_bench(*argv: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bench", *argv], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"bench failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow
def test_bench_prints_a_line_for_every_goal() -> None:
    out = run_bench("--rows", "2000", "--transfers", "200", "--repeat", "1", "--days", "3", "--sim-products", "40",
                    "--customers", "10", "--attachments", "3", "--attachment-kib", "4", "--lifecycle-products", "50",
                    "--save-products", "40", "--writer-transfers", "8", "--demo-products", "200", "--table-products", "300")
    lines = [m for m in map(LINE.match, out.splitlines()) if m]
    for goal in GOALS:
        assert [m for m in lines if goal in m.group(2)], f"no PASS/MISS line for {goal!r}:\n{out}"
    assert len(lines) == len(GOALS), out
    assert "200 transfers" in out and "2,000 rows" in out and "300 products" in out


@pytest.mark.slow
def test_bench_only_bank_runs_just_the_bank_goals() -> None:
    out = run_bench("--only", "bank", "--transfers", "50", "--repeat", "1")
    names = [m.group(2) for m in map(LINE.match, out.splitlines()) if m]
    assert len(names) == 3 and all(n.startswith("Transfers") for n in names), out
    assert "rows" not in out.splitlines()[1]


@pytest.mark.slow
def test_bench_only_simulation_reports_days_and_rows_per_second() -> None:
    out = run_bench("--only", "simulation", "--days", "3", "--sim-products", "30", "--customers", "5", "--repeat", "1")
    names = [m.group(2).strip() for m in map(LINE.match, out.splitlines()) if m]
    assert names == ["Simulation, days/s", "Simulation, ledger rows written/s vs raw INSERTs"], out
    assert "3 days, 30 products, 5 customers" in out


@pytest.mark.slow
def test_bench_only_attachments_compares_files_and_blobs_with_raw_baselines() -> None:
    out = run_bench("--only", "attachments", "--attachments", "5", "--attachment-kib", "8", "--repeat", "2")
    names = [m.group(2).strip() for m in map(LINE.match, out.splitlines()) if m]
    assert names == [
        "Attachments write, file mode vs raw file writes",
        "Attachments write, blob mode vs raw BLOB inserts",
        "Attachments read (cold, verified), file mode vs raw file reads",
        "Attachments read (cold, verified), blob mode vs raw BLOB reads",
        "Attachments read (warm, verified), file mode vs raw file reads",
        "Attachments read (warm, verified), blob mode vs raw BLOB reads",
        "Attachments storage, file mode: database + files vs content",
        "Attachments storage, blob mode: database vs content",
    ], out
    assert "5 attachments x 8 KiB" in out and "best of 2" in out
    assert "for 0.0 MiB" not in out  # 40 KiB of content is reported, not rounded away
    table = out[out.index("-- attachments: 5 x 8 KiB"):].splitlines()
    assert [row.split()[0] for row in table[2:7]] == ["write", "read,", "read,", "database", "files"], out


def test_bench_only_lifecycle_compares_soft_and_hard_deletes() -> None:
    out = run_bench("--only", "lifecycle", "--lifecycle-products", "100", "--repeat", "1")
    names = [m.group(2).strip() for m in map(LINE.match, out.splitlines()) if m]
    assert names == ["Soft delete (hide), rows/s vs raw UPDATE",
                     "Delete + purge (write-off, tombstone), rows/s vs raw DELETE"], out
    table = out[out.index("Soft vs hard delete, 100 products:"):].splitlines()
    assert [row.split()[0] for row in table[2:]] == ["rows", "time", "db", "db", "after", "list:", "list:", "audit",
                                                      "restorable"], out
    assert table[2].split()[-2:] == ["20", "20"], out  # a fifth of the products, both ways


def test_bench_only_saves_times_every_format_against_the_bare_library() -> None:
    out = run_bench("--only", "saves", "--save-products", "60", "--repeat", "1")
    names = [m.group(2).strip() for m in map(LINE.match, out.splitlines()) if m]
    assert names == [f"Save + load, {fmt}: time vs the bare library" for fmt in ("json", "yaml", "pickle")], out
    table = out[out.index("Save and load of the whole game ("):].splitlines()
    assert [row.split()[0] for row in table[1:5]] == ["format", "json", "yaml", "pickle"], out
    assert "60 products" in table[0], out
