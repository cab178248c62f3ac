"""Several sources joined by person (inputs/stitching.py) as SQL, so `segtool sql` reads them as the polars
engine does: each source read as a table of one source is read (its preset's view, its CSV options), its
columns typed as the joined table holds them, the sources' rows one after the other; a row's visitor its own
person key, else the key its device last carried up to as_of, else the device; profiles one row per
visitor, each column the first value present in the order the sources are listed. The joined tables are
common table expressions (JOINED) that the statement reads as it reads a table.
"""

from __future__ import annotations

from typing import Callable

from sqlglot import exp

from ...inputs.stitching import KeyPath, Part, Stitched
from ...inputs.tables import VID
from ...language.catalog import NUMBER_COLUMNS
from ...language.timeframe import AsOf
from .compiler import CompileError, num, trimmed, up_to
from .dialects import Dialect
from .kinds import stored_kind, typed_kind
from .statement import Source, read_timestamp, typed_column
from .views import first_entry, first_present, lowered

JOINED = {"events": "joined_events", "profiles": "joined_profiles", "items": "joined_items"}
ROWS, LINKS = "joined_{}_rows", "joined_links"  # the sources' rows one after the other; each device's person
DEVICE, PERSON, SOURCE, POSITION = "segtool_device", "segtool_person", "segtool_source", "segtool_position"
LINKED, LINKED_AT = "segtool_linked", "segtool_linked_at"
SQL_TYPES = {"text": "VARCHAR", "float": "DOUBLE", "integer": "BIGINT", "micros": "BIGINT"}

PartSource = Callable[[Part], Source]  # how one source's table is read (engines.sql_tables)
PartLinks = Callable[[Part], Source | None]  # the rows of a source that only link (engines.sql_tables)


def joined_tables(tables: list[Stitched], part_source: PartSource, part_links: PartLinks, timestamp_format: str,
                  dialect: Dialect) -> tuple[dict[str, Source], list[tuple[str, exp.Expression]]]:
    """Each joined table as a Source that reads its common table expression, and those expressions (in the
    order they are defined). `part_links`: the rows of an events source that only link a device to a person
    (stitching.Identity.links), visitor_id as text and the timestamp in microseconds."""
    sources, ctes = {}, []
    identity = next((t.identity for t in tables if t.identity is not None), None)
    if identity is not None and not all(any(t is joined for t in tables)
                                        for joined in (identity.events, identity.profiles) if joined is not None):
        raise CompileError("engine.tables names a table of the joined events or profiles, and the other is joined by "
                           "the same links of devices to persons, which need the sources of both: name both joined "
                           "tables (engine.tables.events and .profiles), or the sources one by one (events_0, "
                           "profiles_0, ...)")
    for table in tables:
        raw = _joined_kinds(table)
        rows = [_part_rows(table, i, part, part_source(part), raw, timestamp_format, dialect)
                for i, part in enumerate(table.sources)]
        union = rows[0]
        for more in rows[1:]:
            union = exp.union(union, more, distinct=False)
        ctes.append((ROWS.format(table.name), union))
        sources[table.name] = Source(exp.to_table(JOINED[table.name]), row_order=exp.column(POSITION) if
                                     table.name == "profiles" else None, raw_kinds=raw)
    if identity is not None:
        linking = [(part, found) for part in identity.events.sources if part.keys
                   and (found := part_links(part)) is not None]
        ctes.append((LINKS, _links(identity.as_of, "profiles" in sources, linking, dialect)))
    for table in tables:
        kinds = sources[table.name].raw_kinds
        ctes.append((JOINED[table.name], _joined(table, [c for c, kind in kinds.items() if kind != "other"])))
    return sources, ctes


def _joined_kinds(table: Stitched) -> dict[str, str]:
    """How the joined table holds each column: the events' timestamp in microseconds since the epoch, the
    contract's numbers as doubles, other numbers as the sources hold them, everything else as text (dates and
    date-times as their ISO text, as a table of one source is read); nested columns not at all (`other`: a
    rule on one is refused, as on a table of one source)."""
    raw = {}
    for column, dtype in table.schema().items():
        kind = stored_kind(dtype)
        if column == "timestamp" and table.name == "events":
            raw[column] = "micros"
        elif column in NUMBER_COLUMNS[table.name]:
            raw[column] = "float"
        elif column == VID or kind in ("text", "date", "instant"):
            raw[column] = "text"
        else:
            raw[column] = kind
    return raw


def _part_rows(table: Stitched, index: int, part: Part, source: Source, raw: dict[str, str],
               timestamp_format: str, dialect: Dialect) -> exp.Select:
    """One source's rows with the joined table's columns, its device and person key, and its place in the
    list and its row's in the source (profiles: the order they are written, a preset's view's by device)."""
    rows, values = source.relation, {}
    own = part.table.columns()
    for column, kind in raw.items():
        if (column == VID and table.identity is not None) or kind == "other":
            continue
        if column not in own or source.raw_kinds.get(column) in ("other", None):
            value = exp.Null()
        elif kind == "micros":
            rows, value = read_timestamp(source, timestamp_format, dialect)
        else:
            value = typed_column(source, table.name, column, typed_kind(part.table, column), dialect)
        values[column] = exp.cast(value, SQL_TYPES[kind])
    device = _device(part, source)
    person = _person(part, source, dialect)
    if table.name != "profiles":
        position = num(0)
    elif part.table.view is not None:  # by device, then as the view's rows are written (stitching.Stitched.union)
        written = [exp.Ordered(this=source.row_order.copy())] if source.row_order is not None else []
        position = exp.Window(this=exp.RowNumber(), over="OVER", order=exp.Order(expressions=[
            exp.Ordered(this=device.copy(), nulls_first=False), *written]))
    else:
        position = source.row_order if source.row_order is not None else num(0)
    helpers = [device.as_(DEVICE), person.as_(PERSON), num(index).as_(SOURCE), position.as_(POSITION)]
    return exp.select(*(v.as_(c, quoted=True) for c, v in values.items()), *helpers).from_(rows)


