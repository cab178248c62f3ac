"""Finding and scanning input files: local paths, globs, directories and buckets; CSV (with its options),
NDJSON and Parquet, plain or compressed.

A file's format comes from its name: `.parquet`/`.pq`, `.csv`, `.ndjson`/`.jsonl`, each of the text ones
optionally `.gz` or `.zst` (polars decompresses them itself). Bucket paths (`s3://`, `gs://`, `az://`, ...)
go to polars' object-store reader, which takes credentials from the environment as the cloud SDKs do.
"""

from __future__ import annotations

import atexit
import codecs
import glob as globlib
import gzip
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from .. import temporaries
from ..config import CsvOptions
from ..errors import DataError

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "csv", ".ndjson": "ndjson",
           ".jsonl": "ndjson"}
COMPRESSIONS = (".gz", ".zst")
CLOUD_SCHEMES = ("s3://", "s3a://", "gs://", "gcs://", "az://", "abfs://", "abfss://", "adl://", "azure://",
                 "https://", "http://")
CSV_ENCODINGS_NATIVE = ("utf8", "utf-8", "utf8-lossy")
NDJSON_INFER_ROWS = 10_000


@dataclass(frozen=True)
class Reading:
    """How one table's files are read: their format and, for CSV and NDJSON, the options."""

    format: str
    csv: CsvOptions = field(default_factory=CsvOptions)
    ndjson_schema: dict | None = None  # the fields to read (a preset's); None: inferred from the first rows


def is_cloud(spec: str) -> bool:
    return spec.lower().startswith(CLOUD_SCHEMES)


def format_of(name: str) -> str | None:
    """parquet, csv or ndjson from the file name (`events.csv.gz` is csv); None when it tells nothing."""
    lowered = name.lower().rstrip("/")
    for ending in COMPRESSIONS:
        if lowered.endswith(ending):
            lowered = lowered[: -len(ending)]
            break
    return FORMATS.get(Path(lowered).suffix)


def is_tab_separated(name: str) -> bool:
    lowered = name.lower()
    return any(lowered.endswith(".tsv" + c) for c in ("", *COMPRESSIONS))


def compression_of(name: str) -> str | None:
    return next((c for c in COMPRESSIONS if name.lower().endswith(c)), None)


def find_files(table: str, spec: str) -> tuple[list[str], str]:
    """The files of a table spec (a file, a glob or a directory) and their one format."""
    if is_cloud(spec):
        return _cloud_files(table, spec)
    path = Path(spec)
    if path.is_dir():
        files = sorted(str(p) for p in path.rglob("*") if p.is_file() and format_of(p.name))
    elif any(ch in spec for ch in "*?["):
        files = sorted(globlib.glob(spec, recursive=True))
    else:
        files = [spec] if path.is_file() else []
    if not files:
        raise DataError(f"no {table} file found", file=spec)
    formats = {format_of(f) for f in files}
    if None in formats:
        bad = next(f for f in files if format_of(f) is None)
        raise DataError(f"{table}: cannot tell the format of {bad!r}; name it .parquet, .csv, .ndjson or .jsonl "
                        "(.csv, .ndjson and .jsonl may end in .gz or .zst)", file=bad)
    if len(formats) > 1:
        raise DataError(f"{table}: mixes {' and '.join(sorted(formats))} files; use one format", file=spec)
    return files, formats.pop()


def _cloud_files(table: str, spec: str) -> tuple[list[str], str]:
    """A bucket path as polars reads it: a file, a glob, or a folder (its Parquet files, hive partitions
    included). Listing is left to polars, so the table is one "file", the spec."""
    if spec.endswith("/"):
        return [spec + "**/*.parquet"], "parquet"
    fmt = format_of(spec)
    if fmt is None:
        raise DataError(f"{table}: cannot tell the format of {spec!r}; end the path or glob in .parquet, .csv, "
                        ".ndjson or .jsonl, or in / for a folder of Parquet files", file=spec)
    return [spec], fmt


def scan(files: list[str] | str, reading: Reading, hive: bool) -> pl.LazyFrame:
    """A lazy scan of the files as they are (text columns of CSV stay text)."""
    if reading.format == "parquet":
        return pl.scan_parquet(files, hive_partitioning=hive)
    if reading.format == "ndjson":
        if reading.ndjson_schema is not None:
            return pl.scan_ndjson(files, schema=reading.ndjson_schema)
        return pl.scan_ndjson(files, infer_schema_length=NDJSON_INFER_ROWS)
    o = reading.csv
    if isinstance(files, list):
        files = [utf8_copy(f, o.encoding) for f in files]
    else:
        files = utf8_copy(files, o.encoding)
    return pl.scan_csv(files, infer_schema=False, separator=o.separator, quote_char=o.quote_char,
                       null_values=list(o.null_values) or None,
                       encoding="utf8-lossy" if o.encoding == "utf8-lossy" else "utf8")


_COPIES: dict[tuple[str, str], str] = {}


def utf8_copy(file: str, encoding: str, lossy: bool = False) -> str:
    """The file itself when it is UTF-8; else a UTF-8 copy in a temporary folder (removed at exit), made
    once per run. polars reads UTF-8 only, and `utf8-lossy` itself; with `lossy`, for engines that read only
    valid UTF-8, that too is a copy (bad bytes as U+FFFD, as polars reads them)."""
    if encoding.lower() in CSV_ENCODINGS_NATIVE and not (lossy and encoding.lower() == "utf8-lossy"):
        return file
    key = (file, encoding)
    codec, errors = ("utf-8", "replace") if encoding.lower() == "utf8-lossy" else (encoding, "strict")
    if key not in _COPIES:
        try:
            codecs.lookup(codec)
        except LookupError:
            raise DataError(f"unknown encoding {encoding!r}; use a name Python knows, such as latin-1, cp1252 or "
                            "utf-16", file=file) from None
        if is_cloud(file) or compression_of(file) == ".zst":
            raise DataError(f"encoding {encoding!r} needs a local, uncompressed or .gz file; convert it to UTF-8 "
                            "first (iconv -f ... -t utf-8)", file=file)
        folder = _temporary_folder()
        target = str(Path(folder) / f"{len(_COPIES)}.csv")
        opener = gzip.open if compression_of(file) == ".gz" else open
        try:
            with opener(file, "rb") as raw, open(target, "w", encoding="utf-8", newline="") as out:
                shutil.copyfileobj(codecs.getreader(codec)(raw, errors=errors), out, 1 << 20)
        except (UnicodeDecodeError, OSError) as exc:
            raise DataError(f"cannot read the file as {encoding}: {exc}", file=file) from None
        _COPIES[key] = target
    return _COPIES[key]


_FOLDER: list[Path] = []


def _temporary_folder() -> Path:
    if not _FOLDER:
        _FOLDER.append(temporaries.make(tempfile.gettempdir(), "segtool-", directory=True))
        atexit.register(temporaries.remove, _FOLDER[0])
    return _FOLDER[0]


def first_line(file: str, encoding: str = "utf8") -> str | None:
    """The first line of a local text file, decompressed and decoded (None where it cannot be read here)."""
    if is_cloud(file):
        return None
    try:
        if compression_of(file) == ".zst":
            return None
        opener = gzip.open if compression_of(file) == ".gz" else open
        with opener(file, "rb") as f:
            line = f.readline(1 << 20)
    except OSError:
        return None
    native = encoding.lower() in CSV_ENCODINGS_NATIVE
    return line.decode("utf-8" if native else encoding, errors="replace").lstrip("\ufeff").rstrip("\r\n")
