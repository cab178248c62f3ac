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

from .common import (Coalesce, Col, Country, Element, Instant, IsIn, Lit, Number, Preset, Read, Text, View, When,
                     field_of, keep_own, latest_per_visitor)

ORDER_EVENTS = ("Order Completed", "Completed Order")
IDENTIFY = "identify"  # the calls that carry a user's traits, and link their anonymousId to their userId
# amounts are read as text, which Number reads as a number: the calls are the sender's JSON, and `"total": "250.00"`
# is as common as `"total": 250`
_PRODUCT = pl.Struct({"product_id": pl.String, "sku": pl.String, "name": pl.String, "brand": pl.String,
                      "category": pl.String, "price": pl.String, "quantity": pl.String})
_PAGE = pl.Struct({"url": pl.String, "referrer": pl.String})
NDJSON_SCHEMA = {
    "type": pl.String,
    "event": pl.String,
    "anonymousId": pl.String,
    "userId": pl.String,
    "timestamp": pl.String,
    "context": pl.Struct({"page": _PAGE, "campaign": pl.Struct({k: pl.String for k in
                                                                ("source", "medium", "name", "term", "content")})}),
    "properties": pl.Struct({"url": pl.String, "referrer": pl.String, "order_id": pl.String, "total": pl.String,
                             "revenue": pl.String, "products": pl.List(_PRODUCT)}),
    "traits": pl.Struct({"email": pl.String, "address": pl.Struct({"city": pl.String, "country": pl.String,
                                                                   "state": pl.String})}),
}
PRODUCTS = "properties.products"  # the exploded list keeps its path as its name, for `explain`
CAMPAIGN = {"utm_source": "source", "utm_medium": "medium", "utm_campaign": "name", "utm_term": "term",
            "utm_content": "content"}


VISITOR = Coalesce((Text(Col("anonymousId")), Text(Col("userId"))))
TIMESTAMP = Instant(Col("timestamp"))
PAGE = IsIn(Col("type"), ("page",))
ORDER_ID = Text(Col("properties", ("order_id",)))


def event_reads(schema: dict) -> dict[str, Read]:
    def on_page(name: str) -> Read:
        context = Text(Col("context", ("page", name)))
        return When(PAGE, Coalesce((Text(Col("properties", (name,))), context)), context)

    return {
        "visitor_id": VISITOR,
        "timestamp": TIMESTAMP,
        "event_type": When(PAGE, Lit("page"), Text(Col("event"))),
        "url": on_page("url"),
        "referrer": on_page("referrer"),
        **{utm: Text(Col("context", ("campaign", key))) for utm, key in CAMPAIGN.items()},
        "order_id": ORDER_ID,
        "order_value": Coalesce((Number(Col("properties", ("total",))), Number(Col("properties", ("revenue",))))),
    }





def _timestamp() -> pl.Expr:
    return TIMESTAMP.polars({})


def item_reads(schema: dict) -> dict[str, Read]:
    """The order, then the fields of one element of `properties.products` (a column of that name)."""
    def field(name: str) -> Read:
        return Text(Element(PRODUCTS, name))

    return {"order_id": ORDER_ID, "item_id": Coalesce((field("sku"), field("product_id"))), "name": field("name"),
            "brand": field("brand"), "category": field("category"), "price": Number(Element(PRODUCTS, "price")),
            "quantity": Number(Element(PRODUCTS, "quantity"))}


def items(rows: pl.LazyFrame, columns: dict[str, pl.Expr]) -> pl.LazyFrame:
    """The products of each order, once per order_id (an order tracked twice: the first call's)."""
    orders = (rows.filter(pl.col("event").is_in(ORDER_EVENTS))
              .select(columns["order_id"], _timestamp().alias("ts"),
                      field_of("properties", "products").alias(PRODUCTS))
              .filter(pl.col("order_id").is_not_null())
              .sort("ts").unique("order_id", keep="first"))
    products = orders.select("order_id", PRODUCTS).explode(PRODUCTS).filter(pl.col(PRODUCTS).is_not_null())
    return products.select("order_id", *(e for name, e in columns.items() if name != "order_id"))


def profile_reads(schema: dict) -> dict[str, Read]:
    def trait(*path: str) -> Read:
        return Text(Col("traits", path))

    return {"visitor_id": VISITOR, "email": trait("email"), "city": trait("address", "city"),
            "region": trait("address", "state"), "country": Country(trait("address", "country"))}


def events(rows: pl.LazyFrame, columns: dict[str, pl.Expr]) -> pl.LazyFrame:
    return keep_own(rows.filter(pl.col("type").is_in(["page", "track"])), columns)


def profiles(rows: pl.LazyFrame, columns: dict[str, pl.Expr]) -> pl.LazyFrame:
    """One row per visitor from their `identify` calls: the latest known value of each trait."""
    return latest_per_visitor(rows.filter(pl.col("type") == IDENTIFY), columns, _timestamp())


def identified(rows: pl.LazyFrame, columns: dict[str, pl.Expr]) -> pl.LazyFrame:
    """The `identify` calls, which link their anonymousId to their userId (and traits) at their timestamp."""
    return keep_own(rows.filter(pl.col("type") == IDENTIFY), columns)


PRESET = Preset("segment", "Segment's raw calls", ORDER_EVENTS,
                {"events": View(event_reads, events, links=identified), "items": View(item_reads, items),
                 "profiles": View(profile_reads, profiles, timed=TIMESTAMP)}, NDJSON_SCHEMA)
