"""`segtool predict`: every visitor's predictions (or the fitted parameters) to stdout or a file."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import UsageError
from ..jobs.output import format_for, is_stdout, write_members, write_text
from ..language.parse_periods import DAYS_PER_UNIT, MAX_PERIOD_DAYS, UNITS

PREDICT_FORMATS = ("csv", "parquet", "json", "ndjson")


def parse_horizon(text: str) -> float:
    """`365d`, `52w`, `12h`, `12mo`, `1y` (or `365 days`) → days (a month is 30.44 days, a year 365.24)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*", text or "")
    if not m or m.group(2) not in UNITS or float(m.group(1)) <= 0:
        raise UsageError(f"--horizon must look like 365d, 52w, 12mo, 1y or 12h, found {text!r}")
    days = float(m.group(1)) * DAYS_PER_UNIT[UNITS[m.group(2)]]
    if days > MAX_PERIOD_DAYS:
        raise UsageError(f"--horizon: at most {MAX_PERIOD_DAYS:,} days (100 years), found {text!r}")
    return days


def predict_command(session, horizon: str, output: Path | None, params: bool, fmt: str | None, feedback) -> None:
    horizon_days = parse_horizon(horizon)
    fmt = _format(output, params, fmt)
    if not is_stdout(output):
        session.check_output(output, [])
    with feedback.phase("fitting the models and predicting"):
        predictions = session.predict(horizon_days)
    if params:
        write_text(json.dumps(predictions.models.to_json_dict(), indent=2) + "\n", output)
    else:
        write_members(predictions.frame, output, fmt)
    models = predictions.models
    if not is_stdout(output):
        feedback.note(f"{'parameters' if params else f'{predictions.frame.height} visitors'} → {output}")
    feedback.note(f"fitted on {models.customers:,} customers ({models.repeat_customers:,} repeat) as of "
                  f"{session.as_of().describe()}")


def _format(output: Path | None, params: bool, fmt: str | None) -> str:
    if fmt is not None and fmt not in PREDICT_FORMATS:
        raise UsageError(f"--format must be one of {', '.join(PREDICT_FORMATS)}, found {fmt!r}")
    if params:
        if fmt not in (None, "json"):
            raise UsageError("--params writes the fitted parameters as JSON; use --format json or leave it out")
        return "json"
    if is_stdout(output):
        if fmt == "parquet":
            raise UsageError("parquet is written to a file: add -o PATH")
        return fmt or "csv"
    fmt = format_for(output, fmt, default="csv")
    if fmt not in PREDICT_FORMATS:
        raise UsageError(f"predictions are written as {', '.join(PREDICT_FORMATS)}, not {fmt!r}")
    return fmt
