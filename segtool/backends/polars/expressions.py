"""The primitives of the polars backend: operators (one table entry each) and the values derived from text."""

from __future__ import annotations

import re
from collections.abc import Callable

import polars as pl

from ...plan.semantics import ASCII_UPPER, HOST_PATTERN


def _folded(pattern: str) -> str:
    """A regular expression that ignores case (Unicode simple case folding): faster than lower-casing."""
    return "(?i)" + pattern


TEXT_OPERATORS: dict[str, Callable[[pl.Expr, object, bool], pl.Expr]] = {
    "is": lambda c, v, ic: c.str.contains(_folded(f"^{re.escape(v)}$")) if ic else c == v,
    "in": lambda c, v, ic: c.str.contains(_folded(f"^(?:{'|'.join(map(re.escape, v))})$")) if ic else c.is_in(list(v)),
    "contains": lambda c, v, ic: c.str.contains(_folded(re.escape(v))) if ic else c.str.contains(v, literal=True),
    "starts_with": lambda c, v, ic: c.str.contains(_folded(f"^{re.escape(v)}")) if ic else c.str.starts_with(v),
    "ends_with": lambda c, v, ic: c.str.contains(_folded(f"{re.escape(v)}$")) if ic else c.str.ends_with(v),
    "matches": lambda c, v, ic: c.str.contains(("(?i)" if ic else "") + v),
}

NUMBER_OPERATORS: dict[str, Callable[[pl.Expr, object], pl.Expr]] = {
    "eq": lambda c, v: c == v,
    "in": lambda c, v: c.is_in(list(v)),
    "lt": lambda c, v: c < v,
    "lte": lambda c, v: c <= v,
    "gt": lambda c, v: c > v,
    "gte": lambda c, v: c >= v,
    "between": lambda c, v: c.is_between(v[0], v[1], closed="both"),
}


def numbers(column: pl.Expr, dtype: pl.DataType | None) -> pl.Expr:
    """A column as Float64 numbers: text that is not a number, and NaN, are missing."""
    if dtype is None or not dtype.is_numeric():
        column = column.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
    return column.cast(pl.Float64).fill_nan(None)


# -- event values ----------------------------------------------------------------


def host(url: pl.Expr) -> pl.Expr:
    """A URL's host, lower-cased (ASCII letters), without port, a leading www. and a trailing dot."""
    found = url.str.extract("(?i)" + HOST_PATTERN, 1).str.replace_many(list(ASCII_UPPER), list(ASCII_UPPER.lower()))
    return found.str.replace(r"^www\.", "").str.strip_suffix(".")


def is_internal(domain: pl.Expr, site_domains: tuple[str, ...]) -> pl.Expr:
    """Whether a referrer domain is one of the site's own domains or a subdomain of one."""
    if not site_domains:
        return pl.lit(False)
    own = pl.any_horizontal([(domain == d) | domain.str.ends_with("." + d) for d in site_domains])
    return own.fill_null(False)


def utm_from_url(url: pl.Expr, parameter: str) -> pl.Expr:
    """A UTM parameter from a URL's query string (after `?`, before `#`; the last if it is there twice), as
    written: still percent-encoded (see `percent_decoded`).

    The exact pattern is slow on long URLs (it captures from the start of the URL), so the usual case is
    taken apart with literal searches: one `utm_x=` in the URL, after its first `?` and before any `#`; the
    exact pattern reads only the other URLs."""
    exact = rf"^[^?#]*\?(?:[^#]*&)?{parameter}=([^&#]*)"
    at = url.str.find(rf"[?&]{parameter}=")
    query, fragment = url.str.find("?", literal=True), url.str.find("#", literal=True)
    after_first = (at == query) | (url.str.slice(at, 1) == "&")  # not after a second `?`: that is query text
    usual = ((url.str.count_matches(f"{parameter}=", literal=True) == 1) & (at >= query) & after_first
             & (fragment.is_null() | (at < fragment)))
    return pl.when(usual).then(url.str.extract(rf"[?&]{parameter}=([^&#]*)", 1)).otherwise(
        pl.when(~usual).then(url).str.extract(exact, 1))


def percent_decoded(value: pl.Expr) -> pl.Expr:
    """`value` percent-decoded (`+` as a space). Only values with a `%` or `+` go to Python, once per distinct
    value in a batch (query values repeat heavily); the others stay as they are."""
    escaped = pl.when(value.str.contains("[%+]")).then(value)
    return pl.coalesce(escaped.map_batches(_unquote, return_dtype=pl.String, is_elementwise=True), value)


def _unquote(values: pl.Series) -> pl.Series:
    from urllib.parse import unquote_plus

    distinct = values.drop_nulls().unique()
    decoded = pl.Series([unquote_plus(v) for v in distinct.to_list()], dtype=pl.String)
    return values.replace_strict(distinct, decoded, default=None, return_dtype=pl.String)


def sample_bucket(visitor_id: pl.Expr, seed: str) -> pl.Expr:
    """The visitor's bucket, 0-9999, for `seed` (sampling.bucket: md5 of seed and ID, stable everywhere)."""
    from ...plan.sampling import buckets

    return visitor_id.map_batches(lambda ids: pl.Series(buckets(seed, ids.to_list()), dtype=pl.Int64),
                                  return_dtype=pl.Int64, is_elementwise=True)


def as_instant(text: pl.Expr, zone: str) -> pl.Expr:
    """A profile column's ISO 8601 text (dates and date-times are read as such) as a UTC instant: a date-time
    (naive ones are UTC) or a date (its midnight in `zone`, the run's calendar); anything else is missing."""
    from ...inputs.tables import DATE_FORMAT, ISO_FORMATS, UTC_US

    text = text.cast(pl.String).str.strip_chars()
    moments = [text.str.to_datetime(f, strict=False, time_zone="UTC", time_unit="us") for f in ISO_FORMATS
               if f != DATE_FORMAT]
    return pl.coalesce([*moments, local_midnight(text.str.to_date(DATE_FORMAT, strict=False), zone)]).cast(UTC_US)


def local_midnight(day: pl.Expr, zone: str) -> pl.Expr:
    """The instant a date starts in `zone`, as timeframe.midnight: its midnight (the first of two where the
    clocks go back over it; where they skip it, the end of the skipped hour)."""
    naive = day.cast(pl.Datetime("us"))
    starts = [(naive + pl.duration(hours=h)).dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
              for h in (0, 1)]
    return pl.coalesce(starts).dt.convert_time_zone("UTC")
