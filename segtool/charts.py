"""Segment sizes over time drawn in the terminal (a sparkline per segment, or bars for one) and as a PNG
(matplotlib, the optional `plot` extra). Plain characters only: readable without colour, on light and
dark backgrounds, in 60 columns."""

from __future__ import annotations

from pathlib import Path

from .errors import UsageError

BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[int]) -> str:
    low, high = min(values), max(values)
    if high == low:
        return BLOCKS[3] * len(values)
    return "".join(BLOCKS[round((v - low) / (high - low) * (len(BLOCKS) - 1))] for v in values)


def bars(labels: list[str], values: list[int], width: int) -> list[str]:
    """One line per instant: label, a bar scaled to the largest value, the value."""
    numbers = [f"{v:,}" for v in values]
    room = max(width - max(map(len, labels)) - max(map(len, numbers)) - 4, 5)
    top = max(values) or 1
    return [f"{label}  {'█' * round(v / top * room):<{room}}  {number:>{len(max(numbers, key=len))}}"
            for label, v, number in zip(labels, values, numbers)]


def overview(names: list[str], series: dict[str, list[int]], width: int) -> list[str]:
    """One line per segment: its name, a sparkline over the instants, first → last (min–max)."""
    name_width = min(max(map(len, names)), max(width - 40, 12))
    lines = []
    for name in names:
        values = series[name]
        shown = name if len(name) <= name_width else name[:name_width - 1] + "…"
        lines.append(f"{shown:<{name_width}}  {sparkline(values)}  {values[0]:,} → {values[-1]:,} "
                     f"({min(values):,}–{max(values):,})")
    return lines


def write_png(path: Path, instants: list[str], series: dict[str, list[int]], title: str) -> None:
    try:
        import matplotlib
    except ImportError:
        raise UsageError("a PNG plot needs matplotlib: pip install 'segtool[plot]' (or write .csv or .json)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(10, 5), dpi=100)
    for name, values in series.items():
        axes.plot(instants, values, marker="o", label=name)
    axes.set_title(title)
    axes.set_ylabel("visitors")
    axes.tick_params(axis="x", labelrotation=45)
    if len(series) <= 12:
        axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)
