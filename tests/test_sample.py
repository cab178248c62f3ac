"""The documented shape of `segtool sample` (docs/inputs.md, "Sample data"), checked on a generated sample.

One sample of 20,000 visitors (about 290,000 events, a couple of seconds) serves every test. Distinct counts
are compared per million events. The parts of the cardinality that do not grow linearly (product pages,
search queries) are relatively larger in a small sample, so the URL test also checks the part that does
grow linearly (click IDs and session parameters), which keeps the property true at any size.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote_plus, urlsplit

import polars as pl
import pytest

from segtool.synth.sample import generate_sample

SEARCH_HOSTS = r"^https://(?:www\.)?(?:google\.[a-z.]+|bing\.com|duckduckgo\.com|ecosia\.org|search\.yahoo\.com)/"
INTERNAL = r"(?i)^https?://(?:[^/?#]*\.)?shop\.example(?::\d+)?(?:[/?#]|$)"


@pytest.fixture(scope="module")
def events(tmp_path_factory) -> pl.DataFrame:
    out = tmp_path_factory.mktemp("sample")
    written = generate_sample(out, 20_000, seed=7)
    return pl.read_parquet(written["events"][0])


@pytest.fixture(scope="module")
def landings(events) -> pl.DataFrame:
    """Events that start a visit: the referrer is external or absent (internal navigation has the site's own)."""
    return events.filter(pl.col("event_type") == "pageview",
                         ~pl.col("referrer").fill_null("").str.contains(INTERNAL)).with_columns(
        *(pl.col("url").str.extract(rf"[?&]{p}=([^&#]*)", 1).alias(f"url_{p}")
          for p in ("utm_source", "utm_medium", "utm_campaign")))


def per_million(count: int, events: pl.DataFrame) -> float:
    return count / events.height * 1_000_000


def test_referrers_and_urls_have_real_cardinality(events):
    assert events.height > 200_000
    assert per_million(events["referrer"].n_unique(), events) >= 30_000
    assert per_million(events["url"].n_unique(), events) >= 50_000
    tracked = events.filter(pl.col("url").str.contains(r"[?&](?:gclid|msclkid|fbclid|ttclid|_ga|sid|mc_eid)="))
    assert per_million(tracked["url"].n_unique(), events) >= 50_000, "the linear part alone keeps 50k per million"


def test_paid_landings_carry_a_click_id(landings):
    medium = pl.coalesce("utm_medium", "url_utm_medium")
    cpc = landings.filter(medium == "cpc")
    paid_social = landings.filter(medium == "paid_social")
    assert cpc.height > 1_000 and paid_social.height > 1_000
    assert cpc["url"].str.contains(r"[?&](?:gclid|msclkid)=[\w-]{20,}").all()
    assert paid_social["url"].str.contains(r"[?&](?:fbclid|ttclid)=[\w.-]{20,}").all()
    assert (cpc["url"].str.contains("gclid=", literal=True).sum()
            > cpc["url"].str.contains("msclkid=", literal=True).sum() > 0)
    for column in ("gclid", "fbclid", "msclkid", "ttclid"):
        ids = landings["url"].str.extract(rf"[?&]{column}=([^&#]+)", 1).drop_nulls()
        assert ids.len() > 100 and ids.n_unique() == ids.len(), f"every {column} is a different click"


def test_search_referrers_carry_the_query(landings):
    search = landings.filter(pl.col("referrer").str.contains(SEARCH_HOSTS),
                             pl.col("utm_medium").is_null(), pl.col("url_utm_medium").is_null())
    with_query = search.filter(pl.col("referrer").str.contains(r"[?&]q=[^&#]+"))
    assert search.height > 1_000
    assert with_query.height >= 0.5 * search.height
    assert with_query["referrer"].str.contains("google.nl/search?q=", literal=True).any()
    assert with_query["referrer"].str.contains("bing.com/search?q=", literal=True).any()
    assert with_query["referrer"].str.contains("duckduckgo.com/?q=", literal=True).any()
    assert with_query["referrer"].n_unique() > 1_000


def test_social_short_links_are_unique(landings):
    referrers = landings["referrer"].drop_nulls()
    for prefix in ("https://t.co/", "https://l.facebook.com/l.php?u=", "https://lm.facebook.com/l.php?u=",
                   "https://l.instagram.com/?u="):
        links = referrers.filter(referrers.str.starts_with(prefix))
        assert links.len() > 100 and links.n_unique() == links.len(), prefix
    wrapped = referrers.filter(referrers.str.contains(r"^https://lm?\.facebook\.com/l\.php\?u=")).head(200)
    for link in wrapped:
        query = parse_qs(urlsplit(link).query)
        assert query["u"][0].startswith("https://shop.example/") and query["h"][0].startswith("AT")
    plain = referrers.filter(referrers == "https://www.instagram.com/shopexample/")
    assert plain.len() > 100, "the Instagram page of the shipped segment still refers visitors"


def test_utm_columns_are_null_on_a_third_of_tagged_landings(landings):
    tagged = landings.filter(pl.col("utm_source").is_not_null() | pl.col("url_utm_source").is_not_null())
    url_only = tagged.filter(pl.col("utm_source").is_null())
    assert tagged.height > 5_000
    assert url_only.height >= tagged.height / 3
    assert url_only["url_utm_source"].is_not_null().all() and url_only["url_utm_medium"].is_not_null().all()
    campaigns = url_only["url_utm_campaign"].drop_nulls()
    assert campaigns.str.contains("%20", literal=True).any() and campaigns.str.contains("+", literal=True).any()
    assert campaigns.str.contains("%25", literal=True).any() and campaigns.str.contains("%5F", literal=True).any()
    assert set(url_only["url_utm_source"].unique()) >= {"google", "facebook", "instagram", "newsletter", "tiktok"}
    assert tagged.filter(pl.col("url_utm_source") == "tiktok")["utm_source"].is_null().all()
    both = tagged.filter(pl.col("utm_campaign").is_not_null(), pl.col("url_utm_campaign").is_not_null())
    pairs = both.select("utm_campaign", "url_utm_campaign").unique().rows()
    assert pairs and all(unquote_plus(encoded) == column for column, encoded in pairs), "the URL agrees"


def test_a_long_tail_of_product_pages(events):
    ids = events["url"].str.extract(r"^https://shop\.example/product/[a-z-]+-(\d+)(?:[?#]|$)", 1).drop_nulls()
    views = ids.value_counts(sort=True)["count"]
    assert views.len() >= 5_000, "thousands of product pages in a small sample"
    assert views[0] < 0.02 * ids.len(), "no product takes more than a small share of the views"
    assert views.head(100).sum() > 0.2 * ids.len() > views.tail(views.len() // 2).sum(), "a head and a long tail"


def test_checkouts_follow_carts_and_precede_conversions(events):
    kinds = events.filter(pl.col("event_type").is_in(["add_to_cart", "begin_checkout", "conversion"]))
    checkouts = kinds.filter(pl.col("event_type") == "begin_checkout").select("visitor_id", "timestamp")
    assert checkouts.height > 1_000

    def share_with(other: str, low: int, high: int, frame: pl.DataFrame) -> float:
        """The share of `frame`'s events with an `other` event of the same visitor `low` to `high` minutes later."""
        candidates = kinds.filter(pl.col("event_type") == other).select("visitor_id", pl.col("timestamp").alias("t"))
        joined = frame.with_row_index().join(candidates, on="visitor_id").filter(
            pl.col("t").is_between(pl.col("timestamp") + pl.duration(minutes=low),
                                   pl.col("timestamp") + pl.duration(minutes=high)))
        return joined["index"].n_unique() / frame.height

    carts_before = checkouts.with_columns(pl.col("timestamp") - pl.duration(minutes=60))
    assert share_with("add_to_cart", 0, 58, carts_before) > 0.99, "a checkout follows a cart within the hour"
    assert share_with("conversion", 0, 60, checkouts) < 0.5, "most checkouts are abandoned"
    conversions = kinds.filter(pl.col("event_type") == "conversion").select("visitor_id", "timestamp")
    before = conversions.with_columns(pl.col("timestamp") - pl.duration(minutes=22))
    assert share_with("begin_checkout", 0, 22, before) > 0.99, "every conversion follows a checkout"


def test_sessions_refer_internally(events):
    internal = events.filter(pl.col("referrer").str.contains(INTERNAL))
    assert internal.height > 0.7 * events.height
    assert internal["referrer"].str.contains(r"^https://shop\.example/product/[a-z-]+-\d+$").any()
    assert internal["referrer"].str.contains("gclid=", literal=True).any(), "some carry the previous full URL"
    odd = {"https://checkout.shop.example/cart", "https://SHOP.example:443/men",
           "https://shop.example/out?to=www.instagram.com"}
    assert odd <= set(internal["referrer"].unique())


def test_a_sample_of_a_visitor_without_a_session(tmp_path):
    """One visitor who never visits (seed 22): an empty events file with its columns, not a traceback."""
    generate_sample(tmp_path, 1, seed=22)
    events, profiles = pl.read_parquet(tmp_path / "events.parquet"), pl.read_parquet(tmp_path / "profiles.parquet")
    assert events.height == 0 and {"visitor_id", "timestamp", "url", "referrer"} <= set(events.columns)
    assert profiles.height == 1
