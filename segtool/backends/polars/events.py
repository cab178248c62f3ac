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
from dataclasses import dataclass, replace

import polars as pl

from ...inputs.tables import VID
from ...plan import ir
from . import expressions as ex
from .translate import Context, translate

SAMPLE_ROWS = 200_000
DISTINCT_PAYS_ROWS = 1_000_000  # candidates needing a value beyond which a distinct pass is considered
DISTINCT_PAYS_RATIO = 0.5       # ... and chosen when distinct values per candidate are below this in the sample
COSTLY = (ir.Host, ir.UrlParameter)  # derived from a referrer or a URL: worked out on candidates only


@dataclass
class EventTest:
    """One rule's test of single events (`where`, a predicate of the lowered plan), aggregated per visitor:
    `any` (has such an event) or `count`. `prefilter` (cheap, over raw columns) holds wherever `where` can
    hold, so `where` is only worked out where `prefilter` holds; `costly` are the derived values it reads."""

    name: str
    fn: str
    where: ir.Node
    prefilter: pl.Expr
    costly: tuple[ir.Node, ...]

    @classmethod
    def of(cls, name: str, fn: str, where: ir.Node, ctx: Context) -> "EventTest":
        found = candidate_test(where, ctx)
        costly = tuple(dict.fromkeys(n for n in ir.walk(where) if isinstance(n, COSTLY)))
        return cls(name, fn, where, pl.lit(True) if found is None else found, costly)

    @property
    def reads_only_time(self) -> bool:
        """A test of the period alone (`last_seen: {within: D}`, `event: {count: ...}` with no condition)."""
        return not self.costly and {n.name for n in ir.walk(self.where) if isinstance(n, ir.Column)} <= {"timestamp"}


def candidate_test(node: ir.Node, ctx: Context) -> pl.Expr | None:
    """A test over the raw columns that every event meeting `node` passes (None: any event may)."""
    if not any(isinstance(n, COSTLY) for n in ir.walk(node)):
        return translate(node, ctx)
    if isinstance(node, ir.And):
        parts = [p for p in (candidate_test(part, ctx) for part in node.parts) if p is not None]
        return pl.all_horizontal(parts) if parts else None
    if isinstance(node, ir.Or):
        parts = [candidate_test(part, ctx) for part in node.parts]
        return None if any(p is None for p in parts) else pl.any_horizontal(parts)
    if isinstance(node, (ir.TextTest, ir.Present)):
        return _may_meet(node.value, node, ctx)
    return None  # a negation, say: any event may fail a test


def _may_meet(value: ir.Node, test: ir.Node, ctx: Context) -> pl.Expr | None:
    """A cheap test every event passes whose `value` meets `test` (a TextTest or Present of a value)."""
    if isinstance(value, ir.Coalesce) and not any(isinstance(n, COSTLY) for n in ir.walk(value.values[0])):
        first, rest = value.values[0], value.values[1:]
        later = _may_meet(rest[0] if len(rest) == 1 else ir.Coalesce(rest), test, ctx)
        met = translate(replace(test, value=first), ctx)
        return None if later is None else met | (translate(first, ctx).is_null() & later)
    if isinstance(value, ir.UrlParameter):  # what utm_from_url reads needs `name=` in the URL
        return translate(value.url, ctx).str.contains(f"{value.name}=", literal=True)
    host = value.default if isinstance(value, ir.Case) and isinstance(value.default, ir.Host) else value
    if isinstance(host, ir.Host):  # a host meeting a literal test holds the literal, ignoring case
        raw = translate(host.url, ctx)
        literal = _literals(test) if isinstance(test, ir.TextTest) else None
        return raw.is_not_null() if literal is None else raw.str.contains(_any_literal(literal, True))
    return None


def _literals(test: ir.TextTest) -> tuple[str, ...] | None:
    """Texts one of which the raw referrer must contain (ignoring case) for a host to meet the test."""
    if test.op in ("is", "contains", "starts_with", "ends_with"):
        return (test.operand.removeprefix("www."),) if test.operand else None
    if test.op == "in" and all(test.operand) and len(test.operand) <= MAX_LITERALS:
        return tuple(v.removeprefix("www.") for v in test.operand)
    return None  # matches, a very long list: no text is certain (or cheap to search for)


MAX_LITERALS = 1_000  # an `in:` list beyond this is no search pattern (the regex engine has a size limit)


