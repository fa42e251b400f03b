"""--rate-limit / STOCKBANK_RATE_LIMIT reach the bank through the composition root."""

from __future__ import annotations

import json

import pytest

from tui_app.__main__ import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_limit_refuses_the_transfer_over_it_and_writes_nothing(sqlite_url: str, capsys) -> None:
    run(capsys, "--db", sqlite_url, "account", "open", "A", "--opening-balance", "10")
    run(capsys, "--db", sqlite_url, "account", "open", "B")
    assert run(capsys, "--db", sqlite_url, "--actor", "clerk", "--rate-limit", "2/60", "transfer", "A", "B", "1")[0] == 0
    assert run(capsys, "--db", sqlite_url, "--actor", "clerk", "--rate-limit", "2/60", "transfer", "A", "B", "1")[0] == 0
    code, _, err = run(capsys, "--db", sqlite_url, "--actor", "clerk", "--rate-limit", "2/60", "transfer", "A", "B", "1")
    assert code == 1 and "error [rate_limited]" in err
    code, out, _ = run(capsys, "--db", sqlite_url, "--json", "account", "show", "A")
    assert json.loads(out)["account"]["balance"] == "8.00"
    # another actor has its own window
    assert run(capsys, "--db", sqlite_url, "--actor", "other", "--rate-limit", "2/60", "transfer", "A", "B", "1")[0] == 0


def test_the_environment_variable_sets_the_limit(sqlite_url: str, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    run(capsys, "--db", sqlite_url, "account", "open", "A", "--opening-balance", "10")
    run(capsys, "--db", sqlite_url, "account", "open", "B")
    monkeypatch.setenv("STOCKBANK_RATE_LIMIT", "1/3600")
    assert run(capsys, "--db", sqlite_url, "--actor", "clerk", "transfer", "A", "B", "1")[0] == 0
    assert "rate_limited" in run(capsys, "--db", sqlite_url, "--actor", "clerk", "transfer", "A", "B", "1")[2]


@pytest.mark.parametrize("bad", ["100", "0/60", "10/0", "x/60", "10/99999999", "-1/60"])
def test_a_malformed_limit_is_a_validation_error(sqlite_url: str, capsys, bad: str) -> None:
    code, _, err = run(capsys, "--db", sqlite_url, f"--rate-limit={bad}", "account", "list")
    assert code == 1 and "error [validation]" in err and "rate limit" in err
