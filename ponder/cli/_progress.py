"""Progress of long commands on stderr: the stage, a bar and an ETA where steps are counted.

Training and cross-validation run for minutes; a bare spinner cannot say whether that is one
minute or twenty. Counted steps arrive structured (:class:`ponder.simulate.Step`,
the folds of ``--cv``) and drive the top bar and its ETA. The classifier only speaks text;
its lines are shown as they come, and an inner "fold i/k" in them, when present, moves a
second bar as a best effort: if the wording changes, the line still shows, only the bar is
lost. When stderr is not a terminal (a log, a pipe, CI), nothing is drawn: each step and
line is written as a plain line with the time since the start, so a run of minutes is not
silent and the log stays free of control codes. ``--quiet`` silences both.
"""

from __future__ import annotations

import re
import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, ProgressColumn, Task, TaskID

    from ponder.simulate import Step

_FOLD = re.compile(r"\bfold (\d+)/(\d+)\b")


def parse_fold(message: str) -> tuple[str, int, int] | None:
    """``(message without its counter, i, k)`` for the last "fold i/k" in a message.

    The stripped message names the loop, so a new loop (another candidate, another stage)
    restarts the bar instead of continuing the previous one's count.
    """
    found = list(_FOLD.finditer(message))
    if not found:
        return None
    m = found[-1]
    i, k = int(m.group(1)), int(m.group(2))
    if k < 1 or not 1 <= i <= k:
        return None
    return message[: m.start()] + message[m.end() :], i, k


class ProgressDisplay:
    """Callbacks for a long run; draws on ``console`` or, without one, does nothing.

    ``title`` (if any) prefixes the work's lines. ``say`` is a ``Callable[[str], None]`` for
    the classifier; ``step`` a ``Callable[[Step], None]`` for the evaluation. Use as a
    context manager.
    """

    def __init__(self, title: str, console: Console | None, lines: TextIO | None = None) -> None:
        self._title = title
        self._console = console
        self._lines = lines  # without a console: plain lines here
        self._start = time.monotonic()
        self._last: str | None = None
        self._progress: Progress | None = None
        self._outer: TaskID | None = None
        self._inner: TaskID | None = None
        self._loop: str | None = None
        self._stage: str | None = None

    @property
    def active(self) -> bool:
        return self._progress is not None

    def __enter__(self) -> ProgressDisplay:
        if self._console is not None:
            from rich.progress import Progress

            self._progress = Progress(*_columns(), console=self._console, transient=True)
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def step(self, step: Step) -> None:
        """A counted stage moved on: the top bar, the only one with a trustworthy ETA."""
        progress = self._progress
        text = f"{step.stage}: {step.detail}" if step.detail else step.stage
        if progress is None:
            if step.total and parse_fold(text) is None:  # "fold i/k" already counts
                text = f"{text} ({step.done:g}/{step.total:g})"
            self._line(text)
            return
        if self._outer is None or step.stage != self._stage:
            # A new stage gets its own bar and clock, in place of the finished one.
            if self._outer is not None:
                progress.remove_task(self._outer)
            self._outer = progress.add_task(text, total=step.total)
            self._stage = step.stage
        progress.update(self._outer, description=text, completed=step.done, total=step.total)
        progress.refresh()  # events are seconds to minutes apart: draw each one

    def say(self, message: str) -> None:
        """A line from the work in progress; a "fold i/k" in it moves the second bar."""
        progress = self._progress
        if self._title:
            message = f"{self._title}: {message}"
        if progress is None:
            self._line(message)
            return
        parsed = parse_fold(message)
        loop = None if parsed is None else parsed[0]
        if self._inner is None or loop is None or loop != self._loop:
            # A new loop starts its own count and clock (rich cannot unset a total).
            if self._inner is not None:
                progress.remove_task(self._inner)
            total = None if parsed is None else parsed[2]
            self._inner = progress.add_task(message, total=total)
            self._loop = loop
        if parsed is not None:
            progress.update(self._inner, completed=parsed[1] - 1, description=message)
        progress.refresh()

    def _line(self, text: str) -> None:
        """One plain line with the time since the start; a repeat of the last is dropped."""
        if self._lines is None or text == self._last:
            return
        self._last = text
        seconds = round(time.monotonic() - self._start)
        self._lines.write(f"[{seconds // 60}:{seconds % 60:02d}] {text}\n")
        self._lines.flush()


def eta_seconds(elapsed: float | None, done: float, total: float | None) -> float | None:
    """Time left if the remaining steps go at the average pace of the finished ones.

    The average since the stage began, not rich's default speed over the last 30 seconds:
    steps here take minutes, so a recent window usually holds no finished step at all.
    """
    if elapsed is None or total is None or done <= 0 or done >= total:
        return None
    return elapsed / done * (total - done)


def _columns() -> list[ProgressColumn]:
    """Spinner, the line (cut, never wrapped), bar, i/k, elapsed and ETA (blank if unknown)."""
    from rich.progress import (
        BarColumn,
        ProgressColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.table import Column
    from rich.text import Text

    class Count(ProgressColumn):
        def render(self, task: Task) -> Text:
            if task.total is None:
                return Text("")
            return Text(f"{task.completed:.0f}/{task.total:.0f}", style="progress.download")

    class Eta(ProgressColumn):
        def render(self, task: Task) -> Text:
            left = eta_seconds(task.elapsed, task.completed, task.total)
            if left is None:
                return Text("")
            m, sec = divmod(round(left), 60)
            return Text(f"eta {m // 60}:{m % 60:02d}:{sec:02d}", style="progress.remaining")

    line = Column(no_wrap=True, overflow="ellipsis", ratio=1)
    return [
        SpinnerColumn(),
        TextColumn("{task.description}", table_column=line),
        BarColumn(bar_width=20),
        Count(table_column=Column(no_wrap=True, min_width=5, justify="right")),
        TimeElapsedColumn(table_column=Column(no_wrap=True)),
        Eta(table_column=Column(no_wrap=True, min_width=11)),
    ]


def progress_display(title: str, *, quiet: bool) -> ProgressDisplay:
    """A display on stderr when it is a terminal, plain lines on stderr when it is not, and a
    silent one when ``quiet``."""
    if quiet:
        return ProgressDisplay(title, None)
    if not stderr_is_terminal():
        return ProgressDisplay(title, None, lines=sys.stderr)
    from rich.console import Console

    return ProgressDisplay(title, Console(stderr=True, force_terminal=True))


def stderr_is_terminal() -> bool:
    """The one place that decides whether to draw (tests replace it to see the drawing)."""
    return sys.stderr.isatty()
