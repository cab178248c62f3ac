"""One SQL statement per run: typed sources, the universe, a CTE per family of per-visitor aggregates, and a
final SELECT of visitor_id and one boolean per segment, sorted. Built as a sqlglot tree (compiler.py makes
the rules), rendered per dialect, and checked against the dialect's allowlist of functions."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from ...language.catalog import NUMBER_COLUMNS
from ...language import strftime
from ...language.timeframe import DECIMAL_COMMA_TEXT, NUMBER_TEXT, AsOf, char_class
from ...language.tree import Segment
from ...plan import ir
from ...plan.lower import Lowering, lower
from .compiler import (TRUE, CompileError, Columns, Context, Needs, flag, num, predicted_column, translate, trimmed,
                       two_valued, up_to)
from .dialects import Dialect
from .iso import iso_micros, iso_text, pattern_micros, with_iso_fields, with_pattern_fields
from .portable import WHITESPACE

EPOCH_FACTORS = {"epoch_s": 1_000_000, "epoch_ms": 1_000, "epoch_us": 1}
TEXT_AS_WRITTEN = ("visitor_id", "order_id", "timestamp")  # never read with a decimal comma


@dataclass(frozen=True)
class Source:
    """Where a table's rows come from (a table name or a reader call), its columns' export names, for
    profiles the expression that orders its rows as written (the first row of a visitor counts), and how
    the text of a CSV export is read (its `csv:` options null_values and decimal_comma, as polars reads them)."""

    relation: exp.Expression
    names: dict[str, str] = field(default_factory=dict)  # canonical -> export name
    row_order: exp.Expression | None = None
    raw_kinds: dict[str, str] = field(default_factory=dict)  # canonical -> kind of the column as stored
    null_values: tuple[str, ...] = ()  # texts that mean missing, in text columns
    decimal_comma: bool = False  # numbers in text columns may be written 1.234,56

    def column(self, canonical: str) -> exp.Expression:
        """The column as read: a text that means missing is NULL."""
        if self.raw_kinds.get(canonical) != "text":
            return exp.column(self.names.get(canonical, canonical), quoted=True)
        return self.stored(self.names.get(canonical, canonical))

    def stored(self, name: str) -> exp.Expression:
        """A column of the rows by its name there; where it is text, a text that means missing is NULL."""
        raw = exp.column(name, quoted=True)
        if not self.null_values:
            return raw
        missing = exp.In(this=raw, expressions=[exp.Literal.string(v) for v in self.null_values])
        return exp.Case(ifs=[exp.If(this=missing, true=exp.Null())], default=raw)

    def value(self, canonical: str, dialect: Dialect) -> exp.Expression:
        """A column as `typed_column` reads it: with a decimal comma, text that is such a number has a point (IDs
        and the timestamp stay as written), as inputs/tables.py decimal_point."""
        read = self.column(canonical)
        if not self.decimal_comma or self.raw_kinds.get(canonical) != "text" or canonical in TEXT_AS_WRITTEN:
            return read
        stripped = trimmed(read)
        point = exp.Replace(this=exp.Replace(this=stripped, expression=exp.Literal.string("."),
                                             replacement=exp.Literal.string("")),
                            expression=exp.Literal.string(","), replacement=exp.Literal.string("."))
        return exp.Case(ifs=[exp.If(this=dialect.search(stripped, DECIMAL_COMMA_TEXT, False), true=point)],
                        default=read)


@dataclass(frozen=True)
class Tables:
    events: Source
    profiles: Source | None
    items: Source | None
    timestamp_format: str = "iso"
    predictions: Source | None = None  # visitor_id and the columns the models compute
    ctes: tuple[tuple[str, exp.Expression], ...] = ()  # what the tables read (sources joined by person)
    setup: tuple[exp.Expression, ...] = ()  # statements to run before it (the views a printed Spark one reads)


def segment_column(index: int) -> str:
    return f"segment_{index}"


def _answer(answer: ir.Node, segment: Segment, lowering: Lowering, ctx: Context) -> exp.Expression:
    """A segment's answer; what cannot be compiled is refused at the top-level rule that asks for it."""
    try:
        return translate(answer, ctx)
    except CompileError as refused:
        if refused.location is not None:
            raise
        for rule in segment.top_rules:
            try:
                translate(lower(rule, lowering), Context(Needs(), ctx.dialect, predictions=ctx.predictions))
            except CompileError as exc:
                raise CompileError(f"{rule_name(rule)}: {exc}", getattr(rule, "loc", None)) from None
        raise


