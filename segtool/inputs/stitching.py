"""Several sources of one table, joined by the person each row is about (docs/inputs.md, "Several sources").

A config may list several sources for the events and the profiles (browsing from GA4 or Segment, orders from
Shopify, customers from a CRM) and name in each the column that holds the person a row is about, its
person key (a preset names its own: GA4's `user_id`, Segment's `userId`, Shopify's `Email`). Each table is
then one `Stitched` table with one visitor_id:

- a person key is compared as `person_key` writes it: white space trimmed, lower-cased;
- a row's visitor is its own person key; else the key its device (the source's visitor_id: GA4's
  user_pseudo_id, Segment's anonymousId) last carried up to as_of, in any source, so the device's events
  before and after a login are that person's; else the device itself;
- profiles are one row per visitor: each column the first value present, in the order the sources are listed.

All of it is lazy polars over the sources' own tables (tables.Table: their presets, mappings and CSV
options), seen through the same Table interface, so checks, health counts, rules, `--columns` and the SQL
engines (which read it as staged Parquet) see the joined tables as they see one file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import polars as pl

from ..config import Config, Source
from ..errors import DataError, Problem
from ..language.catalog import NUMBER_COLUMNS
from ..language.timeframe import AsOf
from ..results import IdentityCounts, SourceIds
from . import files as filesystem
from .checks import closest
from .drift import UTC_US, aligned, common_schema
from .files import Reading
from .presets.common import lowered, text
from .tables import VID, Inputs, Table, before_as_of, open_sources, parse_timestamps

# A preset's person key (tried in order; the first its table has): what its vendor writes for a known user
PERSON_COLUMNS = {"ga4": ("user_id",), "segment": ("userId",), "shopify_orders": ("Email",),
                  "shopify_customers": ("Email",)}
DEVICE, PERSON, LINKED = "segtool:device", "segtool:person", "segtool:linked"
SOURCE, POSITION, LINKED_AT = "segtool:source", "segtool:position", "segtool:linked_at"
RULE = ("the row's own person key (white space trimmed, lower-cased), else the key its device last "
        "carried up to as_of, else the device")


def device(table: Table) -> pl.Expr:
    """A source's device of a row: its visitor_id, typed as an ID (missing where the source has none)."""
    return table.typed(VID, pl.col(table.export_name(VID))) if table.has(VID) else pl.lit(None, pl.String)


def person_key(values: pl.Expr) -> pl.Expr:
    """A person key as every source's is compared: surrounding white space trimmed and lower-cased (Unicode's
    rules, the same on every engine, as the Shopify preset writes its customer: `ÉMILE@x.fr` is `émile@x.fr`),
    nothing else (a gmail address keeps its dots and +tag); missing where blank."""
    return lowered(text(values))


@dataclass(frozen=True)
class Step:
    """One step into a nested column: a struct's field `name`, or (`entry`) the value of the entry of a list of
    key/value pairs whose key is `name`; GA4 writes that value as a struct of typed values (`value_fields`: the
    first of them present, as text), other exports as a plain value (`value_fields` empty)."""

    name: str
    entry: bool = False
    value_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class KeyPath:
    """Where a source's person key is: a column of its table's rows (`column`), and the steps into it."""

    column: str
    steps: tuple[Step, ...] = ()
    dtype: pl.DataType | None = None  # the type of the value at the path

    def polars(self) -> pl.Expr:
        expr = pl.col(self.column)
        for step in self.steps:
            if not step.entry:
                expr = expr.struct.field(step.name)
                continue
            value = pl.element().struct.field("value")
            if step.value_fields:
                value = pl.coalesce(*(value.struct.field(f).cast(pl.String) for f in step.value_fields))
            expr = expr.list.eval(value.filter(pl.element().struct.field("key") == step.name)).list.first()
        return expr.cast(pl.String)


@dataclass
class Part:
    """One source of a joined table: its own table, where the config names it, and where its person key is
    read from (`keys`: the first present of them, as `person_key` writes it)."""

    table: Table
    where: str
    keys: tuple[KeyPath, ...] = ()
    names: tuple[str, ...] = ()  # the same as the config or the preset names them (`traits.email`)
    origin: str = ""  # the config's source it comes from (the events' where a preset derives it)

    @property
    def key(self) -> pl.Expr | None:
        return pl.coalesce(*(person_key(k.polars()) for k in self.keys)) if self.keys else None

    @property
    def person(self) -> tuple[str, ...]:
        """The export's columns the key is read from (none: the source has none)."""
        return tuple(k.column for k in self.keys)


