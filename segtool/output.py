"""Writing results: IDs to stdout or files (whole or not at all), and the summary."""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import DataError, UsageError

FORMATS = ("csv", "parquet", "json", "ndjson", "txt")
EXTENSIONS = {"csv": ".csv", "parquet": ".parquet", "json": ".json", "ndjson": ".ndjson", "txt": ".txt"}


def format_for(path: Path, explicit: str | None) -> str:
    if explicit:
        return explicit
    suffix = path.suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    if suffix == "jsonl":
        return "ndjson"
    raise UsageError(f"cannot tell the output format from {path.name!r}; use --format {'|'.join(FORMATS)}")


@contextmanager
def atomic_path(path: Path):
    """A temporary path beside `path`, renamed onto it only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_members(frame, path: Path, fmt: str) -> None:
    """Write a frame of visitor_id (+ profile columns) in `fmt`, atomically."""
    if fmt == "txt":
        check_line_ids(frame["visitor_id"])
    with atomic_path(path) as tmp:
        if fmt == "csv":
            frame.write_csv(tmp)
        elif fmt == "parquet":
            frame.write_parquet(tmp)
        elif fmt == "json":
            frame.write_json(tmp)
        elif fmt == "ndjson":
            frame.write_ndjson(tmp)
        else:
            _id_lines(frame["visitor_id"], tmp)


def check_line_ids(ids) -> None:
    """One ID per line only works for IDs without a line break: refuse, naming one, rather than miscount."""
    broken = ids.filter(ids.str.contains(r"[\r\n]"))
    if broken.len():
        raise DataError(f"{broken.len():,} visitor IDs contain a line break (e.g. {broken[0]!r}), which one ID per "
                        "line cannot hold; write them with -o FILE.csv, .json or .parquet instead", column="visitor_id")


def print_ids(ids) -> None:
    check_line_ids(ids)
    out = sys.stdout
    out.write(_id_lines(ids))
    out.flush()


def _id_lines(ids, target=None):
    """One ID per line, no header, no quoting (polars writes it; no Python loop per ID)."""
    return ids.to_frame().write_csv(target, include_header=False, quote_style="never")
