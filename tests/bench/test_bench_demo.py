"""`python -m bench --only demo` times the real `stockbank demo` in its own process and checks the file it
leaves. A tiny size: this proves the harness works, not the speed (no timing asserts)."""

from __future__ import annotations

import re

from tests.bench.test_bench_smoke import LINE, run_bench


def test_bench_only_demo_times_the_demo_command_against_its_goal_and_checks_the_result() -> None:
    out = run_bench("--only", "demo", "--demo-products", "250", "--repeat", "2")
    lines = [m for m in map(LINE.match, out.splitlines()) if m]
    assert [m.group(2).strip() for m in lines] == ["Demo data, stockbank demo --products 250 (own process)"], out
    line = lines[0].string
    assert "goal < 10 s" in line and re.search(r"got \d+\.\d\ds ", line), line
    assert re.search(r"peak RSS \d+ MiB \(runs: [\d.]+, [\d.]+ s\)", line), line
    assert "check ok" in line and "opening stock moves" in line, line
    assert "a demo of 250 products" in out and "best of 2" in out
