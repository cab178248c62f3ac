"""Finding and scanning input files: local paths, globs, directories and buckets; CSV (with its options),
NDJSON and Parquet, plain or compressed.

A local file's format is what its first bytes show (`detect`): Parquet by its magic bytes, NDJSON where the
first line is a JSON object, else CSV text; gzip and zstd by their magic bytes, whatever the name (polars
decompresses them itself). A name that says a format (`.csv`, `.tsv`, `.ndjson`, `.jsonl`, `.json`,
`.parquet`, `.pq`, each of the text ones optionally `.gz`/`.zst`), or the table's `format:`, decides
between CSV and NDJSON, and must agree with the bytes otherwise; a file that is none of these (a PDF, an
HTML page, a ZIP or Excel file) is an error saying what it looks like. A directory holds the files below it
but the side files of a delivery (`ignored`). Bucket paths (`s3://`, `gs://`, `az://`, ...) go to polars'
object-store reader, which takes credentials from the environment as the cloud SDKs do; there the name (or
`format:`) says the format.
"""

from __future__ import annotations

import atexit
import codecs
import csv
import glob as globlib
import gzip
import json
import shutil
import tempfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

import polars as pl

from .. import temporaries
from ..config import CsvOptions
from ..errors import DataError

try:  # zstd's own reader, to look inside .zst files here (polars reads them without it)
    import zstandard
except ImportError:  # pragma: no cover - an installation without it names such files by their format
    zstandard = None

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "csv", ".ndjson": "ndjson",
           ".jsonl": "ndjson", ".json": "ndjson"}
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd"}
MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd"}
WORDS = {"parquet": "Parquet", "csv": "CSV", "ndjson": "NDJSON (one JSON object per line)"}
CLOUD_SCHEMES = ("s3://", "s3a://", "gs://", "gcs://", "az://", "abfs://", "abfss://", "adl://", "azure://",
                 "https://", "http://")
CSV_ENCODINGS_NATIVE = ("utf8", "utf-8", "utf8-lossy")
NDJSON_INFER_ROWS = 10_000
HEAD_BYTES = 8192  # what detection reads of a file (decompressed)
COLUMNS_HEAD_BYTES = 1 << 20  # what `columns_of` reads of an NDJSON file (decompressed)
SIDE_FILES = ("manifest", "manifest.json", "manifest.txt")  # a folder delivery's list of its files
SIDE_ENDINGS = (".crc", ".manifest")  # Hadoop's checksums, manifests
NOT_DATA = (  # (first bytes, what the file is) of files that hold no data segtool reads
    (b"%PDF-", "a PDF document (it starts with `%PDF-`), not data"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (or another old Office file): export "
                                            "the sheet as CSV"),
    (b"Obj\x01", "an Avro file: export it as Parquet or newline-delimited JSON instead"),
    (b"\xfd7zXZ\x00", "xz-compressed: decompress it (unxz), or compress it with gzip or zstd"),
    *((b"BZh%d1AY&SY" % level, "bzip2-compressed: decompress it (bunzip2), or compress it with gzip or zstd")
      for level in range(1, 10)),
)
DAMAGED = (OSError, EOFError, zlib.error, *((zstandard.ZstdError,) if zstandard is not None else ()))


@dataclass(frozen=True)
class Reading:
    """How one table's files are read: their format and, for CSV and NDJSON, the options."""

    format: str
    csv: CsvOptions = field(default_factory=CsvOptions)
    ndjson_schema: dict | None = None  # the fields to read (a preset's); None: inferred from the first rows


def is_cloud(spec: str) -> bool:
    return spec.lower().startswith(CLOUD_SCHEMES)


def format_of(name: str) -> str | None:
    """parquet, csv or ndjson as the file name says (`events.csv.gz` is csv); None when it tells nothing."""
    lowered = name.lower().rstrip("/")
    for ending in COMPRESSIONS:
        if lowered.endswith(ending):
            lowered = lowered[: -len(ending)]
            break
    return FORMATS.get(Path(lowered).suffix)


def is_tab_separated(name: str) -> bool:
    lowered = name.lower()
    return any(lowered.endswith(".tsv" + c) for c in ("", *COMPRESSIONS))


def ignored(relative: Path) -> bool:
    """A side file of a delivery, not its data, by its path below the folder read: hidden names (`.DS_Store`,
    `.part-0.crc`, a `.cache/` folder), names that start with `_` (Spark's and Hadoop's `_SUCCESS`,
    `_committed_*`, `_metadata`, a `_temporary/` folder), checksums (`*.crc`) and manifests (`manifest.json`,
    `manifest.txt`, `*.manifest`)."""
    name = relative.name.lower()
    return (any(part.startswith((".", "_")) for part in relative.parts) or name in SIDE_FILES
            or name.endswith(SIDE_ENDINGS))


