"""`stockbank serve [--host 127.0.0.1] [--port 8000]`: the same TUI in a browser, through textual-serve.

Every browser tab gets its own app process (`python -m tui_app` with the global options given to
`serve`), all on the same database; the stores handle concurrent writers. Exports reach the browser
as downloads: Textual's web driver turns `deliver_text` into a one-time download URL.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from tui_app.cli_support import emit, open_cli_backend

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_WILDCARDS = {"0.0.0.0", "::"}


def port_number(text: str) -> int:
    """--port: a whole number in 1..65535 (argparse turns the refusal into a usage error, exit 2)."""
    stripped = text.strip()
    if not (stripped.isascii() and stripped.isdigit()) or not 1 <= int(stripped) <= 65535:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 65535, not {text!r}")
    return int(stripped)


def host_name(text: str) -> str:
    """--host: an IPv4 or IPv6 address or a host name (checked for form only; binding checks the rest)."""
    import ipaddress

    host = text.strip()
    if host.startswith("[") and host.endswith("]"):  # [::1], as written in URLs
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if not host or len(host) > 253 or not all(_HOSTNAME.fullmatch(label) for label in labels):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an IP address or host name (e.g. 127.0.0.1, ::1, localhost, 0.0.0.0 for every interface)")
    return host


def public_url(text: str) -> str:
    """--public-url: where browsers reach the server, when that is not http://HOST:PORT."""
    url = text.strip().rstrip("/")
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", url):
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// URL")
    return url


