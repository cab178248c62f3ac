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
from dataclasses import dataclass

import polars as pl

from .common import (Col, Country, Element, Number, Preset, Read, Text, View, keep_own, latest_per_visitor)

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


@dataclass(frozen=True)
class Param(Read):
    """The string value of one of the event's `event_params` (the first with the key)."""
    key: str

    def polars(self, schema: dict) -> pl.Expr:
        return pl.col("event_params").list.eval(
            pl.element().filter(pl.element().struct.field("key") == self.key).struct.field("value")
            .struct.field("string_value")).list.first()


@dataclass(frozen=True)
class Micros(Read):
    """Microseconds since the epoch (an integer, or its digits in NDJSON) as a UTC instant."""
    of: Read

    def polars(self, schema: dict) -> pl.Expr:
        micros = self.of.polars(schema).cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False)
        return pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")


TIMESTAMP = Micros(Col("event_timestamp"))


def _timestamp() -> pl.Expr:
    return TIMESTAMP.polars({})


def event_reads(schema: dict) -> dict[str, Read]:
    return {
        "visitor_id": Text(Col("user_pseudo_id")),
        "timestamp": TIMESTAMP,
        "event_type": Text(Col("event_name")),
        "url": Text(Param("page_location")),
        "referrer": Text(Param("page_referrer")),
        **{utm: Text(Col("collected_traffic_source", (name,)), (NOT_SET,)) for utm, name in UTMS.items()},
        "order_id": TRANSACTION,
        "order_value": Number(Col("ecommerce", ("purchase_revenue",))),
    }


TRANSACTION = Text(Col("ecommerce", ("transaction_id",)), (NOT_SET,))


def item_reads(schema: dict) -> dict[str, Read]:
    """The order's transaction, then the fields of one element of `items`."""
    def field(name: str) -> Read:
        return Text(Element("items", name), (NOT_SET,))

    return {"order_id": TRANSACTION, "item_id": field("item_id"), "name": field("item_name"),
            "brand": field("item_brand"), "category": field("item_category"),
            "price": Number(Element("items", "price")), "quantity": Number(Element("items", "quantity"))}


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


def profile_reads(schema: dict) -> dict[str, Read]:
    """`geo` of an event, the country as its ISO code (GA4 writes English names: Netherlands → NL)."""
    def geo(name: str) -> Read:
        return Text(Col("geo", (name,)), (NOT_SET,))

    consent = {"ads_storage": Text(Col("privacy_info", ("ads_storage",)))} \
        if "privacy_info" in schema else {}  # consent mode's answer, where the export has it
    return {"visitor_id": Text(Col("user_pseudo_id")), "city": geo("city"), "country": Country(geo("country")),
            "region": geo("region"), **consent}


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


# Consent mode's cookieless pings (analytics_storage denied) carry no user_pseudo_id and no user_id: no one to
# segment, and no data error
NO_DEVICE = "events without a device (consent mode)"
PRESET = Preset("ga4", "GA4's BigQuery export", (PURCHASE,),
                {"events": View(event_reads, keep_own, (NO_DEVICE, "visitor_id")), "items": View(item_reads, items),
                 "profiles": View(profile_reads, profiles, timed=TIMESTAMP)}, NDJSON_SCHEMA, without_replaced_intraday,
                {"consent.ads": "ads_storage"})
