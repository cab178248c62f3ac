"""Segment files → checked rule trees, collecting every problem with its location."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .catalog import FIELDS, ITEM_COLUMNS, FieldSpec, item_value_type, lookup_field
from ..errors import Location, Problem, SegmentError, did_you_mean, suggest
from .operators import BOOL, CASE_OPERATORS, DURATION, LIST, NUMBER, OPERATORS, RANGE, SCALAR, TEXT, Predicate
from .parse_header import Header
from .parse_events import RULE_KINDS, Invalid, RuleKinds, resolve_references
from .parse_periods import Periods
from .regex import regex_problem
from .tree import AllOf, AnyOf, Condition, ItemCondition, Not, Rule, Segment, SegmentRef, WithinKm, nodes
from .yamlsource import Node, load_yaml

COMBINATORS = ("all", "any", "not")
SEGMENT_KEYS = ("name", "description", "tags", "match", "rules", "expect")
QUALIFIERS = ("period", "items", "ignore_case")


@dataclass
class Checker(RuleKinds, Periods, Header):
    """Walks located YAML and builds the rule tree, recording problems instead of stopping."""

    grid_cells: tuple[str, ...]
    problems: list[Problem]
    name: str | None = None  # the segment's name, once read (also where the file has problems)

    def fail(self, loc: Location | None, message: str, code: str = "bad-value", suggestions: tuple[str, ...] = ()):
        self.problems.append(Problem(loc, message, code, suggestions))
        raise Invalid

    def attempt(self, fn, *args):
        try:
            return fn(*args)
        except Invalid:
            return None

    # -- the segment ---------------------------------------------------------
    def segment(self, root: Node | None, path: Path) -> Segment | None:
        file = str(path)
        if root is None or not root.is_map:
            loc = root.loc if root else Location(file, 1, 1)
            return self.attempt(self.fail, loc, "a segment file must be a mapping with a `rules:` list")
        for key in root.value:
            if key not in SEGMENT_KEYS:
                close = suggest(key, SEGMENT_KEYS)
                self.attempt(self.fail, root.key_locs[key],
                             f"unknown key {key!r}; allowed: {', '.join(SEGMENT_KEYS)}{did_you_mean(close)}",
                             "unknown-key", close)
        name = self.name = self.attempt(self.segment_name, root.value.get("name"), path.stem)
        description = self.attempt(self.text_value, root.value.get("description"), "description") or ""
        tags = self.attempt(self.tags, root.value.get("tags"))
        expect = self.attempt(self.expectation, root.value.get("expect"))
        match = self.attempt(self.match_value, root.value.get("match"))
        rules_node = root.value.get("rules")
        if rules_node is None:
            return self.attempt(self.fail, root.loc, "missing `rules:` (a list of rules)")
        rules = self.attempt(self.rule_list, rules_node, "rules")
        if rules is None or match is None or len(self.problems):
            return None
        root_rule = AllOf(rules, rules_node.loc) if match == "all" else AnyOf(rules, rules_node.loc)
        return Segment(name=name, description=description, root=root_rule, file=file, tags=tags or (),
                       expect=expect)

    def text_value(self, node: Node | None, what: str) -> str | None:
        if node is None:
            return None
        if not node.is_scalar or node.value is None:
            self.fail(node.loc, f"{what} must be text, found {node.describe()}")
        return node.raw

    def match_value(self, node: Node | None) -> str:
        if node is None:
            return "all"
        if not node.is_scalar or node.raw not in ("all", "any"):
            close = suggest(node.raw, ("all", "any")) if node.is_scalar and node.raw else ()
            self.fail(node.loc, f"match must be `all` or `any`, found {node.describe()}{did_you_mean(close)}",
                      "bad-value", close)
        return node.raw

    # -- rules ---------------------------------------------------------------
    def rule_list(self, node: Node, what: str) -> tuple[Rule, ...]:
        if not node.is_seq or not node.value:
            self.fail(node.loc, f"{what} must be a non-empty list of rules, found {node.describe()}")
        rules = [self.attempt(self.rule, child) for child in node.value]
        if any(r is None for r in rules):
            raise Invalid
        return tuple(rules)

    def rule(self, node: Node) -> Rule:
        if not node.is_map or len(node.value) != 1:
            self.fail(node.loc, "a rule is a mapping with exactly one key: a field or all/any/not, "
                                f"found {node.describe() if not node.is_map else f'{len(node.value)} keys'}")
        (key, value), = node.value.items()
        key_loc = node.key_locs[key]
        if key in ("all", "any"):
            rules = self.rule_list(value, key)
            return AllOf(rules, key_loc) if key == "all" else AnyOf(rules, key_loc)
        if key == "not":
            if not value.is_map:
                self.fail(value.loc, f"not takes one rule (a mapping), found {value.describe()}; "
                                     "wrap several rules in `all:` or `any:`")
            return Not(self.rule(value), key_loc)
        if key in RULE_KINDS:
            return self.other_rule(key, value, key_loc)
        spec = lookup_field(key)
        if spec is None:
            close = suggest(key, [*FIELDS, *COMBINATORS, *RULE_KINDS])
            self.fail(key_loc, f"unknown field {key!r}{did_you_mean(close)}; "
                               "see `segtool fields`, or use profile.<column> for any profile column",
                      "unknown-field", close)
        return self.condition(spec, value, key_loc)

    def condition(self, spec: FieldSpec, node: Node, loc: Location) -> Condition:
        if not node.is_map:
            self.fail(node.loc, f"{spec.name} takes a mapping with an operator, e.g. "
                                f"`{spec.name}: {{{_example(spec)}}}`, found {node.describe()}")
        if spec.value_type == "location":
            return Condition(spec, self.within_km(node), loc=loc)
        for qualifier in ("period", "items"):
            if qualifier in node.value and qualifier not in spec.qualifiers:
                allowed = ", ".join(sorted(spec.qualifiers)) or "none"
                self.fail(node.key_locs[qualifier],
                          f"{spec.name} does not take `{qualifier}` (qualifiers allowed here: {allowed})")
        predicate = self.predicate(node, spec.name, spec.value_type)
        period = self.period(node.value["period"]) if "period" in node.value else None
        items = self.items(node.value["items"]) if "items" in node.value else ()
        return Condition(spec, predicate, period, items, loc)

    # -- operators -----------------------------------------------------------
    def predicate(self, node: Node, field_name: str, value_type: str) -> Predicate:
        allowed = operators_for(value_type)
        ops = [k for k in node.value if k not in QUALIFIERS]
        if len(ops) != 1:
            where = node.key_locs[ops[1]] if len(ops) > 1 else node.loc
            found = ", ".join(ops) if ops else "none"
            self.fail(where, f"{field_name} needs exactly one operator, found {found}; allowed: {', '.join(allowed)}")
        op = ops[0]
        op_loc = node.key_locs[op]
        if op not in allowed:
            close = suggest(op, allowed)
            kind = "unknown operator" if op not in OPERATORS else f"operator not allowed for {field_name}"
            self.fail(op_loc, f"{kind} {op!r}{did_you_mean(close)}; allowed: {', '.join(allowed)}",
                      "unknown-operator" if op not in OPERATORS else "operator-not-allowed", close)
        spec = OPERATORS[op]
        ignore_case = False
        if "ignore_case" in node.value:
            ic = node.value["ignore_case"]
            if op not in CASE_OPERATORS or value_type in ("number", "grid"):
                self.fail(node.key_locs["ignore_case"], f"ignore_case does not apply to {op!r} on {field_name}")
            if not isinstance(ic.value, bool):
                self.fail(ic.loc, f"ignore_case must be true or false, found {ic.describe()}")
            ignore_case = ic.value
        value = self.operand(node.value[op], spec.takes, value_type, op)
        if spec.takes == BOOL:
            return Predicate("is_set", True, negated=not value, written=op)
        if value_type == "grid":
            self.check_cells(node.value[op], value)
        if op == "matches":
            self.check_regex(node.value[op], value, ignore_case)
        return Predicate(spec.positive, value, spec.negated, ignore_case, written=op)

    def operand(self, node: Node, takes: str, value_type: str, op: str):
        if takes == LIST:
            if not node.is_seq or not node.value:
                self.fail(node.loc, f"{op} takes a non-empty list, found {node.describe()}")
            return tuple(self.scalar(item, value_type, op) for item in node.value)
        if takes == RANGE:
            if not node.is_seq or len(node.value) != 2:
                self.fail(node.loc, f"{op} takes a list of two numbers [lo, hi], found {node.describe()}")
            lo, hi = (self.number(item, op) for item in node.value)
            if lo > hi:
                self.fail(node.loc, f"{op}: the low end {lo:g} is above the high end {hi:g}")
            return (lo, hi)
        if takes == BOOL:
            if not (node.is_scalar and isinstance(node.value, bool)):
                self.fail(node.loc, f"{op} takes true or false, found {node.describe()}")
            return node.value
        if takes == NUMBER:
            return self.number(node, op)
        if takes == DURATION:
            return self.duration(node, op)
        if takes == TEXT:
            return self.text(node, op)
        return self.scalar(node, value_type, op)

    def scalar(self, node: Node, value_type: str, op: str):
        return self.number(node, op) if value_type == "number" else self.text(node, op)

    def number(self, node: Node, op: str) -> float:
        if not node.is_scalar or isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            self.fail(node.loc, f"{op} takes a number, found {node.describe()}")
        try:
            number = float(node.value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            self.fail(node.loc, f"{op} takes a finite number, found {node.describe()}")
        return number

    def text(self, node: Node, op: str) -> str:
        if not node.is_scalar or node.value is None:
            self.fail(node.loc, f"{op} takes a text value, found {node.describe()}")
        return node.raw

    def check_cells(self, node: Node, value):
        for cell in value if isinstance(value, tuple) else (value,):
            if cell not in self.grid_cells:
                close = suggest(cell, self.grid_cells)
                self.fail(node.loc, f"unknown retention grid cell {cell!r}{did_you_mean(close)}; "
                                    f"cells: {', '.join(self.grid_cells)}", "unknown-cell", close)

    def check_regex(self, node: Node, pattern: str, ignore_case: bool):
        problem = regex_problem(pattern, ignore_case)
        if problem:
            self.fail(node.loc, problem, "bad-regex")

    # -- qualifiers ----------------------------------------------------------
    def items(self, node: Node) -> tuple[ItemCondition, ...]:
        if not node.is_map or not node.value:
            self.fail(node.loc, "items takes a mapping of item column to operator, "
                                f"e.g. {{brand: {{is: Nike}}}}, found {node.describe()}")
        conditions = []
        for column, cond in node.value.items():
            loc = node.key_locs[column]
            if not cond.is_map:
                self.attempt(self.fail, cond.loc, f"items.{column} takes a mapping with an operator, found {cond.describe()}")
                continue
            nested = [q for q in ("period", "items") if q in cond.value]
            if nested:
                self.attempt(self.fail, cond.key_locs[nested[0]], f"`{nested[0]}` cannot be used inside items")
                continue
            close = suggest(column, ITEM_COLUMNS) if column not in ITEM_COLUMNS else ()
            if close:
                self.attempt(self.fail, loc, f"unknown item column {column!r}{did_you_mean(close)}",
                             "unknown-column", close)
                continue
            value_type = item_value_type(column)
            predicate = self.attempt(self.predicate, cond, f"items.{column}", value_type)
            if predicate is not None:
                conditions.append(ItemCondition(column, predicate))
        if len(conditions) != len(node.value):
            raise Invalid
        return tuple(conditions)

    # -- location ------------------------------------------------------------
    def within_km(self, node: Node) -> WithinKm:
        keys = set(node.value)
        if keys != {"within_km", "of"}:
            extra = sorted(keys - {"within_km", "of"})
            where = node.key_locs[extra[0]] if extra else node.loc
            close = suggest(extra[0], ("within_km", "of")) if extra else ()
            self.fail(where, "location takes {within_km: KM, of: {lat: .., lon: ..} or a place name}"
                             + (f", found {extra[0]!r}{did_you_mean(close)}" if extra else ""), "bad-value", close)
        km = self.number(node.value["within_km"], "within_km")
        if km < 0:
            self.fail(node.value["within_km"].loc, "within_km must not be negative")
        of = node.value["of"]
        if of.is_scalar and isinstance(of.value, str):
            return self.place(of, km)
        if not of.is_map or set(of.value) != {"lat", "lon"}:
            self.fail(of.loc, f"of takes {{lat: .., lon: ..}} or a place name like Milan or \"Milan, IT\", "
                              f"found {of.describe()}")
        lat, lon = self.number(of.value["lat"], "lat"), self.number(of.value["lon"], "lon")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            self.fail(of.loc, f"lat must be within ±90 and lon within ±180, found {lat:g}, {lon:g}")
        return WithinKm(km, lat, lon)

    def place(self, node: Node, km: float) -> WithinKm:
        from ..places import UnknownPlace, resolve_place

        try:
            place = resolve_place(node.value)
        except UnknownPlace as exc:
            hint = f" (did you mean {', '.join(map(repr, exc.suggestions))}?)" if exc.suggestions else ""
            self.fail(node.loc, f"unknown place {node.value!r}: {exc.reason}{hint}", "unknown-place",
                      tuple(exc.suggestions))
        return WithinKm(km, place.latitude, place.longitude, place.describe())




def operators_for(value_type: str) -> list[str]:
    if value_type == "grid":
        return ["is", "is_not", "in", "not_in"]
    if value_type == "any":
        return list(OPERATORS)
    return [name for name, spec in OPERATORS.items() if value_type in spec.families]


def _example(spec: FieldSpec) -> str:
    return {"number": "gte: 1", "grid": "is: loyal"}.get(spec.value_type, "is: value")


def check_segments(paths: list[Path], grid_cells: tuple[str, ...], library: Path | None = None) -> list[Segment]:
    """Parse and check every file; raise one SegmentError listing every problem in all of them. `segment:`
    references are resolved against the run's segments, then the `library` folder's, then those of the
    folders the run's files are in (a segment may name its neighbours)."""
    segments, problems = _checked(paths, grid_cells)
    names = [s.name for s in segments]
    for segment in segments:
        if names.count(segment.name) > 1:
            problems.append(Problem(Location(segment.file, 1, 1), f"segment name {segment.name!r} is used by "
                                                                   "more than one file in this run", "duplicate-name"))
    referring = [s for s in segments if any(isinstance(n, SegmentRef) for n in nodes(s.root))]
    if not problems and referring:
        available = {s.name: s for s in segments}
        invalid: dict[str, tuple[str, list[Problem]]] = {}  # name -> an invalid library or neighbour file
        in_run = {str(Path(s.file).resolve()) for s in segments}
        folders = [library] if library is not None else []
        folders += [Path(s.file).parent for s in referring]
        for folder in dict.fromkeys(f.resolve() for f in folders if f.is_dir()):
            files = [f for f in segment_files([folder]) if str(f.resolve()) not in in_run]
            shelf, shelf_invalid = _checked_by_name(files, grid_cells)
            for segment in shelf:
                available.setdefault(segment.name, segment)
            for name, file in shelf_invalid.items():
                if name not in available:
                    invalid.setdefault(name, file)
        segments = resolve_references(segments, available, problems, invalid)
    if problems:
        raise SegmentError(_dedupe(problems))
    return segments


