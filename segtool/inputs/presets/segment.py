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
from .common import Preset, View, field_of, keep_own, latest_per_visitor, number, text, utc_from_text

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
PRODUCTS = "properties.products"  # the exploded list keeps its path as its name, for `explain`
CAMPAIGN = {"utm_source": "source", "utm_medium": "medium", "utm_campaign": "name", "utm_term": "term",
            "utm_content": "content"}


def _visitor() -> pl.Expr:
    return pl.coalesce(text(pl.col("anonymousId")), text(pl.col("userId")))


def event_columns(schema: dict) -> list[pl.Expr]:
    page = pl.col("type") == "page"

    def on_page(name: str) -> pl.Expr:
        own = text(field_of("properties", name, schema=schema))
        context = text(field_of("context", "page", name, schema=schema))
        return pl.when(page).then(pl.coalesce(own, context)).otherwise(context)

    return [
        _visitor().alias("visitor_id"),
        _timestamp().alias("timestamp"),
        pl.when(page).then(pl.lit("page")).otherwise(text(pl.col("event"))).alias("event_type"),
        on_page("url").alias("url"),
        on_page("referrer").alias("referrer"),
        *(text(field_of("context", "campaign", key, schema=schema)).alias(utm) for utm, key in CAMPAIGN.items()),
        text(field_of("properties", "order_id", schema=schema)).alias("order_id"),
        pl.coalesce(number(field_of("properties", "total", schema=schema)),
                    number(field_of("properties", "revenue", schema=schema))).alias("order_value"),
    ]


def _timestamp() -> pl.Expr:
    return utc_from_text(pl.col("timestamp"))


def item_columns(schema: dict) -> list[pl.Expr]:
    """The order, then the fields of one element of `properties.products` (a column of that name)."""
    product = pl.col(PRODUCTS).struct
    return [text(field_of("properties", "order_id")).alias("order_id"),
            pl.coalesce(text(product.field("sku")), text(product.field("product_id"))).alias("item_id"),
            text(product.field("name")).alias("name"),
            text(product.field("brand")).alias("brand"),
            text(product.field("category")).alias("category"),
            number(product.field("price")).alias("price"),
            number(product.field("quantity")).alias("quantity")]


def items(rows: pl.LazyFrame, columns: dict[str, pl.Expr]) -> pl.LazyFrame:
    """The products of each order, once per order_id (an order tracked twice: the first call's)."""
    orders = (rows.filter(pl.col("event").is_in(ORDER_EVENTS))
              .select(columns["order_id"], _timestamp().alias("ts"),
                      field_of("properties", "products").alias(PRODUCTS))
              .filter(pl.col("order_id").is_not_null())
              .sort("ts").unique("order_id", keep="first"))
    products = orders.select("order_id", PRODUCTS).explode(PRODUCTS).filter(pl.col(PRODUCTS).is_not_null())
    return products.select("order_id", *(e for name, e in columns.items() if name != "order_id"))


def profile_columns(schema: dict) -> list[pl.Expr]:
    return [_visitor().alias("visitor_id"),
            text(field_of("traits", "email")).alias("email"),
            text(field_of("traits", "address", "city")).alias("city"),
            text(field_of("traits", "address", "state")).alias("region"),
            country_code(text(field_of("traits", "address", "country"))).alias("country")]


def events(rows: pl.LazyFrame, columns: dict[str, pl.Expr]) -> pl.LazyFrame:
    return keep_own(rows.filter(pl.col("type").is_in(["page", "track"])), columns)


def profiles(rows: pl.LazyFrame, columns: dict[str, pl.Expr]) -> pl.LazyFrame:
    """One row per visitor from their `identify` calls: the latest known value of each trait."""
    return latest_per_visitor(rows.filter(pl.col("type") == "identify"), columns, _timestamp())


PRESET = Preset("segment", "Segment's raw calls", ORDER_EVENTS,
                {"events": View(event_columns, events), "items": View(item_columns, items),
                 "profiles": View(profile_columns, profiles)}, NDJSON_SCHEMA)
