"""The baseline: each segment as a hand-written DuckDB query over the same Parquet files, IDs to text files.

The SQL is the test suite's oracle (tests/oracle.py): SPEC.md written as SQL, one query per segment, run one
after another in one connection — what a user without segtool writes today.

    python benchmarks/duckdb_segments.py DATA_DIR AS_OF OUT_DIR [--only NAME]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from oracle import Oracle, segment_queries  # noqa: E402

MILAN = (45.46427, 9.18951)  # GeoNames' Milan: what `of: Milan` resolves to; lat/lon files give the same point


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path)
    parser.add_argument("as_of")
    parser.add_argument("out", type=Path)
    parser.add_argument("--only", action="append", default=[])
    args = parser.parse_args()
    oracle = Oracle(*(str(args.data / f"{t}.parquet") for t in ("events", "profiles", "items")), as_of=args.as_of)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, sql in segment_queries(oracle, MILAN).items():
        if args.only and name not in args.only:
            continue
        ids = sorted(oracle.ids(sql))
        (args.out / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids))


if __name__ == "__main__":
    main()
