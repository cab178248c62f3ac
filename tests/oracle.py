"""An independent oracle: SPEC.md's semantics written as DuckDB SQL over the same export files.

Nothing here is shared with segtool's engine; each segment is hand-written SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import duckdb



@dataclass
class AsOf:
    """A datetime means `ts <= T`; a date D means `ts < D+1 00:00 UTC`."""

    end: datetime
    inclusive: bool

    def window(self, days: float, ts: str = "ts") -> str:
        """SQL for "the timestamp `ts` lies in the last `days` days"."""
        start = self.end - timedelta(days=days)
        if self.inclusive:
            return f"({ts} > {_ts(start)} AND {ts} <= {_ts(self.end)})"
        return f"({ts} >= {_ts(start)} AND {ts} < {_ts(self.end)})"


def _ts(moment: datetime) -> str:
    return f"TIMESTAMPTZ '{moment.isoformat()}'"


def _reader(path: str) -> str:
    if path.endswith(".csv"):
        return f"read_csv('{path}', all_varchar = true)"
    return f"read_parquet('{path}')"


class Oracle:
    def __init__(self, events: str, profiles: str, items: str, as_of: str, site_domain: str = "shop.example"):
        self.db = duckdb.connect()
        self.db.execute("SET TimeZone = 'UTC'")
        csv = events.endswith(".csv")
        ts = "CAST(timestamp AS TIMESTAMPTZ)"
        value = "CAST(order_value AS DOUBLE)"
        self.db.execute(f"CREATE VIEW raw AS SELECT visitor_id, {ts} AS ts, event_type, url, referrer, utm_source, "
                        f"utm_medium, utm_campaign, order_id, {value} AS order_value FROM {_reader(events)}")
        self.as_of = self._as_of(as_of)
        end, op = _ts(self.as_of.end), "<=" if self.as_of.inclusive else "<"
        # RFC 3986's host: after an optional scheme and `//` and an optional userinfo (up to an @), up to the
        # port, path, query or fragment (one regular expression: DuckDB evaluates nested string functions slowly)
        host = "regexp_extract(referrer, '^(?:(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?//)?(?:[^@/?#]*@)?([^:/?#]*)', 1)"
        domain = f"rtrim(regexp_replace(lower({host}), '^www[.]', ''), '.')"
        internal = f"(d = '{site_domain}' OR ends_with(d, '.{site_domain}'))"

        def utm(name: str) -> str:
            from_url = (f"url_decode(replace(nullif(regexp_extract(url, '^[^?#]*\\?(?:[^#]*&)?{name}=([^&#]*)', 1), ''), '+', ' '))")
            return f"coalesce(nullif({name}, ''), {from_url}) AS {name}" if csv else \
                f"coalesce({name}, {from_url}) AS {name}"

        self.db.execute(f"""
            CREATE VIEW ev AS
            SELECT visitor_id, ts, event_type, url,
                   CASE WHEN {internal} THEN NULL ELSE nullif(referrer, '') END AS referrer,
                   CASE WHEN {internal} THEN NULL ELSE nullif(d, '') END AS referrer_domain,
                   {utm('utm_source')}, {utm('utm_medium')}, {utm('utm_campaign')},
                   nullif(order_id, '') AS order_id, order_value
            FROM (SELECT *, {domain} AS d FROM raw)
            WHERE visitor_id IS NOT NULL AND visitor_id <> '' AND ts IS NOT NULL AND ts {op} {end}""")
        self.db.execute("""
            CREATE VIEW conv AS
            SELECT visitor_id, order_id, min(ts) AS ts, first(order_value ORDER BY ts, order_value NULLS LAST) AS order_value
            FROM ev WHERE event_type = 'conversion' AND order_id IS NOT NULL GROUP BY visitor_id, order_id
            UNION ALL
            SELECT visitor_id, order_id, ts, order_value FROM ev WHERE event_type = 'conversion' AND order_id IS NULL""")
        numbers = ", ".join(f"CAST(nullif(CAST({c} AS VARCHAR), '') AS DOUBLE) AS {c}"
                            for c in ("latitude", "longitude", "conversion_potential", "clv"))
        # one row per visitor, its first (a profile export may repeat a visitor); no blank IDs
        order = "file_row_number" if not profiles.endswith(".csv") else "rn"
        source = (f"read_parquet('{profiles}', file_row_number = true)" if not profiles.endswith(".csv")
                  else f"(SELECT *, row_number() OVER () AS rn FROM {_reader(profiles)})")
        self.db.execute(f"CREATE VIEW prof AS SELECT * EXCLUDE (latitude, longitude, conversion_potential, clv, "
                        f"{order}), {numbers} FROM {source} WHERE regexp_matches(visitor_id, '\\S') "
                        f"QUALIFY row_number() OVER (PARTITION BY visitor_id ORDER BY {order}) = 1")
        self.db.execute(f"CREATE VIEW items AS SELECT * FROM {_reader(items)}")
        self.db.execute("CREATE VIEW universe AS SELECT visitor_id FROM prof UNION SELECT visitor_id FROM ev")
        self.db.execute(f"""
            CREATE VIEW grid AS
            SELECT u.visitor_id,
                   CASE WHEN n IS NULL THEN 'never_converted'
                        WHEN days <= 90 AND n = 1 THEN 'one_time_buyer'
                        WHEN days <= 90 AND n <= 3 THEN 'promising'
                        WHEN days <= 90 THEN 'loyal'
                        WHEN n <= 3 THEN 'sleeper'
                        ELSE 'red_alert' END AS cell
            FROM universe u LEFT JOIN (
                SELECT visitor_id, count(*) AS n,
                       floor(date_diff('microsecond', max(ts), {end}) / 86400000000) AS days
                FROM conv GROUP BY visitor_id) c USING (visitor_id)""")

    def _as_of(self, as_of: str) -> AsOf:
        if as_of == "latest":
            (micros,) = self.db.execute("SELECT epoch_us(max(ts)) FROM raw WHERE visitor_id IS NOT NULL").fetchone()
            return AsOf(datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=micros), True)
        if len(as_of) == 10:
            day = datetime.fromisoformat(as_of).replace(tzinfo=timezone.utc)
            return AsOf(day + timedelta(days=1), False)
        return AsOf(datetime.fromisoformat(as_of.replace("Z", "+00:00")), True)

    def ids(self, sql: str) -> set[str]:
        return {row[0] for row in self.db.execute(sql).fetchall()}

    # -- building blocks ------------------------------------------------------------------------
    def converted_within(self, days: float) -> str:
        return f"SELECT visitor_id FROM conv WHERE {self.as_of.window(days)}"

    def bought_item(self, condition: str) -> str:
        return f"SELECT c.visitor_id FROM conv c JOIN items i ON i.order_id = c.order_id WHERE {condition}"

    def seen_within(self, days: float) -> str:
        return f"SELECT visitor_id FROM ev GROUP BY visitor_id HAVING {self.as_of.window(days, 'max(ts)')}"

    @staticmethod
    def sample(percent: float, seed: str) -> str:
        """md5 of `seed:visitor_id`, its first 8 hex digits as a number, modulo 10000, below percent × 100
        (DuckDB multiplies the percent as written exactly: a decimal literal is a DECIMAL)."""
        bucket = f"CAST(('0x' || left(md5('{seed}:' || visitor_id), 8)) AS UBIGINT) % 10000"
        return f"SELECT visitor_id FROM universe WHERE {bucket} < {percent!r} * 100"

    def abandoned_checkout(self, cart_days: int, checkout_within: str, grace: str) -> str:
        """An add_to_cart, a begin_checkout strictly later and at most `checkout_within` after it, both in the
        last `cart_days` days; `grace` elapsed after the checkout by as_of with no conversion in it."""
        end = _ts(self.as_of.end)
        return f"""
            SELECT DISTINCT c.visitor_id FROM ev c JOIN ev k ON k.visitor_id = c.visitor_id
            WHERE c.event_type = 'add_to_cart' AND k.event_type = 'begin_checkout'
              AND {self.as_of.window(cart_days, 'c.ts')} AND {self.as_of.window(cart_days, 'k.ts')}
              AND k.ts > c.ts AND k.ts <= c.ts + INTERVAL {checkout_within}
              AND k.ts + INTERVAL {grace} {'<=' if self.as_of.inclusive else '<'} {end}
              AND NOT EXISTS (SELECT 1 FROM ev p WHERE p.visitor_id = k.visitor_id AND p.event_type = 'conversion'
                              AND p.ts > k.ts AND p.ts <= k.ts + INTERVAL {grace})"""

    def within_km(self, km: float, lat: float, lon: float) -> str:
        distance = (f"2 * 6371.0088 * asin(sqrt(pow(sin(radians(latitude - {lat}) / 2), 2) + cos(radians({lat})) "
                    f"* cos(radians(latitude)) * pow(sin(radians(longitude - {lon}) / 2), 2)))")
        return f"SELECT visitor_id FROM prof WHERE {distance} <= {km} + 1e-9"


def segment_queries(o: Oracle, milan: tuple[float, float]) -> dict[str, str]:
    """Hand-written SQL for every file in segments/, keyed by segment name."""
    return {
        "instagram_no_purchase_30d": f"""
            SELECT visitor_id FROM ev WHERE referrer = 'https://www.instagram.com/shopexample/'
            EXCEPT {o.converted_within(30)}""",
        "cpc_no_conversion_7d": f"SELECT visitor_id FROM ev WHERE utm_medium = 'cpc' EXCEPT {o.converted_within(7)}",
        "facebook_referrer": "SELECT visitor_id FROM ev WHERE referrer LIKE '%facebook%'",
        "sale_campaign": "SELECT visitor_id FROM ev WHERE lower(utm_campaign) LIKE '%sale%'",
        "product_1000_series": r"SELECT visitor_id FROM ev WHERE regexp_matches(url, '/product/[a-z-]+-1\d{3}$')",
        "one_time_buyers": f"""
            SELECT visitor_id FROM conv WHERE {o.as_of.window(90)} GROUP BY visitor_id HAVING count(*) = 1""",
        "no_conversion_60d": f"SELECT visitor_id FROM universe EXCEPT {o.converted_within(60)}",
        "past_collection_buyers": o.bought_item("i.item_id LIKE 'SS24-%'"),
        "brand_buyers": o.bought_item("i.name ILIKE '%nike%'"),
        "order_value_50_100": "SELECT visitor_id FROM conv WHERE order_value BETWEEN 50 AND 100",
        "aov_100_150": "SELECT visitor_id FROM conv GROUP BY visitor_id HAVING avg(order_value) BETWEEN 100 AND 150",
        "high_conversion_potential": "SELECT visitor_id FROM prof WHERE conversion_potential >= 50",
        "high_clv": "SELECT visitor_id FROM prof WHERE clv >= 1000",
        "valuable_customers": "SELECT visitor_id FROM prof WHERE clv >= 100",
        "economical_customers": "SELECT visitor_id FROM prof WHERE customer_type = 'Economical'",
        "scarcity_persuasion": "SELECT visitor_id FROM prof WHERE persuasion_type = 'Scarcity'",
        "city_amsterdam": "SELECT visitor_id FROM prof WHERE lower(city) = 'amsterdam'",
        "country_benelux": "SELECT visitor_id FROM prof WHERE country IN ('NL', 'BE')",
        "region_lombardy": "SELECT visitor_id FROM prof WHERE country = 'IT' AND region = '09'",
        "near_milan_store": o.within_km(5, *milan),
        "red_alert_customers": "SELECT visitor_id FROM grid WHERE cell = 'red_alert'",
        "loyal_or_promising": "SELECT visitor_id FROM grid WHERE cell IN ('loyal', 'promising')",
        "sleepers": "SELECT visitor_id FROM grid WHERE cell = 'sleeper'",
        "red_alert_nike_buyers": f"""
            SELECT visitor_id FROM grid WHERE cell = 'red_alert' INTERSECT {o.bought_item("i.brand = 'Nike'")}""",
        "abandoned_cart": o.abandoned_checkout(cart_days=30, checkout_within="1 HOUR", grace="2 DAY"),
        "first_time_buyers": f"SELECT visitor_id FROM conv GROUP BY visitor_id HAVING {o.as_of.window(30, 'min(ts)')}",
        "active_holdout": f"{o.seen_within(90)} INTERSECT {o.sample(10, 'spring-promo')}",
        "active_promo_audience": f"""
            ({o.seen_within(90)} EXCEPT {o.sample(10, 'spring-promo')})
            EXCEPT SELECT visitor_id FROM conv GROUP BY visitor_id HAVING {o.as_of.window(30, 'min(ts)')}""",
    }


def field_cases(o: Oracle) -> dict[str, tuple[str, str]]:
    """Rules beyond segments/, one or more per field family: YAML rule → SQL."""
    everyone = "SELECT visitor_id FROM universe"
    return {
        "referrer_domain": ("referrer_domain: {is: instagram.com}",
                            "SELECT visitor_id FROM ev WHERE referrer_domain = 'instagram.com'"),
        "referrer_domain_in": ("referrer_domain: {in: [facebook.com, m.facebook.com, deals-example.net]}",
                               "SELECT visitor_id FROM ev WHERE referrer_domain IN "
                               "('facebook.com', 'm.facebook.com', 'deals-example.net')"),
        "referrer_not_set": ("referrer: {is_set: false}",
                             f"{everyone} EXCEPT SELECT visitor_id FROM ev WHERE referrer IS NOT NULL"),
        "referrer_contains_period": ("referrer: {contains: instagram, period: 14d}",
                                     f"SELECT visitor_id FROM ev WHERE referrer LIKE '%instagram%' "
                                     f"AND {o.as_of.window(14)}"),
        "utm_source_newsletter": ("utm_source: {is: newsletter}",
                                  "SELECT visitor_id FROM ev WHERE utm_source = 'newsletter'"),
        "utm_campaign_spaces": ("utm_campaign: {in: [summer sale, lookalike 2%]}",
                                "SELECT visitor_id FROM ev WHERE utm_campaign IN ('summer sale', 'lookalike 2%')"),
        "utm_medium_is_not": ("utm_medium: {is_not: cpc}",
                              f"{everyone} EXCEPT SELECT visitor_id FROM ev WHERE utm_medium = 'cpc'"),
        "utm_campaign_ignore_case": ("utm_campaign: {starts_with: SUMMER, ignore_case: true}",
                                     "SELECT visitor_id FROM ev WHERE lower(utm_campaign) LIKE 'summer%'"),
        "url_not_contains": ("url: {not_contains: /sale}",
                             f"{everyone} EXCEPT SELECT visitor_id FROM ev WHERE url LIKE '%/sale%'"),
        "conversions_gte_3": ("conversions: {gte: 3}",
                              "SELECT visitor_id FROM conv GROUP BY visitor_id HAVING count(*) >= 3"),
        "conversions_fixed": ("conversions: {gte: 1, period: {from: 2026-01-01, to: 2026-01-31}}",
                              "SELECT visitor_id FROM conv WHERE ts >= TIMESTAMPTZ '2026-01-01 00:00:00+00' "
                              "AND ts < TIMESTAMPTZ '2026-02-01 00:00:00+00'"),
        "total_order_value": ("total_order_value: {gte: 300}",
                              "SELECT visitor_id FROM conv GROUP BY visitor_id "
                              "HAVING coalesce(sum(order_value), 0) >= 300"),
        "total_order_value_zero": ("total_order_value: {lt: 1}",
                                   f"{everyone} EXCEPT SELECT visitor_id FROM conv GROUP BY visitor_id "
                                   f"HAVING coalesce(sum(order_value), 0) >= 1"),
        "days_since_last": ("days_since_last_conversion: {lte: 30}",
                            f"SELECT visitor_id FROM conv GROUP BY visitor_id HAVING floor(date_diff('microsecond', "
                            f"max(ts), {_ts(o.as_of.end)}) / 86400000000) <= 30"),
        "order_value_period": ("order_value: {gte: 150, period: 60d}",
                               f"SELECT visitor_id FROM conv WHERE order_value >= 150 AND {o.as_of.window(60)}"),
        "items_one_line": ("conversions: {gte: 1, items: {brand: {is: Nike}, category: {is: shoes}}}",
                           o.bought_item("i.brand = 'Nike' AND i.category = 'shoes'")),
        "items_negative": ("conversions: {gte: 2, items: {brand: {is_not: Nike}}}",
                           "SELECT visitor_id FROM conv c WHERE EXISTS (SELECT 1 FROM items i WHERE "
                           "i.order_id = c.order_id AND i.brand IS DISTINCT FROM 'Nike') "
                           "GROUP BY visitor_id HAVING count(*) >= 2"),
        "items_price": ("total_order_value: {gte: 100, items: {price: {gte: 80}, quantity: {gte: 2}}}",
                        "SELECT visitor_id FROM conv c WHERE EXISTS (SELECT 1 FROM items i WHERE "
                        "i.order_id = c.order_id AND CAST(i.price AS DOUBLE) >= 80 "
                        "AND CAST(i.quantity AS DOUBLE) >= 2) GROUP BY visitor_id "
                        "HAVING coalesce(sum(order_value), 0) >= 100"),
        "grid_one_time": ("retention_grid: {is: one_time_buyer}",
                          "SELECT visitor_id FROM grid WHERE cell = 'one_time_buyer'"),
        "grid_never": ("retention_grid: {is: never_converted}",
                       "SELECT visitor_id FROM grid WHERE cell = 'never_converted'"),
        "profile_column": ("profile.newsletter: {is: 'yes'}", "SELECT visitor_id FROM prof WHERE newsletter = 'yes'"),
        "city_ignore_case": ("city: {in: [MILAN, amsterdam], ignore_case: true}",
                             "SELECT visitor_id FROM prof WHERE lower(city) IN ('milan', 'amsterdam')"),
        "customer_type_is_not": ("customer_type: {is_not: Economical}",
                                 f"{everyone} EXCEPT SELECT visitor_id FROM prof WHERE customer_type = 'Economical'"),
        "location_paris": ("location: {within_km: 300, of: {lat: 48.8566, lon: 2.3522}}",
                           o.within_km(300, 48.8566, 2.3522)),
        "event_count": ("event: {type: {is: add_to_cart}, url: {contains: /product/}, count: {gte: 3}, period: 60d}",
                        f"SELECT visitor_id FROM ev WHERE event_type = 'add_to_cart' AND url LIKE '%/product/%' "
                        f"AND {o.as_of.window(60)} GROUP BY visitor_id HAVING count(*) >= 3"),
        "event_none": ("event: {type: {is: search}, count: {eq: 0}, period: 30d}",
                       f"{everyone} EXCEPT SELECT visitor_id FROM ev WHERE event_type = 'search' "
                       f"AND {o.as_of.window(30)}"),
        "relative_period": ("conversions: {gte: 1, period: {from: 90d, to: 30d}}",
                            f"SELECT visitor_id FROM conv WHERE {o.as_of.window(90)} AND NOT {o.as_of.window(30)}"),
        "first_seen_before": ("first_seen: {before: 60d}",
                              f"SELECT visitor_id FROM ev GROUP BY visitor_id HAVING min(ts) "
                              f"{'<=' if o.as_of.inclusive else '<'} {_ts(o.as_of.end - timedelta(days=60))}"),
        "last_seen_not_within": ("not: {last_seen: {within: 14d}}",
                                 f"{everyone} EXCEPT SELECT visitor_id FROM ev WHERE {o.as_of.window(14)}"),
        "first_conversion_days": ("first_conversion: {gte: 45}",
                                  f"SELECT visitor_id FROM conv GROUP BY visitor_id HAVING floor(date_diff("
                                  f"'microsecond', min(ts), {_ts(o.as_of.end)}) / 86400000000) >= 45"),
        "sample_20": ("sample: {percent: 20, seed: fields}", o.sample(20, "fields")),
        "sample_fraction": ("sample: {percent: 12.345, seed: fields}", o.sample(12.345, "fields")),  # 000608: 1234
        "sequence_search_cart": ("sequence: {steps: [{type: {is: search}}, {type: {is: add_to_cart}, within: 1d}], "
                                 "period: 60d}",
                                 f"SELECT DISTINCT a.visitor_id FROM ev a JOIN ev b USING (visitor_id) WHERE "
                                 f"a.event_type = 'search' AND b.event_type = 'add_to_cart' AND b.ts > a.ts AND "
                                 f"b.ts <= a.ts + INTERVAL 1 DAY AND {o.as_of.window(60, 'a.ts')} "
                                 f"AND {o.as_of.window(60, 'b.ts')}"),
    }
