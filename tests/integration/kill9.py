"""The kill -9 of the crash drills: start a writer process, let it work for a random while after its
first acknowledged line (so a slow start on a busy machine never eats the delay), SIGKILL it, and
return what it acknowledged (lines printed only after the call returned; a torn last line is not)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def kill_at_random(script: str, args: list[str], rng: random.Random, longest: float = 0.4) -> list[str]:
    proc = subprocess.Popen([sys.executable, "-c", script, *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    working = threading.Event()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            if line.endswith("\n"):
                lines.append(line.rstrip("\n"))
                working.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not working.wait(60):
        proc.kill()
        raise AssertionError(f"the writer did not start: {proc.stderr.read()}")  # type: ignore[union-attr]
    time.sleep(rng.uniform(0.02, longest))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    reader.join(10)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()  # type: ignore[union-attr]
    return lines