def rule_name(rule) -> str:
    """A rule as the segment file names it: its field, or its kind."""
    field = getattr(rule, "field", None)
    if field is not None:
        return field.name
    return {"EventRule": "event", "SegmentRef": "segment", "AllOf": "all", "AnyOf": "any"}.get(
        type(rule).__name__, type(rule).__name__.lower())


def build(segments: list[Segment], lowered: ir.LoweredPlan, lowering: Lowering, tables: Tables, columns: Columns,
          dialect: Dialect, conversion_events: tuple[str, ...]) -> exp.Select:
    """The statement of a lowered plan (`lowering` lowered it, from `segments`: their rules' positions name
    what the SQL engines refuse)."""
    ctx = Context(Needs(), dialect, predictions=tables.predictions is not None)
    answers = []
    for i, (segment, plan) in enumerate(zip(segments, lowered.segments)):
        answers.append(_answer(plan.answer, segment, lowering, ctx).as_(segment_column(i)))
        answers += [translate(rule, ctx).as_(f"{segment_column(i)}_rule_{j}") for j, rule in enumerate(plan.rules)]
    as_of = lowering.as_of
    needs = ctx.needs
    ctes = [("ev", _events(tables, columns, needs, dialect)),
            ("ev_ok", _with_derived(exp.select("*").from_("ev").where(_before(as_of)), needs.derived.get("events")))]
    if tables.profiles is not None:
        ctes.append(("prof", _profiles(tables.profiles, columns, needs, dialect)))
    universe = exp.select("visitor_id").distinct().from_("ev_ok")
    if tables.profiles is not None:
        universe = exp.union(universe, exp.select("visitor_id").from_("prof"), distinct=True)
    ctes.append(("universe", universe))
    joins = []
    if needs.events:
        ctes.append(("per_event", exp.select("visitor_id", *(e.as_(n) for n, e in needs.events.values()))
                     .from_("ev_ok").group_by("visitor_id")))
        joins.append("per_event")
    if needs.conversions:
        if needs.items:
            if tables.items is None:
                raise CompileError("a rule uses `items`, but no items table is configured (data.items or --items)")
            ctes.append(("item_flags", _item_flags(tables.items, columns, needs, dialect)))
        ctes.append(("conv", _conversions(conversion_events, [n for n, _ in needs.items.values()])))
        ctes.append(("per_conversion", exp.select("visitor_id", *(e.as_(n) for n, e in needs.conversions.values()))
                     .from_("conv").group_by("visitor_id")))
        joins.append("per_conversion")
    for name, spec in needs.sequences.values():
        ctes += _sequence_ctes(name, spec)
        joins.append(f"per_{name}")
    if needs.profile and tables.profiles is not None:
        ctes.append(("per_profile", exp.select("visitor_id", *(e.as_(n) for n, e in needs.profile.values()))
                     .from_("prof")))
        joins.append("per_profile")
    if needs.predicted:
        ctes.append(("per_prediction", _predictions(tables.predictions, needs.predicted, dialect)))
        joins.append("per_prediction")
    visitors = exp.select("universe.visitor_id", *_feature_columns(needs, tables, joins),
                          *(dialect.md5_bucket(exp.DPipe(this=exp.Literal.string(f"{seed}:"),
                                                         expression=exp.column("visitor_id", "universe"))).as_(name)
                            for seed, name in needs.samples.items())).from_("universe")
    for name in joins:
        visitors = visitors.join(name, on=exp.EQ(this=exp.column("visitor_id", "universe"),
                                                 expression=exp.column("visitor_id", name)), join_type="left")
    ctes.append(("visitors", visitors.where(exp.and_(
        exp.Not(this=exp.Is(this=exp.column("visitor_id", "universe"), expression=exp.Null())),
        _known(exp.column("visitor_id", "universe"), dialect)))))
    query = exp.select("visitor_id", *answers).from_("visitors")
    for name, body in [*tables.ctes, *ctes]:
        query = query.with_(name, as_=body)
    return query.order_by("visitor_id")


