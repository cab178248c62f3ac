"""Regular expressions as the engine runs them: a pattern is checked when the segment is, so what the engine
would reject at run time is a segment error with a position instead."""

from __future__ import annotations

import re


def regex_problem(pattern: str, ignore_case: bool = False) -> str | None:
    """Why the engine cannot run `pattern` (Python's syntax check, then polars' own regex engine), or None."""
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"not a valid regular expression: {exc}"
    import polars as pl  # only segments with `matches` pay for the import

    try:
        pl.select(pl.lit("").str.contains(("(?i)" if ignore_case else "") + pattern))
    except pl.exceptions.PolarsError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = next((line[len("error: "):] for line in lines if line.startswith("error: ")),
                      lines[0].removeprefix("regex error: ") if lines else "rejected")
        return f"a regular expression the engine cannot run: {reason} (Rust regex syntax: no backreferences " \
               "or look-around)"
    return None
