"""The bank half of the `stockbank` CLI on real SQLite files: account open/list/show/statement/
freeze/unfreeze/close, transfer, post, void, deposit, withdraw, and `check` over the ledger.
Every refusal exits 1 with `error [code]: message` (or a JSON error) and changes nothing."""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import STOCKBANK
from tui_app.__main__ import main



pytestmark = pytest.mark.usefixtures("no_user_database")


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bank.db'}"


def run(capsys: pytest.CaptureFixture[str], db: str, *argv: str) -> tuple[int, str, str]:
    code = main(["--db", db, "--actor", "clerk", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def ok_json(capsys: pytest.CaptureFixture[str], db: str, *argv: str) -> dict:
    code, out, err = run(capsys, db, "--json", *argv)
    assert code == 0, (argv, out, err)
    data = json.loads(out)
    assert data["ok"] is True
    return data


def refused(capsys: pytest.CaptureFixture[str], db: str, *argv: str) -> str:
    """Run a command that must be refused; returns the error code, checking the text and JSON forms."""
    before = ledger_state(db)
    code, out, err = run(capsys, db, *argv)
    assert code == 1, (argv, out, err)
    assert out == ""
    assert err.startswith("error [") and err.count("\n") == 1, err
    text_code = err[len("error ["):err.index("]")]
    code, out, err = run(capsys, db, "--json", *argv)
    assert code == 1
    data = json.loads(out)
    assert data["ok"] is False and data["error"]["code"] == text_code and data["error"]["message"]
    assert ledger_state(db) == before, "a refused command must change nothing"
    return text_code


def sql(db: str, query: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(db.removeprefix("sqlite:///"))
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def ledger_state(db: str) -> tuple:
    if not Path(db.removeprefix("sqlite:///")).exists():
        return ()
    return (
        sql(db, "SELECT id, name, debits_posted, credits_posted, debits_pending, credits_pending, status, version"
                " FROM accounts ORDER BY id"),
        sql(db, "SELECT count(*) FROM transfers"),
        sql(db, "SELECT count(*) FROM audit_log"),
    )


@pytest.fixture
def bank_db(db: str, capsys: pytest.CaptureFixture[str]) -> str:
    """Alice (100.00), Bob (20.00, may go 10.00 below zero) and a Shop with nothing."""
    ok_json(capsys, db, "account", "open", "Alice", "--opening-balance", "100.00")
    ok_json(capsys, db, "account", "open", "Bob", "--opening-balance", "20", "--overdraft-limit", "10.00")
    ok_json(capsys, db, "account", "open", "Shop", "--kind", "shop")
    return db


def balance(capsys: pytest.CaptureFixture[str], db: str, ref: str) -> str:
    return ok_json(capsys, db, "account", "show", ref)["account"]["balance"]


# -- help -----------------------------------------------------------------------------------------

BANK_COMMANDS = ("account", "transfer", "post", "void", "deposit", "withdraw", "check")


def test_help_lists_every_bank_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in BANK_COMMANDS:
        assert command in out
    with pytest.raises(SystemExit):
        main(["account", "--help"])
    out = capsys.readouterr().out
    for action in ("open", "list", "show", "statement", "freeze", "unfreeze", "close"):
        assert action in out


# -- accounts -------------------------------------------------------------------------------------


def test_open_list_and_show(bank_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, bank_db, "account", "list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["id", "name", "kind", "currency", "balance", "available", "status"]
    names = [line.split()[1] for line in lines[1:]]
    assert names == ["Alice", "Bob", "Cash", "Shop"]  # "Cash EUR", the system account, brought the money in
    code, out, err = run(capsys, bank_db, "account", "show", "alice")
    assert code == 0, err
    assert "Alice" in out and "100.00" in out and "open" in out and "pending" in out and "available" in out
    bob = ok_json(capsys, bank_db, "account", "show", "Bob")["account"]
    assert bob["balance"] == "20.00" and bob["available"] == "30.00" and bob["overdraft_limit"] == "10.00"
    assert bob["status"] == "open" and bob["kind"] == "customer" and bob["currency"] == "EUR"
    assert bob["pending_out"] == "0.00" and bob["pending_in"] == "0.00"
    by_id = ok_json(capsys, bank_db, "account", "show", str(bob["id"]))["account"]
    assert by_id == bob
    listed = ok_json(capsys, bank_db, "account", "list")["accounts"]
    assert [a["name"] for a in listed] == ["Alice", "Bob", "Cash EUR", "Shop"]
    assert sum(int(a["balance_minor"]) for a in listed) == 0


def test_list_of_an_empty_ledger_says_so(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, db, "account", "list")
    assert code == 0, err
    assert "no accounts" in out
    assert ok_json(capsys, db, "account", "list")["accounts"] == []


def test_amounts_stay_exact_far_beyond_float_precision(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    ok_json(capsys, db, "account", "open", "Rich", "--opening-balance", "12345678901234567.89")
    ok_json(capsys, db, "account", "open", "Poor")
    ok_json(capsys, db, "transfer", "Rich", "Poor", "0.01")
    assert balance(capsys, db, "Rich") == "12345678901234567.88"
    assert balance(capsys, db, "Poor") == "0.01"


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (("account", "open", "Alice"), "already_exists"),
        (("account", "open", "ALICE"), "already_exists"),
        (("account", "open", "Zed", "--kind", "bank"), "validation"),
        (("account", "open", "Zed", "--kind", "system"), "validation"),
        (("account", "open", "Zed", "--currency", "EURO"), "validation"),
        (("account", "open", "Zed", "--opening-balance", "1.234"), "validation"),
        (("account", "open", "Zed", "--opening-balance", "-5"), "validation"),
        (("account", "open", "Zed", "--overdraft-limit", "lots"), "validation"),
        (("account", "open", "   "), "validation"),
        (("account", "show", "Nobody"), "not_found"),
        (("account", "show", "999"), "not_found"),
        (("account", "show", "99999999999999999999999"), "not_found"),
        (("account", "statement", "Nobody"), "not_found"),
        (("account", "statement", "Alice", "--limit", "0"), "validation"),
        (("account", "statement", "Alice", "--limit", "ten"), "validation"),
        (("account", "freeze", "Nobody"), "not_found"),
        (("account", "freeze", "Cash EUR"), "validation"),
        (("account", "close", "Alice"), "validation"),  # still holds money
    ],
)
def test_bad_account_commands_are_refused(bank_db: str, capsys: pytest.CaptureFixture[str], argv: tuple, code: str) -> None:
    assert refused(capsys, bank_db, *argv) == code


def test_freeze_unfreeze_and_close(bank_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, bank_db, "account", "freeze", "Shop")
    assert code == 0, err
    assert "Shop" in out and "frozen" in out
    assert refused(capsys, bank_db, "transfer", "Alice", "Shop", "1.00") == "account_frozen"
    assert refused(capsys, bank_db, "deposit", "Shop", "1.00") == "account_frozen"
    shop = ok_json(capsys, bank_db, "account", "unfreeze", "Shop")["account"]
    assert shop["status"] == "open" and shop["version"] >= 3
    ok_json(capsys, bank_db, "transfer", "Alice", "Shop", "1.00")
    ok_json(capsys, bank_db, "withdraw", "Shop", "1.00")
    closed = ok_json(capsys, bank_db, "account", "close", "Shop")["account"]
    assert closed["status"] == "closed"
    assert refused(capsys, bank_db, "transfer", "Alice", "Shop", "1.00") == "account_closed"
    assert refused(capsys, bank_db, "account", "unfreeze", "Shop") == "account_closed"
    assert refused(capsys, bank_db, "account", "close", "Shop") == "account_closed"


def test_freeze_twice_is_refused_or_a_no_op_but_never_a_crash(bank_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    ok_json(capsys, bank_db, "account", "freeze", "Bob")
    code, out, err = run(capsys, bank_db, "account", "freeze", "Bob")
    assert code in (0, 1)
    assert code == 0 or err.startswith("error [")


# -- transfers ------------------------------------------------------------------------------------


def test_transfer_prints_its_id_and_moves_the_money(bank_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, bank_db, "transfer", "Alice", "Shop", "12.50", "--memo", "hammer")
    assert code == 0, err
    [(transfer_id,)] = sql(bank_db, "SELECT max(id) FROM transfers")
    assert out.startswith(f"transfer {transfer_id} ")
    assert "12.50" in out and "Alice" in out and "Shop" in out and "87.50" in out
    assert balance(capsys, bank_db, "Alice") == "87.50"
    assert balance(capsys, bank_db, "Shop") == "12.50"
    assert sql(bank_db, "SELECT memo, actor, amount_minor FROM transfers WHERE id = ?", (transfer_id,)) == [
        ("hammer", "clerk", 1250)
    ]


def test_transfer_by_account_id(bank_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    ids = {a["name"]: a["id"] for a in ok_json(capsys, bank_db, "account", "list")["accounts"]}
    data = ok_json(capsys, bank_db, "transfer", str(ids["Bob"]), str(ids["Shop"]), "25")
    transfer = data["transfer"]
    assert data["transfer_id"] == transfer["id"]
    assert (transfer["source_id"], transfer["target_id"]) == (ids["Bob"], ids["Shop"])
    assert transfer["amount"] == "25.00" and transfer["amount_minor"] == 2500 and transfer["kind"] == "posted"
    assert transfer["source_balance_after"] == "-5.00"  # Bob used 5.00 of his overdraft
    assert transfer["target_balance_after"] == "25.00"


def test_transfer_json_output_parses(bank_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    data = ok_json(capsys, bank_db, "transfer", "Alice", "Bob", "0.01", "--key", "k-1", "--memo", "a penny")
    assert set(data) == {"ok", "transfer_id", "transfer"}
    assert data["transfer"]["idempotency_key"] == "k-1"
    assert data["transfer"]["memo"] == "a penny"
    assert data["transfer"]["currency"] == "EUR"
    assert data["transfer"]["created_at"].endswith("Z")


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (("transfer", "Alice", "Shop", "12,50"), "validation"),
        (("transfer", "Alice", "Shop", "12.505"), "validation"),
        (("transfer", "Alice", "Shop", "1e3"), "validation"),
        (("transfer", "Alice", "Shop", "NaN"), "validation"),
        (("transfer", "Alice", "Shop", "0"), "validation"),
        (("transfer", "Alice", "Shop", "-5"), "validation"),
        (("transfer", "Alice", "Shop", ""), "validation"),
        (("transfer", "Alice", "Shop", "١٢"), "validation"),  # Arabic-Indic digits are not ASCII
        (("transfer", "Alice", "Shop", "99999999999999999999.99"), "validation"),
        (("transfer", "Alice", "Nobody", "1"), "not_found"),
        (("transfer", "Nobody", "Shop", "1"), "not_found"),
        (("transfer", "Alice", "424242", "1"), "not_found"),
        (("transfer", "Alice", "Alice", "1"), "same_account"),
        (("transfer", "Alice", "alice", "1"), "same_account"),
        (("transfer", "Alice", "Shop", "100.01"), "insufficient_funds"),
        (("transfer", "Bob", "Shop", "30.01"), "insufficient_funds"),  # 20.00 plus a 10.00 overdraft
        (("transfer", "Shop", "Alice", "0.01"), "insufficient_funds"),
        (("transfer", "Alice", "Shop", "1", "--timeout", "60"), "validation"),  # only pending ones time out
        (("transfer", "Alice", "Shop", "1", "--pending", "--timeout", "soon"), "validation"),
        (("transfer", "Alice", "Shop", "1", "--pending", "--timeout", "0"), "validation"),
        (("transfer", "Alice", "Shop", "1", "--key", "has space"), "validation"),
        (("transfer", "Alice", "Shop", "1", "--memo", "line\nbreak"), "validation"),
        (("deposit", "Alice", "abc"), "validation"),
        (("deposit", "Nobody", "1"), "not_found"),
        (("withdraw", "Alice", "100.01"), "insufficient_funds"),
        (("withdraw", "Nobody", "1"), "not_found"),
    ],
)
def test_bad_transfers_are_refused_and_change_nothing(
    bank_db: str, capsys: pytest.CaptureFixture[str], argv: tuple, code: str
) -> None:
    assert refused(capsys, bank_db, *argv) == code


def test_the_whole_available_amount_can_be_moved(bank_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    ok_json(capsys, bank_db, "transfer", "Bob", "Shop", "30.00")
    bob = ok_json(capsys, bank_db, "account", "show", "Bob")["account"]
    assert bob["balance"] == "-10.00" and bob["available"] == "0.00"


def test_reused_key_replays_the_first_transfer_or_conflicts(bank_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    first = ok_json(capsys, bank_db, "transfer", "Alice", "Shop", "10.00", "--key", "order-1", "--memo", "m")
    again = ok_json(capsys, bank_db, "transfer", "Alice", "Shop", "10.00", "--key", "order-1", "--memo", "m")
    assert again["transfer_id"] == first["transfer_id"]
    assert balance(capsys, bank_db, "Alice") == "90.00", "a retry must not move the money twice"
    assert refused(capsys, bank_db, "transfer", "Alice", "Shop", "11.00", "--key", "order-1", "--memo", "m") == (
        "idempotency_conflict"
    )
    assert refused(capsys, bank_db, "transfer", "Alice", "Bob", "10.00", "--key", "order-1", "--memo", "m") == (
        "idempotency_conflict"
    )
    code, _, err = run(capsys, bank_db, "transfer", "Alice", "Shop", "11.00", "--key", "order-1", "--memo", "m")
    assert "order-1" in err and str(first["transfer_id"]) in err


def test_deposit_and_withdraw_go_through_cash(bank_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, bank_db, "deposit", "Shop", "40.00")
    assert code == 0, err
    assert out.startswith("transfer ") and "Cash EUR" in out and "40.00" in out
    data = ok_json(capsys, bank_db, "withdraw", "Shop", "15.00", "--memo", "to the bank", "--key", "w-1")
    assert data["transfer"]["memo"] == "to the bank"
    assert balance(capsys, bank_db, "Shop") == "25.00"
    again = ok_json(capsys, bank_db, "withdraw", "Shop", "15.00", "--memo", "to the bank", "--key", "w-1")
    assert again["transfer_id"] == data["transfer_id"]
    assert balance(capsys, bank_db, "Shop") == "25.00"
    assert balance(capsys, bank_db, "Cash EUR") == "-145.00"  # 100 + 20 + 40 - 15 brought in


def test_deposit_into_a_new_currency_opens_its_cash_account(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    ok_json(capsys, db, "account", "open", "Yank", "--currency", "usd")
    ok_json(capsys, db, "account", "open", "Euro")
    ok_json(capsys, db, "deposit", "Yank", "5.00")
    assert balance(capsys, db, "Cash USD") == "-5.00"
    assert refused(capsys, db, "transfer", "Yank", "Euro", "1.00") == "currency_mismatch"


# -- two-phase: pending, post, void ----------------------------------------------------------------


def test_pending_then_partial_post(bank_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, bank_db, "transfer", "Alice", "Shop", "30.00", "--pending", "--timeout", "3600")
    assert code == 0, err
    [(pending_id,)] = sql(bank_db, "SELECT max(id) FROM transfers")
    assert out.startswith(f"transfer {pending_id} pending")
    alice = ok_json(capsys, bank_db, "account", "show", "Alice")["account"]
    assert (alice["balance"], alice["available"], alice["pending_out"]) == ("100.00", "70.00", "30.00")
    assert ok_json(capsys, bank_db, "account", "show", "Shop")["account"]["pending_in"] == "30.00"
    post = ok_json(capsys, bank_db, "post", str(pending_id), "--amount", "20.00", "--key", "p-1")
    assert post["transfer"]["kind"] == "post" and post["transfer"]["pending_id"] == pending_id
    assert post["transfer"]["amount"] == "20.00"
    assert ok_json(capsys, bank_db, "post", str(pending_id), "--amount", "20.00", "--key", "p-1")["transfer_id"] == (
        post["transfer_id"]
    )
    alice = ok_json(capsys, bank_db, "account", "show", "Alice")["account"]
    assert (alice["balance"], alice["available"], alice["pending_out"]) == ("80.00", "80.00", "0.00")
    assert refused(capsys, bank_db, "post", str(pending_id)) == "already_posted"
    assert refused(capsys, bank_db, "void", str(pending_id)) == "already_posted"
    assert refused(capsys, bank_db, "post", str(pending_id), "--amount", "5.00", "--key", "p-1") == "idempotency_conflict"


def test_void_releases_and_a_voided_transfer_cannot_be_posted(bank_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    pending_id = ok_json(capsys, bank_db, "transfer", "Alice", "Shop", "60.00", "--pending")["transfer_id"]
    assert refused(capsys, bank_db, "transfer", "Alice", "Shop", "40.01") == "insufficient_funds"
    code, out, err = run(capsys, bank_db, "void", str(pending_id))
    assert code == 0, err
    assert out.startswith("transfer ") and "void" in out and str(pending_id) in out
    alice = ok_json(capsys, bank_db, "account", "show", "Alice")["account"]
    assert (alice["balance"], alice["available"]) == ("100.00", "100.00")
    assert refused(capsys, bank_db, "post", str(pending_id)) == "already_voided"
    assert refused(capsys, bank_db, "void", str(pending_id)) == "already_voided"


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (("post", "424242"), "not_found"),
        (("void", "424242"), "not_found"),
        (("post", "99999999999999999999999"), "validation"),
        (("post", "abc"), "validation"),
        (("post", "-1"), "validation"),
        (("void", "1.5"), "validation"),
        (("post", "{posted}"), "not_pending"),
        (("void", "{posted}"), "not_pending"),
        (("post", "{pending}", "--amount", "50.01"), "validation"),
        (("post", "{pending}", "--amount", "0"), "validation"),
        (("post", "{pending}", "--amount", "x"), "validation"),
        (("post", "{pending}", "--key", "bad key"), "validation"),
    ],
)
def test_bad_posts_and_voids_are_refused(bank_db: str, capsys: pytest.CaptureFixture[str], argv: tuple, code: str) -> None:
    posted = ok_json(capsys, bank_db, "transfer", "Alice", "Shop", "1.00")["transfer_id"]
    pending = ok_json(capsys, bank_db, "transfer", "Alice", "Shop", "50.00", "--pending")["transfer_id"]
    argv = tuple(a.format(posted=posted, pending=pending) for a in argv)
    assert refused(capsys, bank_db, *argv) == code


# -- statements ----------------------------------------------------------------------------------


def test_statement_newest_first_with_balance_after(bank_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    ok_json(capsys, bank_db, "transfer", "Alice", "Shop", "10.00", "--memo", "first")
    ok_json(capsys, bank_db, "transfer", "Shop", "Alice", "2.50", "--memo", "refund")
    ok_json(capsys, bank_db, "transfer", "Alice", "Bob", "5.00", "--pending")
    data = ok_json(capsys, bank_db, "account", "statement", "Alice")
    lines = data["lines"]
    assert [(ln["kind"], ln["amount"], ln["balance_after"], ln["counterparty"]) for ln in lines] == [
        ("pending", "-5.00", "92.50", "Bob"),
        ("posted", "2.50", "92.50", "Shop"),
        ("posted", "-10.00", "90.00", "Shop"),
        ("posted", "100.00", "100.00", "Cash EUR"),
    ]
    assert lines[0]["pending"] is True and lines[1]["pending"] is False
    assert data["account"]["balance"] == "92.50" and data["account"]["available"] == "87.50"
    limited = ok_json(capsys, bank_db, "account", "statement", "Alice", "--limit", "2")["lines"]
    assert limited == lines[:2]
    code, out, err = run(capsys, bank_db, "account", "statement", "Alice", "--limit", "3")
    assert code == 0, err
    text = out.splitlines()
    assert "Alice" in text[0] and "92.50" in text[0]
    assert len(text) == 4
    assert "refund" in text[2] and "+2.50" in text[2] and "-10.00" in text[3]


def test_statement_of_a_new_account_says_there_is_nothing(bank_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, bank_db, "account", "statement", "Shop")
    assert code == 0, err
    assert "no transfers" in out
    assert ok_json(capsys, bank_db, "account", "statement", "Shop")["lines"] == []


def test_statement_csv_export_is_complete_and_spreadsheet_safe(
    bank_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ok_json(capsys, bank_db, "transfer", "Alice", "Shop", "10.00", "--memo", "=HYPERLINK(\"http://x\")")
    ok_json(capsys, bank_db, "transfer", "Alice", "Shop", "1.00", "--memo", "plain")
    out_file = tmp_path / "alice.csv"
    code, out, err = run(capsys, bank_db, "account", "statement", "Alice", "--limit", "1", "--out", str(out_file))
    assert code == 0, err
    assert "3" in out and str(out_file) in out
    with open(out_file, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == 4, "--out writes the whole statement, whatever --limit says"
    header = rows[0]
    memo = [r[header.index("memo")] for r in rows[1:]]
    assert memo == ["plain", "'=HYPERLINK(\"http://x\")", "opening balance"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")], "temp file left behind"
    data = ok_json(capsys, bank_db, "account", "statement", "Alice", "--out", str(tmp_path / "again.csv"))
    assert data["rows"] == 3


def test_statement_export_of_an_unknown_account_writes_no_file(
    bank_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "x.csv"
    assert refused(capsys, bank_db, "account", "statement", "Nobody", "--out", str(out_file)) == "not_found"
    assert not out_file.exists()


# -- check ----------------------------------------------------------------------------------------


def test_check_reports_accounts_transfers_and_cash(bank_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    ok_json(capsys, bank_db, "transfer", "Alice", "Shop", "10.00")
    ok_json(capsys, bank_db, "transfer", "Alice", "Shop", "5.00", "--pending")
    code, out, err = run(capsys, bank_db, "check")
    assert code == 0, err
    assert out.startswith("ok:")
    assert "4 accounts" in out and "4 transfers" in out and "120.00 cash brought in" in out
    data = ok_json(capsys, bank_db, "check")
    assert data["problems"] == []
    assert data["checked"]["accounts"] == 4 and data["checked"]["transfers"] == 4
    assert data["checked"]["cash_brought_in_minor"] == 12_000


def test_check_fails_when_a_balance_is_tampered_with_in_sql(bank_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    ok_json(capsys, bank_db, "transfer", "Alice", "Shop", "10.00")
    conn = sqlite3.connect(bank_db.removeprefix("sqlite:///"))
    # more credits passes every CHECK constraint (totals stay >= 0, Alice stays within her limit)
    conn.execute("UPDATE accounts SET credits_posted = credits_posted + 1 WHERE name = 'Alice'")
    conn.commit()
    conn.close()
    code, out, _ = run(capsys, bank_db, "check")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("FAILED")
    assert any("Alice" in line for line in lines), out
    assert any("double entry" in line for line in lines), out
    assert "accounts" in lines[-1] and "transfers" in lines[-1]
    code, out, _ = run(capsys, bank_db, "--json", "check")
    assert code == 1
    data = json.loads(out)
    assert data["ok"] is False and len(data["problems"]) >= 2
    assert any("Alice" in p for p in data["problems"])


def test_check_fails_when_a_transfer_is_deleted_in_sql(bank_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    transfer_id = ok_json(capsys, bank_db, "transfer", "Alice", "Shop", "10.00")["transfer_id"]
    conn = sqlite3.connect(bank_db.removeprefix("sqlite:///"))
    conn.execute("DELETE FROM transfers WHERE id = ?", (transfer_id,))
    conn.commit()
    conn.close()
    code, out, _ = run(capsys, bank_db, "check")
    assert code == 1
    assert "Alice" in out and "Shop" in out


# -- the installed script -----------------------------------------------------------------------


def test_installed_script_exit_codes_and_error_line(bank_db: str) -> None:
    base = [STOCKBANK, "--db", bank_db]
    done = subprocess.run([*base, "transfer", "Alice", "Shop", "1.00"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("transfer ")
    done = subprocess.run([*base, "transfer", "Alice", "Shop", "1.001"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("error [validation]: amount")
    done = subprocess.run([*base, "transfer", "Alice"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, "a missing argument is a usage error"