EVENT_ROWS, CHECKED_ROWS, WITHOUT_VISITOR, UNREADABLE = "event_rows", "checked_rows", "without_visitor", \
    "unreadable_timestamps"


def conversion_count(index: int) -> str:
    return f"conversion_{index}"


def not_numbers(table: str, column: str) -> str:
    return f"not_numbers_{table}_{column}"


def row_checks(tables: Tables, columns: Columns, as_of: AsOf, dialect: Dialect, rows: str | None,
               conversion_types: tuple[str, ...], numbers: dict[str, set[str]]) -> exp.Select:
    """One row of counts that check the input rows as the polars engine checks its own (inputs/health.py
    judges them alike): of the event rows up to as_of (EVENT_ROWS), those `rows` names ("events": every one,
    "conversions": the conversion events, None: none) with their rows without a visitor and with a visitor
    but no readable timestamp; the events of each of `conversion_types` with a visitor and a readable
    timestamp; and for each number column stored as text among `numbers` (table -> canonical columns a run
    reads), the values in all its rows that are neither blank nor a number."""
    ts, visitor, event_type = exp.column("ts"), exp.column("visitor_id"), exp.column("event_type")
    missing_ts = exp.Is(this=ts, expression=exp.Null())
    counts = [exp.Count(this=exp.Star()).as_(EVENT_ROWS)]
    if rows is not None:
        checked = TRUE if rows == "events" else exp.In(
            this=event_type, expressions=[exp.Literal.string(t) for t in conversion_types])
        blank = exp.Not(this=two_valued(_known(visitor, dialect)))
        counts += [exp.Sum(this=flag(checked)).as_(CHECKED_ROWS),
                   exp.Sum(this=flag(exp.and_(checked, blank))).as_(WITHOUT_VISITOR),
                   exp.Sum(this=flag(exp.and_(checked, exp.Not(this=blank), missing_ts))).as_(UNREADABLE)]
    present = exp.and_(exp.Not(this=exp.Is(this=visitor, expression=exp.Null())),
                       exp.NEQ(this=visitor, expression=exp.Literal.string("")), exp.Not(this=missing_ts))
    counts += [exp.Sum(this=flag(exp.and_(present, exp.EQ(this=event_type, expression=exp.Literal.string(t)))))
               .as_(conversion_count(i)) for i, t in enumerate(conversion_types)]
    events = exp.select(*counts).from_("ev").where(exp.or_(missing_ts, up_to(exp.column("ts"), as_of)))
    query = exp.select("*").from_(events.subquery("events"))
    for name in ("events", "profiles", "items"):
        source = getattr(tables, name)
        for column in sorted(numbers.get(name, ())):
            if source is None or column not in NUMBER_COLUMNS[name] or source.raw_kinds.get(column) != "text":
                continue
            _, blank, number = _number_text(source.value(column, dialect), dialect)
            bad = exp.Sum(this=flag(exp.and_(exp.Not(this=exp.paren(blank)), exp.Not(this=number)))).as_(
                not_numbers(name, column))
            query = query.join(exp.select(bad).from_(source.relation).subquery(f"{name}_{column}"), join_type="cross")
    for name, body in tables.ctes:
        query = query.with_(name, as_=body)
    return query.with_("ev", as_=_events(tables, columns, Needs(), dialect))


