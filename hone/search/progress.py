"""Progress of a search as people see it: a rich bar on a terminal, plain lines in a log, or nothing."""

from __future__ import annotations

import sys
import time
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from hone.search.fitting import FoldResult
from hone.search.scoring import display_score


def _best_text(scoring: str | None, best: float | None) -> str:
    if best is None:
        return "best: -"
    label, value = display_score(scoring, best)
    return f"best {label}: {value:,.6g}"


class BarProgress:
    """fits done / total, elapsed, ETA and the best mean score so far, redrawn in place."""

    def __init__(
        self, description: str = "fits", scoring: str | None = None, console: Console | None = None
    ) -> None:
        self.description = description
        self.scoring = scoring
        self.console = console or Console(stderr=True)
        self._bar: Progress | None = None
        self._task = None

    def start(self, total: int, done: int) -> None:
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[best]}"),
            console=self.console,
            transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task(
            self.description, total=total, completed=done, best=_best_text(None, None)
        )

    def grow(self, total: int, done: int) -> None:
        """A strategy's next batch: ``total`` more fits, ``done`` of them already in the store."""
        if self._bar is not None:
            task = self._bar.tasks[0]
            self._bar.update(self._task, total=(task.total or 0) + total, advance=done)

    def advance(self, result: FoldResult, best: float | None) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=1, best=_best_text(self.scoring, best))

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


class LineProgress:
    """One plain line every few seconds (and at the end): for logs, CI and pipes."""

    def __init__(
        self,
        description: str = "fits",
        scoring: str | None = None,
        stream: IO[str] | None = None,
        every_seconds: float = 5.0,
    ) -> None:
        self.description = description
        self.scoring = scoring
        self.stream = stream or sys.stderr
        self.every_seconds = every_seconds
        self.total = self.done = 0
        self.started = self.last = 0.0
        self.best: float | None = None

    def start(self, total: int, done: int) -> None:
        self.total, self.done = total, done
        self.started = self.last = time.monotonic()
        resumed = f" ({done} already in the store)" if done else ""
        print(f"{self.description}: {total} fits to make{resumed}", file=self.stream, flush=True)

    def grow(self, total: int, done: int) -> None:
        self.total += total
        self.done += done

    def advance(self, result: FoldResult, best: float | None) -> None:
        self.done += 1
        self.best = best
        now = time.monotonic()
        if now - self.last >= self.every_seconds:
            self.last = now
            self._line(now)

    def _line(self, now: float) -> None:
        elapsed = now - self.started
        print(
            f"{self.description}: {self.done}/{self.total} fits, {elapsed:.0f}s elapsed, "
            f"{_best_text(self.scoring, self.best)}",
            file=self.stream,
            flush=True,
        )

    def finish(self) -> None:
        self._line(time.monotonic())


def auto_progress(description: str = "fits", scoring: str | None = None) -> BarProgress | LineProgress:
    """A bar on a terminal, plain lines otherwise."""
    if sys.stderr.isatty():
        return BarProgress(description, scoring)
    return LineProgress(description, scoring)
