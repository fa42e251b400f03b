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
    *(f"Writers, {mode} x 2, ours vs raw sqlite3" for mode in ("threads", "processes")),
    "Demo data, stockbank demo --products",
    "Products list, first paint vs fastdatatable load+mount",
    "Products list, jump to the end vs fastdatatable",
    "Products list, peak RSS vs fastdatatable",
    "Products list, RSS while browsing",
    "Text filter, first results",
    "Sort by price, slowest page",
)
LINE = re.compile(r"^(PASS|MISS)  (.+?)  goal (.+?) got (\d+\.\d+(?:x|/s|s| ms| MiB)) ")


def run_bench(*argv: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bench", *argv], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"bench failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def full_run() -> str:
    """One run of every measurement at a tiny size (each `--only` run would repeat a part of it): one cold
    start of each app, and two concurrent writers (one, two and four take the same code path, 20 s more)."""
    return run_bench("--rows", "2000", "--transfers", "200", "--repeat", "1", "--days", "3", "--sim-products", "40",
                     "--customers", "10", "--attachments", "5", "--attachment-kib", "8", "--lifecycle-products", "100",
                     "--save-products", "60", "--writer-transfers", "8", "--writers", "2", "--starts", "1",
                     "--demo-products", "200", "--table-products", "300")


@pytest.mark.slow
def test_one_full_run_reports_every_goal_and_every_table() -> None:
    """One test, so parallel workers never run the whole bench twice; the checks are the functions below."""
    out = full_run()
    for check in (every_goal_has_a_line, the_simulation_reports_days_and_rows_per_second,
                  attachments_compare_files_and_blobs_with_raw_baselines, lifecycle_compares_soft_and_hard_deletes,
                  saves_time_every_format_against_the_bare_library, writers_report_threads_and_processes,
                  the_demo_is_timed_and_checked):
        check(out)


def every_goal_has_a_line(out: str) -> None:
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


def the_simulation_reports_days_and_rows_per_second(out: str) -> None:
    names = [m.group(2).strip() for m in map(LINE.match, out.splitlines()) if m]
    assert [n for n in names if n.startswith("Simulation")] == [
        "Simulation, days/s", "Simulation, ledger rows written/s vs raw INSERTs"], out
    assert "3 days, 40 products, 10 customers" in out


def attachments_compare_files_and_blobs_with_raw_baselines(out: str) -> None:
    names = [m.group(2).strip() for m in map(LINE.match, out.splitlines()) if m]
    assert [n for n in names if n.startswith("Attachments")] == [
        "Attachments write, file mode vs raw file writes",
        "Attachments write, blob mode vs raw BLOB inserts",
        "Attachments read (cold, verified), file mode vs raw file reads",
        "Attachments read (cold, verified), blob mode vs raw BLOB reads",
        "Attachments read (warm, verified), file mode vs raw file reads",
        "Attachments read (warm, verified), blob mode vs raw BLOB reads",
        "Attachments storage, file mode: database + files vs content",
        "Attachments storage, blob mode: database vs content",
    ], out
    assert "5 attachments x 8 KiB" in out
    assert "for 0.0 MiB" not in out  # 40 KiB of content is reported, not rounded away
    table = out[out.index("-- attachments: 5 x 8 KiB"):].splitlines()
    assert [row.split()[0] for row in table[2:7]] == ["write", "read,", "read,", "database", "files"], out


def lifecycle_compares_soft_and_hard_deletes(out: str) -> None:
    names = [m.group(2).strip() for m in map(LINE.match, out.splitlines()) if m]
    assert [n for n in names if "delete" in n.lower()] == ["Soft delete (hide), rows/s vs raw UPDATE",
                     "Delete + purge (write-off, tombstone), rows/s vs raw DELETE"], out
    table = out[out.index("Soft vs hard delete, 100 products:"):].splitlines()
    assert [row.split()[0] for row in table[2:11]] == ["rows", "time", "db", "db", "after", "list:", "list:", "audit",
                                                      "restorable"], out
    assert table[2].split()[-2:] == ["20", "20"], out  # a fifth of the products, both ways


def saves_time_every_format_against_the_bare_library(out: str) -> None:
    names = [m.group(2).strip() for m in map(LINE.match, out.splitlines()) if m]
    assert [n for n in names if n.startswith("Save")] == [f"Save + load, {fmt}: time vs the bare library" for fmt in ("json", "yaml", "pickle")], out
    table = out[out.index("Save and load of the whole game ("):].splitlines()
    assert [row.split()[0] for row in table[1:5]] == ["format", "json", "yaml", "pickle"], out
    assert "60 products" in table[0], out


def writers_report_threads_and_processes(out: str) -> None:
    names = [m.group(2).strip() for m in map(LINE.match, out.splitlines()) if m]
    assert [n for n in names if n.startswith("Writers")] == [
        f"Writers, {mode} x 2, ours vs raw sqlite3 (FULL)" for mode in ("threads", "processes")], out
    table = out[out.index("Concurrent writers, 8 transfers per run"):].splitlines()
    assert table[1].split()[:3] == ["writers", "as", "raw"], out
    rows = [row.split() for row in table[2:4]]
    assert [(r[0], r[1]) for r in rows] == [("2", mode) for mode in ("threads", "processes")], out
    for row in rows:
        assert all(re.fullmatch(r"[\d,]+/s", cell) for cell in row[2:5]), row
        assert float(row[6]) >= 1.0, row  # transfers per COMMIT


def the_demo_is_timed_and_checked(out: str) -> None:
    (line,) = [m.string for m in map(LINE.match, out.splitlines()) if m and m.group(2).startswith("Demo data")]
    assert "goal < 10 s" in line and re.search(r"got \d+\.\d\ds ", line), line
    assert re.search(r"peak RSS \d+ MiB", line), line
    assert "check ok" in line and "opening stock moves" in line, line
