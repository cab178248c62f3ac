"""Segment sizes over time drawn in the terminal (a sparkline per segment, or bars for one) and as a PNG
(matplotlib, the optional `plot` extra). Plain characters only: readable without colour, on light and
dark backgrounds, in 60 columns."""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError

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


MAX_LINES = 10  # one plot holds this many segments, each its own colour; more get a small panel each


def write_png(path: Path, instants: list[str], series: dict[str, list[int]], title: str, log: bool = False) -> None:
    figure = history_figure(instants, series, title, log)
    figure.savefig(path, format="png")
    _pyplot().close(figure)


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise UsageError("a PNG plot needs matplotlib: pip install 'segtool[plot]' (or write .csv or .json)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def history_figure(instants: list[str], series: dict[str, list[int]], title: str, log: bool = False):
    """Up to MAX_LINES segments as lines in one plot with a legend beside it; more as small multiples, a panel
    per segment with a scale of its own, titled with its name and last size. `log`: sizes on a logarithmic
    axis (0 stays at the bottom)."""
    import math

    plt = _pyplot()
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, SymmetricalLogLocator

    single = len(series) <= MAX_LINES
    if single:
        figure, grid = plt.subplots(figsize=(11, 5), dpi=100, squeeze=False)
        panels = [(grid[0][0], series)]
    else:
        columns = math.ceil(math.sqrt(len(series)))
        rows = math.ceil(len(series) / columns)
        figure, grid = plt.subplots(rows, columns, figsize=(2.8 * columns, 2.2 * rows + 0.5), dpi=100,
                                    squeeze=False)
        cells = [cell for row in grid for cell in row]
        for unused in cells[len(series):]:
            figure.delaxes(unused)
        panels = [(cell, {name: values}) for cell, (name, values) in zip(cells, series.items())]
    label = FuncFormatter(lambda x, _: instants[int(x)] if 0 <= x < len(instants) else "")
    for plot, shown in panels:
        for name, values in shown.items():
            plot.plot(range(len(instants)), values, marker="o" if len(instants) <= 30 else None, markersize=3,
                      label=name)
        if log:
            plot.set_yscale("symlog", linthresh=1)
            plot.yaxis.set_major_locator(SymmetricalLogLocator(base=10, linthresh=1, subs=(1, 2, 5)))
        else:
            plot.yaxis.set_major_locator(MaxNLocator(integer=True))
        plot.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:,.0f}"))  # 1,000 rather than 10^3
        plot.xaxis.set_major_locator(MaxNLocator(6, integer=True) if single else FixedLocator([0, len(instants) - 1]))
        plot.xaxis.set_major_formatter(label)
        plot.tick_params(labelsize="small" if single else "x-small")
        if not single:
            plot.set_title(f"{name}: {values[-1]:,}", fontsize="small")
    if single:
        plot.set_ylabel("visitors" + (" (log scale)" if log else ""))
        plot.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    figure.suptitle(title)
    figure.tight_layout()
    return figure
