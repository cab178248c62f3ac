"""GA4's BigQuery export (`events_YYYYMMDD`), as Parquet or as `bq extract` NDJSON.

One row per event: `user_pseudo_id`, `event_timestamp` (microseconds since the epoch, UTC; `event_date`
is the property's local date and is not used), `event_name`, the page URL and referrer only in
`event_params` (`page_location`, `page_referrer`), the event's campaign in `collected_traffic_source`
(`traffic_source` is the user's first touch and is not an event's UTM), `ecommerce.transaction_id` and
`ecommerce.purchase_revenue` on purchases, the line items in `items`, `geo` on every event. GA4 writes
"(not set)" for unknown values. In NDJSON, 64-bit integers are JSON strings. Property settings and older
exports leave out `event_params`, `items`, `ecommerce`, `collected_traffic_source`, `geo` or `privacy_info`:
what is read from a column the file lacks is absent from the tables (common.View). A day is in the daily
table `events_YYYYMMDD` once complete, and in `events_intraday_YYYYMMDD` while it streams.
"""

from __future__ import annotations

import re

import polars as pl

from ...places import country_code
from .common import Preset, View, field_of, keep_own, latest_per_visitor, number, text

NOT_SET = "(not set)"
PURCHASE = "purchase"
_VALUE = pl.Struct({"string_value": pl.String, "int_value": pl.String, "float_value": pl.Float64,
                    "double_value": pl.Float64})
_ITEM = pl.Struct({"item_id": pl.String, "item_name": pl.String, "item_brand": pl.String,
                   "item_category": pl.String, "price": pl.Float64, "quantity": pl.String})
NDJSON_SCHEMA = {
    "event_timestamp": pl.String,
    "event_name": pl.String,
    "user_pseudo_id": pl.String,
    "user_id": pl.String,
    "event_params": pl.List(pl.Struct({"key": pl.String, "value": _VALUE})),
    "collected_traffic_source": pl.Struct({f"manual_{k}": pl.String for k in
                                           ("source", "medium", "campaign_name", "term", "content")}),
    "ecommerce": pl.Struct({"transaction_id": pl.String, "purchase_revenue": pl.Float64}),
    "items": pl.List(_ITEM),
    "geo": pl.Struct({"city": pl.String, "country": pl.String, "region": pl.String}),
    "privacy_info": pl.Struct({"ads_storage": pl.String}),
}
UTMS = {"utm_source": "manual_source", "utm_medium": "manual_medium", "utm_campaign": "manual_campaign_name",
        "utm_term": "manual_term", "utm_content": "manual_content"}


def param(key: str) -> pl.Expr:
    """The string value of one of the event's `event_params`."""
    return pl.col("event_params").list.eval(
        pl.element().filter(pl.element().struct.field("key") == key).struct.field("value")
        .struct.field("string_value")).list.first()


def _timestamp() -> pl.Expr:
    micros = pl.col("event_timestamp").cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False)
    return pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")


def event_columns(schema: dict) -> list[pl.Expr]:
    traffic = [text(field_of("collected_traffic_source", name, schema=schema), NOT_SET).alias(utm)
               for utm, name in UTMS.items()]
    return [
        text(pl.col("user_pseudo_id")).alias("visitor_id"),
        _timestamp().alias("timestamp"),
        text(pl.col("event_name")).alias("event_type"),
        text(param("page_location")).alias("url"),
        text(param("page_referrer")).alias("referrer"),
        *traffic,
        _transaction(schema).alias("order_id"),
        number(field_of("ecommerce", "purchase_revenue", schema=schema)).alias("order_value"),
    ]


def _transaction(schema: dict) -> pl.Expr:
    return text(field_of("ecommerce", "transaction_id", schema=schema), NOT_SET)


def item_columns(schema: dict) -> list[pl.Expr]:
    """The order's transaction, then the fields of one element of `items`."""
    item = pl.col("items").struct
    return [
        _transaction(schema).alias("order_id"),
        text(item.field("item_id"), NOT_SET).alias("item_id"),
        text(item.field("item_name"), NOT_SET).alias("name"),
        text(item.field("item_brand"), NOT_SET).alias("brand"),
        text(item.field("item_category"), NOT_SET).alias("category"),
        number(item.field("price")).alias("price"),
        number(item.field("quantity")).alias("quantity"),
    ]


def items(rows: pl.LazyFrame, columns: dict[str, pl.Expr]) -> pl.LazyFrame:
    """The line items of each purchase, once per transaction (a purchase logged twice repeats them: the
    first event's are kept); none where the file has no `items` or `ecommerce`."""
    if "order_id" not in columns or "items" not in rows.collect_schema():
        return rows.select(*columns.values()).head(0)
    purchases = (rows.filter(pl.col("event_name") == PURCHASE)
                 .select(columns["order_id"], _timestamp().alias("ts"), "items")
                 .filter(pl.col("order_id").is_not_null())
                 .sort("ts").unique("order_id", keep="first"))
    exploded = purchases.select("order_id", pl.col("items")).explode("items").filter(pl.col("items").is_not_null())
    return exploded.select("order_id", *(e for name, e in columns.items() if name != "order_id"))


def profile_columns(schema: dict) -> list[pl.Expr]:
    """`geo` of an event, the country as its ISO code (GA4 writes English names: Netherlands → NL)."""
    geo = {name: text(field_of("geo", name, schema=schema), NOT_SET) for name in ("city", "country", "region")}
    geo["country"] = country_code(geo["country"])
    consent = [text(field_of("privacy_info", "ads_storage", schema=schema)).alias("ads_storage")] \
        if "privacy_info" in schema else []  # consent mode's answer, where the export has it
    return [text(pl.col("user_pseudo_id")).alias("visitor_id"), *(e.alias(n) for n, e in geo.items()), *consent]


def profiles(rows: pl.LazyFrame, columns: dict[str, pl.Expr]) -> pl.LazyFrame:
    """One row per visitor: the latest known `geo` of the visitor's events (a later `(not set)` keeps it)."""
    return latest_per_visitor(rows, columns, _timestamp())


def without_replaced_intraday(files: list[str]) -> list[str]:
    """The files without those of an intraday table (`events_intraday_YYYYMMDD`) whose day has its daily
    table (`events_YYYYMMDD`) among them: GA4 fills the daily table once the day is complete and deletes the
    intraday one, so an export taken in between holds the day's events twice. The day is read from the
    file's name or a folder's (`events_20240601-000000000000.json.gz`, `events_20240601/part-0.parquet`)."""
    days = {file: _table_day(file) for file in files}
    daily = {day for day, intraday in days.values() if day and not intraday}
    return [file for file, (day, intraday) in days.items() if not (intraday and day in daily)]


def _table_day(file: str) -> tuple[str | None, bool]:
    """The day of the GA4 table a file holds, and whether it is the intraday table."""
    found = re.findall(r"(?:^|[/\\])events_(intraday_)?(\d{8})(?![\d])", file)
    return (found[-1][1], bool(found[-1][0])) if found else (None, False)


PRESET = Preset("ga4", "GA4's BigQuery export", (PURCHASE,),
                {"events": View(event_columns, keep_own), "items": View(item_columns, items),
                 "profiles": View(profile_columns, profiles)}, NDJSON_SCHEMA, without_replaced_intraday,
                {"consent.ads": "ads_storage"})
