"""`stockbank serve` end to end: a real server on 127.0.0.1, headless Chromium driven over the
DevTools protocol, a transfer made with the keyboard in the browser and checked through the store,
and Export CSV downloaded by the browser.

Skips when /usr/bin/chromium is absent, except in CI (CI=true), where that fails: `.ci/run` installs it.
"""

from __future__ import annotations

import os
import signal
import struct
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from domain import Simulator
from domain.model import parse_ref
from domain.services.catalog import PRODUCT_EXPORT_HEADER
from storage import open_store
from tests.e2e.browser import (
    TIMEOUT,
    DevTools,
    GroupProcess,
    Page,
    chromium_argv,
    devtools_url,
    free_port,
    require_chromium,
    wait_for_port,
    wait_until,
)

pytestmark = pytest.mark.slow

STOCKBANK = Path(sys.executable).parent / "stockbank"  # the venv's console script
TENANT = "corner-shop"  # not the default: proves the served app gets serve's --tenant
ACTOR = "web-clerk"  # likewise for --actor: the transfer records it


@dataclass
class Served:
    url: str
    db_url: str
    process: GroupProcess
    server_downloads: Path  # where the app would save a file if it were in a terminal


@pytest.fixture
def shop_db(tmp_path: Path) -> str:
    """Two accounts with money, one product; made with the scripting API."""
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    store = open_store(url)
    try:
        sim = Simulator(store, actor="setup", tenant=TENANT)
        sim.bank.open_account("Alice", kind="customer", opening_balance="100.00")
        sim.bank.open_account("Bob", kind="customer", opening_balance="20.00")
        sim.catalog.add_category("Tools")
        sim.catalog.add_product(sku="HAM-1", name="Hammer", price="12.50", category="Tools")
    finally:
        store.close()
    return url


def _server_env(tmp_path: Path) -> dict[str, str]:
    """The real environment, minus anything that points the app at the user's own files."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("STOCKBANK_DB", "STOCKBANK_CACHE", "STOCKBANK_CONFIG", "STOCKBANK_RATE_LIMIT")}
    home = tmp_path / "home"
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
               XDG_CACHE_HOME=str(home / ".cache"), XDG_DOWNLOAD_DIR=str(tmp_path / "server-downloads"))
    return env


@pytest.fixture
def served(tmp_path: Path, shop_db: str) -> Iterator[Served]:
    """`stockbank serve` in its own process group; the group is killed on teardown."""
    assert STOCKBANK.exists(), f"{STOCKBANK}: install the project (pip install -e .)"
    env = _server_env(tmp_path)
    process = None
    for attempt in range(3):  # a free port can be taken by someone else before the server binds it
        port = free_port()
        process = GroupProcess(
            [str(STOCKBANK), "--db", shop_db, "--tenant", TENANT, "--actor", ACTOR,
             "serve", "--host", "127.0.0.1", "--port", str(port)],
            tmp_path / f"serve-{attempt}.log", env=env)
        try:
            wait_for_port(port, process)
        except pytest.fail.Exception:
            if process.proc.poll() == 2 and "already in use" in process.output():
                continue
            process.stop()
            raise
        break
    assert process is not None
    try:
        url = f"http://127.0.0.1:{port}/"
        with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:
            page = answer.read().decode()
        assert "<div>stockbank</div>" in page and f"ws://127.0.0.1:{port}/ws" in page, page[:500]
        assert process.alive(), process.output()
        yield Served(url, shop_db, process, tmp_path / "server-downloads")
    finally:
        leftovers = process.stop(grace=30)
    assert not leftovers, f"processes of the server's group survived SIGTERM: {leftovers}\n{process.output()}"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[tuple[DevTools, Path]]:
    """Headless Chromium in its own process group, downloads into tmp_path/downloads."""
    chromium = require_chromium()
    profile, downloads = tmp_path / "chromium-profile", tmp_path / "downloads"
    downloads.mkdir()
    process = GroupProcess(chromium_argv(chromium, profile), tmp_path / "chromium.log")
    devtools = None
    try:
        devtools = DevTools(devtools_url(profile, process))
        devtools.call("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(downloads), eventsEnabled=False)
        yield devtools, downloads
    finally:
        if devtools is not None:
            devtools.close()
        process.stop()


def _app_processes(served: Served) -> list[int]:
    return [pid for pid in served.process.group_members() if pid != served.process.pgid]


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])  # IHDR: width, height


def _transfer_in_store(db_url: str, memo: str):
    """The transfer with this memo, read through the store (None until the app committed it)."""
    store = open_store(db_url)
    try:
        bank = Simulator(store, actor="checker", tenant=TENANT).bank
        alice = bank.get_account(parse_ref("Alice"))
        for line in bank.statement(alice.id, limit=50):
            if line.memo == memo:
                return bank.get_transfer(line.transfer_id), bank.get_account(parse_ref("Alice")), \
                    bank.get_account(parse_ref("Bob"))
        return None
    finally:
        store.close()


def _field_cells(page: Page, label: str) -> list | None:
    """The cells of the form row `label` heads, from just after the label to the dialog's right border."""
    cells = page.row_after(f"\u2588  {label}")  # the dialog's left border, then the label
    if cells is None:
        return None
    for i, cell in enumerate(cells):
        if cell.data == "\u2588":
            return cells[:i]
    return cells


