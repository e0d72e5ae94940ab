"""Progress display shared by long commands (rich progress bars on the terminal)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

Tick = Callable[[str, int, int], None]


@contextmanager
def progress_bar() -> Iterator[Tick]:
    """Yield a ``tick(stage, done, total)`` callback that drives one bar per stage."""
    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description:<14}"),
        BarColumn(),
        TextColumn("{task.completed:>9,}/{task.total:<9,}"),
        TimeElapsedColumn(),
        transient=False,
    ) as bar:

        def tick(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield tick
