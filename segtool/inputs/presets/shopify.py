"""Shopify's exports: orders (Admin → Orders → Export, `orders_export_1.csv`), one CSV row per line item,
and customers (Admin → Customers → Export, `customers_export.csv`), one row per customer.

The first row of an order (`Name`, such as `#1001`) holds the order's fields; the rows after it repeat
`Name`, `Email`, `Created at` and the `Lineitem` columns and leave most others blank. `Created at` is in
the store's time zone with its offset (`2024-03-22 14:05:31 +0100`). There is no visitor ID: the customer
is the e-mail address, trimmed and lower-cased. An order whose payment was voided or expired was never paid,
so it is the event `voided_order`, not a conversion; a cancelled order (`Cancelled at` set) is the event
`cancelled_order`; refunded orders are conversions (a refund does not undo the purchase). An order without
an e-mail (a POS or phone order) has no customer to segment: it is set aside and counted, not skipped as a
data error. Cart attributes in `Note Attributes` (`utm_source: google` lines, written by some apps) are the
order's UTMs. Amounts are read as the table layer reads numbers, so `csv: {decimal_comma: true}` applies.

The customers export's columns are those of Shopify's customer CSV
(https://help.shopify.com/en/manual/customers/import-export-customers): `First Name`, `Last Name`, `Email`,
`Company`, `Address1`, `Address2`, `City`, `Province`, `Province Code`, `Country`, `Country Code`, `Zip`,
`Phone`, `Accepts Email Marketing`, `Accepts SMS Marketing` (yes/no), `Total Spent`, `Total Orders`, `Tags`,
`Note`, `Tax Exempt`; newer exports add `Customer ID` and name the address `Default Address City`,
`Default Address Province Code`, `Default Address Country Code`, `Default Address Zip`.
"""

from __future__ import annotations

import polars as pl

from ...places import country_code
from .common import Preset, View, keep_own, latest_per_visitor, text, utc_from_text

ORDER, VOIDED, CANCELLED = "order", "voided_order", "cancelled_order"
NEVER_PAID = ("voided", "expired")
NO_CUSTOMER = "orders without a customer"
NO_EMAIL = "customers without an e-mail"


def _customer() -> pl.Expr:
    return text(pl.col("Email")).str.to_lowercase()


def _no_visitor() -> pl.Expr:
    return pl.col("visitor_id").is_null()


def _first_rows(rows: pl.LazyFrame) -> pl.LazyFrame:
    """One row per order, its first (the one with the order's fields)."""
    return rows.filter(pl.col("Name").is_first_distinct())


def _note(key: str) -> pl.Expr:
    """The value of a `utm_source: ...` line of the cart attributes (`utm source`, any case, too)."""
    name = key.replace("_", "[ _]")
    return text(pl.col("Note Attributes").str.extract(rf"(?im)^\s*{name}\s*:\s*(.*?)\s*$", 1))