def field_has_focus(page: Page, label: str) -> bool:
    """Whether the form field after `label` has the focus: a focused (compact) Input shows a background
    of its own (and the cursor or a selection), an unfocused one only the dialog's, like its label."""
    cells = _field_cells(page, label)
    if not cells:
        return False
    dialog = cells[0].bg  # the label's padding, on the dialog's background
    return any(cell.bg != dialog for cell in cells)


def field_text(page: Page, label: str) -> str:
    return "".join(cell.data for cell in _field_cells(page, label) or []).strip()


def fill(page: Page, label: str, text: str) -> None:
    """Type into a form field once it has the focus, then wait until the field shows the text.

    A field's text is selected when it gets the focus, so typing replaces a pre-filled value. The
    waits matter: Textual handles printable keys in the focused Input at once, but keys that are
    bindings (tab, home, ctrl+k, enter) only after they bubble up to the app, so a key typed right
    after a tab lands in the old field (a person is never that fast; a test is). Printable keys
    followed by a binding are safe; a binding followed by printable keys needs a wait for its effect."""
    wait_until(lambda: field_has_focus(page, label), f"the {label} field to have the focus",
               explain=lambda: "screen:\n" + page.screen())
    page.type(text)
    wait_until(lambda: field_text(page, label) == text, f"{text!r} in the {label} field",
               explain=lambda: f"the field shows {field_text(page, label)!r}; screen:\n" + page.screen())


def _finished_csv(folder: Path) -> Path | None:
    done = [p for p in folder.glob("*.csv") if p.stat().st_size > 0]
    in_progress = list(folder.glob("*.crdownload"))
    return done[0] if len(done) == 1 and not in_progress else None


