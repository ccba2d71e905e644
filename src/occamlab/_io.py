"""Files on disk: written atomically, so an interrupted run never leaves half a file."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    On an exception (or Ctrl-C) the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():  # mkstemp makes it private; give it the permissions of a new file
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, ±Inf) replaced by ``None``, recursively through
    dicts, lists and tuples, so that the JSON is valid (JSON has no NaN or Infinity)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as JSON, atomically; non-finite numbers become ``null``."""
    return write_text(path, json.dumps(json_safe(obj), indent=2, allow_nan=False))


def write_csv(path: str | os.PathLike, rows: list[dict[str, Any]]) -> Path:
    """Write a table (one dict per row, the first row's keys as columns) as CSV, atomically."""
    import csv
    import io

    if not rows:
        raise ValueError("a CSV table needs at least one row")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return write_text(path, buf.getvalue())


#: figure formats written from the file name's suffix
FIGURE_FORMATS = ("png", "pdf", "svg")


def figure_format(path: str | os.PathLike, name: str = "plot") -> str:
    """The figure format of ``path`` from its suffix (.png, .pdf, .svg), or a ``ValueError``
    naming the valid suffixes; check it before computing what the figure shows."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FIGURE_FORMATS:
        raise ValueError(f"{name} file {path} must end in .png, .pdf or .svg (the format is "
                         f"taken from the suffix), got {Path(path).suffix or 'no suffix'!r}")
    return suffix


def save_figure(fig: Any, path: str | os.PathLike, *, dpi: int = 110) -> Path:
    """Save a Matplotlib figure atomically in the format its suffix names (.png, .pdf, .svg)."""
    fmt = figure_format(path)
    return write_with(path, lambda p: fig.savefig(p, dpi=dpi, bbox_inches="tight", format=fmt))


def write_with(path: str | os.PathLike, writer: Callable[[Path], None]) -> Path:
    """Atomically write ``path`` with ``writer(tmp_path)`` (e.g. ``np.savez``, ``fig.savefig``).

    The temporary name keeps ``path``'s suffix so writers that add extensions do not.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    tmp = tmpdir / path.name
    try:
        writer(tmp)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return path
