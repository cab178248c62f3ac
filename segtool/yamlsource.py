"""YAML with positions: every node remembers the file, line and column it came from.

Scalars keep both the value YAML gives them and the text as written, so a
region written `09` or an ID written `007` can be compared as text.

Safe by construction, for segment and config files alike: libyaml parses (linear
time on megabyte files); tags are refused, so a file cannot ask for a Python
object or a type the text does not show; aliases may share values, but what they
expand to is bounded and a recursive alias is refused; nesting is bounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import Location, Problem, SegmentError

MAX_DEPTH = 64             # nested mappings and lists
MAX_VALUES = 5_000_000     # values in a file once its aliases are expanded (a 900k-value `in:` list is fine)


@dataclass(slots=True)
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


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML 1.1 as PyYAML reads it, plus 1.2's exponent floats without a dot (`1e3`)."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
                              list("-+0123456789"))
_resolver = _Loader("")
_constructor = yaml.constructor.SafeConstructor()
_TAG_START = re.compile(r"(?:^|[\s\[{,])!", re.M)  # where a tag could begin (a `!` inside quotes may match too)
_STR, _SEQ, _MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"


def _location(file: str, mark) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


class _Converter:
    """yaml nodes → Nodes. A node reached twice (an alias) is converted once; what the file expands to is
    counted and bounded, and a node reached again while inside itself (a recursive alias) is refused."""

    def __init__(self, file: str, tags_possible: bool = True):
        self.file = file
        self.tags_possible = tags_possible  # False where the text has no `!` that could start a tag
        self.done: dict[int, tuple[Node, int]] = {}  # id(yaml node) -> (Node, values it expands to)
        self.open: set[int] = set()
        self.values = 0

    def fail(self, node: yaml.Node, message: str):
        raise SegmentError([Problem(_location(self.file, node.start_mark), message, "yaml")])

    def convert(self, node: yaml.Node, depth: int = 0) -> Node:
        key = id(node)
        if key in self.done:  # an alias: the same value again
            converted, size = self.done[key]
            self.count(node, size)
            return converted
        if key in self.open:
            self.fail(node, "a recursive alias (a value that contains itself) is not allowed")
        if depth > MAX_DEPTH:
            self.fail(node, f"nested more than {MAX_DEPTH} levels deep")
        before = self.values
        self.open.add(key)
        converted = self.build(node, depth)
        self.open.discard(key)
        self.done[key] = (converted, self.values - before)
        return converted

    def count(self, node: yaml.Node, size: int) -> None:
        self.values += size
        if self.values > MAX_VALUES:
            self.fail(node, f"the file holds more than {MAX_VALUES:,} values once its aliases are expanded")

    def build(self, node: yaml.Node, depth: int) -> Node:
        loc = _location(self.file, node.start_mark)
        self.count(node, 1)
        if isinstance(node, yaml.MappingNode):
            self.check_tag(node, _MAP)
            values: dict[str, Node] = {}
            key_locs: dict[str, Location] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self.fail(key_node, "a key must be a plain value, not a list or mapping")
                key = str(self.scalar(key_node))
                if key in values:
                    self.fail(key_node, f"duplicate key {key!r}")
                values[key] = self.convert(value_node, depth + 1)
                key_locs[key] = _location(self.file, key_node.start_mark)
            return Node("map", values, loc, key_locs=key_locs)
        if isinstance(node, yaml.SequenceNode):
            self.check_tag(node, _SEQ)
            return Node("seq", [self.convert(item, depth + 1) for item in node.value], loc)
        return Node("scalar", self.scalar(node), loc, raw=node.value)

    def check_tag(self, node: yaml.Node, implicit: str) -> None:
        if node.tag != implicit:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            self.fail(node, f"YAML tags are not allowed ({tag}); write the value as plain text, quoted where needed")

    def scalar(self, node: yaml.ScalarNode):
        if self.tags_possible:
            plain = not node.style
            self.check_tag(node, _resolver.resolve(yaml.ScalarNode, node.value, (True, False)) if plain else _STR)
        if node.tag == _STR:
            return node.value
        try:
            return _constructor.yaml_constructors[node.tag](_constructor, node)
        except (ValueError, OverflowError, yaml.YAMLError) as exc:
            self.fail(node, f"{node.value!r} cannot be read: {exc}")


def parse_yaml(text: str, file: str) -> Node | None:
    """Parse YAML text into located nodes; None for an empty document."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = _location(file, mark) if mark else Location(file, 1, 1)
        raise SegmentError([Problem(loc, f"not valid YAML: {exc.problem or exc}", "yaml")]) from None
    except yaml.reader.ReaderError as exc:
        loc = _offset_location(text, file, exc.position)
        character = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise SegmentError([Problem(loc, f"not valid YAML: the control character U+{ord(character):04X} "
                                         "is not allowed")]) from None
    except yaml.YAMLError as exc:
        raise SegmentError([Problem(Location(file, 1, 1), f"not valid YAML: {exc}")]) from None
    except RecursionError:
        raise SegmentError([Problem(Location(file, 1, 1), f"nested more than {MAX_DEPTH} levels deep")]) from None
    return None if root is None else _Converter(file, _TAG_START.search(text) is not None).convert(root)


def _offset_location(text: str, file: str, position: int) -> Location:
    before = text[:position]
    return Location(file, before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1)


def load_yaml(path: Path) -> Node | None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SegmentError([Problem(None, f"{path}: cannot read: {exc.strerror}")]) from None
    except UnicodeDecodeError as exc:
        raise SegmentError([Problem(Location(str(path), 1, 1), f"not UTF-8 text (byte {exc.start})")]) from None
    return parse_yaml(text, str(path))
