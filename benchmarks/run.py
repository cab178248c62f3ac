"""segtool against hand-written DuckDB SQL on the same Parquet files: wall time, peak RSS, agreement.

    python benchmarks/run.py                      # 100k and 2M visitors, 3 runs each
    python benchmarks/run.py --visitors 100000 --repeat 5 --no-single
    python benchmarks/run.py --visitors 2000000 --no-single --engine polars duckdb   # the SQL engine too

Data comes from `segtool sample` (cached in benchmarks/data/<visitors>/). Every measurement is a whole
process (startup and reading included), runs are interleaved (segtool, DuckDB, floor, segtool, ...), and
the figures are medians. The floor is a process that merely reads the columns the segments need once.
Results are printed and written to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
AS_OF = "2026-06-30T18:00:00Z"  # the sample's last instant: a fixed as_of, so neither side scans for `latest`
FLOOR = """
import sys, polars as pl
d = sys.argv[1]
columns = {"events": ["visitor_id", "timestamp", "event_type", "url", "referrer", "utm_source", "utm_medium",
                      "utm_campaign", "order_id", "order_value"],
           "profiles": ["visitor_id", "city", "region", "country", "latitude", "longitude", "conversion_potential",
                        "clv", "customer_type", "persuasion_type"],
           "items": ["order_id", "item_id", "name", "brand"]}
for table, cols in columns.items():
    pl.scan_parquet(f"{d}/{table}.parquet").select(pl.col(c).null_count() for c in cols).collect(engine="streaming")
