"""Progress display for long work (rich), silenced with ``progress=False``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def track(items: Iterable[T], *, description: str, total: int | None = None,
          enabled: bool = True) -> Iterator[T]:
    """Iterate over ``items``, showing a progress bar on stderr when ``enabled``."""
    if not enabled:
        yield from items
        return
    from rich.console import Console
    from rich.progress import track as rich_track

    yield from rich_track(items, description=description, total=total,
                          console=Console(stderr=True), transient=True)
