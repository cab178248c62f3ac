"""Text the SQL engines must read as polars does: the white space polars strips and tests for, spelled out
rather than left to each dialect's TRIM or `\\s`, and literal text as a regular expression. (The regular
expressions of `matches` are checked to be portable when the segment is parsed: regex.py.)
"""

from __future__ import annotations

import re

# Unicode White_Space (what Rust's `\\s` and polars' strip_chars() mean), as literal characters
WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"


def literal_regex(text: str) -> str:
    """`text` as a regular expression that matches it literally (every engine reads these escapes alike)."""
    return re.escape(text)