def _known(visitor: exp.Expression, dialect: Dialect) -> exp.Expression:
    """An ID with some character that is not white space (a blank ID is no visitor)."""
    return dialect.search(visitor, char_class(WHITESPACE, negated=True), False)


def _before(as_of: AsOf) -> exp.Expression:
    return exp.and_(exp.Not(this=exp.Is(this=exp.column("ts"), expression=exp.Null())), up_to(exp.column("ts"), as_of))


def _text(value: exp.Expression) -> exp.Expression:
    return exp.cast(value, "VARCHAR")


def typed_column(source: Source, table: str, canonical: str, kind: str | None, dialect: Dialect) -> exp.Expression:
    """A column as the polars engine types it: numbers of the contract as doubles (blank text and NaN
    missing; other text that is no number stops the query, as it is a data error there), IDs and other text
    as text, other numbers as they are, dates and date-times as their ISO text."""
    raw = source.value(canonical, dialect)
    stored = source.raw_kinds.get(canonical)
    if canonical in NUMBER_COLUMNS.get(table, ()):
        if stored == "text":
            text, blank, number = _number_text(raw, dialect)
            stop = exp.cast(dialect.fail(f"a value of {table}.{canonical} is not a number"), "DOUBLE")
            value = exp.Case(ifs=[exp.If(this=blank, true=exp.Null()),
                                  exp.If(this=number, true=exp.cast(text, "DOUBLE"))], default=stop)
        elif stored in ("integer", "float"):
            value = exp.cast(raw, "DOUBLE")
        else:
            raise CompileError(f"column {canonical!r} of {table} is stored as {stored}, not as numbers")
        return exp.Case(ifs=[exp.If(this=exp.Not(this=dialect.is_nan(value)), true=value)])
    if canonical in ("visitor_id", "order_id") or stored == "text":
        return _text(raw)
    if kind in ("integer", "float"):
        return raw
    if stored in ("date", "instant"):
        return iso_text(raw, stored, dialect)
    raise CompileError(f"column {canonical!r} of {table} is stored as {stored}, which the SQL engines do not "
                       "compare as the polars engine does; use the polars engine")


def _number_text(raw: exp.Expression, dialect: Dialect) -> tuple[exp.Expression, exp.Expression, exp.Expression]:
    """A number column stored as text: the text without white space, whether it is blank (missing), whether
    it is a number as polars reads one (anything else is a data error)."""
    text = trimmed(raw)
    blank = exp.or_(exp.Is(this=text, expression=exp.Null()), exp.EQ(this=text, expression=exp.Literal.string("")))
    return text, blank, dialect.search(text, NUMBER_TEXT, False)