def find_files(table: str, spec: str, fmt: str | None = None) -> tuple[list[str], str]:
    """The files of a table spec (a file, a glob or a directory) and their one format (`fmt`, the table's
    `format:`, where set)."""
    if is_cloud(spec):
        return _cloud_files(table, spec, fmt)
    path = Path(spec)
    if path.is_dir():
        files = [str(p) for p in sorted(path.rglob("*")) if p.is_file() and not ignored(p.relative_to(path))]
    elif any(ch in spec for ch in "*?["):
        files = [f for f in sorted(globlib.glob(spec, recursive=True))
                 if Path(f).is_file() and not ignored(Path(Path(f).name))]
    else:
        files = [spec] if path.is_file() else []
    named = len(files) == 1 and files[0] == spec
    formats = {f: found for f in files if (found := detect(table, f, fmt, named)) is not None}
    if not formats:
        raise DataError(f"no {table} file found" + (" (only empty files)" if files else ""), file=spec)
    firsts: dict[str, str] = {}
    for f, found in formats.items():
        firsts.setdefault(found, f)
    if len(firsts) > 1:
        (one, a), (other, b) = list(firsts.items())[:2]
        raise DataError(f"{table}: {spec} mixes {WORDS[one]} ({a}) and {WORDS[other]} ({b}); keep one format "
                        "per table (a glob can narrow the path)", file=spec)
    return list(formats), next(iter(firsts))


def _cloud_files(table: str, spec: str, fmt: str | None) -> tuple[list[str], str]:
    """A bucket path as polars reads it: a file, a glob, or a folder (its Parquet files, hive partitions
    included; with `format:` every file below it). Listing is left to polars, so the table is one "file",
    the spec; the name or `format:` says the format."""
    if spec.endswith("/"):
        return ([spec + "**/*.parquet"], "parquet") if fmt is None else ([spec + "**/*"], fmt)
    found = fmt or format_of(spec)
    if found is None:
        raise DataError(f"{table}: cannot tell the format of {spec!r} from its name (a bucket's files are not "
                        f"looked into); set format: csv, ndjson or parquet in data.{table}, or end the path or "
                        "glob in .parquet, .csv or .ndjson (or in / for a folder of Parquet files)", file=spec)
    return [spec], found


def detect(table: str, file: str, fmt: str | None = None, named: bool = True) -> str | None:
    """The format of a local file from its first bytes, the name and the configured `fmt`; None for a file
    that holds nothing (left out of a folder, an error where it was `named` alone)."""
    kind, words = sniff(file)
    claimed = fmt or format_of(Path(file).name)
    if kind == "empty":
        if named:
            raise DataError(f"{table}: the file is empty", file=file)
        return None
    if kind == "unknown":  # zstd without its reader here: the name or format: tells
        if claimed is None:
            raise DataError(f"{table}: the file is {words}; name it .csv.zst or .ndjson.zst, or set format: in "
                            f"data.{table}", file=file)
        return claimed
    if kind == "other" or (kind in ("json array", "json document") and claimed != "csv"):
        raise DataError(f"{table}: the file is {words}", file=file)
    if claimed is None or claimed == kind or (claimed == "csv" and kind != "parquet"):
        return claimed or ("csv" if kind == "text" else kind)
    said = f"data.{table}.format says {fmt}" if fmt else f"its name says {WORDS[claimed]}"
    found = "CSV or other text, not JSON" if kind == "text" and claimed == "ndjson" else words
    raise DataError(f"{table}: the file is {found}, but {said}: rename it, or set format: in data.{table}",
                    file=file)


def sniff(file: str) -> tuple[str, str]:
    """What a local file holds, from its first bytes (decompressed): `parquet`, `ndjson`, `text`, `empty`,
    `json array`, `json document`, `other` (no data) or `unknown` (zstd, no reader here); and that in words."""
    method = None
    try:
        with open(file, "rb") as raw:
            method = _magic(raw.read(4))
            if method == "zstd" and zstandard is None:
                return "unknown", "zstd-compressed, which this installation cannot look into (no zstandard)"
            raw.seek(0)
            head = _head(raw, method)
    except DAMAGED as exc:
        if method is None:
            raise DataError(f"cannot read the file: {getattr(exc, 'strerror', None) or exc}", file=file) from None
        return "other", f"a damaged {method} file ({exc})"
    kind, words = _content(head)
    return kind, f"{method}-compressed, and inside {words}" if method and kind == "other" else words


