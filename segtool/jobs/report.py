"""`run --report report.md|report.html`: the run in a page fit for Slack or e-mail: each segment's size and
share, its change since the last run (with --output-dir), guard breaches, the freshness of the data, rows
skipped or set aside, and how much the run's segments overlap (pairwise counts of shared members)."""

from __future__ import annotations

import html
from pathlib import Path

from ..errors import UsageError
from .output import write_text

REPORT_FORMATS = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html"}


def report_format(path: Path) -> str:
    found = REPORT_FORMATS.get(path.suffix.lower())
    if found is None:
        raise UsageError(f"--report writes Markdown (.md) or HTML (.html), found {path.name!r}")
    return found


def overlaps(result) -> list[tuple[str, str, int]]:
    """Each pair of the run's segments and how many members they share."""
    found = []
    segments = result.segments
    for i, left in enumerate(segments):
        for right in segments[i + 1:]:
            shared = left.members.select("visitor_id").join(right.members.select("visitor_id"), on="visitor_id")
            found.append((left.segment.name, right.segment.name, shared.height))
    return found


def report_data(result, entries: dict[str, dict], previous_sizes: dict[str, int | None], freshness: dict | None,
                requested: str) -> dict:
    """What the report says, as data. `entries`: per segment its status (`written`, `guard_failed`), breaches
    and entered/exited counts; `previous_sizes`: the last run's sizes (none without --output-dir)."""
    universe = result.universe
    rows = []
    for item in result.segments:
        name, entry = item.segment.name, entries.get(item.segment.name, {})
        rows.append({"segment": name, "size": item.size, "share": item.size / universe if universe else 0.0,
                     "previous_size": previous_sizes.get(name), "entered": entry.get("entered"),
                     "exited": entry.get("exited"), "status": entry.get("status", "written"),
                     "breaches": entry.get("breaches", [])})
    aside = {f"{table}: {reason}": n for table, reasons in result.set_aside.items() for reason, n in reasons.items() if n}
    return {"as_of": result.as_of.describe(), "requested": requested, "universe": universe, "segments": rows,
            "skipped_event_rows": result.skipped_event_rows, "set_aside": aside, "freshness": freshness,
            "overlaps": overlaps(result)}


def _change(row: dict) -> str:
    if row["previous_size"] is None:
        return ""
    delta = row["size"] - row["previous_size"]
    text = f"{delta:+,}"
    if row["entered"] is not None:
        text += f" (+{row['entered']:,} / -{row['exited']:,})"
    return text


def _table(headings: list[str], rows: list[list[str]], fmt: str) -> str:
    if fmt == "markdown":
        lines = ["| " + " | ".join(headings) + " |", "|" + "|".join("---" for _ in headings) + "|"]
        return "\n".join(lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
                                  for row in rows]) + "\n"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headings)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>\n" for row in rows)
    return f"<table>\n<tr>{head}</tr>\n{body}</table>\n"


def render_report(data: dict, fmt: str) -> str:
    title = f"segtool run as of {data['as_of']}"
    notes = [f"Universe: {data['universe']:,} visitors; {data['skipped_event_rows']:,} event rows skipped"]
    notes += [f"Set aside: {reason}: {n:,} rows" for reason, n in data["set_aside"].items()]
    fresh = data["freshness"]
    if fresh is not None:
        notes.append(f"Freshness: {fresh.get('warning') or 'the newest event is ' + str(fresh['newest_event'])}")
    for row in data["segments"]:
        notes += [f"Guard: {row['segment']}: {breach}; its last file was kept" for breach in row["breaches"]]
    sizes = _table(["segment", "visitors", "share", "change since the last run", "status"],
                   [[r["segment"], f"{r['size']:,}", f"{r['share']:.1%}", _change(r), r["status"].replace("_", " ")]
                    for r in data["segments"]], fmt)
    pairs = _table(["segment", "segment", "shared visitors"],
                   [[a, b, f"{n:,}"] for a, b, n in data["overlaps"]], fmt) if data["overlaps"] else ""
    if fmt == "markdown":
        parts = [f"# {title}\n", "\n".join(f"- {n}" for n in notes) + "\n", "## Segments\n", sizes]
        return "\n".join(parts + (["## Overlap\n", pairs] if pairs else []))
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    overlap = f"<h2>Overlap</h2>\n{pairs}" if pairs else ""
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title></head>\n"
            f"<body>\n<h1>{html.escape(title)}</h1>\n<ul>{items}</ul>\n<h2>Segments</h2>\n{sizes}{overlap}"
            "</body></html>\n")


def write_report(path: Path, data: dict) -> None:
    """Written whole or not at all, as every output (output.py)."""
    write_text(render_report(data, report_format(path)), path)
