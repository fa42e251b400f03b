"""`python -m bench --only writers` runs end to end at a tiny size: a line and a table row for 1, 2 and 4
writers as threads and as processes, ours against raw sqlite3. No timing asserts (the numbers are the
bench's job); the bench itself refuses to report a run whose ledger does not add up."""

from __future__ import annotations

import re

import pytest

from tests.bench.test_bench_smoke import LINE, run_bench


@pytest.mark.slow
def test_bench_only_writers_reports_threads_and_processes_against_raw_sqlite3() -> None:
    out = run_bench("--only", "writers", "--writer-transfers", "8", "--repeat", "1")
    names = [m.group(2).strip() for m in map(LINE.match, out.splitlines()) if m]
    assert names == [f"Writers, {mode} x {n}, ours vs raw sqlite3 (FULL)" for mode in ("threads", "processes")
                     for n in (1, 2, 4)], out
    assert "8 transfers per concurrent-writers run" in out.splitlines()[1], out
    table = out[out.index("Concurrent writers, 8 transfers per run"):].splitlines()
    assert table[1].split()[:3] == ["writers", "as", "raw"], out
    rows = [row.split() for row in table[2:8]]
    assert [(r[0], r[1]) for r in rows] == [(str(n), mode) for mode in ("threads", "processes") for n in (1, 2, 4)], out
    for row in rows:
        assert all(re.fullmatch(r"[\d,]+/s", cell) for cell in row[2:5]), row
        assert float(row[6]) >= 1.0, row  # transfers per COMMIT
