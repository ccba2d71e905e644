"""Running a peer library in its own environment, side by side with occamlab.

Each peer has a requirements file ``benchmarks/envs/<peer>.txt``; ``make bench`` builds
``benchmarks/envs/<peer>/`` from it. A benchmark script runs occamlab in-process and the peer as a
subprocess of that environment's Python, which prints one JSON object on its last stdout line.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "peers"))

from _common import best_of as best_of  # noqa: E402  (one timing loop on both sides)

ENVS = HERE / "envs"


def ensure_env(peer: str) -> Path:
    """Create (once) the virtual environment of ``peer`` and return its Python."""
    req = ENVS / f"{peer}.txt"
    env = ENVS / peer
    py = env / "bin" / "python"
    stamp = env / ".installed"
    if stamp.exists() and stamp.stat().st_mtime >= req.stat().st_mtime:
        return py
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(env)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "-r", str(req)], check=True)
    stamp.touch()
    return py


def run_peer(peer: str, script: str | Path, *args: str, timeout: float = 3600) -> dict:
    """Run ``script`` with the peer's Python; return the JSON object it printed last."""
    py = ensure_env(peer)
    out = subprocess.run([str(py), str(script), *map(str, args)], check=True,
                         capture_output=True, text=True, timeout=timeout)
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> str:
    import os

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, " \
           f"Python {platform.python_version()}"
