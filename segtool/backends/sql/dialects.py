"""What differs between SQL dialects, in one table: the constructs where a dialect's own function would
give another answer (a regular expression search, case folding, MD5 as hex, a timestamp in microseconds)
are lowered here, and every function name a dialect is sent must be on its allowlist.

sqlglot renders everything else from the expression tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sqlglot import exp

from ...errors import UsageError
from ...language.timeframe import MICROSECONDS_PER_DAY

Lower = Callable[..., exp.Expression]

# functions every dialect here has under these names with the same meaning (sqlglot renders the others)
COMMON = {"TRANSLATE", "ABS", "ASIN", "CASE", "CAST", "COALESCE", "COS", "COUNT", "FLOOR", "LENGTH", "LOWER", "MAX", "MIN",
          "POWER", "ROUND", "SIN", "SQRT", "SUBSTRING", "SUM", "AVG", "TRIM", "ROW_NUMBER", "RIGHT", "LEFT"}


def _search(column: exp.Expression, pattern: str, ignore_case: bool, flag: str = "(?i)") -> exp.Expression:
    return exp.RegexpLike(this=column, expression=exp.Literal.string((flag if ignore_case else "") + pattern))


def _snowflake_search(column, pattern, ignore_case):
    """REGEXP_LIKE is a full match in Snowflake (sqlglot issue #6011): search with REGEXP_INSTR instead."""
    args = [column, exp.Literal.string(pattern), exp.Literal.number(1), exp.Literal.number(1),
            exp.Literal.number(0), exp.Literal.string("i" if ignore_case else "c")]
    return exp.GT(this=exp.Anonymous(this="REGEXP_INSTR", expressions=args), expression=exp.Literal.number(0))


def _md5_hex(text: exp.Expression, dialect: str) -> exp.Expression:
    """The MD5 of UTF-8 text as 32 lower-case hex digits."""
    if dialect == "trino":
        return exp.Lower(this=exp.Anonymous(this="TO_HEX", expressions=[
            exp.Anonymous(this="MD5", expressions=[exp.Anonymous(this="TO_UTF8", expressions=[text])])]))
    if dialect == "bigquery":
        return exp.Anonymous(this="TO_HEX", expressions=[exp.Anonymous(this="MD5", expressions=[text])])
    return exp.Anonymous(this="MD5", expressions=[text])


def _hex8_to_int(hex8: exp.Expression, dialect: str) -> exp.Expression:
    """Eight hex digits as their number (0 .. 2**32 - 1)."""
    if dialect == "duckdb":
        return exp.cast(exp.DPipe(this=exp.Literal.string("0x"), expression=hex8), "BIGINT")
    if dialect in ("spark", "databricks"):
        return exp.cast(exp.Anonymous(this="CONV", expressions=[hex8, exp.Literal.number(16), exp.Literal.number(10)]),
                        "BIGINT")
    if dialect == "bigquery":
        return exp.cast(exp.DPipe(this=exp.Literal.string("0x"), expression=hex8), "INT64")
    if dialect == "snowflake":
        return exp.Anonymous(this="TO_NUMBER", expressions=[hex8, exp.Literal.string("XXXXXXXX")])
    return exp.Anonymous(this="FROM_BASE", expressions=[hex8, exp.Literal.number(16)])


def _micros(ts: exp.Expression, dialect: str) -> exp.Expression:
    """A timestamp as microseconds since the epoch (UTC), a BIGINT."""
    name = {"duckdb": "EPOCH_US", "spark": "UNIX_MICROS", "databricks": "UNIX_MICROS", "bigquery": "UNIX_MICROS"}
    if dialect in name:
        return exp.Anonymous(this=name[dialect], expressions=[ts])
    if dialect == "snowflake":
        return exp.Anonymous(this="DATE_PART", expressions=[exp.var("EPOCH_MICROSECOND"), ts])
    # trino: seconds as a double; below 2**53 microseconds (until the year 2255) rounding gives them exactly
    seconds = exp.Anonymous(this="TO_UNIXTIME", expressions=[ts])
    return exp.cast(exp.Round(this=exp.Mul(this=seconds, expression=exp.Literal.number(1_000_000))), "BIGINT")


def _wall_micros(micros: exp.Expression, zone: str, dialect: str) -> exp.Expression:
    """An instant (µs since the epoch, UTC) as the µs of its wall-clock time in `zone`, read as if UTC; each
    form names its zones, so no session's time zone enters."""
    def call(name: str, *args) -> exp.Expression:
        return exp.Anonymous(this=name, expressions=list(args))

    where = exp.Literal.string(zone)
    if dialect == "duckdb":  # ICU: a TIMESTAMP read in UTC is the instant, timezone(zone, instant) its local TIMESTAMP
        instant = call("TIMEZONE", exp.Literal.string("UTC"), call("MAKE_TIMESTAMP", micros))
        return call("EPOCH_US", call("TIMEZONE", where, instant))
    if dialect in ("spark", "databricks"):  # shifts the timestamp's microseconds from UTC to the zone
        return call("UNIX_MICROS", call("FROM_UTC_TIMESTAMP", call("TIMESTAMP_MICROS", micros), where))
    if dialect == "bigquery":  # the civil DATETIME in the zone, as a TIMESTAMP in UTC
        return call("UNIX_MICROS", call("TIMESTAMP", call("DATETIME", call("TIMESTAMP_MICROS", micros), where),
                                        exp.Literal.string("UTC")))
    if dialect == "snowflake":  # a TIMESTAMP_NTZ in UTC converted to the zone's wall clock
        local = call("CONVERT_TIMEZONE", exp.Literal.string("UTC"), where,
                     call("TO_TIMESTAMP_NTZ", micros, exp.Literal.number(6)))
        return _micros(local, dialect)
    # trino: the instant in the zone, its local date-time (a cast drops the zone), read in UTC; nanoseconds
    # as a DECIMAL, which does not overflow where a BIGINT would (after the year 2262)
    nanos = exp.Mul(this=exp.cast(micros, "DECIMAL(38, 0)"), expression=exp.Literal.number(1000))
    local = exp.cast(call("AT_TIMEZONE", call("FROM_UNIXTIME_NANOS", nanos), where), "TIMESTAMP(6)")
    return _micros(call("WITH_TIMEZONE", local, exp.Literal.string("UTC")), dialect)


@dataclass(frozen=True)
class Dialect:
    name: str
    regex_flag: str = "(?i)"  # how a pattern asks for Unicode case-insensitive matching
    extra: frozenset[str] = frozenset()  # dialect-specific functions it may be sent

    def search(self, column, pattern: str, ignore_case: bool) -> exp.Expression:
        if self.name == "snowflake":
            return _snowflake_search(column, pattern, ignore_case)
        return _search(column, pattern, ignore_case, self.regex_flag)

    def extract(self, column, pattern: str, ignore_case: bool) -> exp.Expression:
        """Group 1 of the first match of `pattern` (a search), NULL where there is none; the group must match
        at least one character (engines that return '' for no match are read as NULL)."""
        if self.name == "snowflake":
            found = exp.Anonymous(this="REGEXP_SUBSTR", expressions=[
                column, exp.Literal.string(pattern), exp.Literal.number(1), exp.Literal.number(1),
                exp.Literal.string("ie" if ignore_case else "e"), exp.Literal.number(1)])
        else:
            found = exp.RegexpExtract(this=column, expression=exp.Literal.string(
                (self.regex_flag if ignore_case else "") + pattern), group=exp.Literal.number(1))
        return exp.Nullif(this=found, expression=exp.Literal.string(""))

    def replace_all(self, column, pattern: str, before: str, after: str) -> exp.Expression:
        """Every match of `pattern` (one group) replaced by `before` + the group + `after`."""
        group = {"spark": "$1", "databricks": "$1", "trino": "$1"}.get(self.name, "\\1")
        replacement = exp.Literal.string(before + group + after)
        return exp.RegexpReplace(this=column, expression=exp.Literal.string(pattern), replacement=replacement)

    def fail(self, message: str) -> exp.Expression:
        """An expression that stops the query with `message` (where an answer would not be exact)."""
        if self.name == "snowflake":  # no error function there: a cast of the message fails, showing it
            return exp.cast(exp.Literal.string(f"segtool: {message}"), "INT")
        name = {"duckdb": "ERROR", "spark": "RAISE_ERROR", "databricks": "RAISE_ERROR", "bigquery": "ERROR",
                "trino": "FAIL"}[self.name]
        return exp.Anonymous(this=name, expressions=[exp.Literal.string(message)])

    def divide(self, dividend: exp.Expression, divisor: exp.Expression) -> exp.Expression:
        """The integer quotient of non-negative integers, exact in every dialect."""
        if self.name == "trino":  # BIGINT / BIGINT divides as integers there; `typed` keeps sqlglot from DOUBLE
            return exp.Div(this=exp.cast(dividend, "BIGINT"), expression=exp.cast(divisor, "BIGINT"), typed=True)
        if self.name == "snowflake":  # a quotient keeps 6 decimals there, rounded: divide a multiple instead
            whole = dividend if isinstance(dividend, (exp.Paren, exp.Column)) else exp.paren(dividend)
            multiple = exp.Sub(this=whole, expression=exp.paren(exp.Mod(this=whole, expression=divisor)))
            return exp.cast(exp.Div(this=exp.paren(multiple), expression=divisor), "BIGINT")
        return exp.IntDiv(this=dividend, expression=divisor)

    def floor_days(self, micros: exp.Expression) -> exp.Expression:
        """Whole days in a number of microseconds, rounded down (towards the past where it is negative)."""
        day = exp.Literal.number(MICROSECONDS_PER_DAY)
        negative = exp.LT(this=micros.copy(), expression=exp.Literal.number(0))
        behind = exp.Sub(this=exp.Sub(this=day.copy(), expression=exp.Literal.number(1)), expression=micros.copy())
        return exp.Case(ifs=[exp.If(this=negative, true=exp.Neg(this=exp.paren(self.divide(exp.paren(behind), day.copy()))))],
                        default=self.divide(micros, day))

    def ends_with(self, column, suffix: str) -> exp.Expression:
        if self.name != "trino":
            return exp.EndsWith(this=column, expression=exp.Literal.string(suffix))
        size = exp.Literal.number(len(suffix))  # Trino has starts_with but no ends_with
        start = exp.Add(this=exp.Sub(this=exp.Length(this=column), expression=size), expression=exp.Literal.number(1))
        return exp.and_(exp.GTE(this=exp.Length(this=column), expression=size),
                        exp.EQ(this=exp.Substring(this=column, start=start), expression=exp.Literal.string(suffix)))

    def md5_bucket(self, text: exp.Expression) -> exp.Expression:
        """int(md5(text)[:8], 16) % 10000: segtool's stable sample bucket."""
        hex8 = exp.Substring(this=_md5_hex(text, self.name), start=exp.Literal.number(1),
                             length=exp.Literal.number(8))
        return exp.Mod(this=exp.paren(_hex8_to_int(hex8, self.name)), expression=exp.Literal.number(10000))

    def is_nan(self, value: exp.Expression) -> exp.Expression:
        if self.name == "snowflake":  # NaN equals itself there
            return exp.EQ(this=value, expression=exp.cast(exp.Literal.string("NaN"), "DOUBLE"))
        name = "IS_NAN" if self.name in ("bigquery", "trino") else "ISNAN"
        return exp.Anonymous(this=name, expressions=[value])

    def micros(self, ts: exp.Expression) -> exp.Expression:
        return _micros(ts, self.name)

    def wall_micros(self, micros: exp.Expression, zone: str) -> exp.Expression:
        """An instant (µs since the epoch, UTC) as the µs of what a clock in `zone` shows then (read as UTC)."""
        return _wall_micros(micros, zone, self.name)

    def utc_micros(self, local: exp.Expression, zone: str) -> exp.Expression:
        """The instant (µs, UTC) a wall-clock time in `zone` (µs read as UTC) names, as the polars engine
        reads one (backends/polars/expressions.local_midnight): of two (the clocks go back over it) the
        earlier; one the clocks skip is the time an hour later (the end of a skipped hour), NULL where that
        is skipped too. Written with `wall_micros` alone, whose answer is one in every engine (engines
        disagree on these edges: DuckDB takes the later of two). Within a day of `local` the zone has the
        offsets a (a day before) and b (a day after), changing at most once, so the instants that show
        `local` are local − a and local − b. `local` is read many times: pass a column or a literal."""
        day, hour = exp.Literal.number(MICROSECONDS_PER_DAY), exp.Literal.number(3_600_000_000)

        def offset(at: exp.Expression) -> exp.Expression:
            return exp.paren(exp.Sub(this=self.wall_micros(at.copy(), zone), expression=at.copy()))

        before = offset(exp.paren(exp.Sub(this=local.copy(), expression=day.copy())))
        after = offset(exp.paren(exp.Add(this=local.copy(), expression=day.copy())))
        later = exp.paren(exp.Add(this=local.copy(), expression=hour))
        ifs = []
        for wall, at in ((local, exp.Sub(this=local.copy(), expression=before)),
                         (local, exp.Sub(this=local.copy(), expression=after.copy())),
                         (later, exp.Sub(this=later.copy(), expression=after.copy()))):
            shows = exp.EQ(this=self.wall_micros(exp.paren(at.copy()), zone), expression=wall.copy())
            ifs.append(exp.If(this=shows, true=exp.paren(at)))
        return exp.Case(ifs=ifs)

    def date_text(self, date: exp.Expression) -> exp.Expression:
        """A DATE as YYYY-MM-DD (Snowflake casts it by the session's DATE_OUTPUT_FORMAT: named there)."""
        if self.name == "snowflake":
            return exp.Anonymous(this="TO_CHAR", expressions=[date, exp.Literal.string("YYYY-MM-DD")])
        return exp.cast(date, "VARCHAR")

    def field(self, value: exp.Expression, name: str) -> exp.Expression:
        """A field of a struct (Snowflake: of an OBJECT or VARIANT, as it loads nested columns)."""
        if self.name == "snowflake":
            return exp.Bracket(this=value, expressions=[exp.Literal.string(name)])
        return exp.Dot(this=value, expression=exp.to_identifier(name))

    def first(self, array: exp.Expression) -> exp.Expression:
        """An array's first element, NULL where it is empty."""
        return exp.paren(exp.Bracket(this=array, expressions=[exp.Literal.number(1)], offset=1, safe=True))

    def elements(self, array: exp.Expression, name: str) -> exp.Expression:
        """A relation of the array's elements that are not NULL, each read as `name` (its fields `field(name)`)."""
        alias = exp.TableAlias(columns=[exp.to_identifier(name)])
        if self.name == "bigquery":  # a table's arrays hold no NULL there
            return exp.Unnest(expressions=[array], alias=alias)
        element = exp.to_identifier("segtool_element")
        present = exp.ArrayFilter(this=array, expression=exp.Lambda(
            this=exp.Not(this=exp.Is(this=exp.column(element), expression=exp.Null())), expressions=[element]))
        if self.name == "trino":  # an array of rows unnests to a column per field, read as `name`.field
            alias = exp.TableAlias(this=exp.to_identifier(name))
        return exp.Unnest(expressions=[present], alias=alias)

    def allowed(self) -> frozenset[str]:
        return frozenset(COMMON) | self.extra


# what every dialect here but Snowflake calls alike, then each dialect's own names (see `Dialect.allowed`)
_SHARED = {"REGEXP_REPLACE", "REPLACE", "NULLIF", "MD5"}
_SPARK = frozenset(_SHARED | {"MONOTONICALLY_INCREASING_ID", "ISNAN", "REGEXP_EXTRACT", "RAISE_ERROR", "RLIKE",
                              "REGEXP_LIKE", "UNIX_MICROS", "CONV", "LOCATE", "STARTSWITH", "ENDSWITH",
                              "TIMESTAMP_MICROS", "FROM_UTC_TIMESTAMP", "FILTER", "TRY_ELEMENT_AT", "EXPLODE"})
DIALECTS = {
    "duckdb": Dialect("duckdb", extra=frozenset(_SHARED | {
        "ISNAN", "REGEXP_EXTRACT", "ERROR", "REGEXP_MATCHES", "EPOCH_US", "READ_PARQUET", "READ_CSV", "STRPOS",
        "STARTS_WITH", "ENDS_WITH", "TRY_CAST", "TIMEZONE", "MAKE_TIMESTAMP", "LIST_FILTER", "READ_JSON", "UNNEST"})),
    "spark": Dialect("spark", regex_flag="(?iu)", extra=_SPARK),
    "databricks": Dialect("databricks", regex_flag="(?iu)", extra=_SPARK),
    "bigquery": Dialect("bigquery", extra=frozenset(_SHARED | {
        "DIV", "MOD", "INSTR", "IS_NAN", "REGEXP_EXTRACT", "ERROR", "REGEXP_CONTAINS", "UNIX_MICROS", "TO_HEX",
        "STRPOS", "STARTS_WITH", "ENDS_WITH", "TIMESTAMP_MICROS", "DATETIME", "TIMESTAMP", "UNNEST"})),
    "snowflake": Dialect("snowflake", extra=frozenset(_SHARED | {
        "REGEXP_SUBSTR", "REGEXP_INSTR", "DATE_PART", "TO_NUMBER", "CHARINDEX", "STARTSWITH", "ENDSWITH",
        "CONVERT_TIMEZONE", "TO_TIMESTAMP_NTZ", "TO_CHAR", "FILTER", "TABLE", "FLATTEN"})),
    "trino": Dialect("trino", extra=frozenset(_SHARED | {
        "SUBSTR", "IS_NAN", "REGEXP_EXTRACT", "FAIL", "REGEXP_LIKE", "TO_HEX", "TO_UTF8", "FROM_BASE", "STRPOS",
        "STARTS_WITH", "TO_UNIXTIME", "FROM_UNIXTIME_NANOS", "AT_TIMEZONE", "WITH_TIMEZONE", "FILTER", "ELEMENT_AT",
        "UNNEST"})),
}


def dialect(name: str) -> Dialect:
    if name not in DIALECTS:
        raise UsageError(f"--dialect takes {', '.join(DIALECTS)}, found {name!r}")
    return DIALECTS[name]
