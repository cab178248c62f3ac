"""Presets: an export as its vendor writes it, read as segtool's canonical tables.

A preset is a set of views: each turns the rows of the vendor's file, as read, into one canonical table
(events, items, profiles), lazily, keeping the file's own top-level columns beside the canonical ones
(`properties.<column>` rules can name them). Where the vendor's file holds more than events (Shopify's
orders export has the line items and the customers too), the other tables are views of the same file,
used unless the config names a file of their own.

Each export is recognised by the top-level columns it always has (`SIGNATURES`), in one place for both
mistakes it catches: a preset on a file of another export, and a vendor's file read without its preset.
"""

from __future__ import annotations

import json
import re

from .common import Preset

# preset -> the columns its export always has (a tuple inside: one of them), as the file names them
SIGNATURES: dict[str, tuple[str | tuple[str, ...], ...]] = {
    "ga4": ("user_pseudo_id", "event_timestamp", "event_name"),
    "shopify_orders": ("Name", "Email", "Financial Status", "Lineitem name"),
    "shopify_customers": ("First Name", "Last Name", "Email", "Total Orders"),
    "segment": ("type", "timestamp", ("anonymousId", "userId")),
}


def presets() -> dict[str, Preset]:
    from . import ga4, segment, shopify

    return {p.name: p for p in (ga4.PRESET, shopify.PRESET, segment.PRESET, shopify.CUSTOMERS)}


def recognise(columns: list[str]) -> str | None:
    """The preset whose export has these columns, if any."""
    return next((name for name in presets() if not _lacking(name, columns)), None)


def mismatch(table: str, path: str, file: str, columns: list[str], preset: str | None,
             missing: list[str]) -> str | None:
    """What is wrong where the table's `file` (of those at `path`) is not the export its preset reads, or is a
    vendor's export read without its preset (so it lacks the canonical columns `missing`): the export the
    file looks like and the preset that reads it, or None where neither."""
    found = recognise(columns)
    if preset is None:
        if found is None or not missing:
            return None
        shown = ", ".join(_names(SIGNATURES[found], columns))
        views = presets()[found].views
        into = table if table in views else next(iter(views))  # Shopify's customers export: profiles only
        lines = (f"preset: {found}\ndata:\n  {into}: {_yaml(path)}" if into == "events"
                 else f"data:\n  {into}: {{path: {_yaml(path)}, preset: {found}}}")
        return (f"{table}: {file} looks like {presets()[found].vendor} (it has {shown}), not segtool's own columns "
                f"(it lacks {', '.join(missing)}); read it{'' if into == table else f' as {into}'} through its preset, "
                "with these lines in the config:\n" + "\n".join("  " + line for line in lines.splitlines()))
    lacking = _lacking(preset, columns)
    if not lacking:
        return None
    if found is not None:
        fits = f"it looks like {presets()[found].vendor}: set preset: {found} instead of {preset}"
    elif not missing:
        fits = "it has segtool's own columns: leave the preset out"
    else:
        shown = [name if len(name) <= 40 else name[:37] + "..." for name in columns[:12]]
        fits = f"its columns: {', '.join(shown)}{', ...' if len(columns) > 12 else ''}"
    return (f"{table}: {file} is not {presets()[preset].vendor}, which preset: {preset} reads (it lacks "
            f"{', '.join(lacking)}); {fits}")


def _lacking(preset: str, columns: list[str]) -> list[str]:
    """The columns of the preset's signature that `columns` lacks (`a or b` where neither is there)."""
    have = set(columns)
    return [" or ".join(c) if isinstance(c, tuple) else c for c in SIGNATURES.get(preset, ())
            if not have & set(c if isinstance(c, tuple) else (c,))]


def _names(signature, columns: list[str]) -> list[str]:
    return [next(n for n in c if n in columns) if isinstance(c, tuple) else c for c in signature]


def _yaml(path: str) -> str:
    """A path as a YAML scalar: as it is where YAML reads it so, else quoted."""
    return path if re.fullmatch(r"[\w./~-][\w./*~-]*", path) else json.dumps(path)