def event_columns(schema: dict) -> list[pl.Expr]:
    status = text(pl.col("Financial Status")).str.to_lowercase()
    utms = [(_note(utm) if "Note Attributes" in schema else pl.lit(None, pl.String)).alias(utm)
            for utm in ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")]
    cancelled = text(pl.col("Cancelled at")).is_not_null() if "Cancelled at" in schema else pl.lit(False)
    return [
        _customer().alias("visitor_id"),
        _created().alias("timestamp"),
        pl.when(status.is_in(NEVER_PAID)).then(pl.lit(VOIDED)).when(cancelled).then(pl.lit(CANCELLED))
        .otherwise(pl.lit(ORDER)).alias("event_type"),
        text(pl.col("Name")).alias("order_id"),
        text(pl.col("Total")).alias("order_value"),
        *utms,
    ]


def _created() -> pl.Expr:
    return utc_from_text(pl.col("Created at"))


def item_columns(schema: dict) -> list[pl.Expr]:
    return [
        text(pl.col("Name")).alias("order_id"),
        text(pl.col("Lineitem sku")).alias("item_id"),
        text(pl.col("Lineitem name")).alias("name"),
        text(pl.col("Vendor")).alias("brand"),
        pl.lit(None, pl.String).alias("category"),
        text(pl.col("Lineitem price")).alias("price"),
        text(pl.col("Lineitem quantity")).alias("quantity"),
    ]


def profile_columns(schema: dict) -> list[pl.Expr]:
    phones = [text(pl.col(name)) for name in ("Billing Phone", "Phone") if name in schema]
    return [_customer().alias("visitor_id"),
            text(pl.col("Billing City")).alias("city"),
            text(pl.col("Billing Province Name")).alias("region"),
            country_code(text(pl.col("Billing Country"))).alias("country"),
            text(pl.col("Email")).alias("email"),
            (pl.coalesce(phones) if phones else pl.col("Billing Phone")).alias("phone"),
            text(pl.col("Billing Zip")).alias("zip"),
            text(pl.col("Accepts Marketing")).str.to_lowercase().alias("accepts_email_marketing")]


def events(rows: pl.LazyFrame, columns: dict[str, pl.Expr]) -> pl.LazyFrame:
    return keep_own(_first_rows(rows), columns)


def items(rows: pl.LazyFrame, columns: dict[str, pl.Expr]) -> pl.LazyFrame:
    return rows.select(*columns.values())


def profiles(rows: pl.LazyFrame, columns: dict[str, pl.Expr]) -> pl.LazyFrame:
    """One row per customer, from the billing address of their orders: the latest known of each column."""
    return latest_per_visitor(_first_rows(rows), columns, _created())


def customer_columns(schema: dict) -> list[pl.Expr]:
    """A customer of the customers export; an address column under its older name or its newer one."""
    def either(*names: str) -> pl.Expr:
        present = [text(pl.col(name)) for name in names if name in schema]
        return pl.coalesce(present) if present else pl.col(names[0])  # none: the column is lacking

    def yes_no(name: str) -> pl.Expr:
        return text(pl.col(name)).str.to_lowercase()

    return [_customer().alias("visitor_id"),
            _customer().alias("email"),
            text(pl.col("First Name")).alias("first_name"),
            text(pl.col("Last Name")).alias("last_name"),
            text(pl.col("Phone")).alias("phone"),
            either("City", "Default Address City").alias("city"),
            either("Province", "Province Code", "Default Address Province Code").alias("region"),
            country_code(either("Country Code", "Country", "Default Address Country Code")).alias("country"),
            either("Zip", "Default Address Zip").alias("zip"),
            yes_no("Accepts Email Marketing").alias("accepts_email_marketing"),
            yes_no("Accepts SMS Marketing").alias("accepts_sms_marketing"),
            text(pl.col("Tags")).alias("tags"),
            text(pl.col("Total Spent")).alias("total_spent"),
            text(pl.col("Total Orders")).alias("total_orders")]


# the profile columns of each view that hold a person's identifiers and consents (delivery/identity.py)
ORDER_IDENTITY = {"email": "email", "phone": "phone", "zip": "zip", "city": "city", "state": "region",
                  "country": "country", "consent.email": "accepts_email_marketing"}
CUSTOMER_IDENTITY = {**ORDER_IDENTITY, "first_name": "first_name", "last_name": "last_name",
                     "consent.sms": "accepts_sms_marketing"}
PRESET = Preset("shopify_orders", "Shopify's orders export", (ORDER,),
                {"events": View(event_columns, events, (NO_CUSTOMER, _no_visitor())),
                 "items": View(item_columns, items), "profiles": View(profile_columns, profiles)},
                identity=ORDER_IDENTITY)
CUSTOMERS = Preset("shopify_customers", "Shopify's customers export", (),
                   {"profiles": View(customer_columns, keep_own, (NO_EMAIL, _no_visitor()))},
                   identity=CUSTOMER_IDENTITY)
