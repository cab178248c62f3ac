"""ISO 8601 text, and text read by a strftime pattern, as microseconds since the epoch (UTC), written out for
every dialect: the fields taken apart with regular expressions (each with one group, as BigQuery wants),
checked against the calendar and added up in integer arithmetic. No dialect's timestamp cast or parser is
sent: each reads another set of forms, and some stop the query at an impossible date (Spark's CAST under ANSI
mode, Snowflake's) where polars skips the row.

The text read is timeframe.ISO_TEXT, as polars reads it: a date alone is its midnight, no offset is UTC,
a fraction beyond microseconds is cut, offsets run to ±23:59; or the grammar of a strftime pattern
(language/strftime.py). Anything else is NULL (an unreadable timestamp).
"""

from __future__ import annotations

from sqlglot import exp

from ...language.strftime import MONTHS, Pattern
from ...language.timeframe import ISO_TEXT
from .dialects import Dialect
from .portable import WHITESPACE

# After white space is stripped the text is ISO_TEXT, so the first match of each pattern (none anchored: the
# text may still hold that white space) is the field it names; each group holds digits only.
_DATE = r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
FIELDS = {
    "year": r"([0-9]{4})-[0-9]{1,2}-",
    "month": r"[0-9]{4}-([0-9]{1,2})-",
    "day": r"[0-9]{4}-[0-9]{1,2}-([0-9]{1,2})",
    "hour": _DATE + r"[T ]([0-9]{1,2}):",
    "minute": _DATE + r"[T ][0-9]{1,2}:([0-9]{2})",
    "second": _DATE + r"[T ][0-9]{1,2}:[0-9]{2}:([0-9]{2})",
    "fraction": r"[.]([0-9]{1,9})",
    "zone_hour": r":[0-9]{2}(?:[.][0-9]{1,9})?[+-]([0-9]{2})",
    "zone_minute": r":[0-9]{2}(?:[.][0-9]{1,9})?[+-][0-9]{2}:?([0-9]{2})",
    "west": r":[0-9]{2}(?:[.][0-9]{1,9})?([-])[0-9]{2}",
}
MICROS = {"hour": 3_600_000_000, "minute": 60_000_000, "second": 1_000_000}
DAY = 86_400_000_000


def _n(value: int) -> exp.Expression:
    return exp.Literal.number(value)


def _grouped(value: exp.Expression) -> exp.Expression:
    """An operand in parentheses where it is itself an operation (sqlglot writes operands as they are)."""
    return exp.paren(value) if isinstance(value, exp.Binary) else value


def _op(kind, left: exp.Expression, right: exp.Expression) -> exp.Expression:
    return kind(this=_grouped(left), expression=_grouped(right))


def _sum(*terms: exp.Expression) -> exp.Expression:
    total = terms[0]
    for term in terms[1:]:
        total = _op(exp.Add, total, term)
    return total


def _div(dialect: Dialect, left: exp.Expression, right: int) -> exp.Expression:
    return dialect.divide(_grouped(left), _n(right))


def with_iso_fields(relation: exp.Expression, text: exp.Expression, stripped: exp.Expression, dialect: Dialect,
                    alias: str) -> exp.Expression:
    """`relation` with the fields of the ISO text `text` (`stripped`: the same without surrounding white space)
    as columns: taken apart once per row, for `iso_micros` to add up."""
    fields = iso_fields(text, stripped, dialect)
    return exp.select("*", *(value.as_(_column_name(name)) for name, value in fields.items())).from_(
        relation).subquery(alias)


def iso_micros_of(text: exp.Expression, dialect: Dialect) -> exp.Expression:
    """`iso_micros` of one text value, its fields taken apart where they are used (for a value read once per
    visitor, such as a profile's date)."""
    return iso_micros(dialect, iso_fields(text, _stripped(text.copy()), dialect))


def _stripped(text: exp.Expression) -> exp.Expression:
    return exp.Trim(this=text, expression=exp.Literal.string(WHITESPACE))


