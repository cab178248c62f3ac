"""Shopify's exports: orders (Admin → Orders → Export, `orders_export_1.csv`), one CSV row per line item,
and customers (Admin → Customers → Export, `customers_export.csv`), one row per customer.

The first row of an order (`Name`, such as `#1001`) holds the order's fields; the rows after it repeat
`Name`, `Email`, `Created at` and the `Lineitem` columns and leave most others blank. `Created at` is in
the store's time zone with its offset (`2024-03-22 14:05:31 +0100`). The order's event and billing address
are read from the row with its fields, told by its content, not by its position (order_row), so a warehouse
table, which has no row order, gives the same orders. There is no visitor ID: the customer
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

from dataclasses import dataclass

import polars as pl

from .common import (Coalesce, Col, Country, Instant, IsIn, Lit, Lower, Preset, Present, Read, Text, View, When,
                     keep_own, latest_per_visitor, text)

ORDER, VOIDED, CANCELLED = "order", "voided_order", "cancelled_order"
NEVER_PAID = ("voided", "expired")
NO_CUSTOMER = "orders without a customer"
NO_EMAIL = "customers without an e-mail"
POSITION = "segtool_position"  # a row's position in the export, while the order's rows are picked


CUSTOMER = Lower(Text(Col("Email")))
UTMS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


def order_row(schema: dict) -> list[Read]:
    """What makes a row the order's row, of the rows with its `Name`: it is the first by these values, each
    ascending (text by code point) with a missing value last, so every engine picks it alike without knowing
    the rows' order. First `Financial Status`, which only the row with the order's fields holds; where several
    rows hold it (an order exported twice), each text column's value in the export's order of columns (every
    column of a CSV)."""
    return [Text(Col("Financial Status")), *(Col(name) for name, dtype in schema.items() if dtype == pl.String)]


def _first_rows(rows: pl.LazyFrame) -> pl.LazyFrame:
    """One row per order, the order's row (order_row), in the export's order."""
    schema = rows.collect_schema()
    return (rows.with_row_index(POSITION).sort([key.polars(schema) for key in order_row(schema)], nulls_last=True)
            .filter(pl.col("Name").is_first_distinct()).sort(POSITION).drop(POSITION))


@dataclass(frozen=True)
class Note(Read):
    """The value of a `utm_source: ...` line of the cart attributes (`utm source`, any case, too)."""
    key: str

    @property
    def pattern(self) -> str:
        return rf"(?im)^\s*{self.key.replace('_', '[ _]')}\s*:\s*(.*?)\s*$"

    def polars(self, schema: dict) -> pl.Expr:
        return text(pl.col("Note Attributes").str.extract(self.pattern, 1))


def event_reads(schema: dict) -> dict[str, Read]:
    status = Lower(Text(Col("Financial Status")))
    paid = Lit(ORDER)
    if "Cancelled at" in schema:
        paid = When(Present(Text(Col("Cancelled at"))), Lit(CANCELLED), paid)
    return {
        "visitor_id": CUSTOMER,
        "timestamp": CREATED,
        "event_type": When(IsIn(status, NEVER_PAID), Lit(VOIDED), paid),
        "order_id": Text(Col("Name")),
        "order_value": Text(Col("Total")),
        **{utm: Note(utm) if "Note Attributes" in schema else Lit(None) for utm in UTMS},
    }


CREATED = Instant(Col("Created at"))


def _created() -> pl.Expr:
    return CREATED.polars({})


def item_reads(schema: dict) -> dict[str, Read]:
    return {"order_id": Text(Col("Name")), "item_id": Text(Col("Lineitem sku")), "name": Text(Col("Lineitem name")),
            "brand": Text(Col("Vendor")), "category": Lit(None), "price": Text(Col("Lineitem price")),
            "quantity": Text(Col("Lineitem quantity"))}


def profile_reads(schema: dict) -> dict[str, Read]:
    phones = tuple(Text(Col(name)) for name in ("Billing Phone", "Phone") if name in schema)
    return {"visitor_id": CUSTOMER, "city": Text(Col("Billing City")),
            "region": either(schema, "Billing Province Name", "Billing Province"),
            "country": Country(Text(Col("Billing Country"))), "email": Text(Col("Email")),
            "phone": Coalesce(phones) if phones else Col("Billing Phone"), "zip": Text(Col("Billing Zip")),
            "accepts_email_marketing": Lower(Text(Col("Accepts Marketing")))}


def events(rows: pl.LazyFrame, columns: dict[str, pl.Expr]) -> pl.LazyFrame:
    return keep_own(_first_rows(rows), columns)


def items(rows: pl.LazyFrame, columns: dict[str, pl.Expr]) -> pl.LazyFrame:
    return rows.select(*columns.values())


def profiles(rows: pl.LazyFrame, columns: dict[str, pl.Expr]) -> pl.LazyFrame:
    """One row per customer, from the billing address of their orders: the latest known of each column."""
    return latest_per_visitor(_first_rows(rows), columns, _created())


def either(schema: dict, *names: str) -> Read:
    """The first of the columns with a value, of those the file has (a column under its older name or its newer
    one); none: the first, which the file lacks."""
    present = tuple(Text(Col(name)) for name in names if name in schema)
    return Coalesce(present) if present else Col(names[0])


def customer_reads(schema: dict) -> dict[str, Read]:
    """A customer of the customers export; an address column under its older name or its newer one."""
    def yes_no(name: str) -> Read:
        return Lower(Text(Col(name)))

    return {"visitor_id": CUSTOMER, "email": CUSTOMER, "first_name": Text(Col("First Name")),
            "last_name": Text(Col("Last Name")), "phone": Text(Col("Phone")),
            "city": either(schema, "City", "Default Address City"),
            "region": either(schema, "Province", "Province Code", "Default Address Province Code"),
            "country": Country(either(schema, "Country Code", "Country", "Default Address Country Code")),
            "zip": either(schema, "Zip", "Default Address Zip"),
            "accepts_email_marketing": yes_no("Accepts Email Marketing"),
            "accepts_sms_marketing": yes_no("Accepts SMS Marketing"),
            "tags": Text(Col("Tags")), "total_spent": Text(Col("Total Spent")), "total_orders": Text(Col("Total Orders"))}


# the profile columns of each view that hold a person's identifiers and consents (delivery/identity.py)
ORDER_IDENTITY = {"email": "email", "phone": "phone", "zip": "zip", "city": "city", "state": "region",
                  "country": "country", "consent.email": "accepts_email_marketing"}
CUSTOMER_IDENTITY = {**ORDER_IDENTITY, "first_name": "first_name", "last_name": "last_name",
                     "consent.sms": "accepts_sms_marketing"}
PRESET = Preset("shopify_orders", "Shopify's orders export", (ORDER,),
                {"events": View(event_reads, events, (NO_CUSTOMER, "visitor_id")),
                 "items": View(item_reads, items), "profiles": View(profile_reads, profiles, timed=CREATED)},
                identity=ORDER_IDENTITY)
CUSTOMERS = Preset("shopify_customers", "Shopify's customers export", (),
                   {"profiles": View(customer_reads, keep_own, (NO_EMAIL, "visitor_id"))},
                   identity=CUSTOMER_IDENTITY)
