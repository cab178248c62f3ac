"""The keys of a segment file besides its rules (a Checker mixin): `name` (a safe file name), `tags` and
`expect` (the guards a run checks the segment's size against)."""

from __future__ import annotations

import re

from .tree import Expectation
from .yamlsource import Node

MAX_NAME = 200  # a file name is at most 255 bytes, and the temporary file adds to it
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
EXPECT_KEYS = ("min_size", "max_size", "max_change")
PERCENT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*%\s*")


def is_safe_name(name: str) -> bool:
    return bool(SAFE_NAME.fullmatch(name)) and name not in (".", "..") and len(name) <= MAX_NAME


class Header:
    """Mixed into parse.Checker (which provides `fail` and `text_value`)."""

    def segment_name(self, node: Node | None, default: str) -> str:
        """The name names the output file (`NAME.csv`) and what `segment:` rules and --select match."""
        name = self.text_value(node, "name") if node is not None else default
        if not is_safe_name(name):
            where = node.loc if node is not None else None
            shown = repr(name) if len(name) <= 40 else repr(name[:37]) + "…"
            self.fail(where, f"segment name {shown} is not a safe file name: letters, digits, '.', '_' and '-', "
                             f"starting with a letter or digit, at most {MAX_NAME} characters"
                             + ("" if node is not None else "; set `name:` in the segment file"), "bad-name")
        return name

    def tags(self, node: Node | None) -> tuple[str, ...]:
        if node is None:
            return ()
        items = node.value if node.is_seq else None
        if items is None or not all(i.is_scalar and i.value is not None and str(i.raw).strip() for i in items):
            self.fail(node.loc, f"tags must be a list of words, like [nightly, email], found {node.describe()}")
        return tuple(dict.fromkeys(str(i.raw).strip() for i in items))

    def expectation(self, node: Node | None) -> Expectation | None:
        if node is None:
            return None
        if not node.is_map or not node.value:
            self.fail(node.loc, "expect takes {min_size: N, max_size: N, max_change: 50%}, found "
                                f"{node.describe()}")
        unknown = [k for k in node.value if k not in EXPECT_KEYS]
        if unknown:
            self.fail(node.key_locs[unknown[0]], f"expect takes {', '.join(EXPECT_KEYS)}, found {unknown[0]!r}",
                      "unknown-key")
        sizes = {k: self._size(node.value[k], k) for k in ("min_size", "max_size") if k in node.value}
        if len(sizes) == 2 and sizes["min_size"] > sizes["max_size"]:
            self.fail(node.loc, f"expect: min_size {sizes['min_size']} is above max_size {sizes['max_size']}")
        change = self._percent(node.value["max_change"]) if "max_change" in node.value else None
        return Expectation(sizes.get("min_size"), sizes.get("max_size"), change, node.loc)

    def _size(self, node: Node, key: str) -> int:
        value = node.value if node.is_scalar else None
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            self.fail(node.loc, f"{key} takes a whole number of visitors (0 or more), found {node.describe()}")
        return value

    def _percent(self, node: Node) -> float:
        m = PERCENT.fullmatch(str(node.raw)) if node.is_scalar else None
        if m is None:
            self.fail(node.loc, f"max_change takes a percentage like 50%, found {node.describe()}")
        return float(m.group(1)) / 100