def test_transfer_made_in_the_browser_lands_in_the_store_and_export_downloads(
        browser: tuple[DevTools, Path], served: Served, tmp_path: Path) -> None:  # browser first: it may skip
    devtools, downloads = browser
    page = Page(devtools)
    page.goto(served.url)

    # The app runs in the tab: its own process on the shop's database, for serve's --tenant.
    screen = page.wait_for_text("Products", "HAM-1", "Hammer", what="the Products screen in the browser")
    assert TENANT in screen, screen
    assert page.terminal_size(), "the page never told the app its size"
    assert len(_app_processes(served)) == 1, "one app process for the open tab"

    box = page.terminal_box()
    page.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # the empty part of the product list
    wait_until(lambda: page.evaluate("document.activeElement && document.activeElement.classList"
                                     ".contains('xterm-helper-textarea')"),
               "the click to focus the terminal")

    page.press("2")
    page.wait_for_text("Accounts", "Alice", "Bob", "100.00", "20.00", what="the Bank screen with both accounts")
    page.press("t")
    page.wait_for_text("New transfer", what="the transfer form")
    memo = "paid in the browser"
    fill(page, "From", "Alice")  # pre-filled with the selected account (Alice), selected: typing replaces it
    page.press("tab")
    fill(page, "To", "Bob")
    page.press("tab")
    fill(page, "Amount", "12.50")
    page.press("tab")
    fill(page, "Memo", memo)
    page.press("enter")

    transfer, alice, bob = wait_until(lambda: _transfer_in_store(served.db_url, memo), "the transfer in the store",
                                      explain=lambda: "screen:\n" + page.screen())
    assert (transfer.amount_minor, transfer.kind, transfer.currency) == (12_50, "posted", "EUR")
    assert (transfer.debit_account_id, transfer.credit_account_id) == (alice.id, bob.id)
    assert transfer.actor == ACTOR
    assert transfer.idempotency_key and transfer.idempotency_key.startswith("tui-")
    assert (alice.balance, bob.balance) == (87_50, 32_50)
    page.wait_for_text("87.50", "32.50", what="the refreshed balances")
    page.wait_for_output("Transferred", what="the transfer's toast")

    shot = page.screenshot(tmp_path / "bank-after-transfer.png")
    width, height = _png_size(shot)
    assert width >= 800 and height >= 500 and len(shot) > 10_000, (width, height, len(shot))

    # Export CSV on the Products screen: the browser downloads the file; nothing lands on the server.
    page.press("1")
    page.wait_for_text("HAM-1", what="the Products screen again")
    page.press("x")
    csv_file = wait_until(lambda: _finished_csv(downloads), "the export in the browser's download folder",
                          explain=lambda: f"downloads: {sorted(p.name for p in downloads.iterdir())}\n"
                                          f"screen:\n{page.screen()}\nserver:\n{served.process.output()}")
    assert csv_file.name.startswith("products-"), csv_file.name
    lines = csv_file.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(PRODUCT_EXPORT_HEADER)
    assert len(lines) == 2 and lines[1].startswith("HAM-1,Hammer,"), lines
    page.wait_for_output("Exported", what="the app's toast once the browser fetched the file")
    assert not list(served.server_downloads.glob("*.csv")), "the export was written on the server too"

    # Closing the tab ends its app process; the server keeps running.
    page.close()
    wait_until(lambda: not _app_processes(served), "the tab's app process to exit after the tab closed",
               explain=served.process.output)
    assert served.process.alive(), served.process.output()
    assert "Traceback" not in served.process.output(), served.process.output()


def test_each_connection_gets_its_own_app_and_stopping_the_server_ends_them(served: Served) -> None:
    """Without a browser: two websocket clients get two app processes; SIGTERM to the server alone
    (not its group, as `kill PID` does) stops it soon, and the apps of the connections still open."""
    import websocket  # websocket-client

    ws_url = served.url.replace("http://", "ws://") + "ws?width=100&height=30"
    clients = [websocket.create_connection(ws_url, timeout=TIMEOUT, suppress_origin=True) for _ in range(2)]
    try:
        for client in clients:  # each app paints its first screen
            wait_until(lambda c=client: isinstance(c.recv(), bytes), "the app's first output")
        wait_until(lambda: len(_app_processes(served)) == 2, "one app process per connection",
                   explain=lambda: f"group: {served.process.group_members()}")
        stopping = time.monotonic()
        os.kill(served.process.proc.pid, signal.SIGTERM)
        assert served.process.proc.wait(timeout=TIMEOUT) == 0, served.process.output()
        # serve closes the open websockets itself: textual-serve alone waits out aiohttp's 60 s shutdown timeout
        assert time.monotonic() - stopping < 30, f"the server took {time.monotonic() - stopping:.0f} s to stop"
        wait_until(lambda: not served.process.group_members(), "the apps to exit with the server",
                   explain=lambda: f"still running: {served.process.group_members()}")
    finally:
        for client in clients:
            client.close()
