"""`stockbank cache stats|clear`: the read cache (`--cache memory|redis://...`) seen from the shell."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from tui_app.cli_support import emit, open_cli_backend

_OFF = "cache: off (turn it on with --cache memory or --cache redis://127.0.0.1:6379/0, or env STOCKBANK_CACHE)"


def add_cache_commands(sub: argparse._SubParsersAction) -> None:
    cache = sub.add_parser("cache", help="the read cache (--cache): hit ratio, forget cached rows")
    act = cache.add_subparsers(dest="action", required=True, metavar="ACTION")
    act.add_parser("stats", help="hits, misses and hit ratio (every process's, with Redis) and the generation")
    act.add_parser("clear", help="forget every cached row of this database (after a restore or an edit by hand)")


def _ratio(counts: dict[str, Any]) -> str:
    return (f"{counts['hits']} hits, {counts['misses']} misses, hit ratio {counts['ratio']:.1%} "
            f"({counts['bypassed']} reads bypassed, {counts['fills']} fills, {counts['invalidations']} invalidations, "
            f"{counts['errors']} errors)")


def cmd_cache(args: argparse.Namespace) -> None:
    backend = open_cli_backend(args)
    try:
        store = backend.sim.store
        local = backend.cache_stats()
        if local is None:
            emit(args, {"cache": None}, _OFF)
            return
        if args.action == "clear":
            tenants = store.invalidate()
            what = (f"forgot the cached rows of {tenants} tenant(s)" if local["shared"]
                    else "nothing to forget: the memory cache lives inside each process and goes with it")
            emit(args, {"cache": local["backend"], "tenants": tenants}, f"cache {local['backend']}: {what}")
            return
        shared = store.shared_cache_stats()
        generation = store.generation(backend.sim.tenant)
        lines = [f"cache {local['backend']}: entries live {local['ttl']:g} s; "
                 + ("every process on this database shares it" if local["shared"] else "this process only"),
                 f"  tenant {backend.sim.tenant}: generation {generation}"]
        if shared is not None:
            lines.append(f"  all processes: {_ratio(shared)}")
        else:
            lines.append("  counters live in each process: the TUI shows its hit ratio in the header")
        emit(args, {"cache": {**local, "generation": generation, "all_processes": shared}}, "\n".join(lines))
    finally:
        backend.close()


CACHE_COMMANDS: dict[str, Callable[[argparse.Namespace], Any]] = {"cache": cmd_cache}
