"""Rules on single events (referrer, referrer_domain, utm_*, url): which visitors have a matching event.

Real exports hold millions of distinct referrers and landing URLs, so nothing here is done once per
distinct value by default. Each rule gets a cheap test over the raw columns that every matching event
passes (a literal search, the period, the UTM column, `utm_x=` in the URL): the candidates. Only candidates
get the costly derived values (the referrer's host and whether it is the site's own, UTMs read from the
URL), and only there is the exact test run. Where many candidates need a host or a UTM and their values
repeat (judged on a sample of the export), the derived values are computed once per distinct value and
joined back instead. Either way the result is the rule's exact answer; memory grows with the visitors
(the per-visitor flags), not with the events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import polars as pl

from ...language.catalog import UTM_FIELDS
from ...language.operators import Predicate
from . import expressions as ex
from ...inputs.tables import VID

INTERNAL, DOMAIN = "internal", "referrer_domain"  # derived from the referrer's host
SAMPLE_ROWS = 200_000
DISTINCT_PAYS_ROWS = 1_000_000  # candidates needing a value beyond which a distinct pass is considered
DISTINCT_PAYS_RATIO = 0.5       # ... and chosen when distinct values per candidate are below this in the sample


@dataclass(frozen=True)
class Test:
    """A test of single events: `prefilter` (cheap, over raw columns) holds wherever `exact` (over raw and
    `derived` columns) can hold, so `exact` is only worked out where `prefilter` holds."""

    prefilter: pl.Expr
    exact: pl.Expr = field(default_factory=lambda: pl.lit(True))
    derived: frozenset[str] = frozenset()  # INTERNAL, DOMAIN, utm_* (read from the URL)

    def __and__(self, other: "Test") -> "Test":
        return Test(self.prefilter & other.prefilter, self.exact & other.exact, self.derived | other.derived)

    @property
    def negated(self) -> "Test":
        """The events where this test fails: any event may, so no prefilter."""
        return Test(pl.lit(True), ~(self.prefilter & self.exact).fill_null(False), self.derived)


@dataclass
class EventTest:
    """One rule's test of single events, aggregated per visitor: `any` (has such an event) or `count`."""

    name: str
    prefilter: pl.Expr
    exact: pl.Expr
    derived: frozenset[str] = field(default_factory=frozenset)
    aggregate: str = "any"

    @classmethod
    def of(cls, name: str, test: Test, window: pl.Expr, aggregate: str = "any") -> "EventTest":
        return cls(name, window & test.prefilter, test.exact, test.derived, aggregate)

    @property
    def reads_only_time(self) -> bool:
        """A test of the period alone (`last_seen: {within: D}`, `event: {count: ...}` with no condition)."""
        return not self.derived and set(self.prefilter.meta.root_names()) <= {"timestamp"} \
            and not self.exact.meta.root_names()

    @property
    def default(self):
        """The value for a visitor without a candidate event."""
        return 0.0 if self.aggregate == "count" else False


def field_test(field_name: str, p: Predicate, has_column, column: str = "", value_type: str = "text",
               dtype: pl.DataType | None = pl.String) -> Test:
    """The test of `p` (negation included) on one event field: a canonical one (`url`, `referrer`,
    `referrer_domain`, `utm_*`), or any events `column` compared by `value_type`."""
    if p.negated:
        return field_test(field_name, replace(p, negated=False, written=""), has_column, column, value_type,
                          dtype).negated
    if field_name == "url":
        return Test(ex.matches(pl.col("url"), p, "text", pl.String))
    if field_name == "referrer":  # the raw referrer, when it is not the site's own
        return Test(ex.matches(pl.col("referrer"), p, "text", pl.String), ~pl.col(INTERNAL), frozenset({INTERNAL}))
    if field_name == "referrer_domain":
        literal = _literals(p)
        raw = pl.col("referrer")
        maybe = raw.is_not_null() if literal is None else raw.str.contains(_any_literal(literal, True))
        return Test(maybe, ex.matches(pl.col(DOMAIN), p, "text", pl.String), frozenset({DOMAIN}))
    if field_name in UTM_FIELDS:  # a UTM: its column where set, else the URL's query string
        utm = pl.col(field_name)
        in_url = _in_url(field_name) if has_column("url") else pl.lit(False)
        maybe = (ex.matches(utm, p, "text", pl.String) | (utm.is_null() & in_url)) if has_column(field_name) \
            else in_url
        return Test(maybe, ex.matches(pl.col(f"derived:{field_name}"), p, "text", pl.String), frozenset({field_name}))
    return Test(ex.matches(pl.col(column), p, value_type, dtype))


def _in_url(utm: str) -> pl.Expr:
    """Whether the URL may carry the UTM parameter (what utm_from_url reads needs `utm_x=` in it)."""
    return pl.col("url").str.contains(f"{utm}=", literal=True)


def _literals(p: Predicate) -> tuple[str, ...] | None:
    """Texts one of which the raw referrer must contain (ignoring case) for a domain to meet `p`."""
    if p.op in ("is", "contains", "starts_with", "ends_with"):
        return (p.value.removeprefix("www."),) if p.value else None
    if p.op == "in" and all(p.value) and len(p.value) <= MAX_LITERALS:
        return tuple(v.removeprefix("www.") for v in p.value)
    return None  # matches, is_set, a very long list: no text is certain (or cheap to search for)


MAX_LITERALS = 1_000  # an `in:` list beyond this is no search pattern (the regex engine has a size limit)


def _any_literal(texts: tuple[str, ...], ignore_case: bool) -> str:
    return ("(?i)" if ignore_case else "") + "|".join(re.escape(t) for t in texts)


