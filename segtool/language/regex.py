r"""Regular expressions as the engines run them: a pattern is checked when the segment is, so what an engine
would reject or read differently is a segment error with a position instead.

`matches` takes a portable subset: what Rust's regex (polars), RE2 (DuckDB, BigQuery), Java (Spark, Trino)
and Snowflake read alike. Classes such as `\d` and `\w` differ (Rust's are Unicode-wide, RE2's and Java's
ASCII), and look-around, back-references and inline flags are missing from some; such a pattern is refused
with what to write instead.
"""

from __future__ import annotations

import re

NON_PORTABLE = [
    (re.compile(r"\\[dDwWsSbBAzZpPQEhHvVRXKGk]"), "{0} means different things to different engines; write the "
                                                  "characters out, e.g. [0-9] for \\d, [ \\t] for \\s"),
    (re.compile(r"\(\?[=!<>]"), "look-around {0} is not supported by every engine"),
    (re.compile(r"\(\?[a-zA-Z]"), "inline flags {0}: use ignore_case: true instead"),
    (re.compile(r"\\[1-9]"), "back-references ({0}) are not supported by every engine"),
    (re.compile(r"[*+?}]\+"), "possessive repetition {0} is not supported by every engine"),
    (re.compile(r"\[:[a-z]+:\]"), "POSIX classes {0} are not read alike by every engine"),
    (re.compile(r"\\[xuUN]"), "escapes {0} are written differently by each engine; type the character itself"),
]


def portability_problem(pattern: str) -> str | None:
    """Why `pattern` is outside the portable subset (None: it is inside)."""
    for check, message in NON_PORTABLE:
        m = check.search(pattern)
        if m is not None:
            return "not portable: " + message.format(repr(m.group(0)))
    return None


def regex_problem(pattern: str, ignore_case: bool = False) -> str | None:
    """Why the engines cannot run `pattern` alike (the portable subset, Python's syntax check, then polars'
    own regex engine), or None."""
    portable = portability_problem(pattern)
    if portable is not None:
        return portable
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
