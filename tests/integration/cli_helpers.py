"""Running `stockbank` in-process for the CLI tests: one place for the argv, the output capture and
the ok-or-fail assertions every CLI test file uses."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout

import pytest

import tui_app.__main__ as cli
from tui_app.__main__ import main

ACTOR = "clerk"


@pytest.fixture(scope="module", autouse=True)
def one_parser() -> Iterator[None]:
    """Build the argument parser once per module: building it is most of an in-process call's time.
    Parsing leaves an argparse parser unchanged, so every call still parses its argv from scratch.
    (Imported into a test module, this fixture applies to that module.)"""
    parser = cli.build_parser()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "build_parser", lambda: parser)
        yield


def run(capsys: pytest.CaptureFixture[str] | None, db: str, *argv: str) -> tuple[int, str, str]:
    """`stockbank --db DB --actor clerk ARGV...` in-process; module-scoped fixtures pass capsys=None."""
    full = ["--db", db, "--actor", ACTOR, *argv]
    if capsys is None:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(full)
        return code, out.getvalue(), err.getvalue()
    code = main(full)
    out, err = capsys.readouterr()
    return code, out, err


def ok_json(capsys: pytest.CaptureFixture[str] | None, db: str, *argv: str) -> dict:
    code, out, err = run(capsys, db, "--json", *argv)
    assert code == 0, (argv, out, err)
    data = json.loads(out)
    assert data["ok"] is True
    return data


def ok_text(capsys: pytest.CaptureFixture[str] | None, db: str, *argv: str) -> str:
    code, out, err = run(capsys, db, *argv)
    assert code == 0, (argv, out, err)
    assert err == ""
    return out


def refused_by(state: Callable[[pytest.CaptureFixture[str], str], dict], capsys: pytest.CaptureFixture[str], db: str,
               *argv: str, before: dict | None = None) -> str:
    """Run a command that must be refused (text, then --json); returns its error code.

    Both runs exit 1, print nothing to stdout (text) or one JSON error (--json), and change nothing
    (compared by `state`, with `before` or the state taken now)."""
    before = state(capsys, db) if before is None else before
    code, out, err = run(capsys, db, *argv)
    assert code == 1, (argv, out, err)
    assert out == ""
    assert err.startswith("error [") and err.count("\n") == 1, err
    text_code = err[len("error ["):err.index("]")]
    assert err[err.index("]"):].startswith("]: ") and len(err.strip()) > len(f"error [{text_code}]: ")
    code, out, err = run(capsys, db, "--json", *argv)
    assert code == 1, (argv, out, err)
    assert err == ""
    data = json.loads(out)
    assert data["ok"] is False and data["error"]["code"] == text_code and data["error"]["message"]
    assert state(capsys, db) == before, f"refused {argv} must change nothing"
    return text_code


def usage_error(capsys: pytest.CaptureFixture[str], db: str, *argv: str) -> str:
    """A command line argparse refuses: exit 2, the usage message on stderr."""
    with pytest.raises(SystemExit) as exited:
        main(["--db", db, *argv])
    assert exited.value.code == 2
    return capsys.readouterr().err
