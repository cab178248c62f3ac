"""Presets: an export as its vendor writes it, read as segtool's canonical tables.

A preset is a set of views: each turns the rows of the vendor's file, as read, into one canonical table
(events, items, profiles), lazily, keeping the file's own top-level columns beside the canonical ones
(`properties.<column>` rules can name them). Where the vendor's file holds more than events (Shopify's
orders export has the line items and the customers too), the other tables are views of the same file,
used unless the config names a file of their own.
"""

from __future__ import annotations

from .common import Preset


def presets() -> dict[str, Preset]:
    from . import ga4, segment, shopify

    return {p.name: p for p in (ga4.PRESET, shopify.PRESET, segment.PRESET, shopify.CUSTOMERS)}
