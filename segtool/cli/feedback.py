"""What a command tells the person at the terminal on stderr: a line per result (none with -q), and
progress on long work (a phase line with elapsed time, or a bar where the total is known) only when
stderr is a terminal, so nothing of it reaches a pipe, a log file or cron's mail."""

from __future__ import annotations

from contextlib import contextmanager


class Feedback:
    def __init__(self, console, quiet: bool = False):
        self.console = console
        self.quiet = quiet
        self.live = not quiet and console.is_terminal

    def note(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text, markup=False)

    def warn(self, text: str) -> None:
        """Always shown, -q or not: breaches and problems are what a cron job must report."""
        self.console.print(text, markup=False)

    @contextmanager
    def phase(self, text: str):
        if not self.live:
            yield
            return
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=self.console, transient=True) as progress:
            progress.add_task(text, total=None)
            yield

    def steps(self, items, text: str, total: int | None = None):
        """Iterate `items`, drawing a bar of how many are done."""
        if not self.live:
            yield from items
            return
        from rich.progress import track

        yield from track(items, description=text, total=total, console=self.console, transient=True)
