"""segtool.yaml: where the data is, how its columns are named, and the run's settings (SPEC §6)."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from .delivery.identity import Identity
from .errors import ConfigError, Location, Problem, UsageError, did_you_mean, suggest
from .language.grid import DEFAULT_GRID, GridCell
from .language.timeframe import duration, parse_as_of
from .language.yamlsource import Node, load_yaml

TABLES = ("events", "profiles", "items")
TOP_KEYS = ("as_of", "data", "engine", "columns", "timestamp_format", "conversion_events", "site", "retention_grid", "predictive",
            "max_skipped_rows", "library", "preset", "csv", "timezone", "freshness", "identity")
PRESETS = ("ga4", "shopify_orders", "segment")  # inputs/presets holds what each reads
PROFILE_PRESETS = ("shopify_customers",)  # exports of profiles alone: data.profiles: {path: ..., preset: ...}
CSV_KEYS = ("separator", "decimal_comma", "encoding", "quote_char", "null_values")
FILE_FORMATS = ("csv", "ndjson", "parquet")  # what `format:` names where a file's bytes and name do not tell
SOURCE_KEYS = ("path", "preset", "person", "columns", "format", *CSV_KEYS)
TIMESTAMP_FORMATS = ("iso", "epoch_s", "epoch_ms", "epoch_us")
PREDICTIVE_SOURCES = ("auto", "profiles", "events")
DEFAULT_CONFIG = "segtool.yaml"
# Abbreviations people write for a time zone, with zones that use them. An abbreviation does not say when the
# clocks change, so it is no IANA name (CET, EET, WET, EST, MST and HST are, and are taken as they are).
ZONE_ABBREVIATIONS = {
    "CEST": ("Europe/Paris",), "BST": ("Europe/London",), "IST": ("Asia/Kolkata", "Europe/Dublin"),
    "WEST": ("Europe/Lisbon",), "EEST": ("Europe/Athens",), "MSK": ("Europe/Moscow",),
    "EDT": ("America/New_York",), "CST": ("America/Chicago", "Asia/Shanghai"), "CDT": ("America/Chicago",),
    "MDT": ("America/Denver",), "PST": ("America/Los_Angeles",), "PDT": ("America/Los_Angeles",),
    "AKST": ("America/Anchorage",), "AKDT": ("America/Anchorage",), "BRT": ("America/Sao_Paulo",),
    "ART": ("America/Argentina/Buenos_Aires",), "JST": ("Asia/Tokyo",), "KST": ("Asia/Seoul",),
    "HKT": ("Asia/Hong_Kong",), "SGT": ("Asia/Singapore",), "ICT": ("Asia/Bangkok",), "WIB": ("Asia/Jakarta",),
    "AEST": ("Australia/Sydney",), "AEDT": ("Australia/Sydney",), "ACST": ("Australia/Adelaide",),
    "AWST": ("Australia/Perth",), "NZST": ("Pacific/Auckland",), "NZDT": ("Pacific/Auckland",),
    "SAST": ("Africa/Johannesburg",), "WAT": ("Africa/Lagos",), "EAT": ("Africa/Nairobi",), "CAT": ("Africa/Maputo",),
}


@dataclass(frozen=True)
class CsvOptions:
    """How CSV files are written: config `csv:`, and per table in `data:`."""

    separator: str = ","
    decimal_comma: bool = False
    encoding: str = "utf8"
    quote_char: str | None = '"'
    null_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Source:
    """Where one table is, or one of its sources: a path (file, glob, directory or bucket URL), its export's
    preset, its files' format where set, the CSV settings that differ from the config's `csv:`, its own
    `columns:` mapping (else the config's for the table), and the column that holds the person a row is about
    (inputs/stitching.py). `where` names it in messages: `data.events`, or `data.events[1]` in a list."""

    path: str
    preset: str | None = None
    csv: dict = field(default_factory=dict)
    person: tuple[str, ...] = ()  # the first of these with a value in a row
    columns: dict[str, str] | None = None
    where: str = ""
    format: str | None = None

    @property
    def table_name(self) -> str:
        return table_name(self.where)


def table_name(where: str) -> str:
    """The table that holds a source where SQL reads tables by name (and its key in engine.tables):
    `data.events` is `events`, `data.events[1]` is `events_1`."""
    return re.sub(r"\[(\d+)\]", r"_\1", where.removeprefix("data."))


ENGINES = ("polars", "duckdb", "spark")


@dataclass(frozen=True)
class EngineSettings:
    """Which engine runs the segments (`run --engine` overrides), the warehouse tables the SQL reads instead
    of the files, and how to reach Spark (a Spark Connect URL, or a master for a local session)."""

    name: str = "polars"
    tables: dict[str, str] = field(default_factory=dict)
    spark: dict[str, str] = field(default_factory=dict)
    spark_conf: dict[str, str] = field(default_factory=dict)
    memory_limit: int | None = None  # bytes the run may hold (`engine.memory_limit`, `run --memory-limit`)


SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
              "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
SMALLEST_LIMIT = 64 * 2**20  # below this not even the engine starts


def memory_size(text: str) -> int:
    """Bytes in a size as people write it: `4GB`, `1.5 GiB`, `800MB`, `2000000000` (GB = 10^9 bytes, GiB = 2^30)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if m is None or m.group(2).lower() not in SIZE_UNITS:
        raise ValueError(f"{text!r} is not a size like 4GB, 1.5GiB or 800MB")
    size = int(float(m.group(1)) * SIZE_UNITS[m.group(2).lower()])
    if size < SMALLEST_LIMIT:
        raise ValueError(f"{text!r} is below the smallest limit segtool runs in, 64 MiB")
    return size


@dataclass(frozen=True)
class Freshness:
    """`freshness: {warn_after: 26h, error_after: 3d}`: how old the newest event may be, relative to now, before
    a run warns or fails (jobs/guards.py); `where` locates each setting for the messages."""

    warn_after: timedelta | None = None
    error_after: timedelta | None = None
    where: dict[str, Location | None] = field(default_factory=dict, compare=False)
    written: dict[str, str] = field(default_factory=dict, compare=False)  # each setting as written, for messages


@dataclass
class Config:
    path: Path | None = None
    as_of: str | None = None
    data: dict[str, tuple[Source, ...]] = field(default_factory=dict)  # one source, or several (a list)
    preset: str | None = None  # the events' export format; items and profiles follow where not given
    csv: CsvOptions = CsvOptions()
    timezone: str = "UTC"  # the calendar of dates: a date as_of, fixed windows, days since
    engine: EngineSettings = field(default_factory=EngineSettings)
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    timestamp_format: str = "iso"
    conversion_events: tuple[str, ...] = ("conversion",)
    site_domains: tuple[str, ...] = ()
    grid: tuple[GridCell, ...] = DEFAULT_GRID
    predictive: str = "auto"
    max_skipped_share: float = 0.01  # above this share of unreadable event rows a run fails
    library: Path | None = None  # a folder of segments that `segment: NAME` may name besides the run's own
    freshness: Freshness | None = None
    identity: Identity | None = None  # `identity:`, where people's identifiers and consents are (delivery/)
    locations: dict[str, Location] = field(default_factory=dict)  # "columns.events.order_value" -> where it is set

    def csv_for(self, source: Source | None) -> CsvOptions:
        return replace(self.csv, **source.csv) if source is not None and source.csv else self.csv

    def preset_for(self, table: str, source: Source | None) -> str | None:
        if source is not None and source.preset is not None:
            return source.preset
        return self.preset if table == "events" else None

    def columns_for(self, table: str, source: Source | None) -> tuple[dict[str, str], str]:
        """The source's `columns:` mapping (canonical: export name), else the config's for the table, and the
        key it is set under (for messages)."""
        if source is not None and source.columns is not None:
            return dict(source.columns), f"{source.where}.columns"
        return dict(self.columns.get(table) or {}), f"columns.{table}"

    def where(self, key: str) -> Location | None:
        """The position of a config setting, for messages about it (None where it was not set in a file)."""
        return self.locations.get(key)

    @property
    def grid_cells(self) -> tuple[str, ...]:
        return tuple(cell.name for cell in self.grid)


def load_config(path: Path | None) -> Config:
    """The config at `path`, or ./segtool.yaml if it exists, or the defaults."""
    if path is None:
        default = Path(DEFAULT_CONFIG)
        if not default.is_file():
            return Config()
        path = default
    elif not path.is_file():
        raise ConfigError([Problem(None, f"{path}: no such config file")])
    try:
        root = load_yaml(path)
    except ConfigError:
        raise
    except Exception as exc:  # a SegmentError from the YAML layer: same shape, config exit code
        raise ConfigError(getattr(exc, "problems", [Problem(None, str(exc))])) from None
    reader = _ConfigReader(path, [])
    config = reader.read(root)
    if reader.problems:
        raise ConfigError(reader.problems)
    return config


@dataclass
class _ConfigReader:
    path: Path
    problems: list[Problem]

    def problem(self, node: Node | None, message: str, loc=None, code: str = "bad-setting", suggestions=()):
        self.problems.append(Problem(loc or (node.loc if node else None), message, code, tuple(suggestions)))

    def keys(self, node: Node, allowed, where: str) -> bool:
        if not node.is_map:
            self.problem(node, f"{where} must be a mapping, found {node.describe()}")
            return False
        for key in node.value:
            if key not in allowed:
                close = suggest(key, allowed)
                self.problem(None, f"unknown {where} key {key!r}{did_you_mean(close)}; allowed: {', '.join(allowed)}",
                             node.key_locs[key], "unknown-key", close)
        return True

    def read(self, root: Node | None) -> Config:
        config = Config(path=self.path)
        if root is None:
            return config
        if not self.keys(root, TOP_KEYS, "config"):
            return config
        v = root.value
        if "as_of" in v:
            config.as_of = self.scalar_text(v["as_of"], "as_of")
            try:
                if config.as_of is not None:
                    parse_as_of(config.as_of)
            except UsageError as exc:
                self.problem(v["as_of"], str(exc))
        if "data" in v and self.keys(v["data"], TABLES, "data"):
            config.data = {t: self.sources(n, t, config) for t, n in v["data"].value.items() if t in TABLES}
        if "preset" in v:
            config.preset = self.preset(v["preset"], "preset", PRESETS)
        if "csv" in v:
            config.csv = CsvOptions(**self.csv_options(v["csv"], "csv"))
        if "timezone" in v:
            config.timezone = self.timezone(v["timezone"])
        if "columns" in v and self.keys(v["columns"], TABLES, "columns"):
            config.columns = {t: self.mapping(n, f"columns.{t}") for t, n in v["columns"].value.items() if t in TABLES}
            for table, node in v["columns"].value.items():
                if table in TABLES and node.is_map:
                    config.locations.update({f"columns.{table}.{k}": n.loc for k, n in node.value.items()})
        if "timestamp_format" in v:
            config.timestamp_format = self.timestamp_format(v["timestamp_format"])
        if "conversion_events" in v:
            config.conversion_events = self.text_list(v["conversion_events"], "conversion_events")
            config.locations["conversion_events"] = v["conversion_events"].loc
            if not config.conversion_events and v["conversion_events"].is_seq:
                self.problem(v["conversion_events"], "conversion_events must name at least one event type "
                                                     "(the event_type values that are conversions)")
        if "site" in v and self.keys(v["site"], ("domains",), "site"):
            domains = v["site"].value.get("domains")
            if domains is not None:
                config.site_domains = self.domains(domains)
        if "retention_grid" in v:
            config.grid = self.grid(v["retention_grid"])
        if "predictive" in v:
            config.predictive = self.choice(v["predictive"], "predictive", PREDICTIVE_SOURCES)
        if "library" in v:
            config.library = self.library(v["library"])
        if "max_skipped_rows" in v:
            config.max_skipped_share = self.percent(v["max_skipped_rows"], "max_skipped_rows")
        if "freshness" in v:
            config.freshness = self.freshness(v["freshness"])
        if "identity" in v:
            config.identity = self.identity(v["identity"])
        if "engine" in v:
            config.engine = self.engine(v["engine"], [s.table_name for found in config.data.values() for s in found
                                                      if s.table_name not in TABLES])
            if config.engine.memory_limit is not None:
                config.locations["engine.memory_limit"] = v["engine"].value["memory_limit"].loc
        return config

    def identity(self, node: Node) -> Identity | None:
        """`identity:` (delivery/identity.py), each problem at the position of its key."""
        try:
            return Identity.from_mapping(_plain(node), {"": node.loc, **_key_locations(node)})
        except ConfigError as exc:
            self.problems.extend(exc.problems)
            return None

    def engine(self, node: Node, sources: list[str]) -> "EngineSettings":
        """`engine: {name: polars|duckdb|spark, tables: {events: db.events, predictions: db.predictions}, spark:
        {remote: sc://..., master: ...}, memory_limit: 4GB}`; a table may also name one of several `sources`
        (`events_1`: the second of the events' sources)."""
        if not self.keys(node, ("name", "tables", "spark", "memory_limit"), "engine"):
            return EngineSettings()
        v = node.value
        name = self.choice(v["name"], "engine.name", ENGINES) if "name" in v else "polars"
        tables = {}
        if "tables" in v and self.keys(v["tables"], (*TABLES, "predictions", *sources), "engine.tables"):
            tables = {t: self.scalar_text(n, f"engine.tables.{t}") or "" for t, n in v["tables"].value.items()}
        limit = None
        if "memory_limit" in v:
            text = self.scalar_text(v["memory_limit"], "engine.memory_limit") or ""
            try:
                limit = memory_size(text)
            except ValueError as exc:
                self.problem(v["memory_limit"], f"engine.memory_limit: {exc}")
        spark, spark_conf = {}, {}
        if "spark" in v and self.keys(v["spark"], ("remote", "master", "conf"), "engine.spark"):
            spark = {k: self.scalar_text(n, f"engine.spark.{k}") or "" for k, n in v["spark"].value.items()
                     if k != "conf"}
            conf = v["spark"].value.get("conf")
            if conf is not None:
                spark_conf = self.mapping(conf, "engine.spark.conf")
        return EngineSettings(name, tables, spark, spark_conf, limit)

    def freshness(self, node: Node) -> Freshness | None:
        """`freshness: {warn_after: 26h, error_after: 3d}`: one of them or both, in hours, days or weeks."""
        keys = ("warn_after", "error_after")
        if not self.keys(node, keys, "freshness"):
            return None
        lengths, texts = {}, {}
        for key, value in node.value.items():
            if key in keys:
                text = texts[key] = self.scalar_text(value, f"freshness.{key}")
                lengths[key] = duration(text) if text is not None else None
                if text is not None and lengths[key] is None:
                    self.problem(value, f"freshness.{key} takes a length of time like 26h, 3d or 1w, found "
                                        f"{value.describe()}")
        if not node.value:
            self.problem(node, "freshness needs warn_after, error_after or both, like "
                               "{warn_after: 26h, error_after: 3d}")
        warn, error = lengths.get("warn_after"), lengths.get("error_after")
        if warn is not None and error is not None and warn > error:
            self.problem(node.value["warn_after"], "freshness.warn_after is longer than error_after, so it would never "
                                                    "warn; make it shorter")
        return Freshness(warn, error, {k: node.value[k].loc for k in keys if k in node.value}, texts)

    def domains(self, node: Node) -> tuple[str, ...]:
        """The site's own host names: a scheme, port, path, `*.`, `www.`, case and spaces are normalised away."""
        hosts = []
        for item in self.list_items(node, "site.domains"):
            host = normalise_domain(item.raw)
            if host is None:
                self.problem(item, f"site.domains: {item.raw!r} is not a domain name like shop.example")
            else:
                hosts.append(host)
        return tuple(dict.fromkeys(hosts))

    def percent(self, node: Node, what: str) -> float:
        text = (self.scalar_text(node, what) or "").strip()
        m = re.fullmatch(r"(\d+(?:\.\d*)?)\s*%", text)
        if not m or float(m.group(1)) > 100:
            self.problem(node, f"{what} takes a percentage of event rows between 0% and 100%, like 5%, "
                               f"found {node.describe()}")
            return Config.max_skipped_share
        return float(m.group(1)) / 100

    def scalar_text(self, node: Node, what: str) -> str | None:
        if not node.is_scalar or node.value is None:
            self.problem(node, f"{what} must be a value, found {node.describe()}")
            return None
        return node.raw

    def path_text(self, node: Node, what: str) -> str:
        text = self.scalar_text(node, what)
        if text and is_url(text):
            return text
        return str((self.path.parent / text)) if text else ""

    def sources(self, node: Node, table: str, config: Config) -> tuple[Source, ...]:
        """`data.events: PATH` or one mapping (a source), or a list of sources (inputs/stitching.py)."""
        if not node.is_seq:
            return (self.source(node, table, f"data.{table}", config),)
        if not node.value:
            self.problem(node, f"data.{table} lists no source; give a path, or a list of sources like "
                               "{path: exports/ga4/, preset: ga4}")
        return tuple(self.source(item, table, f"data.{table}[{i}]", config) for i, item in enumerate(node.value))

    def source(self, node: Node, table: str, where: str, config: Config) -> Source:
        """`PATH`, or `{path: PATH, preset: ga4, person: user_id, columns: {...}, separator: ';', ...}`."""
        if not node.is_map:
            return Source(self.path_text(node, where), where=where)
        self.keys(node, SOURCE_KEYS, where)
        v = node.value
        if "path" not in v:
            self.problem(node, f"{where} needs a path, e.g. {{path: exports/{table}.csv, separator: ';'}}")
            return Source("", where=where)
        allowed = PRESETS + PROFILE_PRESETS if table == "profiles" else PRESETS
        preset = self.preset(v["preset"], f"{where}.preset", allowed) if "preset" in v else None
        options = {k: n for k, n in v.items() if k in CSV_KEYS}
        person = ()
        if "person" in v:
            person = self.text_list(v["person"], f"{where}.person")
            config.locations[f"{where}.person"] = v["person"].loc
            if v["person"].is_seq and not v["person"].value:
                self.problem(v["person"], f"{where}.person names no column; name the column of the person (an "
                                          "e-mail or user ID) in this source, e.g. person: email")
            if table == "items":
                self.problem(v["person"], f"{where}.person: items are about orders, not people; name the person "
                                          "in the events and profiles sources")
        columns = None
        if "columns" in v:
            columns = self.mapping(v["columns"], f"{where}.columns")
            if v["columns"].is_map:
                config.locations.update({f"{where}.columns.{k}": n.loc for k, n in v["columns"].value.items()})
        fmt = self.choice(v["format"], f"{where}.format", FILE_FORMATS) if "format" in v else None
        return Source(self.path_text(v["path"], f"{where}.path"), preset, self.csv_options_of(options, where),
                      person, columns, where, fmt)

    def csv_options(self, node: Node, where: str) -> dict:
        if not self.keys(node, CSV_KEYS, where):
            return {}
        return self.csv_options_of(node.value, where)

    def csv_options_of(self, nodes: dict, where: str) -> dict:
        """The CSV settings given (only those), checked."""
        options = {}
        for key, node in nodes.items():
            if key in ("separator", "quote_char"):
                text = node.raw if node.is_scalar and node.value is not None else None
                text = {"\\t": "\t", "tab": "\t"}.get(text, text)
                if key == "quote_char" and node.is_scalar and node.value is None:
                    options[key] = None  # no quoting
                elif text is None or len(text.encode()) != 1:
                    self.problem(node, f"{where}.{key} must be one single-byte character like ';' or '\\t', "
                                       f"found {node.describe()}")
                else:
                    options[key] = text
            elif key == "decimal_comma":
                if not (node.is_scalar and isinstance(node.value, bool)):
                    self.problem(node, f"{where}.decimal_comma must be true or false, found {node.describe()}")
                else:
                    options[key] = node.value
            elif key == "encoding":
                options[key] = self.encoding(node, f"{where}.encoding")
            elif key == "null_values":
                options[key] = self.text_list(node, f"{where}.null_values")
        return options

    def encoding(self, node: Node, what: str) -> str:
        text = (self.scalar_text(node, what) or "utf8").strip()
        if text.lower() in ("utf8", "utf-8", "utf8-lossy"):
            return text.lower().replace("utf-8", "utf8")
        try:
            codecs.lookup(text)
        except LookupError:
            self.problem(node, f"{what}: unknown encoding {text!r}; use utf8, utf8-lossy or a name Python knows, "
                               "such as latin-1, cp1252 or utf-16")
            return "utf8"
        return text

    def timezone(self, node: Node) -> str:
        text = self.scalar_text(node, "timezone")
        if text is None:
            return "UTC"
        text = text.strip()
        try:
            ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            if text.upper() in ZONE_ABBREVIATIONS:
                zones = ZONE_ABBREVIATIONS[text.upper()]
                self.problem(node, f"timezone: {text!r} is an abbreviation, not an IANA time zone name; name the "
                                   f"zone by a place, such as {' or '.join(map(repr, zones))}", suggestions=zones)
                return "UTC"
            places = {name.lower(): name for name in available_timezones() if "/" in name} | {"utc": "UTC"}
            close = tuple(places[name] for name in suggest(text.lower(), sorted(places)))
            self.problem(node, f"timezone: {text!r} is not an IANA time zone name like Europe/Amsterdam"
                               f"{did_you_mean(close)}", suggestions=close)
            return "UTC"
        return text

    def library(self, node: Node) -> Path | None:
        text = self.scalar_text(node, "library")
        if text is None:
            return None
        folder = self.path.parent / text
        if not folder.is_dir():
            state = "is not a folder" if folder.exists() else "does not exist"
            self.problem(node, f"library: {folder} {state}; name the folder of the segments that `segment: NAME` "
                               "may name, relative to this config file")
            return None
        return folder

    def mapping(self, node: Node, what: str) -> dict[str, str]:
        if not node.is_map:
            self.problem(node, f"{what} must be a mapping of canonical name: export name, found {node.describe()}")
            return {}
        return {k: (self.scalar_text(n, f"{what}.{k}") or k) for k, n in node.value.items()}

    def timestamp_format(self, node: Node) -> str:
        text = self.scalar_text(node, "timestamp_format") or "iso"
        if text not in TIMESTAMP_FORMATS and "%" not in text:
            close = suggest(text, TIMESTAMP_FORMATS)
            self.problem(node, f"timestamp_format must be one of {', '.join(TIMESTAMP_FORMATS)} or a strftime "
                               f"pattern like '%d/%m/%Y %H:%M', found {text!r}{did_you_mean(close)}",
                         suggestions=close)
            return "iso"
        return text

    def preset(self, node: Node, what: str, allowed) -> str:
        """A preset's name; one of a profiles export where another table is meant says where it belongs."""
        if node.raw in PROFILE_PRESETS and node.raw not in allowed:
            self.problem(node, f"{what}: {node.raw} reads a profiles export; name it under data.profiles: "
                               f"{{path: customers_export.csv, preset: {node.raw}}}")
            return allowed[0]
        return self.choice(node, what, allowed)

    def choice(self, node: Node, what: str, allowed) -> str:
        text = self.scalar_text(node, what)
        if text not in allowed:
            close = suggest(text or "", allowed)
            self.problem(node, f"{what} must be one of {', '.join(allowed)}, found {node.describe()}"
                               f"{did_you_mean(close)}", suggestions=close)
            return allowed[0]
        return text

    def text_list(self, node: Node, what: str) -> tuple[str, ...]:
        return tuple(item.raw for item in self.list_items(node, what))

    def list_items(self, node: Node, what: str) -> list[Node]:
        """A value or a list of values, each as written (`NULL` and `~` are those words, not YAML's null); a
        list in the list (an alias of another list: `[*nulls, n/a]`) adds its values."""
        if node.is_map or node.value is None and node.raw == "":
            self.problem(node, f"{what} must be a value or a list of values, found {node.describe()}")
            return []
        items, pending = [], [node]
        while pending:
            item = pending.pop()
            if item.is_seq:
                pending.extend(reversed(item.value))
            elif item.is_map or item.value is None and item.raw == "":
                self.problem(item, f"{what}: each item must be a value, found {item.describe()}")
            else:
                items.append(item)
        return items

    def grid(self, node: Node) -> tuple[GridCell, ...]:
        if not node.is_seq or not node.value:
            self.problem(node, "retention_grid must be a list of cells like "
                               "{name: loyal, conversions: [4, null], days: [0, 90]}")
            return DEFAULT_GRID
        cells = [self.cell(item) for item in node.value]
        seen: set[str] = set()
        for item, cell in zip(node.value, cells):
            if cell is not None and cell.name in seen:
                self.problem(item, f"retention_grid: two cells are named {cell.name!r}")
            seen.add(cell.name if cell else "")
        return tuple(c for c in cells if c is not None) or DEFAULT_GRID

    def cell(self, node: Node) -> GridCell | None:
        if not self.keys(node, ("name", "conversions", "days"), "retention_grid cell"):
            return None
        name = self.scalar_text(node.value["name"], "name") if "name" in node.value else None
        if not name:
            self.problem(node, "a retention_grid cell needs a name")
            return None
        conv = self.bounds(node.value.get("conversions"), "conversions")
        days = self.bounds(node.value.get("days"), "days")
        if conv is None or days is None:
            return None
        lo_c = conv[0] or 0
        return GridCell(name, lo_c, conv[1], *(days if days != (None, None) else (None, None)))

    def bounds(self, node: Node | None, what: str):
        if node is None:
            return (None, None)
        ok = node.is_seq and len(node.value) == 2 and all(
            item.is_scalar and (item.value is None or (isinstance(item.value, int) and not isinstance(item.value, bool)
                                                       and 0 <= item.value < 10**9))
            for item in node.value)
        if not ok:
            self.problem(node, f"{what} must be [min, max] whole numbers of at least 0 (max may be null), "
                               f"found {node.describe()}")
            return None
        lo, hi = (item.value for item in node.value)
        if lo is not None and hi is not None and lo > hi:
            self.problem(node, f"{what}: the minimum {lo} is above the maximum {hi}")
            return None
        return lo, hi


def _plain(node: Node):
    """A node as mappings, lists and the text of its values as written (`yes` is the word, not YAML's true)."""
    if node.is_map:
        return {key: _plain(child) for key, child in node.value.items()}
    if node.is_seq:
        return [_plain(child) for child in node.value]
    return None if node.value is None else node.raw


def _key_locations(node: Node, prefix: str = "") -> dict[str, Location]:
    """The position of every key under a mapping node, by dotted path (`consent.ads`)."""
    if not node.is_map:
        return {}
    found = {}
    for key, child in node.value.items():
        found[prefix + key] = node.key_locs[key]
        found.update(_key_locations(child, f"{prefix}{key}."))
    return found


_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*://")


def is_url(text: str) -> bool:
    """A bucket or web address (`s3://bucket/events/*.parquet`) rather than a local path."""
    return bool(_SCHEME.match(text.strip().lower()))
_HOST = re.compile(r"^[\w\-]+(?:\.[\w\-]+)*$")


def normalise_domain(text: str) -> str | None:
    """`https://WWW.Shop.example:443/` → `shop.example`; None for what is not a host name."""
    host = _SCHEME.sub("", text.strip().lower())
    host = host.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    host = host.rsplit("@", 1)[-1].split(":", 1)[0].strip().rstrip(".")
    host = host.removeprefix("*.").removeprefix("www.")
    return host if _HOST.fullmatch(host) else None