def _checked(paths: list[Path], grid_cells: tuple[str, ...]) -> tuple[list[Segment], list[Problem]]:
    segments, invalid = _checked_by_name(paths, grid_cells)
    return segments, [p for _, file_problems in invalid.values() for p in file_problems]


def _checked_by_name(paths: list[Path], grid_cells: tuple[str, ...]
                     ) -> tuple[list[Segment], dict[str, tuple[str, list[Problem]]]]:
    """The valid segments, and each invalid file with its problems by the name its segment would have (its
    `name:`, else the file name without .yaml)."""
    segments, invalid = [], {}
    for path in paths:
        checker = Checker(grid_cells, [])
        try:
            segment = checker.segment(load_yaml(path), path)
        except SegmentError as exc:
            checker.problems.extend(exc.problems)
            segment = None
        if segment is not None:
            segments.append(segment)
        else:
            invalid.setdefault(checker.name or path.stem, (str(path), []))[1].extend(checker.problems)
    return segments, invalid


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, result = set(), []
    for p in problems:
        if str(p) not in seen:
            seen.add(str(p))
            result.append(p)
    return result


def segment_files(args: list[Path]) -> list[Path]:
    """Expand the SEGMENT arguments: a file, or a directory meaning its *.yaml and *.yml files; a file named
    twice (`segments/ segments/x.yaml`) counts once."""
    paths: list[Path] = []
    for arg in args:
        if arg.is_dir():
            found = sorted(p for p in arg.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
            if not found:
                raise SegmentError([Problem(None, f"{arg}: no .yaml or .yml segment files in this directory")])
            paths.extend(found)
        elif arg.is_file():
            paths.append(arg)
        else:
            raise SegmentError([Problem(None, f"{arg}: no such segment file or directory")])
    unique: dict[Path, Path] = {}
    for path in paths:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())