def _device(part: Part, source: Source) -> exp.Expression:
    """The source's device of a row: its visitor_id as text (NULL where the source has none)."""
    return exp.cast(source.column(VID) if part.table.has(VID) else exp.Null(), "VARCHAR")


def _person(part: Part, source: Source, dialect: Dialect) -> exp.Expression:
    """The source's person key of a row: the first of its keys present."""
    keys = [person_key(key, source, dialect) for key in part.keys]
    if not keys:
        return exp.cast(exp.Null(), "VARCHAR")
    return exp.Coalesce(this=keys[0], expressions=keys[1:]) if len(keys) > 1 else keys[0]


def person_key(key: KeyPath, source: Source, dialect: Dialect) -> exp.Expression:
    """The key as stitching.person_key writes it: the value at the path, white space trimmed, lower-cased,
    missing where blank."""
    value = source.stored(key.column)
    for step in key.steps:
        if not step.entry:
            value = dialect.field(value, step.name)
            continue
        fields = step.value_fields

        def of(entry: exp.Expression, fields=fields) -> exp.Expression:
            found = dialect.field(entry, "value")
            typed = [exp.cast(dialect.field(found.copy(), f), "VARCHAR") for f in fields]
            return (exp.Coalesce(this=typed[0], expressions=typed[1:]) if len(typed) > 1 else typed[0]) if typed \
                else found

        value = first_entry(value, step.name, of, dialect)
    text = trimmed(exp.cast(value, "VARCHAR"))
    return lowered(exp.Nullif(this=text, expression=exp.Literal.string("")))


def _links(as_of: AsOf | None, profiles: bool, linking: list[tuple[Part, Source]], dialect: Dialect) -> exp.Select:
    """Each device seen with a person key -> the key it last carried (stitching.Identity.links): of its event
    rows up to as_of with a key (any source) and the rows that only link (`linking`), the latest, of those at
    one instant the key that sorts last; a device no such row links, the key a profile row gives it (of
    several, the one that sorts last)."""
    device, person, ts = exp.column(DEVICE), exp.column(PERSON), exp.column(LINKED_AT)
    known = exp.and_(exp.Not(this=exp.Is(this=device, expression=exp.Null())),
                     exp.Not(this=exp.Is(this=person.copy(), expression=exp.Null())))
    seen = exp.and_(known, exp.Not(this=exp.Is(this=ts, expression=exp.Null())))
    if as_of is not None:
        seen = exp.and_(seen, up_to(ts.copy(), as_of))
    timed = exp.select(device.copy(), person.copy(), exp.column("timestamp", quoted=True).as_(LINKED_AT)).from_(
        ROWS.format("events"))
    for part, source in linking:
        timed = exp.union(timed, exp.select(
            _device(part, source).as_(DEVICE), _person(part, source, dialect).as_(PERSON),
            exp.cast(source.column("timestamp"), "BIGINT").as_(LINKED_AT)).from_(source.relation), distinct=False)
    found = exp.select(device.copy(), person.copy(), ts.copy()).from_(timed.subquery("timed")).where(seen)
    if profiles:
        found = exp.union(found, exp.select(device.copy(), person.copy(), exp.cast(exp.Null(), "BIGINT").as_(LINKED_AT))
                          .from_(ROWS.format("profiles")).where(known.copy()), distinct=False)
    rank = exp.Window(this=exp.RowNumber(), partition_by=[device.copy()], order=exp.Order(expressions=[
        exp.Ordered(this=exp.column(LINKED_AT), desc=True, nulls_first=False),
        exp.Ordered(this=person.copy(), desc=True)]))
    ranked = exp.select(device.copy(), person.copy().as_(LINKED), rank.as_("segtool_latest")).from_(
        found.subquery("linked"))
    return exp.select(DEVICE, LINKED).from_(ranked.subquery("ranked")).where(
        exp.EQ(this=exp.column("segtool_latest"), expression=num(1)))


def _joined(table: Stitched, columns: list[str]) -> exp.Select:
    """The joined table: the sources' rows with their visitor (events, items), or one row per visitor with
    each column the first value present in the order of the sources and their rows (profiles)."""
    wanted = [c for c in columns if c != VID]
    rows = ROWS.format(table.name)
    if table.identity is None:
        return exp.select(*(exp.column(c, quoted=True) for c in columns)).from_(rows)
    visitor = exp.Coalesce(this=exp.column(PERSON, "r"), expressions=[exp.column(LINKED, "l"), exp.column(DEVICE, "r")])
    keyed = exp.select(*(exp.column(c, "r", quoted=True) for c in wanted), visitor.as_(VID, quoted=True),
                       exp.column(SOURCE, "r"), exp.column(POSITION, "r")).from_(exp.to_table(rows).as_("r")).join(
        exp.to_table(LINKS).as_("l"), on=exp.EQ(this=exp.column(DEVICE, "r"), expression=exp.column(DEVICE, "l")),
        join_type="left")
    if table.name != "profiles":
        return exp.select(*(exp.column(c, quoted=True) for c in columns)).from_(keyed.subquery("keyed"))
    return first_present(keyed.subquery("keyed"), exp.column(VID, quoted=True), wanted,
                         lambda c: [exp.Ordered(this=exp.column(SOURCE)), exp.Ordered(this=exp.column(POSITION))],
                         (num(0).as_(POSITION),))