@dataclass
class Identity:
    """The links of devices to persons that the joined events and profiles share, as of `as_of` (set by
    Inputs.bind_as_of; None: every row)."""

    events: "Stitched"
    profiles: "Stitched | None" = None
    as_of: AsOf | None = None

    def links(self) -> pl.LazyFrame:
        """Each device seen with a person key -> the key it last carried: of its event rows up to as_of with a
        key (any source) and the rows that only link (Segment's identify calls), the latest, and of rows at that
        instant the key that sorts last; a device that none links, the key a profile row gives it (of several,
        the one that sorts last)."""
        ts = pl.col(LINKED_AT)
        timed = [self.events.union(["timestamp"]).select(DEVICE, PERSON, pl.col("timestamp").alias(LINKED_AT))]
        for part in self.events.sources:
            linking = part.table.link_rows()
            if linking is not None and part.key is not None:
                timed.append(linking.select(device(part.table).alias(DEVICE), part.key.alias(PERSON),
                                            pl.col("timestamp").cast(UTC_US).alias(LINKED_AT)))
        found = [pl.concat(timed).filter(
            pl.col(DEVICE).is_not_null() & pl.col(PERSON).is_not_null() & ts.is_not_null()
            & (before_as_of(ts, self.as_of) if self.as_of is not None else True))]
        if self.profiles is not None:
            found.append(self.profiles.union([]).filter(pl.col(DEVICE).is_not_null() & pl.col(PERSON).is_not_null())
                         .select(DEVICE, PERSON, pl.lit(None, UTC_US).alias(LINKED_AT)))
        return pl.concat(found).group_by(DEVICE).agg(
            pl.col(PERSON).sort_by([LINKED_AT, PERSON], nulls_last=False).last().alias(LINKED))

    def keyed(self, rows: pl.LazyFrame) -> pl.LazyFrame:
        """`rows` (with DEVICE and PERSON) with their visitor: the row's own key, else its device's, else the
        device; LINKED holds the device's key."""
        return rows.join(self.links(), on=DEVICE, how="left").with_columns(
            pl.coalesce(PERSON, LINKED, DEVICE).alias(VID))