def iso_fields(text: exp.Expression, stripped: exp.Expression, dialect: Dialect) -> dict[str, exp.Expression]:
    """The fields of ISO text, each an expression over `text`."""
    def field(name: str) -> exp.Expression:
        return exp.cast(dialect.extract(text, FIELDS[name], False), "BIGINT")

    def zero_if_missing(value: exp.Expression) -> exp.Expression:
        return exp.Coalesce(this=value, expressions=[_n(0)])

    digits = exp.DPipe(this=dialect.extract(text, FIELDS["fraction"], False), expression=exp.Literal.string("000000"))
    fraction = exp.cast(exp.Substring(this=digits, start=_n(1), length=_n(6)), "BIGINT")  # cut to microseconds
    clock = _sum(*(_op(exp.Mul, zero_if_missing(field(name)), _n(factor)) for name, factor in MICROS.items()),
                 zero_if_missing(fraction))
    west = exp.Not(this=exp.Is(this=dialect.extract(text, FIELDS["west"], False), expression=exp.Null()))
    fields = {"iso": dialect.search(stripped, ISO_TEXT, False), "year": field("year"), "month": field("month"),
              "day": field("day"), "clock": clock, "zone_hour": zero_if_missing(field("zone_hour")),
              "zone_minute": zero_if_missing(field("zone_minute")),
              "zone_sign": exp.Case(ifs=[exp.If(this=west, true=_n(-1))], default=_n(1))}
    return fields


def iso_micros(dialect: Dialect, fields: dict[str, exp.Expression] | None = None) -> exp.Expression:
    """Microseconds since the epoch (UTC) from the columns `with_iso_fields` adds (or the `fields`
    themselves); NULL where the text is no ISO text or names no day of the calendar."""
    def get(name: str) -> exp.Expression:
        return fields[name].copy() if fields is not None else _column(name)

    year, month, day, clock, zone_hour, zone_minute, zone_sign = map(
        get, ("year", "month", "day", "clock", "zone_hour", "zone_minute", "zone_sign"))
    utc = _utc(days_from_civil(year, month, day, dialect), clock, zone_sign, zone_hour, zone_minute)
    valid = exp.and_(get("iso"), exp.Between(this=month, low=_n(1), high=_n(12)),
                     exp.Between(this=day, low=_n(1), high=days_in_month(year, month)),
                     exp.LTE(this=zone_hour, expression=_n(23)), exp.LTE(this=zone_minute, expression=_n(59)))
    return exp.Case(ifs=[exp.If(this=valid, true=utc)])


def _utc(days: exp.Expression, clock: exp.Expression, zone_sign: exp.Expression, zone_hour: exp.Expression,
         zone_minute: exp.Expression) -> exp.Expression:
    """Microseconds since the epoch of a day, a time of day in microseconds and an offset (UTC + sign × it)."""
    offset = _sum(_op(exp.Mul, zone_hour, _n(MICROS["hour"])), _op(exp.Mul, zone_minute, _n(MICROS["minute"])))
    local = _sum(_op(exp.Mul, days, _n(DAY)), clock)
    return _op(exp.Sub, local, _op(exp.Mul, zone_sign, offset))


