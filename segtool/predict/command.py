"""`segtool predict`: every visitor's predictions (or the fitted parameters) to stdout or a file."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from ..errors import UsageError
from ..output import atomic_path, format_for, write_members
from ..parse import UNITS

PREDICT_FORMATS = ("csv", "parquet", "json", "ndjson")
DAYS_PER_UNIT = {"hours": 1 / 24, "days": 1.0, "weeks": 7.0}


def parse_horizon(text: str) -> float:
    """`365d`, `52w`, `12h` (or `365 days`) → days."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*", text or "")
    if not m or m.group(2) not in UNITS or float(m.group(1)) <= 0:
        raise UsageError(f"--horizon must look like 365d, 52w or 12h, found {text!r}")
    return float(m.group(1)) * DAYS_PER_UNIT[UNITS[m.group(2)]]


def predict_command(session, horizon: str, output: Path | None, params: bool, fmt: str | None, stderr) -> None:
    from . import predict_visitors

    horizon_days = parse_horizon(horizon)
    fmt = _format(output, params, fmt)
    session.check_events(conversions=True)
    predictions = predict_visitors(session.inputs(), session.as_of(), horizon_days)
    if params:
        text = json.dumps(predictions.models.to_json_dict(), indent=2) + "\n"
        if output is None:
            sys.stdout.write(text)
        else:
            with atomic_path(output) as tmp:
                tmp.write_text(text, encoding="utf-8")
    elif output is None:
        frame = predictions.frame
        sys.stdout.write(frame.write_csv() if fmt == "csv" else
                         frame.write_json() + "\n" if fmt == "json" else frame.write_ndjson())
    else:
        write_members(predictions.frame, output, fmt)
    sys.stdout.flush()
    models = predictions.models
    if output is not None:
        stderr.print(f"{'parameters' if params else f'{predictions.frame.height} visitors'} → {output}", markup=False)
    stderr.print(f"fitted on {models.customers:,} customers ({models.repeat_customers:,} repeat) as of "
                 f"{session.as_of().describe()}", markup=False)


def _format(output: Path | None, params: bool, fmt: str | None) -> str:
    if fmt is not None and fmt not in PREDICT_FORMATS:
        raise UsageError(f"--format must be one of {', '.join(PREDICT_FORMATS)}, found {fmt!r}")
    if params:
        if fmt not in (None, "json"):
            raise UsageError("--params writes the fitted parameters as JSON; use --format json or leave it out")
        return "json"
    if output is None:
        if fmt == "parquet":
            raise UsageError("parquet is written to a file: add -o PATH")
        return fmt or "csv"
    fmt = format_for(output, fmt)
    if fmt not in PREDICT_FORMATS:
        raise UsageError(f"predictions are written as {', '.join(PREDICT_FORMATS)}, not {fmt!r}")
    return fmt
