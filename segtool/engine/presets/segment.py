"""Segment (and RudderStack) raw calls as NDJSON: what the S3 destination and warehouses' raw logs hold.

One call per line. `page` and `track` calls are events; `identify` calls carry traits (the profiles). The
time is `timestamp` (ISO 8601, `Z` or an offset). The visitor is `anonymousId`, else `userId`. A page
call has its URL and referrer in `properties` (also in `context.page`); a track call only in
`context.page` (in `Product Added`, `properties.url` is the product's). `context.campaign` holds the UTMs
(`name` is utm_campaign). `Order Completed` (v1: `Completed Order`) is the conversion, worth `total`, or
`revenue` where an integration sends no total; its `products` are the line items.
"""

from __future__ import annotations

import polars as pl

from ...places import country_code
from .common import Preset, field_of, keep_own, number, text, utc_from_text

ORDER_EVENTS = ("Order Completed", "Completed Order")
_PRODUCT = pl.Struct({"product_id": pl.String, "sku": pl.String, "name": pl.String, "brand": pl.String,
                      "category": pl.String, "price": pl.Float64, "quantity": pl.Float64})
_PAGE = pl.Struct({"url": pl.String, "referrer": pl.String})
NDJSON_SCHEMA = {
    "type": pl.String,
    "event": pl.String,
    "anonymousId": pl.String,
    "userId": pl.String,
    "timestamp": pl.String,
    "context": pl.Struct({"page": _PAGE, "campaign": pl.Struct({k: pl.String for k in
                                                                ("source", "medium", "name", "term", "content")})}),
    "properties": pl.Struct({"url": pl.String, "referrer": pl.String, "order_id": pl.String, "total": pl.Float64,
                             "revenue": pl.Float64, "products": pl.List(_PRODUCT)}),
    "traits": pl.Struct({"email": pl.String, "address": pl.Struct({"city": pl.String, "country": pl.String,
                                                                   "state": pl.String})}),
}
CAMPAIGN = {"utm_source": "source", "utm_medium": "medium", "utm_campaign": "name", "utm_term": "term",
            "utm_content": "content"}


def _visitor() -> pl.Expr:
    return pl.coalesce(text(pl.col("anonymousId")), text(pl.col("userId")))


def events(rows: pl.LazyFrame) -> pl.LazyFrame:
    schema = rows.collect_schema()
    page = pl.col("type") == "page"

    def on_page(name: str) -> pl.Expr:
        own = text(field_of("properties", name, schema=schema))
        context = text(field_of("context", "page", name, schema=schema))
        return pl.when(page).then(pl.coalesce(own, context)).otherwise(context)

    calls = rows.filter(pl.col("type").is_in(["page", "track"]))
    return keep_own(calls, [
        _visitor().alias("visitor_id"),
        utc_from_text(pl.col("timestamp")).alias("timestamp"),
        pl.when(page).then(pl.lit("page")).otherwise(text(pl.col("event"))).alias("event_type"),
        on_page("url").alias("url"),
        on_page("referrer").alias("referrer"),
        *(text(field_of("context", "campaign", key, schema=schema)).alias(utm) for utm, key in CAMPAIGN.items()),
        text(field_of("properties", "order_id", schema=schema)).alias("order_id"),
        pl.coalesce(number(field_of("properties", "total", schema=schema)),
                    number(field_of("properties", "revenue", schema=schema))).alias("order_value"),
    ])


def items(rows: pl.LazyFrame) -> pl.LazyFrame:
    """The products of each order, once per order_id (an order tracked twice: the first call's)."""
    orders = (rows.filter(pl.col("event").is_in(ORDER_EVENTS))
              .select(text(field_of("properties", "order_id")).alias("order_id"),
                      utc_from_text(pl.col("timestamp")).alias("ts"),
                      field_of("properties", "products").alias("products"))
              .filter(pl.col("order_id").is_not_null())
              .sort("ts").unique("order_id", keep="first"))
    product = pl.col("products").struct
    return (orders.select("order_id", "products").explode("products").filter(pl.col("products").is_not_null())
            .select("order_id",
                    pl.coalesce(text(product.field("sku")), text(product.field("product_id"))).alias("item_id"),
                    text(product.field("name")).alias("name"),
                    text(product.field("brand")).alias("brand"),
                    text(product.field("category")).alias("category"),
                    number(product.field("price")).alias("price"),
                    number(product.field("quantity")).alias("quantity")))


def profiles(rows: pl.LazyFrame) -> pl.LazyFrame:
    """One row per visitor from their latest `identify` call's traits."""
    return (rows.filter(pl.col("type") == "identify")
            .select(_visitor().alias("visitor_id"), utc_from_text(pl.col("timestamp")).alias("ts"),
                    text(field_of("traits", "email")).alias("email"),
                    text(field_of("traits", "address", "city")).alias("city"),
                    text(field_of("traits", "address", "state")).alias("region"),
                    country_code(text(field_of("traits", "address", "country"))).alias("country"))
            .filter(pl.col("visitor_id").is_not_null())
            .sort("ts", descending=True, nulls_last=True)
            .unique("visitor_id", keep="first").drop("ts"))


PRESET = Preset("segment", "Segment's raw calls", ORDER_EVENTS,
                {"events": events, "items": items, "profiles": profiles}, NDJSON_SCHEMA)