@dataclass
class Stitched(Table):
    """One table from several sources (`sources`), with one visitor_id where `identity` joins them by person
    (items: the sources' rows together)."""

    sources: list[Part] = field(default_factory=list)
    identity: Identity | None = None
    timestamp_format: str = "iso"
    _kept: set[str] | None = None  # the canonical columns held in memory (hold)
    _common: dict | None = None

    @property
    def label(self) -> str:
        return f"{self.name} of {len(self.sources)} sources ({', '.join(p.table.label for p in self.sources)})"

    @property
    def shaped(self) -> bool:
        return True

    def parts(self) -> list[Table]:
        return [part.table for part in self.sources]

    def scan(self) -> pl.LazyFrame:
        columns = [c for c in self.schema() if self._kept is None or c in self._kept or c == VID]
        if self.identity is None:
            return self.union().select(columns)
        keyed = self.identity.keyed(self.union())
        if self.name == "events":
            return keyed.select(columns)
        own = [c for c in columns if c != VID]
        return keyed.filter(pl.col(VID).is_not_null()).group_by(VID).agg(
            pl.col(c).sort_by([SOURCE, POSITION]).drop_nulls().first() for c in own).select(columns)

    def raw_scan(self) -> pl.LazyFrame:
        return self.scan()

    def union(self, columns: list[str] | None = None) -> pl.LazyFrame:
        """The sources' rows, one after the other, with the canonical `columns` (default: all) in their
        common types, and the helpers: DEVICE and PERSON (the key as `person_key` writes it), SOURCE (the
        source's place in the list), POSITION (the row's place in the source)."""
        common = self._common_types()
        wanted = [c for c in common if (c != VID or self.identity is None) and (columns is None or c in columns)
                  and (self._kept is None or c in self._kept)]
        frames = []
        for index, part in enumerate(self.sources):
            table = part.table
            own = {c: t for c, t in self._part_types(table).items()
                   if c in wanted and (common[c][0] or t == common[c][1])}
            rows = table.scan().select(*(self._typed(table, c).alias(c) for c in own), *self._helpers(part))
            if self.name == "profiles":
                rows = (rows.sort(DEVICE, nulls_last=True, maintain_order=True) if table.view is not None
                        else rows).with_row_index(POSITION)
            else:
                rows = rows.with_columns(pl.lit(0, pl.UInt32).alias(POSITION))
            target = {c: common[c][1] for c in wanted}
            frames.append(rows.select(*aligned(own, target), pl.lit(index, pl.UInt32).alias(SOURCE),
                                      DEVICE, PERSON, POSITION))
        return pl.concat(frames, how="vertical")

    def _helpers(self, part: Part) -> list[pl.Expr]:
        key = part.key if part.key is not None else pl.lit(None, pl.String)
        return [device(part.table).alias(DEVICE), key.alias(PERSON)]

    def _typed(self, table: Table, canonical: str) -> pl.Expr:
        """A source's column as the joined table holds it: numbers and IDs typed, timestamps parsed (each
        source's own way), dates, date-times and nested columns as stored."""
        if canonical == "timestamp" and self.name == "events":
            return parse_timestamps(table, self.timestamp_format)
        raw = pl.col(table.export_name(canonical))
        if canonical not in NUMBER_COLUMNS[self.name] and (table.stores_instants(canonical)
                                                           or table.dtype(canonical).is_nested()):
            return raw
        return table.typed(canonical, raw)

    def _part_types(self, table: Table) -> dict[str, pl.DataType]:
        types = {}
        for canonical in table.columns():
            if canonical == VID and self.identity is not None:
                continue
            if canonical == "timestamp" and self.name == "events":
                types[canonical] = UTC_US
            elif canonical not in NUMBER_COLUMNS[self.name] and (table.stores_instants(canonical)
                                                                 or table.dtype(canonical).is_nested()):
                types[canonical] = table.dtype(canonical)
            else:
                types[canonical] = table.typed_dtype(canonical)
        return types

    def _common_types(self) -> dict[str, tuple[bool, pl.DataType]]:
        """Each column of any source -> (whether every source that has it can give it in the common type,
        that type). A column two sources store in types that cannot be one (a list and text) is the first
        source's, and missing in the rows of the others."""
        if self._common is None:
            seen: dict[str, list[tuple[str, pl.DataType]]] = {}
            for part in self.sources:
                for canonical, dtype in self._part_types(part.table).items():
                    seen.setdefault(canonical, []).append((part.table.label, dtype))
            common = {VID: (True, pl.String)} if self.identity is not None else {}
            for canonical, found in seen.items():
                try:
                    common[canonical] = (True, common_schema([f for f, _ in found], [{canonical: t} for _, t in found])
                                         [canonical])
                except DataError:
                    common[canonical] = (False, found[0][1])
            self._common = common
        return self._common

    def schema(self) -> dict:
        return {c: t for c, (_, t) in self._common_types().items()}

    def raw_schema(self) -> dict:
        return self.schema()

    def source(self, canonical: str) -> list[str] | None:
        return None  # each source says where its columns come from (checks.column_sources)

    def hold(self, canonical: set[str], collect) -> None:
        """Each source holds its columns for `canonical`, its visitor_id, timestamp and person; the join is
        made again from them at each instant."""
        self._kept = {*canonical, "timestamp"}
        for part in self.sources:
            part.table.hold({*canonical, VID, "timestamp", *part.person}, collect)

    def require(self, columns) -> None:
        for part in self.sources:
            part.table.require([c for c in columns if c != VID or part.key is None or self.identity is None])

    def estimated_rows(self) -> int | None:
        counts = [part.table.estimated_rows() for part in self.sources]
        return None if None in counts else sum(counts)

    def exact_rows(self) -> int | None:
        counts = [part.table.exact_rows() for part in self.sources]
        return None if None in counts or self.name == "profiles" else sum(counts)

    def unreadable_file(self) -> str | None:
        return next((f for part in self.sources if (f := part.table.unreadable_file()) is not None), None)

    def not_numbers(self, canonical: str, limit: int = 3) -> list[str]:
        return [v for part in self.sources for v in part.table.not_numbers(canonical, limit)][:limit]


