"""`stockbank serve` without a browser: bad --host/--port/--public-url are usage errors (exit 2, a message
naming the option, nothing served), a database that cannot be opened is refused before serving, and the
command each browser tab runs opens the same database, with the options `serve` was given, as `stockbank`.
(tests/e2e/test_browser.py drives a real browser against a real server.)"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.cli_helpers import one_parser, run, usage_error  # noqa: F401 (one_parser: autouse)
from tests.integration.conftest import STOCKBANK
from tui_app.__main__ import build_parser
from tui_app import cli_serve
from tui_app.cli_serve import app_command

pytestmark = pytest.mark.usefixtures("no_user_database")


@pytest.fixture(autouse=True)
def never_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    """These commands must be refused before serving; if one got that far, fail instead of serving forever."""
    def reached(*args: object) -> None:
        pytest.fail("stockbank serve got as far as serving")

    monkeypatch.setattr(cli_serve, "_serve", reached)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'shop.db'}"


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("port", ["0", "65536", "-1", "80.5", "eighty", "", "99999999999999999999"])
def test_a_port_outside_1_to_65535_is_a_usage_error(capsys: pytest.CaptureFixture[str], db: str, port: str) -> None:
    err = usage_error(capsys, db, "serve", "--port", port)
    assert "argument --port: must be a whole number from 1 to 65535" in err, err
    assert not Path(db.removeprefix("sqlite:///")).exists(), "a usage error opens no database"


@pytest.mark.parametrize("host", ["bad host", "", "dash-.example", "under_score", "a..b", "x" * 64, "http://127.0.0.1"])
def test_a_host_that_is_neither_an_address_nor_a_host_name_is_a_usage_error(
        capsys: pytest.CaptureFixture[str], db: str, host: str) -> None:
    err = usage_error(capsys, db, "serve", "--host", host)
    assert "argument --host:" in err and "is not an IP address or host name" in err, err


@pytest.mark.parametrize("url", ["ftp://shop.example", "shop.example:8000", "http://", "http://a b"])
def test_a_public_url_that_is_not_http_is_a_usage_error(capsys: pytest.CaptureFixture[str], db: str, url: str) -> None:
    err = usage_error(capsys, db, "serve", "--public-url", url)
    assert "argument --public-url:" in err and "is not an http:// or https:// URL" in err, err


def test_a_port_already_listened_on_is_a_usage_error_and_opens_no_database(
        capsys: pytest.CaptureFixture[str], db: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, out, err = run(capsys, db, "serve", "--port", str(port))
    assert code == 2 and out == ""
    assert err == f"stockbank serve: error: --port {port}: already in use on 127.0.0.1 (another server?); pick another port\n"
    assert not Path(db.removeprefix("sqlite:///")).exists()


def test_a_host_that_is_not_this_machine_is_a_usage_error(capsys: pytest.CaptureFixture[str], db: str) -> None:
    with socket.socket() as probe:
        try:
            probe.bind(("192.0.2.1", 0))
        except OSError:
            pass
        else:
            pytest.skip("this machine lets sockets bind addresses it does not have (ip_nonlocal_bind)")
    code, out, err = run(capsys, db, "serve", "--host", "192.0.2.1", "--port", str(_unused_port()))  # TEST-NET-1
    assert code == 2 and out == ""
    assert err == "stockbank serve: error: --host 192.0.2.1: not an address of this machine\n"


def test_a_database_that_cannot_be_opened_is_refused_before_serving(capsys: pytest.CaptureFixture[str]) -> None:
    port = _unused_port()
    code, out, err = run(capsys, "nosuchstore:///x", "serve", "--port", str(port))
    assert code == 1 and out == ""
    assert err.startswith("error [") and "nosuchstore" in err, err
    with socket.socket() as probe:  # nothing was left listening
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def _tab_argv(command: str) -> list[str]:
    argv = shlex.split(command)
    assert argv[0] == "exec", "the app replaces the shell: textual-serve's own child, stopped with it"
    return argv[1:]


def test_each_tab_runs_this_python_with_the_global_options_given_to_serve(tmp_path: Path) -> None:
    odd = tmp_path / "it's a shop; $(touch pwned)" / "books.db"
    argv = ["--db", f"sqlite:///{odd}", "--tenant", "north", "--actor", "ann o'neil", "--rate-limit", "5/60",
            "--cache", "memory", "--config", str(tmp_path / "my settings.toml"), "serve", "--port", "8123"]
    tab = _tab_argv(app_command(build_parser().parse_args(argv)))
    assert tab[:3] == [sys.executable, "-m", "tui_app"]
    assert tab[3:] == argv[:-3], "every global option, quoted for the shell, and nothing else"
    again = build_parser().parse_args(tab[3:])
    assert (again.command, again.db, again.tenant, again.actor) == (None, f"sqlite:///{odd}", "north", "ann o'neil")


def test_a_database_password_never_reaches_a_tabs_command_line() -> None:
    """Anyone on the machine can read a command line (`ps`); the tab gets the URL from STOCKBANK_DB instead,
    which cmd_serve sets in the server's environment, inherited by every tab."""
    secret = "postgresql+psycopg://shop:s3cret@127.0.0.1/books"
    tab = _tab_argv(app_command(build_parser().parse_args(["--db", secret, "--tenant", "north", "serve"])))
    assert "s3cret" not in " ".join(tab) and "--db" not in tab
    assert tab[3:] == ["--tenant", "north"]


