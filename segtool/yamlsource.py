"""YAML with positions: every node remembers the file, line and column it came from.

Scalars keep both the value YAML gives them and the text as written, so a
region written `09` or an ID written `007` can be compared as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import Location, Problem, SegmentError


@dataclass
class Node:
    """A YAML node: a mapping (value: dict[str, Node]), a sequence (list[Node]) or a scalar."""

    kind: str  # "map" | "seq" | "scalar"
    value: Any
    loc: Location
    raw: str | None = None  # the scalar's text as written
    key_locs: dict[str, Location] = field(default_factory=dict)

    @property
    def is_map(self) -> bool:
        return self.kind == "map"

    @property
    def is_seq(self) -> bool:
        return self.kind == "seq"

    @property
    def is_scalar(self) -> bool:
        return self.kind == "scalar"

    def describe(self) -> str:
        """How the node looks to a user, for error messages."""
        if self.is_map:
            return "a mapping"
        if self.is_seq:
            return "a list"
        if self.value is None:
            return "nothing"
        return f"{self.raw!r}"


_constructor = yaml.constructor.SafeConstructor()


class _Loader(yaml.SafeLoader):
    """YAML 1.1 as PyYAML reads it, plus 1.2's exponent floats without a dot (`1e3`)."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
                              list("-+0123456789"))


def _location(file: str, mark: yaml.Mark) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


def _convert(node: yaml.Node, file: str) -> Node:
    loc = _location(file, node.start_mark)
    if isinstance(node, yaml.MappingNode):
        values: dict[str, Node] = {}
        key_locs: dict[str, Location] = {}
        for key_node, value_node in node.value:
            key_loc = _location(file, key_node.start_mark)
            key = str(_constructor.construct_object(key_node)) if isinstance(key_node, yaml.ScalarNode) else "?"
            if key in values:
                raise SegmentError([Problem(key_loc, f"duplicate key {key!r}")])
            values[key] = _convert(value_node, file)
            key_locs[key] = key_loc
        return Node("map", values, loc, key_locs=key_locs)
    if isinstance(node, yaml.SequenceNode):
        return Node("seq", [_convert(item, file) for item in node.value], loc)
    return Node("scalar", _constructor.construct_object(node), loc, raw=node.value)


def parse_yaml(text: str, file: str) -> Node | None:
    """Parse YAML text into located nodes; None for an empty document."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = _location(file, mark) if mark else Location(file, 1, 1)
        raise SegmentError([Problem(loc, f"not valid YAML: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise SegmentError([Problem(Location(file, 1, 1), f"not valid YAML: {exc}")]) from None
    return None if root is None else _convert(root, file)


def load_yaml(path: Path) -> Node | None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SegmentError([Problem(None, f"{path}: cannot read: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise SegmentError([Problem(Location(str(path), 1, 1), "not UTF-8 text")]) from None
    return parse_yaml(text, str(path))