def open_inputs(config: Config, paths: dict[str, str | None]) -> Inputs:
    """The run's tables (tables.open_sources): each table's one source as it is, or, where the config lists
    several sources for the events or the profiles or names a person in one, each table joined by person
    (the profiles listed, then those the events' presets derive). Items and profiles that the config does
    not name are the ones the events' presets derive."""
    config, opened = open_sources(config, paths)
    given = {name: [o for o in found if not o[2]] for name, found in opened.items()}
    joined = any(len(given[n]) > 1 for n in ("events", "profiles")) or any(
        source.person for n in ("events", "profiles") for _, source, _ in given[n])
    tables: dict[str, Table | None] = {}
    for name, found in opened.items():
        parts = found if joined and name == "profiles" else given[name] or found
        if len(parts) == 1 and not (joined and name != "items"):
            tables[name] = parts[0][0]
        elif parts:
            sources = [_part(table, source, derived, config) for table, source, derived in parts]
            tables[name] = Stitched(name, ", ".join(p.table.spec for p in sources),
                                    [f for p in sources for f in p.table.files], Reading("sources"), sources=sources,
                                    timestamp_format=config.timestamp_format)
        else:
            tables[name] = None
    identity = None
    if joined:
        identity = Identity(tables["events"], tables["profiles"])
        for name in ("events", "profiles"):
            if tables[name] is not None:
                tables[name].identity = identity
    return Inputs(tables["events"], tables["profiles"], tables["items"], config, identity)


def _part(table: Table, source: Source, derived: bool, config: Config) -> Part:
    """The source's person key: the first present of the columns the config names (each must exist: a data
    error at the config's line names what does not), else of its preset's; a table that a preset derives from
    an events source (its profiles) takes what it has of either."""
    where = f"{source.where} ({table.name})" if derived else source.where
    if table.name == "items":
        return Part(table, where, origin=source.where)
    found = []
    for person in source.person:
        key = person_column(table, person) or (None if derived else person_column(_with_field(table, person), person))
        if key is None and not derived:
            hint, close = closest(person.split(".")[0], table.schema())
            raise DataError(problems=[Problem(config.where(f"{where}.person"), f"{where}.person: {table.label} has "
                                              f"no column {person!r}{hint}", "missing-column", close)])
        found += [(person, key)] if key is not None else []
    if not found:
        found = [(person, key) for person in PERSON_COLUMNS.get(table.preset, ())
                 if (key := person_column(table, person)) is not None]
    if not found:
        return Part(table, where, origin=source.where)
    floats = [person for person, key in found if key.dtype is not None and key.dtype.is_float()]
    if floats:  # 42 is "42.0" to polars and "4.2E1" to Trino: no engine would join it as written
        raise DataError(problems=[Problem(config.where(f"{where}.person"), f"{where}.person: {table.label} stores "
                                          f"{floats[0]!r} as floating-point numbers, which are no keys that join "
                                          "alike everywhere; store the IDs as text or integers", "float-id")])
    return Part(table, where, tuple(key for _, key in found), tuple(person for person, _ in found), source.where)


def person_column(table: Table, name: str) -> KeyPath | None:
    """Where `name` is in the table's rows: a column (canonical, the export's, or the vendor's column a
    preset's view reads as a canonical one: Shopify's `Email`), a field of a struct (`traits.email`), or an
    entry of a list of key/value pairs (GA4's `user_properties.email`: the value whose key is `email`); None
    where the table has no such column."""
    schema = table.schema()
    steps = name.split(".")
    for cut in range(len(steps), 0, -1):  # a column's own name may hold dots
        column = _column(table, ".".join(steps[:cut]))
        if column is None:
            continue
        path, dtype = [], schema[column]
        for name_ in steps[cut:]:
            step, dtype = _step(dtype, name_)
            if step is None:
                return None
            path.append(step)
        return KeyPath(column, tuple(path), dtype)
    return None


def _column(table: Table, name: str) -> str | None:
    schema = table.schema()
    if name in schema:
        return name
    if table.export_name(name) in schema:
        return table.export_name(name)
    read = next((c for c in table.columns() if table.source(c) == [name]), None)
    return table.export_name(read) if read is not None else None


def _step(dtype, name: str) -> tuple[Step | None, object]:
    """One step of a path into a nested column of type `dtype`, and the type it reaches."""
    if isinstance(dtype, pl.Struct):
        fields = {f.name: f.dtype for f in dtype.fields}
        return (Step(name), fields[name]) if name in fields else (None, None)
    inner = dtype.inner if isinstance(dtype, pl.List) else None
    names = {f.name: f.dtype for f in inner.fields} if isinstance(inner, pl.Struct) else {}
    if "key" not in names or "value" not in names:
        return None, None
    value_type = names["value"]
    typed = ()
    if isinstance(value_type, pl.Struct):
        typed = tuple(f.name for f in value_type.fields if f.name.endswith("_value")) or (value_type.fields[0].name,)
    return Step(name, True, typed), pl.String


