"""Checking the rule kinds beyond fields: `event`, `sequence`, `segment` and `sample` (a Checker mixin)."""

from __future__ import annotations

from dataclasses import replace

from .catalog import EVENT_FIELDS
from ..errors import Problem, did_you_mean, suggest
from .operators import Predicate
from .tree import AllOf, AnyOf, EventCondition, EventRule, Not, Segment, SegmentRef, Sequence, Step, nodes
from .tree import Sample as SampleRule
from .yamlsource import Node

PROPERTIES = "properties."
AT_LEAST_ONE = Predicate("gte", 1.0, written="gte")
RULE_KINDS = ("event", "sequence", "segment", "sample")


class Invalid(Exception):
    """Internal: stops checking one node after its problem was recorded."""


class RuleKinds:
    """The rule kinds that are not a field of the catalog; mixed into parse.Checker."""

    def other_rule(self, key: str, node: Node, loc):
        return {"event": self.event_rule, "sequence": self.sequence, "segment": self.segment_ref,
                "sample": self.sample}[key](node, loc)

    # -- event -----------------------------------------------------------------
    def event_rule(self, node: Node, loc) -> EventRule:
        self.mapping(node, "event", "{type: {is: add_to_cart}, period: 7d}")
        count = self.count(node.value["count"]) if "count" in node.value else AT_LEAST_ONE
        period = self.period(node.value["period"]) if "period" in node.value else None
        conditions = self.event_conditions(node, ("count", "period"))
        return EventRule(conditions, count, period, loc)

    def count(self, node: Node) -> Predicate:
        self.mapping(node, "count", "{gte: 2}")
        p = self.predicate(node, "count", "number")
        if p.op == "is_set":
            self.fail(node.loc, "count takes a numeric operator (gte, lt, between, ...): every visitor has a count")
        return p

    def event_conditions(self, node: Node, reserved: tuple[str, ...]) -> tuple[EventCondition, ...]:
        """Each key of `node` that is not `reserved`: a condition on one event's field (or column)."""
        conditions = []
        for key, value in node.value.items():
            if key in reserved:
                continue
            found = self.attempt(self.event_condition, key, value, node.key_locs[key], reserved)
            if found is not None:
                conditions.append(found)
        if len(conditions) != len(node.value) - len([k for k in node.value if k in reserved]):
            raise Invalid
        return tuple(conditions)

    def event_condition(self, key: str, node: Node, loc, reserved: tuple[str, ...]) -> EventCondition:
        if key.startswith(PROPERTIES) and len(key) > len(PROPERTIES):
            column, value_type = key[len(PROPERTIES):], "any"
        elif key in EVENT_FIELDS:
            column, value_type = EVENT_FIELDS[key]
        else:
            close = suggest(key, [*EVENT_FIELDS, *reserved])
            self.fail(loc, f"unknown event field {key!r}{did_you_mean(close)}; an event takes "
                           f"{', '.join(EVENT_FIELDS)}, properties.<column> for any other events column, and "
                           f"{', '.join(reserved)}", "unknown-field", close)
        self.mapping(node, key, "{is: value}")
        return EventCondition(key, column, self.predicate(node, key, value_type), value_type)

    # -- sequence ----------------------------------------------------------------
    def sequence(self, node: Node, loc) -> Sequence:
        self.mapping(node, "sequence", "{steps: [{type: {is: add_to_cart}}, {type: {is: checkout}, within: 1h}]}")
        for key in node.value:
            if key not in ("steps", "then_not", "period"):
                close = suggest(key, ("steps", "then_not", "period"))
                self.attempt(self.fail, node.key_locs[key], f"unknown sequence key {key!r}{did_you_mean(close)}; "
                                                             "allowed: steps, then_not, period", "unknown-key", close)
        steps_node = node.value.get("steps")
        if steps_node is None or not steps_node.is_seq or not steps_node.value:
            self.fail(steps_node.loc if steps_node else node.loc, "a sequence takes `steps:`, a non-empty list of "
                                                                  "event conditions")
        steps = [self.attempt(self.step, item, i == 0, False) for i, item in enumerate(steps_node.value)]
        then_not = self.attempt(self.step, node.value["then_not"], False, True) if "then_not" in node.value else None
        period = self.period(node.value["period"]) if "period" in node.value else None
        if any(s is None for s in steps) or ("then_not" in node.value and then_not is None):
            raise Invalid
        return Sequence(tuple(steps), then_not, period, loc)

    def step(self, node: Node, first: bool, then_not: bool) -> Step:
        what = "then_not" if then_not else "a step"
        self.mapping(node, what, "{type: {is: begin_checkout}, within: 1h}")
        within = None
        if "within" in node.value:
            if first:
                self.fail(node.key_locs["within"], "the first step takes no `within` (it starts the sequence)")
            within = self.duration(node.value["within"], "within", exact=True)
        elif then_not:
            self.fail(node.loc, "then_not needs `within`: how long after the last step no such event may come")
        return Step(self.event_conditions(node, ("within",)), within)

    # -- segment references and samples ----------------------------------------
    def segment_ref(self, node: Node, loc) -> SegmentRef:
        if not node.is_scalar or not isinstance(node.value, str) or not node.value:
            self.fail(node.loc, f"segment takes the name of a segment, found {node.describe()}")
        return SegmentRef(node.raw, loc)

    def sample(self, node: Node, loc) -> SampleRule:
        self.mapping(node, "sample", "{percent: 10, seed: spring-promo}")
        extra = sorted(set(node.value) - {"percent", "seed"})
        if extra or "percent" not in node.value or "seed" not in node.value:
            where = node.key_locs[extra[0]] if extra else node.loc
            self.fail(where, "sample takes {percent: 0-100, seed: text}; the seed makes the sample stable and "
                             "different from other samples")
        percent = self.number(node.value["percent"], "percent")
        if not 0 < percent <= 100:
            self.fail(node.value["percent"].loc, f"percent must be above 0 and at most 100, found {percent:g}")
        return SampleRule(percent, self.text(node.value["seed"], "seed"), loc)

    def mapping(self, node: Node, what: str, example: str) -> None:
        if not node.is_map:
            self.fail(node.loc, f"{what} takes a mapping, e.g. {example}, found {node.describe()}")



