"""What ``db copy`` shows while it runs: a progress bar per table on a terminal (rows copied of
the source's, rows per second), one line per table in a log, or nothing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text


class CopyProgress(Protocol):
    """What the copy tells while it runs."""

    def table_started(self, name: str, total: int, done: int) -> None: ...

    def rows_copied(self, name: str, count: int) -> None: ...

    def table_finished(self, name: str) -> None: ...


class _RowsPerSecond(ProgressColumn):
    """The recent rate while a table is copied; its whole rate once it is done."""

    def render(self, task: Task) -> Text:
        speed = task.fields.get("rate") or task.speed
        return Text("- rows/s" if speed is None else f"{speed:,.0f} rows/s", style="cyan")


class ProgressBar:
    """A rich progress bar per table: rows copied of the source's count, and rows/s."""

    def __init__(self, console: Console) -> None:
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _RowsPerSecond(),
            TimeElapsedColumn(),
            console=console,
        )
        self._tasks: dict[str, TaskID] = {}

    def table_started(self, name: str, total: int, done: int) -> None:
        self._tasks[name] = self._bar.add_task(name, total=total, completed=done, already=done)

    def rows_copied(self, name: str, count: int) -> None:
        self._bar.advance(self._tasks[name], count)

    def table_finished(self, name: str) -> None:
        task_id = self._tasks[name]
        task = next(task for task in self._bar.tasks if task.id == task_id)
        copied = task.completed - task.fields["already"]
        if copied and task.elapsed:
            self._bar.update(task_id, rate=copied / task.elapsed)
        self._bar.stop_task(task_id)

    @contextmanager
    def shown(self) -> Iterator[ProgressBar]:
        with self._bar:
            yield self


class ProgressLines:
    """One line per table once it is copied (for logs, when stderr is not a terminal)."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self._echo = echo
        self._started: dict[str, tuple[float, int]] = {}
        self._copied: dict[str, int] = {}

    def table_started(self, name: str, total: int, done: int) -> None:
        self._started[name] = (time.monotonic(), done)
        self._copied[name] = 0

    def rows_copied(self, name: str, count: int) -> None:
        self._copied[name] += count

    def table_finished(self, name: str) -> None:
        began, already = self._started[name]
        seconds = max(time.monotonic() - began, 1e-6)
        copied = self._copied[name]
        line = f"{name}: {copied} rows in {seconds:.1f} s ({copied / seconds:,.0f} rows/s)"
        self._echo(line + (f", {already} were already there" if already else ""))


@contextmanager
def console_progress(quiet: bool, console: Console | None = None) -> Iterator[CopyProgress]:
    """A progress bar on a terminal (stderr), a line per table otherwise, nothing if ``quiet``."""
    console = console or Console(stderr=True)
    if quiet:
        yield ProgressLines(lambda _line: None)
    elif console.is_terminal:
        with ProgressBar(console).shown() as bar:
            yield bar
    else:
        yield ProgressLines(lambda line: console.print(line, highlight=False, soft_wrap=True))
