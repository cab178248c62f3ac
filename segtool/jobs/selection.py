"""`--select` and `--exclude`: which of the loaded segments a command runs, by name, glob or tag.

A pattern is `tag:NAME` (segments whose `tags:` hold NAME) or a name or shell glob (`vip_*`). Several
patterns (repeated options, or commas) add up: a segment is run when it matches some `--select` (all
when none is given) and no `--exclude`. References (`segment: NAME`) still resolve to excluded segments.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from ..errors import UsageError
from ..language.tree import Segment


def patterns(values: list[str] | tuple[str, ...] | None, option: str = "--select") -> tuple[str, ...]:
    found = tuple(p.strip() for value in values or () for p in value.split(",") if p.strip())
    if values and not found:  # `--select "$EMPTY"` in a script must not run everything
        raise UsageError(f"{option} needs a segment name, a glob or tag:NAME, found {values[0]!r}")
    return found


def matches(segment: Segment, pattern: str) -> bool:
    return matches_name(segment.name, segment.tags, pattern)


def matches_name(name: str, tags, pattern: str) -> bool:
    """Whether a segment of that name and those tags matches the pattern (also one a manifest records)."""
    if pattern.startswith("tag:"):
        return pattern[4:] in tags
    return fnmatchcase(name, pattern)


def select(segments: list[Segment], chosen: tuple[str, ...], excluded: tuple[str, ...]) -> list[Segment]:
    """The segments to run; a --select pattern that matches none of them is a usage error (a typo would
    otherwise run nothing and exit 0)."""
    for pattern in chosen:
        if not any(matches(s, pattern) for s in segments):
            names = ", ".join(s.name for s in segments[:8]) + (", …" if len(segments) > 8 else "")
            tags = sorted({t for s in segments for t in s.tags})
            raise UsageError(f"--select {pattern!r} matches no segment; names: {names}"
                             + (f"; tags: {', '.join(tags)}" if tags else ""))
    kept = [s for s in segments if (not chosen or any(matches(s, p) for p in chosen))
            and not any(matches(s, p) for p in excluded)]
    if not kept:
        raise UsageError("--select/--exclude leave no segment to run")
    return kept
