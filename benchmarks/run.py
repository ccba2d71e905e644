"""``make bench``: build each peer's environment, then run every ``*_vs_*.py`` benchmark."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _peer import ensure_env  # noqa: E402

if __name__ == "__main__":
    for req in sorted((HERE / "envs").glob("*.txt")):
        print(f"environment for {req.stem} ...", flush=True)
        ensure_env(req.stem)
    only = sys.argv[1:]
    for script in sorted(HERE.glob("*_vs_*.py")):
        if only and script.stem not in only:
            continue
        print(f"== {script.name}", flush=True)
        subprocess.run([sys.executable, str(script)], check=True)
