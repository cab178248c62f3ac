"""Text the SQL engines must read as polars does: the white space polars strips and tests for, spelled out
rather than left to each dialect's TRIM or `\\s`, and literal text as a regular expression. (The regular
expressions of `matches` are checked to be portable when the segment is parsed: regex.py.)
"""

from __future__ import annotations

import re

from ...language.timeframe import WHITESPACE  # noqa: F401  (Unicode White_Space, as literal characters)


def literal_regex(text: str) -> str:
    """`text` as a regular expression that matches it literally (every engine reads these escapes alike)."""
    return re.escape(text)
