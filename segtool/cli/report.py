"""The summary table and the retention grid picture."""

from __future__ import annotations

import json
from pathlib import Path

from ..language.describe import rule_text, short_rule
from ..language.grid import range_label
from ..results import RunResult, identity_data
from ..language.tree import AllOf


def summary_data(result: RunResult, deliveries: dict[str, dict] | None = None) -> dict:
    """The summary of a run; `deliveries`: per segment, its destination file's counts per outcome."""
    universe = result.universe
    share = (lambda n: round(n / universe, 6)) if universe else (lambda n: 0.0)
    data = {
        "as_of": result.as_of.describe(),
        "universe": universe,
        "skipped_event_rows": result.skipped_event_rows,
        "set_aside": result.set_aside,  # table -> reason -> rows a preset left out (no data error)
        "computed_predictive": dict(result.notes),  # column -> how it was computed from events
        **({"identity": identity_data(result.identity)} if result.identity is not None else {}),
        "segments": [],
    }
    for item in result.segments:
        segment = item.segment
        rules = [{"rule": rule_text(rule), "size": size, "share": share(size)}
                 for rule, size in zip(segment.top_rules, item.rule_sizes)]
        data["segments"].append({"name": segment.name, "file": segment.file, "size": item.size,
                                 "share": share(item.size), "match": "all" if isinstance(segment.root, AllOf)
                                 else "any", "rules": rules,
                                 **({"delivery": deliveries[segment.name]} if segment.name in (deliveries or {}) else {})})
    return data