def event_flags(events: pl.LazyFrame, tests: list[EventTest], site_domains: tuple[str, ...],
                sample: pl.DataFrame | None = None, rows: int | None = None) -> pl.LazyFrame:
    """visitor_id and one boolean column per test: whether one of the visitor's `events` passes it. Only
    visitors with a candidate event are listed (the others have no matching event).

    `sample` (the first rows of `events`) and `rows` (an estimate of their number) decide, per derived
    value, whether to compute it per candidate or once per distinct value."""
    return _candidates(events, tests, site_domains, sample, rows).group_by(VID).agg(aggregate(t) for t in tests)


def _candidates(events: pl.LazyFrame, tests: list[EventTest], site_domains: tuple[str, ...], sample, rows
                ) -> pl.LazyFrame:
    """The events that pass some test's prefilter, with the derived columns the tests' exact parts read."""
    candidates = events.filter(pl.any_horizontal([t.prefilter for t in tests]))
    needed = frozenset().union(*(t.derived for t in tests))
    if needed & {INTERNAL, DOMAIN}:
        users = [t for t in tests if t.derived & {INTERNAL, DOMAIN}]
        candidates = _with_host(candidates, users, site_domains, sample, rows)
    for utm in sorted(needed - {INTERNAL, DOMAIN}):
        candidates = _with_utm(candidates, [t for t in tests if utm in t.derived], utm, sample, rows)
    return candidates


def aggregate(test: EventTest) -> pl.Expr:
    """The test's answer for one visitor's events (in a group_by over visitors)."""
    passes = (test.prefilter & test.exact).fill_null(False)
    if test.aggregate == "count":  # count rows rather than sum `passes`: a test may be a literal, which sums to 1
        return pl.when(passes).then(pl.col("timestamp")).count().cast(pl.Float64).alias(test.name)
    return passes.any().alias(test.name)


def matching_events(events: pl.LazyFrame, tests: list[EventTest], site_domains: tuple[str, ...]) -> pl.LazyFrame:
    """visitor_id, timestamp and one boolean column per test of each event that passes one (for sequences:
    one read for every step)."""
    passes = [(t.prefilter & t.exact).fill_null(False).alias(t.name) for t in tests]
    return _candidates(events, tests, site_domains, None, None).select(VID, "timestamp", *passes).filter(
        pl.any_horizontal(pl.col(t.name) for t in tests))


def _with_host(candidates: pl.LazyFrame, users: list[EventTest], site_domains: tuple[str, ...], sample, rows
               ) -> pl.LazyFrame:
    """`internal` and `referrer_domain` (null for the site's own referrers), on the candidates of the tests
    that read them (`users`)."""
    def derive(values: pl.LazyFrame, wanted: pl.Expr) -> pl.LazyFrame:
        domain = ex.referrer_domain(pl.when(wanted).then(pl.col("referrer")))
        internal = ex.is_internal(domain, site_domains)
        return values.with_columns(internal.alias(INTERNAL), pl.when(internal).then(None).otherwise(domain).alias(DOMAIN))

    return _derive(candidates, "referrer", derive, (INTERNAL, DOMAIN), users, sample, rows)


def _with_utm(candidates: pl.LazyFrame, users: list[EventTest], utm: str, sample, rows) -> pl.LazyFrame:
    """`derived:<utm>`: the UTM column where set, else the parameter in the URL's query string (read on the
    candidates of the tests that need it, `users`)."""
    schema = candidates.collect_schema()
    column = pl.col(utm) if utm in schema else pl.lit(None, pl.String)
    if "url" in schema:
        def derive(values: pl.LazyFrame, wanted: pl.Expr) -> pl.LazyFrame:
            url = pl.when(wanted & column.is_null()).then(pl.col("url"))
            return values.with_columns(ex.percent_decoded(ex.utm_from_url(url, utm)).alias(f"from_url:{utm}"))

        candidates = _derive(candidates, "url", derive, (f"from_url:{utm}",), users, sample, rows)
        column = pl.coalesce(column, pl.col(f"from_url:{utm}"))
    return candidates.with_columns(column.alias(f"derived:{utm}"))


def _derive(candidates: pl.LazyFrame, key: str, derive, added: tuple[str, ...], users: list[EventTest],
            sample: pl.DataFrame | None, rows: int | None) -> pl.LazyFrame:
    """`derive(frame, wanted)` (which adds the columns `added`, computed from `key` where `wanted` holds) for
    the candidates of `users`: per row (the other rows' inputs are nulled, which string functions skip), or
    once per distinct value of `key` joined back, whichever the sample says pays."""
    wanted = pl.any_horizontal([t.prefilter for t in users])
    if not _distinct_pays(sample, users, key, rows):
        return derive(candidates, wanted)
    values = candidates.filter(wanted).select(pl.col(key).unique().drop_nulls())
    lookup = derive(values, pl.lit(True)).select(key, *added)
    return candidates.join(lookup, on=key, how="left")


def _distinct_pays(sample: pl.DataFrame | None, tests: list[EventTest], key: str, rows: int | None) -> bool:
    """Whether the candidates' `key` values repeat enough, and are many enough, for a distinct pass: judged
    on the export's first rows (`sample`), scaled to its `rows`."""
    if sample is None or sample.height == 0 or rows is None:
        return False
    picked = sample.lazy().filter(pl.any_horizontal([t.prefilter for t in tests]) & pl.col(key).is_not_null()).select(
        pl.len().alias("n"), pl.col(key).n_unique().alias("distinct")).collect()
    n, distinct = picked.row(0)
    return n * rows / sample.height > DISTINCT_PAYS_ROWS and distinct < DISTINCT_PAYS_RATIO * n