def read_timestamp(source: Source, timestamp_format: str, dialect: Dialect) -> tuple[exp.Expression, exp.Expression]:
    """The events' rows to read (with the fields of ISO text, or of text in the pattern timestamp_format names,
    taken apart), and the timestamp as microseconds since the epoch (NULL where unreadable)."""
    raw, stored, rows = source.column("timestamp"), source.raw_kinds.get("timestamp"), source.relation
    if stored == "micros":  # a preset's view reads its timestamps itself (backends/sql/views.py)
        return rows, raw
    if stored in ("instant", "date"):  # whatever the format, as polars reads them
        return rows, dialect.micros(exp.cast(raw, "TIMESTAMPTZ"))  # any unit and zone (DuckDB's epoch_us wants µs)
    if timestamp_format in EPOCH_FACTORS:
        factor = EPOCH_FACTORS[timestamp_format]
        if stored == "integer":
            return rows, exp.Mul(this=raw, expression=num(factor))
        # whole numbers as polars reads them (a sign, digits, nothing around them), short enough that the
        # microseconds fit in a BIGINT (18 digits); a cast only where the text is one, so no engine stops
        digits = 18 - (len(str(factor)) - 1)
        whole = exp.Case(ifs=[exp.If(this=dialect.search(_text(raw), f"^[+-]?[0-9]{{1,{digits}}}$", False),
                                     true=exp.cast(_text(raw), "BIGINT"))])
        return rows, exp.Mul(this=whole, expression=num(factor))
    if stored == "text" and timestamp_format == "iso":  # the ISO text every engine reads alike (timeframe.ISO_TEXT)
        return with_iso_fields(rows, _text(raw), trimmed(_text(raw)), dialect, "events"), iso_micros(dialect)
    if stored == "text":  # the text the pattern's grammar reads (language/strftime.py), as polars reads it
        grammar = _pattern(timestamp_format, dialect)
        rows = with_pattern_fields(rows, trimmed(_text(raw)), grammar, dialect, "events")
        return rows, pattern_micros(grammar, dialect)
    raise CompileError(f"the events' timestamp is stored as {stored}; the SQL engines read ISO text or timestamps")


def _pattern(timestamp_format: str, dialect: Dialect) -> strftime.Pattern:
    try:
        return strftime.pattern(timestamp_format)
    except strftime.OutsideGrammar as exc:
        raise CompileError(f"timestamp_format {timestamp_format!r}: the {dialect.name} SQL does not read {exc.what} as "
                           f"polars does (it reads {strftime.READ}); use the polars engine") from None


def _events(tables: Tables, columns: Columns, needs: Needs, dialect: Dialect) -> exp.Select:
    source = tables.events
    read = {"event_type", "order_id"} | needs.event_columns  # order_value where a rule reads it, as polars does
    rows, ts = read_timestamp(source, tables.timestamp_format, dialect)
    selected = [_text(source.column("visitor_id")).as_("visitor_id"), ts.as_("ts")]
    for canonical in dict.fromkeys(["event_type", "order_id", "order_value", *sorted(read)]):
        kind = columns.kind("events", canonical) if canonical in read else None
        value = typed_column(source, "events", canonical, kind, dialect) if kind is not None else (
            exp.cast(exp.Null(), "DOUBLE" if canonical in NUMBER_COLUMNS["events"] else "VARCHAR"))
        selected.append(value.as_(canonical))
    return exp.select(*selected).from_(rows)


def _profiles(source: Source, columns: Columns, needs: Needs, dialect: Dialect) -> exp.Select:
    wanted = sorted(needs.profile_columns)
    selected = [_text(source.column("visitor_id")).as_("visitor_id")]
    for canonical in wanted:
        kind = columns.kind("profiles", canonical)
        value = typed_column(source, "profiles", canonical, kind, dialect) if kind is not None else exp.cast(exp.Null(), "VARCHAR")
        selected.append(value.as_(canonical))
    order = source.row_order if source.row_order is not None else exp.Literal.number(0)
    ranked = exp.select(*selected, exp.Window(this=exp.RowNumber(), partition_by=[source.column("visitor_id")],
                                              order=exp.Order(expressions=[exp.Ordered(this=order)])).as_("row_rank"))
    ranked = ranked.from_(source.relation).where(exp.Not(this=exp.Is(this=source.column("visitor_id"),
                                                                        expression=exp.Null())))
    first = exp.select("visitor_id", *wanted).from_(ranked.subquery("ranked")).where(
        exp.EQ(this=exp.column("row_rank"), expression=num(1)))
    return _with_derived(first, needs.derived.get("profiles"))


def _with_derived(rows: exp.Select, layers: list[dict[str, exp.Expression]] | None) -> exp.Select:
    """`rows` with the columns derived from them (compiler._derived): the first layer in their SELECT, each
    later one over the layer before."""
    for i, layer in enumerate(layers or ()):
        if i:
            rows = exp.select("*").from_(rows.subquery(f"layer_{i}"))
        rows = rows.select(*(value.as_(name) for name, value in layer.items()))
    return rows


