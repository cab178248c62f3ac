"""Writing results: IDs to stdout or files, whole or not at all, without ever destroying a file.

A regular file is written to a temporary file beside it and renamed onto it (a symlink to one keeps the
link and replaces its target); stdout (`-`), devices, FIFOs and anything under /dev or /proc are written
through, never renamed over. New files get the mode the umask gives, as any other tool's would. Every OS
error names the path; a temporary file is removed whatever stops the write (an error, a signal, a kill:
temporaries.py).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
from contextlib import contextmanager
from pathlib import Path

from .. import temporaries
from ..errors import DataError, UsageError

FORMATS = ("csv", "parquet", "json", "ndjson", "txt")
EXTENSIONS = {"csv": ".csv", "parquet": ".parquet", "json": ".json", "ndjson": ".ndjson", "txt": ".txt"}
STDOUT = "-"
_THROUGH = ("/dev/", "/proc/")


def format_for(path: Path, explicit: str | None, default: str | None = None) -> str:
    """The format `--format` names, else the extension's; stdout and devices take `default` (where given)."""
    if explicit:
        return explicit
    if Path(path).is_dir():
        raise OutputError(f"cannot write {path}: it is a directory")
    if default and (is_stdout(path) or str(Path(path).absolute()).startswith(_THROUGH)):
        return default
    suffix = path.suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    if suffix == "jsonl":
        return "ndjson"
    raise UsageError(f"cannot tell the output format from {path.name!r}; use --format {'|'.join(FORMATS)}")


def is_stdout(path: Path | str | None) -> bool:
    return path is None or str(path) == STDOUT


class OutputError(UsageError):
    """An output that cannot be written (exit 2, like any other unusable argument), naming the path."""


@contextmanager
def writing(path: Path | str):
    """OS errors (and polars' reports of them) while writing `path` become an OutputError naming it."""
    import polars as pl

    where = "stdout" if is_stdout(path) else str(path)
    try:
        yield
    except BrokenPipeError:
        raise
    except (OSError, pl.exceptions.PolarsError) as exc:
        reason = getattr(exc, "strerror", None) or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if getattr(exc, "errno", None) == errno.EPIPE or f"os error {errno.EPIPE})" in reason:  # polars' writer
            raise BrokenPipeError(errno.EPIPE, "Broken pipe") from None
        raise OutputError(f"cannot write {where}: {re.sub(r' *[(]os error [0-9]+[)]$', '', reason)}") from None


@contextmanager
def output_target(path: Path | str):
    """Where to write the whole output for `path`: a binary stream (stdout, a device, a FIFO) or a temporary
    path renamed onto the file (or onto a symlink's target) when the block succeeds."""
    with writing(path):
        if is_stdout(path):
            sys.stdout.flush()
            yield sys.stdout.buffer
            sys.stdout.buffer.flush()
            return
        path = Path(path)
        if _write_through(path):
            with open(path, "wb") as stream:
                yield stream
            return
        if path.is_dir():
            raise OutputError(f"cannot write {path}: it is a directory")
        with atomic_path(path.resolve() if path.is_symlink() else path) as tmp:
            yield tmp


def _write_through(path: Path) -> bool:
    if str(path.absolute()).startswith(_THROUGH):
        return True
    try:
        mode = os.stat(path).st_mode  # follows symlinks
    except FileNotFoundError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


@contextmanager
def atomic_path(path: Path):
    """A temporary path beside `path`, renamed onto it only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporaries.make(path.parent, f".{path.name}.", ".tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        temporaries.remove(tmp)


def write_text(text: str, path: Path | str | None) -> None:
    with output_target(STDOUT if path is None else path) as target:
        if isinstance(target, Path):
            target.write_text(text, encoding="utf-8")
        else:
            target.write(text.encode("utf-8"))


def write_members(frame, path: Path | str | None, fmt: str) -> None:
    """Write a frame of visitor_id (+ profile columns) in `fmt`, whole or not at all."""
    if fmt == "txt":
        check_line_ids(frame["visitor_id"])
    if fmt == "parquet" and is_stdout(path):
        raise UsageError("parquet is written to a file: add -o PATH")
    with output_target(STDOUT if path is None else path) as target:
        if fmt == "csv":
            frame.write_csv(target)
        elif fmt == "parquet":
            frame.write_parquet(target)
        elif fmt == "json":
            frame.write_json(target)
        elif fmt == "ndjson":
            frame.write_ndjson(target)
        else:
            _id_lines(frame["visitor_id"], target)


def check_line_ids(ids) -> None:
    """One ID per line only works for IDs without a line break: refuse, naming one, rather than miscount."""
    broken = ids.filter(ids.str.contains(r"[\r\n]"))
    if broken.len():
        raise DataError(f"{broken.len():,} visitor IDs contain a line break (e.g. {broken[0]!r}), which one ID per "
                        "line cannot hold; write them with -o FILE.csv, .json or .parquet instead", column="visitor_id")


def _id_lines(ids, target):
    """One ID per line, no header, no quoting (polars writes it; no Python loop per ID)."""
    ids.to_frame().write_csv(target, include_header=False, quote_style="never")