def _with_field(table: Table, name: str) -> Table:
    """An NDJSON table read with a preset's field list, reading also the column `name` starts with, as the
    file's first rows show it (GA4's `user_properties`, which its view does not read)."""
    if table.format != "ndjson" or table.reading.ndjson_schema is None:
        return table
    found = filesystem.scan(table.files[0], replace(table.reading, ndjson_schema=None), False).collect_schema()
    root = next((r for r in (".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 2)) if r in found),
                None)
    if root is None:
        return table
    table.reading = replace(table.reading, ndjson_schema={**table.reading.ndjson_schema, root: found[root]})
    table._schema = table._raw_schema = table._file_schemas = None
    return table


def counts(inputs: Inputs) -> IdentityCounts:
    """What each source contributed to the joined tables as of the bound as_of: its rows with a visitor, the
    visitors (and persons) they belong to, its devices without a key of their own and how many of them a
    link gave a person, the visitors another source has too, and the profiles no event up to as_of has."""
    from .source import collect_all

    identity = inputs.identity
    ts, vid = pl.col("timestamp"), pl.col(VID)
    events = identity.keyed(identity.events.union(["timestamp"])).filter(
        ts.is_not_null() & (before_as_of(ts, identity.as_of) if identity.as_of is not None else True))
    frames = [("events", identity.events, events)]
    if identity.profiles is not None:
        frames.append(("profiles", identity.profiles, identity.keyed(identity.profiles.union([]))))
    rows = pl.concat([frame.select(pl.lit(name).alias("table"), SOURCE, VID, DEVICE, PERSON, LINKED)
                      for name, _, frame in frames]).filter(vid.str.contains(r"\S"))
    person = pl.col(PERSON).is_not_null() | pl.col(LINKED).is_not_null()
    anonymous = pl.col(DEVICE).is_not_null() & pl.col(PERSON).is_null()
    per_source = rows.group_by("table", SOURCE).agg(
        pl.len().alias("rows"), vid.n_unique().alias("ids"), vid.filter(person).n_unique().alias("persons"),
        pl.col(DEVICE).filter(anonymous).n_unique().alias("devices"),
        pl.col(DEVICE).filter(anonymous & pl.col(LINKED).is_not_null()).n_unique().alias("devices_stitched"))
    origins = pl.LazyFrame([(name, index, part.origin) for name, table, _ in frames
                            for index, part in enumerate(table.sources)], schema=["table", SOURCE, "origin"],
                           orient="row").cast({SOURCE: pl.UInt32})
    ids = rows.group_by("table", SOURCE, VID).agg(person.any().alias("person")).join(origins, on=["table", SOURCE])
    # a view a preset derives from an events source (its profiles) is that source: its ids join no other
    shared = ids.group_by(VID).agg(pl.col("origin").n_unique().alias("sources"), pl.col("person").any())
    joined = ids.join(shared.filter(pl.col("sources") > 1), on=VID, how="semi").group_by("table", SOURCE).len("joined")
    seen = ids.filter(pl.col("table") == "events").select(VID)
    unmatched = ids.filter(pl.col("table") == "profiles").join(seen, on=VID, how="anti").group_by(
        "table", SOURCE).len("unmatched")
    totals = shared.select(pl.len().alias("visitors"), pl.col("person").sum().alias("persons"),
                           (pl.col("sources") > 1).sum().alias("joined"))
    found, joins, lonely, total = collect_all([per_source, joined, unmatched, totals], inputs)
    keyed = {(t, s): n for t, s, n in joins.iter_rows()}
    alone = {(t, s): n for t, s, n in lonely.iter_rows()}
    numbers = {(r["table"], r[SOURCE]): r for r in found.iter_rows(named=True)}
    sources = []
    for name, table, _ in frames:
        for index, part in enumerate(table.sources):
            r = numbers.get((name, index), {})
            sources.append(SourceIds(name, part.where, part.table.label, ", ".join(part.names), r.get("rows", 0),
                                     r.get("ids", 0), r.get("persons", 0), r.get("devices", 0),
                                     r.get("devices_stitched", 0), keyed.get((name, index), 0),
                                     alone.get((name, index), 0) if name == "profiles" else None))
    visitors, persons, joined_ids = total.row(0)
    return IdentityCounts(visitors, persons, joined_ids, tuple(sources))
