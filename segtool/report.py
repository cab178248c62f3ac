"""The summary table and the retention grid picture."""

from __future__ import annotations

import json
from pathlib import Path

from .describe import short_rule


def summary_data(session, segments, frame) -> dict:
    from .engine.plan import rule_column, segment_column, skipped_rows

    universe = frame.height
    share = (lambda n: round(n / universe, 6)) if universe else (lambda n: 0.0)
    result = {
        "as_of": session.as_of().describe(),
        "universe": universe,
        "skipped_event_rows": skipped_rows(session.inputs()),
        "segments": [],
    }
    for i, segment in enumerate(segments):
        size = int(frame[segment_column(i)].sum())
        rules = [{"rule": short_rule(rule), "size": int(frame[rule_column(i, j)].sum()),
                  "share": share(int(frame[rule_column(i, j)].sum()))}
                 for j, rule in enumerate(segment.top_rules)]
        result["segments"].append({"name": segment.name, "file": segment.file, "size": size,
                                   "share": share(size), "match": "all" if type(segment.root).__name__ == "AllOf"
                                   else "any", "rules": rules})
    return result


def render_summary(data: dict, console, as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    from rich.table import Table

    table = Table(title=f"Segments as of {data['as_of']} — universe {data['universe']:,} visitors",
                  caption=f"{data['skipped_event_rows']:,} event rows skipped (no visitor_id or unreadable timestamp)")
    for heading, justify in (("segment / rule", "left"), ("visitors", "right"), ("share", "right")):
        table.add_column(heading, justify=justify, overflow="fold")
    for seg in data["segments"]:
        table.add_row(f"[bold]{seg['name']}[/] ({seg['match']})", f"[bold]{seg['size']:,}[/]", f"{seg['share']:.1%}")
        for rule in seg["rules"]:
            table.add_row(f"  {rule['rule']}", f"{rule['size']:,}", f"{rule['share']:.1%}", style="dim")
    console.print(table)


def grid_counts(session):
    from .engine.plan import grid_counts as counts

    return counts(session.inputs(), session.as_of())


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
    if output is None:
        print(text, end="")
        return
    from .output import atomic_path

    with atomic_path(output) as tmp:
        tmp.write_text(text, encoding="utf-8")


_COLOURS = ("grey50", "green", "cyan", "bright_green", "yellow", "red", "magenta", "blue")


def render_grid(counts, cells, as_of, console) -> None:
    from rich.table import Table

    rows = {r["cell"]: r for r in _rows(counts, cells)}
    total = sum(r["visitors"] for r in rows.values())
    conversion_rows = list(dict.fromkeys(c.conversions_label for c in sorted(cells, key=lambda c: c.min_conversions)))
    day_columns = list(dict.fromkeys(c.days_label for c in sorted(cells, key=lambda c: (c.min_days is not None, c.min_days or 0))))
    table = Table(title=f"Retention grid as of {as_of.describe()} — {total:,} visitors", show_lines=True)
    table.add_column("conversions \\ days since last", justify="right")
    for label in day_columns:
        table.add_column(label, justify="center")
    colour = {c.name: _COLOURS[i % len(_COLOURS)] for i, c in enumerate(cells)}
    for conv in conversion_rows:
        line = [conv]
        for days in day_columns:
            names = [c.name for c in cells if c.conversions_label == conv and c.days_label == days]
            line.append("\n".join(
                f"[{colour[n]}][bold]{n}[/bold]\n{rows[n]['visitors']:,} ({rows[n]['share']:.1%})[/]" for n in names))
        table.add_row(*line)
    console.print(table)
    if "(no cell)" in rows:
        console.print(f"{rows['(no cell)']['visitors']:,} visitors fall in no cell of the configured grid", markup=False)
