"""Progress display for long work (rich), silenced with ``progress=False``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def track(items: Iterable[T], *, description: str, total: int | None = None,
          enabled: bool = True) -> Iterator[T]:
    """Iterate over ``items``, showing a progress bar on stderr when ``enabled`` and stderr is a
    terminal (redirected to a file or a pipe, a bar would only leave blank lines behind)."""
    if not enabled:
        yield from items
        return
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield from items
        return
    from rich.progress import track as rich_track

    yield from rich_track(items, description=description, total=total, console=console,
                          transient=True)