def _predictions(source: Source, columns: set[str], dialect: Dialect) -> exp.Select:
    """The predicted columns per visitor, typed as the polars engine types its predictions (text IDs, doubles)."""
    return exp.select(_text(source.column("visitor_id")).as_("visitor_id"), *(
        typed_column(source, "profiles", c, "float", dialect).as_(predicted_column(c)) for c in sorted(columns))).from_(
        source.relation)


def _item_flags(source: Source, columns: Columns, needs: Needs, dialect: Dialect) -> exp.Select:
    selected = [_text(source.column("order_id")).as_("order_id")]
    for canonical in sorted(needs.item_columns):
        kind = columns.kind("items", canonical)
        value = typed_column(source, "items", canonical, kind, dialect) if kind is not None else exp.cast(exp.Null(), "VARCHAR")
        selected.append(value.as_(canonical))
    lines = exp.select(*selected).from_(source.relation).where(
        exp.Not(this=exp.Is(this=source.column("order_id"), expression=exp.Null())))
    return exp.select("order_id", *(e.as_(n) for n, e in needs.items.values())).from_(
        lines.subquery("lines")).group_by("order_id")


def _conversions(types: tuple[str, ...], item_flags: list[str]) -> exp.Select:
    """One row per conversion: an order tracked twice counts once, as its first event (ties: the lowest
    value, a missing one last), and each event without an order_id counts."""
    is_conversion = exp.In(this=exp.column("event_type"), expressions=[exp.Literal.string(t) for t in types])
    keep = ["visitor_id", "order_id", "ts", "order_value"]
    order = exp.Order(expressions=[exp.Ordered(this=exp.column("ts")),
                                   exp.Ordered(this=exp.column("order_value"), nulls_first=False)])
    first = exp.select(*keep, exp.Window(this=exp.RowNumber(), partition_by=[exp.column("visitor_id"),
                                                                            exp.column("order_id")],
                                         order=order).as_("order_rank")).from_("ev_ok").where(
        exp.and_(is_conversion, exp.Not(this=exp.Is(this=exp.column("order_id"), expression=exp.Null()))))
    orders = exp.select(*keep).from_(first.subquery("tracked")).where(
        exp.EQ(this=exp.column("order_rank"), expression=num(1)))
    loose = exp.select(*keep).from_("ev_ok").where(
        exp.and_(is_conversion, exp.Is(this=exp.column("order_id"), expression=exp.Null())))
    rows = exp.union(orders, loose, distinct=False)
    if not item_flags:
        return exp.select(*keep).from_(rows.subquery("conversions"))
    return exp.select(*(exp.column(c, "conversions") for c in keep),
                      *(exp.column(n, "item_flags") for n in item_flags)).from_(rows.subquery("conversions")).join(
        "item_flags", on=exp.EQ(this=exp.column("order_id", "conversions"),
                                expression=exp.column("order_id", "item_flags")), join_type="left")