def with_pattern_fields(relation: exp.Expression, stripped: exp.Expression, pattern: Pattern, dialect: Dialect,
                        alias: str) -> exp.Expression:
    """`relation` with the fields of text read by a strftime pattern's grammar (language/strftime.py) as
    columns, taken apart once per row for `pattern_micros`: whether the stripped text matches it, and each
    field's number (a month name's, a 2-digit year's in 1970-2069, 12 for pm, an offset's sign)."""
    def text(field: str) -> exp.Expression:
        return dialect.extract(stripped, pattern.regex(field), False)

    def number(field: str) -> exp.Expression:
        return exp.cast(_stripped(text(field)), "BIGINT")  # a short field keeps the white space after it

    def starts(field: str, letters: str) -> exp.Expression:
        first = exp.Substring(this=text(field), start=_n(1), length=_n(len(letters)))
        return exp.EQ(this=exp.Lower(this=first), expression=exp.Literal.string(letters))

    fields = pattern.fields
    values = {"matched": dialect.search(stripped, pattern.regex(), False)}
    values.update({name: number(name) for name in sorted(fields & {"year", "month", "day", "ordinal", "hour",
                                                                   "hour12", "minute", "second", "zone_hour",
                                                                   "zone_minute"})})
    if "year2" in fields:  # 00-69 are 2000-2069, 70-99 1970-1999
        values["year"] = _sum(number("year2"), exp.Case(
            ifs=[exp.If(this=exp.LT(this=number("year2"), expression=_n(70)), true=_n(2000))], default=_n(1900)))
    if "month_name" in fields:
        values["month"] = exp.Case(ifs=[exp.If(this=starts("month_name", name[:3]), true=_n(i))
                                        for i, name in enumerate(MONTHS, start=1)])
    if "ampm" in fields:
        values["pm"] = exp.Case(ifs=[exp.If(this=starts("ampm", "p"), true=_n(12))], default=_n(0))
    if "fraction" in fields:  # cut to microseconds
        digits = exp.DPipe(this=text("fraction"), expression=exp.Literal.string("000000"))
        micros = exp.cast(exp.Substring(this=digits, start=_n(1), length=_n(6)), "BIGINT")
        values["fraction"] = exp.Coalesce(this=micros, expressions=[_n(0)])
    if "zone_sign" in fields:
        east = exp.EQ(this=text("zone_sign"), expression=exp.Literal.string("+"))
        values["zone_sign"] = exp.Case(ifs=[exp.If(this=east, true=_n(1))], default=_n(-1))
    return exp.select("*", *(value.as_(_pattern_name(name)) for name, value in values.items())).from_(
        relation).subquery(alias)


def pattern_micros(pattern: Pattern, dialect: Dialect) -> exp.Expression:
    """Microseconds since the epoch (UTC) from the columns `with_pattern_fields` adds, checked as chrono checks
    the fields (ranges, the calendar); NULL where the text does not match or names no instant."""
    fields, valid = pattern.fields, [_pattern_column("matched")]

    def value(name: str, default: int = 0, low: int | None = None, high: int | None = None) -> exp.Expression:
        if name not in fields:
            return _n(default)
        column = _pattern_column(name)
        if high is not None:
            valid.append(exp.LTE(this=column, expression=_n(high)) if low is None
                         else exp.Between(this=column, low=_n(low), high=_n(high)))
        return column

    year = _pattern_column("year")
    if "ordinal" in fields:
        ordinal = _pattern_column("ordinal")
        days = _sum(days_from_civil(year, _n(1), _n(1), dialect), _op(exp.Sub, ordinal, _n(1)))
        valid.append(exp.Between(this=ordinal, low=_n(1), high=_sum(_n(337), days_in_month(year, _n(2)))))
    else:
        month, day = _pattern_column("month"), _pattern_column("day")
        days = days_from_civil(year, month, day, dialect)
        valid += [exp.Between(this=month, low=_n(1), high=_n(12)),
                  exp.Between(this=day, low=_n(1), high=days_in_month(year, month))]
    if "hour12" in fields:
        hour = _sum(_op(exp.Mod, value("hour12", low=1, high=12), _n(12)), _pattern_column("pm"))
    else:
        hour = value("hour", high=23)
    clock = _sum(_op(exp.Mul, hour, _n(MICROS["hour"])), _op(exp.Mul, value("minute", high=59), _n(MICROS["minute"])),
                 _op(exp.Mul, value("second", high=60), _n(MICROS["second"])),  # :60 is the next minute
                 value("fraction"))
    if "zone_sign" in fields:
        utc = _utc(days, clock, _pattern_column("zone_sign"), value("zone_hour", high=23),
                   _pattern_column("zone_minute"))
    else:
        utc = _sum(_op(exp.Mul, days, _n(DAY)), clock)
    return exp.Case(ifs=[exp.If(this=exp.and_(*valid), true=utc)])


def _pattern_name(field: str) -> str:
    return f"segtool_ts_{field}"


def _pattern_column(field: str) -> exp.Expression:
    return exp.column(_pattern_name(field))


