"""One exception root for everything segtool reports to a user.

Each subclass carries the exit code the CLI turns it into, so the mapping
lives in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


class SegtoolError(Exception):
    """Root of every error segtool reports to a user (never a traceback)."""

    exit_code = 1


@dataclass(frozen=True, slots=True)
class Location:
    """A position in a YAML file: 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One problem found in a segment, config or data file: where, what kind (`code`), the message, and the
    existing names close to what was written (also in the message, as "did you mean")."""

    location: Location | None
    message: str
    code: str = "invalid"
    suggestions: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message

    def to_json(self) -> dict:
        where = self.location
        return {"file": where.file if where else None, "line": where.line if where else None,
                "column": where.column if where else None, "code": self.code, "message": self.message,
                "suggestions": list(self.suggestions)}


def suggest(word: str, choices) -> tuple[str, ...]:
    """The choice closest to `word`, if one is close enough."""
    import difflib

    return tuple(difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6))


def did_you_mean(suggestions: tuple[str, ...]) -> str:
    return f" (did you mean {suggestions[0]!r}?)" if suggestions else ""


class SegmentError(SegtoolError):
    """One or more problems in segment files, found before any data is read."""

    exit_code = 1

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ConfigError(SegmentError):
    """A problem in segtool.yaml (same exit code and shape as segment errors)."""


class UsageError(SegtoolError):
    """A bad command-line argument."""

    exit_code = 2


class DataError(SegtoolError):
    """Input data that cannot be read, or that does not fit the segments and config: names the file and,
    where known, the column. Several problems (each with the rule's or config's position) may be reported
    at once."""

    exit_code = 3

    def __init__(self, message: str = "", *, file: str | None = None, column: str | None = None,
                 problems: list[Problem] | None = None):
        self.file = file
        self.column = column
        self.problems = list(problems or [])
        where = ", ".join(
            part for part in (f"file {file}" if file else "", f"column {column!r}" if column else "") if part
        )
        text = f"{message} ({where})" if where and message else message
        super().__init__("\n".join([text] * bool(text) + [str(p) for p in self.problems]))


class StaleData(SegtoolError):
    """The newest event is older than the config's `freshness: error_after` allows (exit 6)."""

    exit_code = 6


class OutOfMemory(DataError):
    """The run needed more memory than it was given: one line, whichever layer noticed (exit 3)."""

    HINT = ("run fewer segments per command, or give the job more memory (a container's memory limit or "
            "`ulimit -v` counts)")

    def __init__(self, how: str = ""):
        super().__init__(f"segtool ran out of memory{f' ({how})' if how else ''}; {self.HINT}")