def render_summary(data: dict, console, as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    aside = "".join(f"; {reason}: {n:,}" for reasons in data.get("set_aside", {}).values()
                    for reason, n in reasons.items() if n)
    table = Table(title=f"Segments as of {data['as_of']} — universe {data['universe']:,} visitors",
                  caption=f"{data['skipped_event_rows']:,} event rows skipped (no visitor_id or unreadable timestamp)"
                          f"{aside}")
    for heading, justify in (("segment / rule", "left"), ("visitors", "right"), ("share", "right")):
        table.add_column(heading, justify=justify, overflow="fold")
    for seg in data["segments"]:
        table.add_row(f"[bold]{escape(seg['name'])}[/] ({seg['match']})", f"[bold]{seg['size']:,}[/]",
                      f"{seg['share']:.1%}")
        for rule in seg["rules"]:
            table.add_row(Text(f"  {short_rule(rule['rule'])}"), f"{rule['size']:,}", f"{rule['share']:.1%}",
                          style="dim")
    console.print(table)
    for column, note in data.get("computed_predictive", {}).items():
        console.print(f"{column}: {note}", markup=False)
    for line in identity_lines(data.get("identity")):
        console.print(line, markup=False)
    for seg in data["segments"]:
        if "delivery" in seg:
            console.print(f"{seg['name']}: {delivery_line(seg['delivery']['format'], seg['delivery'])}", markup=False)


OUTCOME_WORDS = {"no_consent": "without consent", "invalid_email": "invalid e-mail", "invalid_phone": "invalid phone",
                 "no_identifier": "no usable identifier"}


def delivery_line(fmt: str, counts: dict) -> str:
    """`google_ads: 1,204 members written (1,198 rows); left out: 310 without consent, ...`."""
    line = f"{fmt}: {counts['written']:,} members written ({counts['rows']:,} rows)"
    dropped = [f"{counts[outcome]:,} {words}" for outcome, words in OUTCOME_WORDS.items() if counts[outcome]]
    line += f"; left out: {', '.join(dropped)}" if dropped else "; none left out"
    return line + ("; consent ignored (--ignore-consent)" if counts["consent_ignored"] else "")


def identity_lines(identity: dict | None) -> list[str]:
    """Where sources are joined by person: the visitors and persons, and what each source contributed."""
    if identity is None:
        return []
    lines = [f"Sources joined by person: {identity['visitors']:,} visitors, {identity['persons']:,} of them persons; "
             f"{identity['joined']:,} in two sources or more"]
    for s in identity["sources"]:
        person = f"person {s['person']}" if s["person"] else "no person column"
        line = (f"  {s['source']} ({s['read_from']}; {person}): {s['rows']:,} rows, {s['ids']:,} visitors "
                f"({s['persons']:,} persons), {s['joined']:,} joined with another source")
        if s["devices"]:
            line += f"; {s['devices_stitched']:,} of {s['devices']:,} devices without a key stitched to a person"
        if s.get("unmatched") is not None:
            line += f"; {s['unmatched']:,} without events"
        lines.append(line)
    return lines


def _rows(counts, cells) -> list[dict]:
    by_name = {c.name: c for c in cells}
    total = int(counts["visitors"].sum())
    rows = []
    for name, visitors in counts.iter_rows():
        cell = by_name.get(name)
        rows.append({"cell": name if name is not None else "(no cell)",
                     "conversions": cell.conversions_label if cell else "",
                     "days_since_last": cell.days_label if cell else "",
                     "visitors": int(visitors), "share": round(visitors / total, 6) if total else 0.0})
    return rows


def write_grid(counts, cells, fmt: str, output: Path | None) -> None:
    rows = _rows(counts, cells)
    if fmt == "json":
        text = json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    else:
        header = list(rows[0]) if rows else ["cell", "conversions", "days_since_last", "visitors", "share"]
        lines = [",".join(header)] + [",".join(str(r[h]) for h in header) for r in rows]
        text = "\n".join(lines) + "\n"
    from ..jobs.output import write_text

    write_text(text, output)


# the terminal's own palette (no bright or grey shades), so each is readable on light and dark backgrounds
_COLOURS = ("default", "green", "cyan", "blue", "magenta", "red")


def _bands(bounds: list[tuple[int, int | None]]) -> list[tuple[int, int | None]]:
    """Split overlapping [lo, hi] ranges (hi None = open) into the disjoint bands their edges make."""
    edges = sorted({lo for lo, _ in bounds} | {hi + 1 for _, hi in bounds if hi is not None})
    return [(lo, edges[i + 1] - 1 if i + 1 < len(edges) else None) for i, lo in enumerate(edges)
            if any(b_lo <= lo and (b_hi is None or lo <= b_hi) for b_lo, b_hi in bounds)]


def _covers(lo: int, hi: int | None, band: tuple[int, int | None]) -> bool:
    return lo <= band[0] and (hi is None or (band[1] is not None and band[1] <= hi))


def _in_column(cell, band) -> bool:
    """Whether a grid cell is drawn in the column of `band` (None: the column of the never-converted)."""
    timeless = cell.min_days is None and cell.max_days is None
    return timeless if band is None else (not timeless and _covers(cell.min_days or 0, cell.max_days, band))


def render_grid(counts, cells, as_of, console) -> None:
    """Rows of conversion counts × columns of recency; a cell spanning several rows is named in each, counted once."""
    from rich.table import Table

    rows = {r["cell"]: r for r in _rows(counts, cells)}
    total = sum(r["visitors"] for r in rows.values())
    conv_bands = _bands([(c.min_conversions, c.max_conversions) for c in cells])
    timed = [c for c in cells if c.min_days is not None or c.max_days is not None]
    day_bands = _bands([(c.min_days or 0, c.max_days) for c in timed])
    columns = [None, *day_bands] if len(timed) < len(cells) else day_bands
    narrow = console.width < 80
    table = Table(title=f"Retention grid as of {as_of.describe()} — {total:,} visitors",
                  caption="rows: conversions; columns: days since the last conversion", show_lines=True,
                  padding=(0, 0) if narrow else (0, 1))
    table.add_column("conversions", justify="right")
    for band in columns:
        names = [c.name for c in cells if _in_column(c, band)] or [""]
        table.add_column("never converted" if band is None else range_label(*band), justify="center",
                         min_width=min(max(map(len, names)), 16) if narrow else None)
    colour = {c.name: _COLOURS[i % len(_COLOURS)] for i, c in enumerate(cells)}
    shown: set[str] = set()
    for conv in conv_bands:
        line = [range_label(*conv)]
        for band in columns:
            texts = []
            for cell in cells:
                if _in_column(cell, band) and _covers(cell.min_conversions, cell.max_conversions, conv):
                    r = rows[cell.name]
                    count = "↑" if cell.name in shown else f"{r['visitors']:,} ({r['share']:.1%})"
                    texts.append(f"[{colour[cell.name]}][bold]{cell.name}[/bold]\n{count}[/]")
                    shown.add(cell.name)
            line.append("\n".join(texts))
        table.add_row(*line)
    console.print(table)
    if "(no cell)" in rows:
        console.print(f"{rows['(no cell)']['visitors']:,} visitors fall in no cell of the configured grid", markup=False)