# -- references between segments --------------------------------------------------
MAX_RULE_DEPTH = 100  # rules in rules, those of named segments counted where they are named


def resolve_references(segments: list[Segment], available: dict[str, Segment], problems: list[Problem],
                       invalid: dict[str, tuple[str, list[Problem]]]) -> list[Segment]:
    """The segments with every `segment: NAME` pointing at its segment (of the run or the library), which is
    then compiled once per run. An unknown name, a segment whose file is invalid (`invalid`: name -> the
    file and its problems), a circle or a chain of references nested too deep is a problem at the reference."""
    graph = {name: [n for n in nodes(s.root) if isinstance(n, SegmentRef)] for name, s in available.items()}
    order, cycles = _walk([s.name for s in segments], graph)
    for name in order:
        for ref in graph[name]:
            if ref.name in invalid:
                file, file_problems = invalid[ref.name]
                problems.append(Problem(ref.loc, f"segment {ref.name!r} cannot be used: its file {file} has errors",
                                        "invalid-segment"))
                problems += file_problems
            elif ref.name not in available:
                close = suggest(ref.name, available)
                where = "segments of this run, the configured library and the segment's folder"
                problems.append(Problem(ref.loc, f"unknown segment {ref.name!r}{did_you_mean(close)}; {where}: "
                                                 f"{', '.join(sorted(available))}", "unknown-segment", close))
    problems += [Problem(ref.loc, f"segment {ref.name!r} refers back to itself: {' -> '.join(path)}", "cycle")
                 for ref, path in cycles]
    if problems:
        return segments
    problems += _too_deep(segments, order, available, graph)
    if problems:
        return segments
    resolved: dict[str, Segment] = {}
    for name in order:  # each after the segments it names
        resolved[name] = replace(available[name], root=_with_targets(available[name].root, resolved))
    return [resolved[segment.name] for segment in segments]


def _with_targets(rule, resolved: dict[str, Segment]):
    if isinstance(rule, SegmentRef):
        return replace(rule, target=resolved[rule.name])
    if isinstance(rule, Not):
        return replace(rule, rule=_with_targets(rule.rule, resolved))
    if isinstance(rule, (AllOf, AnyOf)):
        return replace(rule, rules=tuple(_with_targets(r, resolved) for r in rule.rules))
    return rule


def _walk(starts: list[str], graph: dict[str, list[SegmentRef]]) -> tuple[list[str], list]:
    """Depth first along the references from `starts`, without recursion (a chain may be thousands long): the
    names reached, each after the names it refers to, and each reference that closes a circle with the names
    around it."""
    order, cycles, state = [], [], {}
    for start in starts:
        if start in state:
            continue
        state[start] = "open"
        path, pending = [start], [iter(graph[start])]
        while pending:
            ref = next(pending[-1], None)
            if ref is None:
                name = path.pop()
                pending.pop()
                state[name] = "done"
                order.append(name)
            elif state.get(ref.name) == "open":
                cycles.append((ref, path[path.index(ref.name):] + [ref.name]))
            elif ref.name in graph and ref.name not in state:
                state[ref.name] = "open"
                path.append(ref.name)
                pending.append(iter(graph[ref.name]))
    return order, cycles


def _levels(rules, level: int = 1):
    """Each rule with its level: the segment's own rules are 1, the rules inside all/any/not one more."""
    for rule in rules:
        yield rule, level
        if isinstance(rule, Not):
            yield from _levels([rule.rule], level + 1)
        elif isinstance(rule, (AllOf, AnyOf)):
            yield from _levels(rule.rules, level + 1)


def _too_deep(segments: list[Segment], order: list[str], available: dict[str, Segment],
              graph: dict[str, list[SegmentRef]]) -> list[Problem]:
    """A problem at each reference of the run's segments through which rules nest more than MAX_RULE_DEPTH
    levels deep once the named segments' rules are counted where they are named (the engines compile them
    into one tree)."""
    depth: dict[str, int] = {}
    deepest: dict[str, SegmentRef | None] = {}  # the reference on the way to a segment's deepest rule
    for name in order:  # each after the segments it names
        depth[name], deepest[name] = max(
            ((level + (depth[rule.name] if isinstance(rule, SegmentRef) else 0),
              rule if isinstance(rule, SegmentRef) else None)
             for rule, level in _levels(available[name].root.rules)), key=lambda pair: pair[0])
    problems = []
    for segment in segments:
        ref = deepest[segment.name]
        if depth[segment.name] <= MAX_RULE_DEPTH or ref is None:
            continue
        chain = [segment.name]
        while ref is not None:
            chain.append(ref.name)
            ref = deepest[ref.name]
        shown = " -> ".join(chain if len(chain) <= 6 else [*chain[:3], "...", *chain[-2:]])
        problems.append(Problem(deepest[segment.name].loc,
                                f"rules nest {depth[segment.name]:,} levels deep through segment {chain[1]!r} "
                                f"({shown}: {len(chain):,} segments); at most {MAX_RULE_DEPTH}, a named segment's "
                                "rules counting one level below the reference", "too-deep"))
    return problems