def test_options_not_given_to_serve_are_not_passed_on(tmp_path: Path) -> None:
    tab = _tab_argv(app_command(build_parser().parse_args(["serve"])))
    assert tab == [sys.executable, "-m", "tui_app"], "the tab resolves the database as stockbank does"


def _tab_shell(command: str, *more: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a tab's command through the shell as textual-serve does, with a CLI command appended
    instead of the TUI (same argv, same parsing, same database resolution)."""
    return subprocess.run(["/bin/sh", "-c", command + " " + shlex.join(more)], env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_tab_command_opens_the_database_serve_names_even_with_shell_characters_in_its_path(
        tmp_path: Path) -> None:
    folder = tmp_path / "it's a shop; $(touch pwned)"
    folder.mkdir()
    url = f"sqlite:///{folder / 'books.db'}"
    env = dict(os.environ)
    opened = subprocess.run([STOCKBANK, "--db", url, "--tenant", "north", "account", "open", "Zed"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert opened.returncode == 0, opened.stderr
    command = app_command(build_parser().parse_args(["--db", url, "--tenant", "north", "serve"]))
    listed = _tab_shell(command, "--json", "account", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert [a["name"] for a in json.loads(listed.stdout)["accounts"]] == ["Zed"]
    assert not (Path.cwd() / "pwned").exists() and not (folder / "pwned").exists()


def test_without_db_the_tab_opens_the_same_default_database_as_stockbank(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "STOCKBANK_DB"}
    env.update(HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "data"))
    opened = subprocess.run([STOCKBANK, "account", "open", "Default Dora"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert opened.returncode == 0, opened.stderr
    assert list((tmp_path / "data").rglob("stockbank.db")), "the default database lives in the user data dir"
    listed = _tab_shell(app_command(build_parser().parse_args(["serve"])), "--json", "account", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "Default Dora" in [a["name"] for a in json.loads(listed.stdout)["accounts"]]


def test_serve_opens_the_database_once_prints_the_url_and_serves_the_tab_command(
        capsys: pytest.CaptureFixture[str], db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[tuple] = []
    monkeypatch.setattr(cli_serve, "_serve", lambda *args: served.append(args))
    port = _unused_port()
    code, out, err = run(capsys, db, "serve", "--port", str(port))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"serving stockbank on {db} at http://127.0.0.1:{port}"
    assert lines[1].startswith("  the database was empty: added demo data ("), "seeded once, here, not by racing tabs"
    (command, host, at_port, url), = served
    assert (host, at_port, url) == ("127.0.0.1", port, f"http://127.0.0.1:{port}")
    assert _tab_argv(command) == [sys.executable, "-m", "tui_app", "--db", db, "--actor", "clerk"]

    code, out, err = run(capsys, db, "--json", "serve", "--port", str(port), "--public-url", "https://shop.example/")
    assert code == 0
    assert json.loads(out) == {"ok": True, "url": "https://shop.example", "db": db, "demo_loaded": 0}
    assert served[-1][3] == "https://shop.example"


def test_an_ipv6_host_is_bracketed_in_the_url(capsys: pytest.CaptureFixture[str], db: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
            port = probe.getsockname()[1]
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    served: list[tuple] = []
    monkeypatch.setattr(cli_serve, "_serve", lambda *args: served.append(args))
    code, out, err = run(capsys, db, "serve", "--host", "[::1]", "--port", str(port))
    assert code == 0, err
    assert served[0][1:] == ("::1", port, f"http://[::1]:{port}")


def test_a_tab_app_that_outlives_the_server_is_killed_only_while_it_is_still_our_child() -> None:
    from tui_app.cli_serve import _kill_if_still_ours

    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    _kill_if_still_ours(running.pid)  # killed and reaped
    with pytest.raises(ProcessLookupError):
        os.kill(running.pid, 0)
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()  # reaped: its pid may be anyone's now, so it is left alone
    _kill_if_still_ours(finished.pid)  # no error, no signal sent