def _any_literal(texts: tuple[str, ...], ignore_case: bool) -> str:
    return ("(?i)" if ignore_case else "") + "|".join(re.escape(t) for t in texts)


def event_flags(events: pl.LazyFrame, tests: list[EventTest], ctx: Context, sample: pl.DataFrame | None = None,
                rows: int | None = None) -> pl.LazyFrame:
    """visitor_id and one column per test: whether one of the visitor's `events` passes it (or how many
    do). Only visitors with a candidate event are listed (the others have no matching event).

    `sample` (the first rows of `events`) and `rows` (an estimate of their number) decide, per derived
    value, whether to compute it per candidate or once per distinct value."""
    candidates, derived = _candidates(events, tests, ctx, sample, rows)
    inner = ctx.within(derived)
    return candidates.group_by(VID).agg(aggregate(t, inner) for t in tests)


def aggregate(test: EventTest, ctx: Context) -> pl.Expr:
    """The test's answer for one visitor's events (in a group_by over visitors)."""
    passes = (test.prefilter & translate(test.where, ctx)).fill_null(False)
    if test.fn == "count":  # count rows rather than sum `passes`: a test may be a literal, which sums to 1
        return pl.when(passes).then(pl.col("timestamp")).count().cast(pl.Float64).alias(test.name)
    return passes.any().alias(test.name)


def matching_events(events: pl.LazyFrame, tests: list[EventTest], ctx: Context) -> pl.LazyFrame:
    """visitor_id, timestamp and one boolean column per test of each event that passes one (for sequences:
    one read for every step)."""
    candidates, derived = _candidates(events, tests, ctx, None, None)
    inner = ctx.within(derived)
    passes = [(t.prefilter & translate(t.where, inner)).fill_null(False).alias(t.name) for t in tests]
    return candidates.select(VID, "timestamp", *passes).filter(pl.any_horizontal(pl.col(t.name) for t in tests))


def _candidates(events: pl.LazyFrame, tests: list[EventTest], ctx: Context, sample, rows
                ) -> tuple[pl.LazyFrame, dict[ir.Node, str]]:
    """The events that pass some test's prefilter, with a column for each costly value the tests read."""
    candidates = events.filter(pl.any_horizontal([t.prefilter for t in tests]))
    derived: dict[ir.Node, str] = {}
    for node in dict.fromkeys(n for t in tests for n in t.costly):
        name = derived[node] = f"derived:{len(derived)}"
        users = [t for t in tests if node in t.costly]
        candidates = _derive(candidates, node, name, users, ctx, sample, rows)
    return candidates, derived


def _derive(candidates: pl.LazyFrame, node: ir.Node, name: str, users: list[EventTest], ctx: Context,
            sample: pl.DataFrame | None, rows: int | None) -> pl.LazyFrame:
    """The column `name`: the costly value `node` on the candidates of the tests that read it (`users`); per
    row (the other rows' inputs are nulled, which string functions skip), or once per distinct input value
    joined back, whichever the sample says pays."""
    key = node.url.name  # a Host or a UrlParameter of a column
    wanted = pl.any_horizontal([t.prefilter for t in users])
    if not _distinct_pays(sample, users, key, rows):
        masked = f"{name}:input"
        value = translate(replace(node, url=ir.Column(masked)), Context(ctx.features))
        return candidates.with_columns(pl.when(wanted).then(pl.col(key)).alias(masked)).with_columns(
            value.alias(name))
    values = candidates.filter(wanted).select(pl.col(key).unique().drop_nulls())
    value = translate(node, Context(ctx.features))
    return candidates.join(values.with_columns(value.alias(name)), on=key, how="left")


def _distinct_pays(sample: pl.DataFrame | None, tests: list[EventTest], key: str, rows: int | None) -> bool:
    """Whether the candidates' `key` values repeat enough, and are many enough, for a distinct pass: judged
    on the export's first rows (`sample`), scaled to its `rows`."""
    if sample is None or sample.height == 0 or rows is None:
        return False
    picked = sample.lazy().filter(pl.any_horizontal([t.prefilter for t in tests]) & pl.col(key).is_not_null()).select(
        pl.len().alias("n"), pl.col(key).n_unique().alias("distinct")).collect()
    n, distinct = picked.row(0)
    return n * rows / sample.height > DISTINCT_PAYS_ROWS and distinct < DISTINCT_PAYS_RATIO * n