def _sequence_ctes(name: str, spec) -> list[tuple[str, exp.Expression]]:
    """Chains of events without pairing them: for each event of step i, the latest reached event of step
    i−1 strictly before it (a window over both, by time) decides whether it is reached; for each reached
    last step, the first `then_not` event strictly after it. As backends/polars/sequences.py does with as-of joins."""
    flags = [two_valued(t).as_(f"step_{i}") for i, t in enumerate(spec.steps)]
    if spec.then_not is not None:
        flags.append(spec.then_not.as_("then_not"))
    events = f"{name}_events"
    ctes = [(events, exp.select("visitor_id", "ts", *flags).from_("ev_ok"))]
    reached = f"{name}_reached_0"
    ctes.append((reached, exp.select("visitor_id", "ts").from_(events).where(exp.column("step_0"))))
    for i, within in enumerate(spec.within[1:], start=1):
        step = exp.select("visitor_id", "ts").from_(events).where(exp.column(f"step_{i}"))
        nearest = _nearest(step, reached, exp.Max, "PRECEDING")
        near = exp.Not(this=exp.Is(this=exp.column("other"), expression=exp.Null()))
        if within is not None:
            near = exp.and_(near, exp.LTE(this=exp.Sub(this=exp.column("ts"), expression=exp.column("other")),
                                          expression=num(within)))
        reached = f"{name}_reached_{i}"
        ctes.append((reached, exp.select("visitor_id", "ts").from_(nearest.subquery("nearest")).where(
            exp.and_(exp.EQ(this=exp.column("mine"), expression=num(1)), near))))
    if spec.then_not is not None:
        following = _nearest(reached, exp.select("visitor_id", "ts").from_(events).where(exp.column("then_not")),
                             exp.Min, "FOLLOWING")
        gap = num(spec.gap)
        ended = exp.and_(
            exp.EQ(this=exp.column("mine"), expression=num(1)),
            exp.LTE(this=exp.Add(this=exp.column("ts"), expression=gap), expression=num(spec.last_instant)),
            exp.or_(exp.Is(this=exp.column("other"), expression=exp.Null()),
                    exp.GT(this=exp.Sub(this=exp.column("other"), expression=exp.column("ts")), expression=gap)))
        last = f"{name}_done"
        ctes.append((last, exp.select("visitor_id", "ts").from_(following.subquery("following")).where(ended)))
        reached = last
    ctes.append((f"per_{name}", exp.select("visitor_id", exp.Literal.number(1).as_(name)).from_(reached)
                 .group_by("visitor_id")))
    return ctes


def _nearest(kept, looked_up, aggregate, side: str) -> exp.Select:
    """Each row of `kept` (mine = 1) with `other`: the latest time among `looked_up` strictly before it
    (side PRECEDING, aggregate MAX) or the earliest strictly after it (FOLLOWING, MIN), same visitor."""
    def relation(rows, alias):
        return rows if isinstance(rows, str) else rows.subquery(alias)

    rows = exp.union(exp.select("visitor_id", "ts", exp.Literal.number(1).as_("mine")).from_(relation(kept, "kept")),
                     exp.select("visitor_id", "ts", exp.Literal.number(0).as_("mine")).from_(
                         relation(looked_up, "looked_up")), distinct=False)
    value = exp.Case(ifs=[exp.If(this=exp.EQ(this=exp.column("mine"), expression=num(0)), true=exp.column("ts"))])
    frame = (exp.WindowSpec(kind="RANGE", start="UNBOUNDED", start_side="PRECEDING", end=num(1), end_side="PRECEDING")
             if side == "PRECEDING" else
             exp.WindowSpec(kind="RANGE", start=num(1), start_side="FOLLOWING", end="UNBOUNDED", end_side="FOLLOWING"))
    window = exp.Window(this=aggregate(this=value), partition_by=[exp.column("visitor_id")],
                        order=exp.Order(expressions=[exp.Ordered(this=exp.column("ts"), nulls_first=True)]), spec=frame)
    return exp.select("visitor_id", "ts", "mine", window.as_("other")).from_(rows.subquery("both"))


def _feature_columns(needs: Needs, tables: Tables, joins: list[str]) -> list[exp.Expression]:
    columns = [exp.column(n, "per_event").as_(n) for n, _ in needs.events.values()]
    columns += [exp.column(n, f"per_{n}").as_(n) for n, _ in needs.sequences.values()]
    columns += [exp.column(n, "per_conversion").as_(n) for n, _ in needs.conversions.values()]
    columns += [exp.column(n, "per_profile").as_(n) for n, _ in needs.profile.values()]
    columns += [exp.column(predicted_column(c), "per_prediction").as_(predicted_column(c)) for c in sorted(needs.predicted)]
    return columns