def add_serve_commands(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser(
        "serve", help="serve the app in a web browser (textual-serve): one app process per browser tab",
        description="Serve the TUI over HTTP: every browser tab that opens the URL gets its own app, on the "
                    "same database. Export CSV downloads through the browser. Ctrl+C stops the server.")
    serve.add_argument("--host", type=host_name, default=DEFAULT_HOST,
                       help=f"address to listen on (default {DEFAULT_HOST}: this machine only; 0.0.0.0: every "
                            "interface, with no login: anyone who reaches the port can use the books)")
    serve.add_argument("--port", type=port_number, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    serve.add_argument("--public-url", type=public_url, metavar="URL",
                       help="the address browsers use, when it is not http://HOST:PORT (behind a proxy, or with "
                            "--host 0.0.0.0)")


def app_command(args: argparse.Namespace) -> str:
    """The shell command textual-serve runs for each tab: this Python running `tui_app` with the global
    options `serve` was given. Options not given are not passed: the app then resolves them as `stockbank`
    does (environment, then defaults), since it inherits this process's environment and working folder."""
    import shlex
    import subprocess

    argv = [sys.executable, "-m", "tui_app"]
    db = None if _has_password(args.db) else args.db  # a password goes by the environment (cmd_serve), not ps
    options = (("--db", db), ("--tenant", None if args.tenant == "default" else args.tenant),
               ("--actor", args.actor), ("--rate-limit", args.rate_limit), ("--cache", args.cache),
               ("--config", args.config))
    for flag, value in options:
        if value is not None:
            argv += [flag, value]
    if os.name != "posix":
        return subprocess.list2cmdline(argv)
    return "exec " + shlex.join(argv)  # exec: the app replaces the shell, so it is textual-serve's own child


def _has_password(url: str | None) -> bool:
    from storage import masked_url

    return url is not None and masked_url(url) != url


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def check_can_listen(host: str, port: int) -> str | None:
    """None when HOST:PORT can be listened on now (as aiohttp will: SO_REUSEADDR), else what is wrong.
    Checked before serving, so a taken port is a clear usage error instead of a traceback."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as e:
        return f"--host {host}: no address found for it ({getattr(e, 'strerror', None) or e})"
    family, kind, proto, _, address = infos[0]
    try:
        with socket.socket(family, kind, proto) as probe:
            if os.name == "posix":
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
            probe.listen(1)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            return f"--port {port}: already in use on {host} (another server?); pick another port"
        if e.errno == errno.EADDRNOTAVAIL:
            return f"--host {host}: not an address of this machine"
        if e.errno == errno.EACCES:
            return f"--port {port}: permission denied (ports below 1024 need privileges); pick a port from 1024 up"
        return f"cannot listen on {_url_host(host)}:{port}: {e.strerror or e}"
    return None


def _check_settings(config: str | None) -> None:
    """The served app refuses a bad settings file in every tab; refuse it once, here, instead."""
    from textual.theme import BUILTIN_THEMES

    from tui_app.app import binding_ids
    from tui_app.config import check_settings, config_path, load_settings

    settings = load_settings(config_path(config))
    if settings.keys or settings.theme:
        check_settings(settings, binding_ids(), set(BUILTIN_THEMES))


def cmd_serve(args: argparse.Namespace) -> int:
    if problem := check_can_listen(args.host, args.port):
        print(f"stockbank serve: error: {problem}", file=sys.stderr)
        return 2
    _check_settings(args.config)
    # Open the database once before serving: a bad URL, tenant, cache or a damaged file is refused here,
    # not in every tab, and an empty database gets its demo data once (two first tabs would race for it).
    backend = open_cli_backend(args, demo_if_empty=True)
    try:
        where, demo, resolved = backend.display_url, backend.demo_loaded, backend.url
    finally:
        backend.close()
    url = args.public_url or f"http://{_url_host(args.host)}:{args.port}"
    notes = [f"serving stockbank on {where} at {url}",
             "  each browser tab runs its own app on this database; Export CSV downloads through the browser",
             "  ctrl+c stops the server and the apps of the open tabs"]
    if demo and not resolved.startswith("memory://"):
        notes.insert(1, f"  the database was empty: added demo data ({demo} products)")
    if resolved.startswith("memory://"):
        notes.append("  memory://: every tab gets a database of its own, in memory, gone when the tab closes")
    elif resolved.startswith("jsonfile://"):
        notes.append("  jsonfile://: one process owns the file at a time, so one tab at a time (another tab "
                     "ends at once with a busy error)")
    if args.host in _WILDCARDS and not args.public_url:
        notes.append(f"  listening on every interface: browsers on other machines need --public-url "
                     f"(e.g. http://THIS-HOST:{args.port})")
    emit(args, {"url": url, "db": where, "demo_loaded": demo}, "\n".join(notes))
    sys.stdout.flush()
    if _has_password(args.db):  # every tab inherits it; on its command line anyone could read it in `ps`
        os.environ["STOCKBANK_DB"] = args.db
    _serve(app_command(args), args.host, args.port, url)
    return 0


def _kill_if_still_ours(pid: int) -> None:
    """SIGKILL a tab's app that outlived the server, only while the pid is still our unreaped child: once
    reaped (by asyncio, say) the number may belong to another process."""
    import signal

    try:
        exited, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return  # reaped already
    if exited == 0:  # still running, and ours
        os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass  # asyncio's child watcher thread, waiting on it too, reaped it first


def _serve(command: str, host: str, port: int, url: str) -> None:
    """Run textual-serve until ctrl+c or SIGTERM; then no app process of a tab outlives the server."""
    import asyncio

    from aiohttp import WSCloseCode
    from textual_serve.server import Server

    class StockbankServer(Server):
        """textual-serve's server, less its banner (it prints the app command, with --db as typed: a
        PostgreSQL password; `serve` printed its own line, masked), and stopping the tabs' apps when it
        stops: textual-serve leaves open websockets to the shutdown timeout (60 s) and, if an app does
        not quit, leaves it running."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.open_tabs: dict[Any, Any] = {}  # websocket -> its app service
            self.apps: list[Any] = []  # every app service whose process may still run

        async def on_startup(self, app: Any) -> None:
            return None

        async def _process_messages(self, websocket: Any, app_service: Any) -> None:
            self.apps = [a for a in self.apps if _running(a)] + [app_service]
            self.open_tabs[websocket] = app_service
            try:
                await super()._process_messages(websocket, app_service)
            finally:
                self.open_tabs.pop(websocket, None)

        async def on_shutdown(self, app: Any) -> None:
            # a closed websocket ends its handler, which tells its app to quit and waits for it
            await asyncio.gather(*(ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping")
                                   for ws in list(self.open_tabs)), return_exceptions=True)

    def _running(app_service: Any) -> bool:
        process = getattr(app_service, "_process", None)  # textual-serve 1.1.3 (pinned): an asyncio Process
        return process is not None and process.returncode is None

    asyncio.set_event_loop(asyncio.new_event_loop())  # Server.serve() takes the current loop
    server = StockbankServer(command, host=host, port=port, title="stockbank", public_url=url)
    try:
        server.serve()
    finally:
        for app_service in server.apps:
            if _running(app_service):
                _kill_if_still_ours(app_service._process.pid)


SERVE_COMMANDS: dict[str, Callable[[argparse.Namespace], Any]] = {"serve": cmd_serve}