def _content(head: bytes) -> tuple[str, str]:
    if not head:
        return "empty", "empty"
    if head.startswith(b"PAR1"):
        return "parquet", "Parquet"
    for magic, words in NOT_DATA:
        if head.startswith(magic):
            return "other", words
    if head.startswith(b"PK\x03\x04"):
        if b"xl/" in head:
            return "other", "an Excel workbook (.xlsx): export the sheet as CSV (File > Save As > CSV UTF-8)"
        if b"opendocument.spreadsheet" in head:
            return "other", "an OpenDocument spreadsheet: export the sheet as CSV"
        return "other", "a ZIP archive: unzip it first and read the files in it"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    lowered = text[:64].lower()
    if lowered.startswith((b"<!doctype html", b"<html")):
        return "other", "an HTML page, not data (a sign-in or error page saved in place of the export?)"
    if lowered.startswith(b"<?xml"):
        return "other", "an XML document, not CSV, NDJSON or Parquet"
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 text has them too
        shown = " ".join(f"{b:02x}" for b in head[:8])
        return "other", f"binary data, not CSV, NDJSON or Parquet (it starts with the bytes {shown})"
    if text.startswith(b"{"):
        if text.split(b"\n", 1)[0].strip() == b"{":
            return "json document", ("a JSON document over several lines, not one JSON object per line "
                                     "(NDJSON): write it one object per line (jq -c . FILE)")
        return "ndjson", WORDS["ndjson"]
    if text.startswith(b"["):
        return "json array", ("a JSON array, not one JSON object per line (NDJSON): write it one object per "
                              "line (jq -c '.[]' FILE > FILE.ndjson)")
    return "text", "CSV text"


def compression(file: str) -> str | None:
    """gzip or zstd by the file's first bytes (a bucket's by its name), else None."""
    if is_cloud(file):
        return next((method for ending, method in COMPRESSIONS.items() if file.lower().endswith(ending)), None)
    try:
        with open(file, "rb") as raw:
            return _magic(raw.read(4))
    except OSError:
        return None


def _magic(start: bytes) -> str | None:
    return MAGIC.get(start[:2]) or MAGIC.get(start)


def _head(raw: BinaryIO, method: str | None) -> bytes:
    """The first bytes of the content, decompressed as far as they go (a cut file's too)."""
    if method == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw.read(8 * HEAD_BYTES), HEAD_BYTES)
    if method == "zstd":
        with zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True) as stream:
            return stream.read(HEAD_BYTES)
    return raw.read(HEAD_BYTES)


@contextmanager
def _decompressed(raw: BinaryIO, method: str | None) -> Iterator[BinaryIO]:
    if method == "gzip":
        with gzip.GzipFile(fileobj=raw) as stream:
            yield stream
    elif method == "zstd":
        with zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True) as stream:
            yield stream
    else:
        yield raw


@contextmanager
def open_decompressed(file: str) -> Iterator[BinaryIO]:
    """A local file's bytes, decompressed where it is gzip or zstd."""
    method = compression(file)
    if method == "zstd" and zstandard is None:
        raise DataError("a zstd-compressed file can be decompressed here only with the zstandard package; "
                        "decompress it first (unzstd)", file=file)
    with open(file, "rb") as raw, _decompressed(raw, method) as stream:
        yield stream


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


def columns_of(file: str, reading: Reading) -> list[str] | None:
    """The top-level columns of one file as written, from its head alone (a CSV header, the keys of an NDJSON
    file's first lines, a Parquet footer); None where that cannot be read here (the table's scan says why)."""
    try:
        if reading.format == "parquet":
            return pl.scan_parquet(file).collect_schema().names()
        if reading.format == "csv":
            return csv_header(file, reading.csv)
        if is_cloud(file):
            return None
        with open_decompressed(file) as stream:
            head = stream.read(COLUMNS_HEAD_BYTES)
        lines = head.split(b"\n")[:-1] if len(head) == COLUMNS_HEAD_BYTES else head.split(b"\n")  # the last: cut
        rows = [json.loads(line) for line in [line for line in lines if line.strip()][:100]]
        if not rows or not all(isinstance(row, dict) for row in rows):
            return None
        return list(dict.fromkeys(key for row in rows for key in row))
    except (pl.exceptions.PolarsError, ValueError, *DAMAGED, DataError):
        return None


def csv_header(file: str, options: CsvOptions) -> list[str] | None:
    """The column names of a local CSV file's header (None where it cannot be read here)."""
    line = first_line(file, options.encoding)
    if line is None:
        return None
    return next(csv.reader([line], delimiter=options.separator, quotechar=options.quote_char or "\0"), [])


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
        if is_cloud(file):
            raise DataError(f"encoding {encoding!r} needs a local file; convert it to UTF-8 first "
                            "(iconv -f ... -t utf-8)", file=file)
        folder = _temporary_folder()
        target = str(Path(folder) / f"{len(_COPIES)}.csv")
        try:
            with open_decompressed(file) as raw, open(target, "w", encoding="utf-8", newline="") as out:
                shutil.copyfileobj(codecs.getreader(codec)(raw, errors=errors), out, 1 << 20)
        except (UnicodeDecodeError, *DAMAGED) as exc:
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
        with open_decompressed(file) as f:
            line = f.readline(1 << 20)
    except (*DAMAGED, DataError):
        return None
    native = encoding.lower() in CSV_ENCODINGS_NATIVE
    return line.decode("utf-8" if native else encoding, errors="replace").lstrip("\ufeff").rstrip("\r\n")