def _column_name(field: str) -> str:
    return f"segtool_iso_{field}"


def _column(field: str) -> exp.Expression:
    return exp.column(_column_name(field))


def days_in_month(year: exp.Expression, month: exp.Expression) -> exp.Expression:
    def divisible(by: int) -> exp.Expression:
        return exp.EQ(this=_op(exp.Mod, year, _n(by)), expression=_n(0))

    leap = exp.or_(exp.and_(divisible(4), exp.Not(this=divisible(100))), divisible(400))
    short = exp.In(this=month, expressions=[_n(4), _n(6), _n(9), _n(11)])
    return exp.Case(ifs=[exp.If(this=exp.EQ(this=month, expression=_n(2)),
                                true=exp.Case(ifs=[exp.If(this=leap, true=_n(29))], default=_n(28))),
                         exp.If(this=short, true=_n(30))], default=_n(31))


def days_from_civil(year: exp.Expression, month: exp.Expression, day: exp.Expression,
                    dialect: Dialect) -> exp.Expression:
    """Days from 1970-01-01 to a day of the proleptic Gregorian calendar (Howard Hinnant's days_from_civil),
    for the years 0000-9999: shifted by 400 years (146097 days), every division is of non-negative integers."""
    before_march = exp.Case(ifs=[exp.If(this=exp.LTE(this=month, expression=_n(2)), true=_n(1))], default=_n(0))
    march_year = _op(exp.Sub, _sum(year, _n(400)), before_march)
    era = _div(dialect, march_year, 400)
    year_of_era = _op(exp.Sub, march_year, _op(exp.Mul, era, _n(400)))
    month_from_march = _op(exp.Mod, _sum(month, _n(9)), _n(12))
    day_of_year = _op(exp.Sub, _sum(_div(dialect, _sum(_op(exp.Mul, _n(153), month_from_march), _n(2)), 5), day),
                      _n(1))
    day_of_era = _sum(_op(exp.Sub, _sum(_op(exp.Mul, year_of_era, _n(365)), _div(dialect, year_of_era, 4)),
                          _div(dialect, year_of_era, 100)), day_of_year)
    return _op(exp.Sub, _sum(_op(exp.Mul, era, _n(146097)), day_of_era), _n(719468 + 146097))


def iso_text(value: exp.Expression, stored: str, dialect: Dialect) -> exp.Expression:
    """A column stored as dates (`stored` "date") or date-times as the text the polars engine reads it as
    (inputs.tables.Table.typed): YYYY-MM-DD, or the date-time's UTC wall clock as YYYY-MM-DD HH:MM:SS.ffffff.
    The date as the dialect writes a DATE, the clock added up from the microseconds of the day."""
    if stored == "date":
        return dialect.date_text(value)
    instant = exp.cast(value, "TIMESTAMPTZ")
    # microseconds since midnight: % keeps the sign of the dividend in every dialect, so twice for the floor
    of_day = _op(exp.Mod, _sum(_op(exp.Mod, dialect.micros(instant.copy()), _n(DAY)), _n(DAY)), _n(DAY))

    def padded(micros_per_unit: int, units: int | None, digits: int) -> exp.Expression:
        count = _div(dialect, of_day.copy(), micros_per_unit) if micros_per_unit > 1 else of_day.copy()
        count = _op(exp.Mod, count, _n(units)) if units is not None else count
        zeros = exp.DPipe(this=exp.Literal.string("0" * (digits - 1)), expression=exp.cast(count, "VARCHAR"))
        return exp.Right(this=zeros, expression=_n(digits))

    parts = [dialect.date_text(exp.cast(instant, "DATE")), exp.Literal.string(" "), padded(MICROS["hour"], None, 2),
             exp.Literal.string(":"), padded(MICROS["minute"], 60, 2), exp.Literal.string(":"),
             padded(MICROS["second"], 60, 2), exp.Literal.string("."), padded(1, 1_000_000, 6)]
    text = parts[0]
    for part in parts[1:]:
        text = exp.DPipe(this=text, expression=part)
    return text