"""


def measure(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one whole process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{process.stderr.read().decode()}")
    process.stderr.close()
    return wall, usage.ru_maxrss / 1024


def segtool(*args: str) -> list[str]:
    return [sys.executable, "-m", "segtool", *args]


def ensure_data(visitors: int) -> Path:
    target = HERE / "data" / str(visitors)
    if not (target / "events.parquet").exists():
        print(f"generating {visitors:,} visitors → {target}", flush=True)
        wall, rss = measure(segtool("sample", "--visitors", str(visitors), "-o", str(target)))
        print(f"  sample: {wall:.1f} s, peak RSS {rss:,.0f} MiB", flush=True)
    (target / "segtool.yaml").write_text(
        f"as_of: {AS_OF}\ndata:\n  events: events.parquet\n  profiles: profiles.parquet\n"
        "  items: items.parquet\nsite:\n  domains: [shop.example]\n")
    return target


def compare(segtool_dir: Path, duckdb_dir: Path, names: list[str]) -> list[str]:
    problems = []
    for name in names:
        ours = (segtool_dir / f"{name}.txt").read_text()
        theirs = (duckdb_dir / f"{name}.txt").read_text()
        if ours != theirs:
            a, b = set(ours.split()), set(theirs.split())
            problems.append(f"{name}: segtool {len(a):,} vs DuckDB {len(b):,} "
                            f"(only segtool {len(a - b):,}, only DuckDB {len(b - a):,})")
    return problems


def run_case(label: str, commands: dict[str, list[str]], repeat: int) -> dict:
    samples: dict[str, list[tuple[float, float]]] = {tool: [] for tool in commands}
    for _ in range(repeat):
        for tool, command in commands.items():
            samples[tool].append(measure(command))
    result = {"case": label}
    for tool, runs in samples.items():
        result[tool] = {"wall_s": statistics.median(w for w, _ in runs), "rss_mib": max(r for _, r in runs),
                        "runs": [round(w, 3) for w, _ in runs]}
    result["ratio"] = result["segtool"]["wall_s"] / result["duckdb"]["wall_s"]
    return result


def benchmark(visitors: int, repeat: int, single: bool, segments: Path, only: list[str],
              engines: tuple[str, ...] = ("polars",)) -> dict:
    data = ensure_data(visitors)
    config = str(data / "segtool.yaml")
    files = sorted(p for p in segments.glob("*.yaml") if not only or p.stem in only)
    names = [p.stem for p in files]
    work = HERE / "results" / f"work-{visitors}"
    shutil.rmtree(work, ignore_errors=True)
    events = subprocess.run([sys.executable, "-c", "import polars as pl, sys; print(pl.scan_parquet(sys.argv[1])"
                             ".select(pl.len()).collect().item())", str(data / "events.parquet")],
                            capture_output=True, text=True, check=True).stdout.strip()
    print(f"\n{visitors:,} visitors, {int(events):,} events, as_of {AS_OF}", flush=True)
    only_args = [a for n in names for a in ("--only", n)] if only else []
    cases, problems = [], []
    for engine in engines:  # segtool's engine: polars (its own), or the SQL it writes run by DuckDB or Spark
        label = "all segments" + (f" (--engine {engine})" if engine != "polars" else "")
        cases.append(run_case(label, {
            "segtool": segtool("run", *map(str, files), "--config", config, "--output-dir", str(work / engine),
                               "--format", "txt", "--engine", engine),
            "duckdb": [sys.executable, str(HERE / "duckdb_segments.py"), str(data), AS_OF, str(work / "duckdb"),
                       *only_args],
            "floor": [sys.executable, "-c", FLOOR, str(data)],
        }, repeat))
        problems += compare(work / engine, work / "duckdb", names)
    if single:
        for path in files:
            cases.append(run_case(path.stem, {
                "segtool": segtool("run", str(path), "--config", config, "-o", str(work / "one.txt")),
                "duckdb": [sys.executable, str(HERE / "duckdb_segments.py"), str(data), AS_OF,
                           str(work / "duckdb-one"), "--only", path.stem],
            }, repeat))
    return {"visitors": visitors, "events": int(events), "segments": len(files), "cases": cases,
            "disagreements": problems}


def startup(repeat: int = 5) -> dict:
    cases = {"segtool --help": segtool("--help"),
             "segtool validate (one file)": segtool("validate", "segments/one_time_buyers.yaml")}
    return {label: statistics.median(measure(cmd)[0] for _ in range(repeat)) for label, cmd in cases.items()}


def render(report: dict) -> str:
    lines = [f"machine: {report['machine']}", ""]
    for label, seconds in report["startup"].items():
        lines.append(f"startup  {label:<30} {seconds:6.3f} s")
    for bench in report["benchmarks"]:
        lines += ["", f"## {bench['visitors']:,} visitors, {bench['events']:,} events, {bench['segments']} segments",
                  "", "| case | segtool s | DuckDB s | ratio | floor s | segtool / floor | segtool RSS MiB | "
                  "DuckDB RSS MiB |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for case in bench["cases"]:
            floor = case.get("floor")
            floor_cells = (f"{floor['wall_s']:.2f} | {case['segtool']['wall_s'] / floor['wall_s']:.2f}"
                           if floor else "– | –")
            lines.append(f"| {case['case']} | {case['segtool']['wall_s']:.2f} | {case['duckdb']['wall_s']:.2f} | "
                         f"{case['ratio']:.2f} | {floor_cells} | {case['segtool']['rss_mib']:,.0f} | "
                         f"{case['duckdb']['rss_mib']:,.0f} |")
        lines.append("")
        lines.append("sets agree: " + ("yes, every segment" if not bench["disagreements"] else
                                       "NO — " + "; ".join(bench["disagreements"])))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, nargs="+", default=[100_000, 2_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-single", dest="single", action="store_false", help="skip one-segment runs")
    parser.add_argument("--segments", type=Path, default=REPO / "segments")
    parser.add_argument("--only", action="append", default=[], help="only this segment (repeatable)")
    parser.add_argument("--engine", nargs="+", default=["polars"], choices=["polars", "duckdb", "spark"],
                        help="segtool's engines to measure (each against the hand-written DuckDB query)")
    args = parser.parse_args()
    report = {
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "startup": startup(),
        "benchmarks": [benchmark(v, args.repeat, args.single, args.segments, args.only, tuple(args.engine))
                       for v in args.visitors],
    }
    text = render(report)
    print(text)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (results / f"{stamp}.json").write_text(json.dumps(report, indent=2))
    (results / f"{stamp}.md").write_text(text + "\n")
    if any(b["disagreements"] for b in report["benchmarks"]):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
