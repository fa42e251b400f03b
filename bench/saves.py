"""Save and load of the whole game (issue #6): our save (read the books in one transaction, build the
object graph, the schema document, encode, checksum or sign, atomic write) and our load (read, verify,
parse, validate, upgrade, rebuild the graph, replace the books in one transaction, check every
invariant) in each format, against the raw baseline measured in the same run: the same plain
document serialized and written / read and parsed by the bare library (json, yaml.safe_dump/safe_load,
pickle), with no checks at all. The issue sets no goal: the figures are recorded in the README.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from pathlib import Path

FORMATS = ("json", "yaml", "pickle")


def _shop(db: Path, products: int, days: int):
    from domain import Simulator
    from domain.clock import FixedClock
    from storage import open_store
    from tui_app.bootstrap import seed_demo

    store = open_store(f"sqlite:///{db}")
    sim = Simulator(store, actor="bench", clock=FixedClock())
    seed_demo(sim, products=products, seed=5)
    sim.simulation.advance(days, seed=5)
    return store, sim


def _raw(fmt: str, doc: dict, path: Path) -> tuple[float, float]:
    """Write and read the document with the bare library: the floor of any save format."""
    import yaml

    start = time.perf_counter()
    if fmt == "json":
        data = json.dumps(doc).encode()
    elif fmt == "yaml":
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # what our writer uses when libyaml is there
        data = yaml.dump(doc, Dumper=dumper, sort_keys=False, allow_unicode=True).encode()
    else:
        data = pickle.dumps(doc, protocol=5)
    path.write_bytes(data)
    write = time.perf_counter() - start
    start = time.perf_counter()
    raw = path.read_bytes()
    if fmt == "json":
        json.loads(raw)
    elif fmt == "yaml":
        yaml.safe_load(raw)
    else:
        pickle.loads(raw)  # noqa: S301 - our own bytes, the baseline
    return write, time.perf_counter() - start


def saves_results(args, tmpdir: Path) -> tuple[list[tuple], str]:
    from storage.savefiles import schema

    os.environ.setdefault("STOCKBANK_SAVE_KEY_FILE", str(tmpdir / "save-signing.key"))
    store, sim = _shop(tmpdir / "saves.db", args.save_products, 3)
    try:
        world = sim.saves.world()
        doc = schema.document(world, tenant=sim.tenant, saved_by="bench", source="")
        counts = world.counts()
        lines, rows = [], [("format", "file", "save", "raw write", "load", "raw read")]
        for fmt in FORMATS:
            best: dict[str, float] = {}
            for _ in range(args.repeat):
                start = time.perf_counter()
                info = sim.saves.save(f"bench-{fmt}", fmt)
                saved = time.perf_counter() - start
                start = time.perf_counter()
                sim.saves.load(f"bench-{fmt}")
                loaded = time.perf_counter() - start
                raw_write, raw_read = _raw(fmt, doc, tmpdir / f"raw.{fmt}")
                for key, value in (("save", saved), ("load", loaded), ("raw_write", raw_write), ("raw_read", raw_read)):
                    best[key] = min(best.get(key, value), value)
            if not sim.check().ok:
                raise SystemExit(f"saves {fmt}: check failed after the load")
            lines.append((f"Save + load, {fmt}: time vs the bare library", "record",
                          f"{(best['save'] + best['load']) / (best['raw_write'] + best['raw_read']):.2f}x",
                          f"save {best['save']:.2f} s, load {best['load']:.2f} s; "
                          f"raw {best['raw_write']:.2f} s + {best['raw_read']:.2f} s", True))
            rows.append((fmt, f"{info.size / 2**20:.1f} MiB", f"{best['save']:.2f} s", f"{best['raw_write']:.2f} s",
                         f"{best['load']:.2f} s", f"{best['raw_read']:.2f} s"))
    finally:
        store.close()
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
    what = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in counts.items())
    return lines, f"Save and load of the whole game ({what}):\n{table}"
