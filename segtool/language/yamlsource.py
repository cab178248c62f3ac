"""YAML with positions: every node remembers the file, line and column it came from.

Scalars keep both the value YAML gives them and the text as written, so a
region written `09` or an ID written `007` can be compared as text.

Safe by construction, for segment and config files alike: libyaml parses (linear
time on megabyte files); tags are refused, so a file cannot ask for a Python
object or a type the text does not show; aliases may share values, but what they
expand to is bounded and a recursive alias is refused; merge keys (`<<: *defaults`)
work as in YAML 1.1; nesting is bounded by segtool, not by the YAML library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import Location, Problem, SegmentError

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
_STR, _SEQ, _MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"


def _location(file: str, mark) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


@dataclass(slots=True)
class _Open:
    """A mapping or list whose end event has not come yet."""

    node: Node
    anchor: str | None
    before: int                # values counted before it began
    height: int = 1            # mappings and lists nested in it, itself included
    key: Node | None = None    # a mapping's key that waits for its value
    merge: bool = False        # ... and that key is `<<`
    merges: list = field(default_factory=list)  # the values of its `<<` keys


class _Builder:
    """YAML events → Nodes, without recursion. Nesting is bounded by segtool (MAX_DEPTH) before libyaml's
    own limit is reached, aliased values included; an alias is the same Node again, what the file expands
    to is counted and bounded, and an alias to a value still open (a recursive alias) is refused. Merge keys
    (`<<: *defaults`) give a mapping the keys it does not set itself."""

    def __init__(self, file: str):
        self.file = file
        self.open: list[_Open] = []
        self.anchors: dict[str, tuple[Node, int, int] | None] = {}  # -> (Node, values, height); None while open
        self.values = 0
        self.documents = 0
        self.root: Node | None = None

    def at(self, event: yaml.Event) -> Location:
        return _location(self.file, event.start_mark)

    def fail(self, where: yaml.Event | Location, message: str):
        raise SegmentError([Problem(where if isinstance(where, Location) else self.at(where), message, "yaml")])

    def feed(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.ScalarEvent):
            self.scalar(event)
        elif isinstance(event, yaml.AliasEvent):
            self.alias(event)
        elif isinstance(event, yaml.CollectionStartEvent):
            self.start(event)
        elif isinstance(event, yaml.CollectionEndEvent):
            self.end()
        elif isinstance(event, yaml.DocumentStartEvent):
            if self.documents:
                self.fail(event, "not valid YAML: a second document (---); a file holds one")
            self.documents += 1

    def count(self, event: yaml.Event, size: int) -> None:
        self.values += size
        if self.values > MAX_VALUES:
            self.fail(event, f"the file holds more than {MAX_VALUES:,} values once its aliases are expanded")

    def scalar(self, event: yaml.ScalarEvent) -> None:
        tag = _resolver.resolve(yaml.ScalarNode, event.value, (True, False)) if not event.style else _STR
        self.check_tag(event, tag)
        self.count(event, 1)
        node = Node("scalar", self.value(event, tag), self.at(event), raw=event.value)
        if event.anchor is not None:
            self.anchors[event.anchor] = (node, 1, 0)
        self.add(node, event, 0, merge=tag == _MERGE)

    def value(self, event: yaml.ScalarEvent, tag: str):
        construct = _constructor.yaml_constructors.get(tag)
        if tag == _STR or construct is None:  # `<<` and `=` outside a key are text
            return event.value
        try:
            return construct(_constructor, yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark))
        except (ValueError, OverflowError, yaml.YAMLError) as exc:
            self.fail(event, f"{event.value!r} cannot be read: {exc}")

    def alias(self, event: yaml.AliasEvent) -> None:
        if event.anchor not in self.anchors:
            self.fail(event, f"not valid YAML: found undefined alias {event.anchor!r}")
        if self.anchors[event.anchor] is None:
            self.fail(event, "a recursive alias (a value that contains itself) is not allowed")
        node, size, height = self.anchors[event.anchor]
        self.count(event, size)
        self.add(node, event, height)

    def start(self, event: yaml.CollectionStartEvent) -> None:
        is_map = isinstance(event, yaml.MappingStartEvent)
        self.check_tag(event, _MAP if is_map else _SEQ)
        self.check_depth(event, 1)
        if self.open and self.open[-1].node.is_map and self.open[-1].key is None:
            self.fail(event, "a key must be a plain value, not a list or mapping")
        before = self.values
        self.count(event, 1)
        node = Node("map" if is_map else "seq", {} if is_map else [], self.at(event))
        if event.anchor is not None:
            self.anchors[event.anchor] = None
        self.open.append(_Open(node, event.anchor, before))

    def end(self) -> None:
        done = self.open.pop()
        node = done.node
        if done.merges:
            self.merge(node, done.merges)
        if done.anchor is not None:
            self.anchors[done.anchor] = (node, self.values - done.before, done.height)
        self.add(node, None, done.height)

    def merge(self, node: Node, merges: list[Node]) -> None:
        """The keys of the mappings under `<<` that `node` does not set itself, first (as PyYAML orders them);
        of two merged mappings that set a key, the first wins."""
        values, locs = {}, {}
        for merged in merges:
            for source in merged.value if merged.is_seq else [merged]:
                if not source.is_map:
                    self.fail(source.loc, "a merge key (<<) takes a mapping or a list of mappings, like "
                                          f"`<<: *defaults`, found {source.describe()}")
                for key, value in source.value.items():
                    if key not in node.value and key not in values:
                        values[key], locs[key] = value, source.key_locs[key]
        node.value = {**values, **node.value}
        node.key_locs = {**locs, **node.key_locs}

    def add(self, node: Node, event: yaml.Event | None, height: int, merge: bool = False) -> None:
        if not self.open:
            self.root = node
            return
        parent = self.open[-1]
        if event is not None and height:  # an alias of a mapping or list
            self.check_depth(event, height)
        parent.height = max(parent.height, height + 1)
        if parent.node.is_seq:
            parent.node.value.append(node)
        elif parent.key is None:
            if not node.is_scalar:
                self.fail(event, "a key must be a plain value, not a list or mapping")
            key = str(node.value)
            if not merge and key in parent.node.key_locs:
                self.fail(event, f"duplicate key {key!r}")
            parent.key, parent.merge = node, merge
        elif parent.merge:
            parent.merges.append(node)
            parent.key = None
        else:
            key = str(parent.key.value)
            parent.node.value[key] = node
            parent.node.key_locs[key] = parent.key.loc
            parent.key = None

    def check_depth(self, event: yaml.Event, height: int) -> None:
        if len(self.open) + height > MAX_DEPTH:
            self.fail(event, f"nested more than {MAX_DEPTH} levels deep")

    def check_tag(self, event: yaml.NodeEvent, implicit: str) -> None:
        if event.tag is not None and event.tag != implicit:
            tag = event.tag.replace("tag:yaml.org,2002:", "!!")
            self.fail(event, f"YAML tags are not allowed ({tag}); write the value as plain text, quoted where needed")


def parse_yaml(text: str, file: str) -> Node | None:
    """Parse YAML text into located nodes; None for an empty document."""
    builder = _Builder(file)
    try:
        for event in yaml.parse(text, Loader=_Loader):
            builder.feed(event)
    except yaml.reader.ReaderError as exc:
        loc = _offset_location(text, file, exc.position)
        character = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise SegmentError([Problem(loc, f"not valid YAML: the control character U+{ord(character):04X} "
                                         "is not allowed", "yaml")]) from None
    except yaml.YAMLError as exc:  # the scanner's and parser's errors are marked with their position
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        loc = _location(file, mark) if mark else Location(file, 1, 1)
        problem = getattr(exc, "problem", None) or exc
        raise SegmentError([Problem(loc, f"not valid YAML: {problem}", "yaml")]) from None
    return builder.root


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
