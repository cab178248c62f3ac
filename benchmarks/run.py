"""segtool against an expert's hand-written queries, at several data sizes: the yardstick in benchmarks/yardstick/.

    python benchmarks/run.py                                   # 500k, 2M and 4M visitors, 3 interleaved rounds
    python benchmarks/run.py --visitors 100000 --reps 1        # a quick look
    python benchmarks/run.py --visitors 2000000 --per-segment  # each segment alone too

For each size it makes the real-shape data once (benchmarks/data/<visitors>/, kept), runs the yardstick's
run_bench.py (DuckDB expert SQL, polars expert code, the scan floors and `segtool run`, as whole processes,
interleaved, medians, every set compared with DuckDB's), and writes the memory and time curve over the sizes
to benchmarks/results/curve.md; each size's own report is benchmarks/results/<visitors>/report.md.
benchmarks/yardstick/ is a copy of the shared yardstick (see its README), kept unchanged so that the figures
in docs/benchmarks.md can be reproduced from a clone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
YARDSTICK = HERE / "yardstick"
SYSTEMS = ("duckdb", "polars-collect-all", "floor-duckdb", "segtool")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, nargs="+", default=[500_000, 2_000_000, 4_000_000])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--per-segment", action="store_true", help="also time each segment alone")
    parser.add_argument("--segtool", default=f"{sys.executable} -m segtool", help="the command that runs segtool")
    parser.add_argument("--data", type=Path, default=HERE / "data", help="where the generated data is kept")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    results = {}
    for visitors in args.visitors:
        data = args.data / str(visitors)
        if not (data / "manifest.json").exists():
            subprocess.run([sys.executable, str(YARDSTICK / "gen.py"), "--visitors", str(visitors), "--out",
                            str(data)], check=True)
        command = [sys.executable, str(YARDSTICK / "run_bench.py"), "--data", str(data), "--segtool", args.segtool,
                   "--reps", str(args.reps), "--out", str(args.out), "--label", str(visitors)]
        # exit 1 where some system's sets differ from DuckDB's: the figures still stand, the table says which
        subprocess.run(command + (["--per-segment"] if args.per_segment else []), cwd=YARDSTICK)
        results[visitors] = json.loads((args.out / str(visitors) / "results.json").read_text())
    curve = table(results)
    (args.out / "curve.md").write_text(curve)
    print(curve)


def table(results: dict[int, dict]) -> str:
    """Wall time and peak RSS of each system at each size, segtool's ratios to DuckDB's, and whether the sets
    agreed."""
    lines = ["| visitors | events | system | wall s | peak RSS MiB | × DuckDB wall | × DuckDB RSS |",
             "|---|---|---|---|---|---|---|"]
    for visitors, result in results.items():
        systems = result["systems"]
        duckdb = systems["duckdb"]["summary"]
        for name in SYSTEMS:
            if name not in systems:
                continue
            s = systems[name]["summary"]
            lines.append(f"| {visitors:,} | {result['manifest']['rows']['events']:,} | {name} | {s['median_s']:.2f} | "
                         f"{s['peak_rss_mib']:.0f} | {s['median_s'] / duckdb['median_s']:.2f} | "
                         f"{s['peak_rss_mib'] / duckdb['peak_rss_mib']:.2f} |")
    differ = [f"{visitors:,}: {name} ({'; '.join(d.rsplit('/', 1)[-1] for d in s['diffs'])})"
              for visitors, result in results.items() for name, s in result["sets"].items() if s["diffs"]]
    return "\n".join(lines) + ("\n\nsegtool's sets agree with DuckDB's, every segment at every size\n" if not differ
                               else "\n\nsets that differ from DuckDB's:\n" + "\n".join(differ) + "\n")


if __name__ == "__main__":
    main()
