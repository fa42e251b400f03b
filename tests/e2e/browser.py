"""What the browser tests need: processes in their own process group (killed as a group), headless
Chromium driven over the DevTools protocol (websocket-client, no playwright/selenium), and the
terminal the page shows read back as text (the page's websocket stream fed into a pyte screen).

Chromium renders the terminal on a canvas (xterm.js), so its text is not in the DOM: a script
installed before the page loads records what the server sends to the page's terminal, and
`Page.screen()` replays it into a VT emulator.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT = 60.0  # generous: the suite runs on two busy cores
T = TypeVar("T")


def require_chromium() -> Path:
    """Chromium's path; without it the test skips with a message, except in CI (CI=true) where it fails."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"{CHROMIUM} is required in CI (.ci/run installs Debian's chromium) but is absent")
    pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium (apt-get install chromium) to run the browser test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], T | None], what: str, timeout: float = TIMEOUT,
               explain: Callable[[], str] | None = None) -> T:
    """Poll `check` until it returns something truthy; fail with `what` (and `explain()`) on timeout."""
    deadline = time.monotonic() + timeout
    pause = 0.05
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"\n{explain()}" if explain else ""
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(pause)
        pause = min(pause * 1.5, 0.5)


class GroupProcess:
    """A process started in a new session (so its own process group), output to a log file.
    stop() sends SIGTERM to the whole group, then SIGKILL to whatever is left after `grace` seconds:
    the children (textual-serve's app processes, Chromium's renderers) go with the leader."""

    def __init__(self, argv: Sequence[str], log: Path, env: dict[str, str] | None = None):
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         env=env, start_new_session=True)
        self.pgid = self.proc.pid  # a session leader's group id is its pid

    def output(self, tail: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def group_members(self) -> list[int]:
        """Live (non-zombie) processes of the group, from /proc."""
        members = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()  # state ppid pgrp ...
            if int(fields[2]) == self.pgid and fields[0] != "Z":
                members.append(int(entry.name))
        return members

    def stop(self, grace: float = 10.0) -> list[int]:
        """Kill the group; returns the pids that needed SIGKILL (a clean shutdown returns [])."""
        try:
            os.killpg(self.pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + grace
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        while (left := self.group_members()) and time.monotonic() < deadline:
            time.sleep(0.1)
        if left:
            try:
                os.killpg(self.pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        return left


def wait_for_port(port: int, process: GroupProcess, timeout: float = TIMEOUT) -> None:
    def listening() -> bool:
        if not process.alive():
            pytest.fail(f"the server exited with code {process.proc.returncode}:\n{process.output()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    wait_until(listening, f"the server to listen on 127.0.0.1:{port}", timeout, process.output)


# -- Chromium --------------------------------------------------------------------------------------

def chromium_argv(chromium: Path, profile: Path) -> list[str]:
    return [
        str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage",  # a container's small /dev/shm crashes renderers
        # hermetic: no name resolves (the page links a Google font; the test must not wait on the internet)
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--window-size=1280,800",
        f"--user-data-dir={profile}",
        "--remote-debugging-port=0",  # Chromium picks a free port and writes it to DevToolsActivePort
        "about:blank",
    ]


def devtools_url(profile: Path, process: GroupProcess, timeout: float = TIMEOUT) -> str:
    """The browser's DevTools websocket URL, once Chromium answers on its debugging port."""
    active = profile / "DevToolsActivePort"

    def ready() -> str | None:
        if not process.alive():
            pytest.fail(f"Chromium exited with code {process.proc.returncode}:\n{process.output()}")
        try:
            port = int(active.read_text().split()[0])
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/version", timeout=2) as answer:
                return json.load(answer)["webSocketDebuggerUrl"]
        except (OSError, ValueError, IndexError, KeyError):
            return None

    return wait_until(ready, "Chromium's DevTools endpoint", timeout, process.output)


class DevToolsError(AssertionError):
    pass


class DevTools:
    """A synchronous DevTools protocol client on the browser's websocket; page commands go to a
    flattened target session (`session=`). Events (none are asked for) are skipped."""

    def __init__(self, url: str):
        import websocket  # websocket-client

        self._ws = websocket.create_connection(url, timeout=TIMEOUT, suppress_origin=True)
        self._ids = 0

    def call(self, method: str, session: str | None = None, timeout: float = TIMEOUT, **params: Any) -> dict[str, Any]:
        self._ids += 1
        ask = self._ids
        message: dict[str, Any] = {"id": ask, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self._ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DevToolsError(f"{method}: no answer in {timeout:.0f} s")
            self._ws.settimeout(left)
            data = json.loads(self._ws.recv())
            if data.get("id") == ask:
                if "error" in data:
                    raise DevToolsError(f"{method}: {data['error']}")
                return data.get("result", {})

    def close(self) -> None:
        try:
            self._ws.close()
        except Exception:  # noqa: BLE001 - the browser may be gone already
            pass


# Installed before any page script: keeps what the server sends to the terminal (binary frames),
# and the terminal size the page asks for.
_SPY = r"""
(() => {
  const Native = window.WebSocket;
  const spy = window.__stockbankSpy = {chunks: [], frames: 0, size: null, sockets: 0};
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      spy.sockets += 1;
      const decoder = new TextDecoder();
      this.addEventListener("message", (event) => {
        if (typeof event.data !== "string") {
          spy.frames += 1;
          spy.chunks.push(decoder.decode(new Uint8Array(event.data), {stream: true}));
        }
      });
    }
    send(data) {
      try {
        const message = JSON.parse(data);
        if (message[0] === "resize") spy.size = message[1];
      } catch (e) {}
      return super.send(data);
    }
  };
})();
"""

# Special keys: key, code, Windows virtual key code, text (what a keypress types, if anything).
_KEYS: dict[str, tuple[str, str, int, str]] = {
    "enter": ("Enter", "Enter", 13, "\r"),
    "tab": ("Tab", "Tab", 9, ""),
    "escape": ("Escape", "Escape", 27, ""),
    "backspace": ("Backspace", "Backspace", 8, ""),
    "home": ("Home", "Home", 36, ""),
    "end": ("End", "End", 35, ""),
    "down": ("ArrowDown", "ArrowDown", 40, ""),
    "up": ("ArrowUp", "ArrowUp", 38, ""),
}
_MODIFIERS = {"alt": 1, "ctrl": 2, "meta": 4, "shift": 8}


def _char_key(char: str) -> tuple[str, str, int]:
    """(key, code, virtual key code) of a printable character on a US keyboard."""
    if char.isascii() and char.isalpha():
        return char, f"Key{char.upper()}", ord(char.upper())
    if char.isascii() and char.isdigit():
        return char, f"Digit{char}", ord(char)
    return char, {".": "Period", " ": "Space", "-": "Minus", ",": "Comma"}.get(char, ""), \
        {".": 190, " ": 32, "-": 189, ",": 188}.get(char, 0)


class Page:
    """One browser tab, driven through its DevTools session."""

    def __init__(self, devtools: DevTools, screen_columns: int = 400, screen_lines: int = 150):
        import pyte

        self.devtools = devtools
        self.target = devtools.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = devtools.call("Target.attachToTarget", targetId=self.target, flatten=True)["sessionId"]
        self.call("Page.enable")
        self.call("Page.addScriptToEvaluateOnNewDocument", source=_SPY)
        # bigger than the page's terminal: Textual positions every line itself, so nothing wraps
        self._screen = pyte.Screen(screen_columns, screen_lines)
        self._stream = pyte.Stream(self._screen)
        self._history: list[str] = []  # everything the terminal was sent, for what showed only briefly

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        return self.devtools.call(method, session=self.session, **params)

    def evaluate(self, expression: str) -> Any:
        answer = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in answer:
            raise DevToolsError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def close(self) -> None:
        self.devtools.call("Target.closeTarget", targetId=self.target)

    def goto(self, url: str) -> None:
        answer = self.call("Page.navigate", url=url)
        if answer.get("errorText"):
            raise DevToolsError(f"cannot load {url}: {answer['errorText']}")

    # -- the terminal's text ----------------------------------------------------------------------

    def screen(self) -> str:
        """The terminal as text (lines right-stripped, trailing blank lines dropped), after replaying
        everything the server sent since the last call."""
        new = self.evaluate("window.__stockbankSpy ? window.__stockbankSpy.chunks.splice(0).join('') : ''")
        if new:
            self._history.append(new)
            self._stream.feed(new)
        lines = [line.rstrip() for line in self._screen.display]
        while lines and not lines[-1]:
            lines.pop()
        return "\n".join(lines)

    def wait_for_text(self, *texts: str, what: str | None = None, timeout: float = TIMEOUT) -> str:
        """Wait until every text shows on the terminal; returns the screen."""
        def shown() -> str | None:
            screen = self.screen()
            return screen if all(t in screen for t in texts) else None

        return wait_until(shown, what or f"{texts!r} on the terminal", timeout, lambda: "screen:\n" + self.screen())

    def wait_for_output(self, text: str, what: str | None = None, timeout: float = TIMEOUT) -> None:
        """Wait until the app has drawn `text` at some point, even if it is gone again (a toast that
        timed out while the test was busy elsewhere). `text` must not wrap: it is looked for in the
        stream the terminal was sent."""
        def drawn() -> bool:
            self.screen()
            return text in "".join(self._history)

        wait_until(drawn, what or f"{text!r} drawn on the terminal", timeout, lambda: "screen:\n" + self.screen())

    def wait_without_text(self, text: str, what: str | None = None, timeout: float = TIMEOUT) -> str:
        def gone() -> str | None:
            screen = self.screen()
            return screen if text not in screen else None

        return wait_until(gone, what or f"{text!r} to leave the terminal", timeout, lambda: "screen:\n" + self.screen())

    def row_after(self, needle: str) -> list[Any] | None:
        """The pyte cells that follow `needle` on the first line showing it (None when no line does);
        each cell has .data (the character), .fg and .bg (colour names or hex)."""
        self.screen()
        grid = self._screen
        for y in range(grid.lines):
            row = grid.buffer[y]
            text = "".join(row[x].data for x in range(grid.columns))
            if needle in text:
                start = text.index(needle) + len(needle)
                return [row[x] for x in range(start, grid.columns)]
        return None

    def terminal_box(self) -> dict[str, float]:
        """The terminal element's box in CSS pixels (x, y, width, height)."""
        return self.evaluate(
            "(() => { const r = document.querySelector('#terminal .xterm-screen').getBoundingClientRect();"
            " return {x: r.x, y: r.y, width: r.width, height: r.height}; })()")

    def terminal_size(self) -> dict[str, int] | None:
        """Columns and lines the page asked the app for (its last resize message)."""
        return self.evaluate("window.__stockbankSpy && window.__stockbankSpy.size")

    # -- input ------------------------------------------------------------------------------------

    def click(self, x: float, y: float) -> None:
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            extra = {"button": "left", "clickCount": 1} if kind != "mouseMoved" else {}
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, **extra)

    def press(self, key: str) -> None:
        """One key, as Textual names it: "enter", "tab", "home", "ctrl+k", "2", "x"."""
        *mods, name = key.split("+")
        modifiers = sum(_MODIFIERS[m] for m in mods)
        if name in _KEYS:
            dom_key, code, vk, text = _KEYS[name]
        else:
            dom_key, code, vk = _char_key(name)
            text = "" if modifiers & (_MODIFIERS["ctrl"] | _MODIFIERS["alt"] | _MODIFIERS["meta"]) else name
        down: dict[str, Any] = {"type": "keyDown" if text else "rawKeyDown", "key": dom_key, "code": code,
                                "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk, "modifiers": modifiers}
        if text:
            down["text"] = down["unmodifiedText"] = text
        self.call("Input.dispatchKeyEvent", **down)
        self.call("Input.dispatchKeyEvent", type="keyUp", key=dom_key, code=code, windowsVirtualKeyCode=vk,
                  nativeVirtualKeyCode=vk, modifiers=modifiers)

    def type(self, text: str) -> None:
        for char in text:
            self.press(char)

    def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        path.write_bytes(data)
        return data
