"""Acknowledged deliveries: what a destination holds, and each run's changes against it.

Each file a run writes into an output directory (NAME.csv, a part NAME.a.csv, a destination format's file)
comes with NAME.added.EXT and NAME.removed.EXT, in the file's own format: its rows that the acknowledged
delivery of that file lacks, and the acknowledged rows it lacks. Rows are compared whole, as bytes where the
format is text (a CSV record, quotes and all; a line of txt or NDJSON) and as values in Parquet and JSON,
so any file of rows compares, whatever its columns: the same members give the same rows.

`segtool ack DIR --run RUN` says that RUN's files were delivered: the state in DIR/.segtool becomes RUN's
files, for the segments chosen. Until then the changes accumulate: each run compares with the same
acknowledged files. The state is DIR/.segtool/acknowledged.json (file name -> the run it came from and its
SHA-256), replaced in one rename, and DIR/.segtool/acknowledged/SHA256, each acknowledged file as it was (a
hard link to the run's file, or a copy). Both are changed under DIR's lock only.

An acknowledgement must follow the state the run compared with: a run's change files are relative to the
acknowledged delivery its manifest names (`relative_to`), and RUN is acknowledged for a file only where that
is still the acknowledged one (or RUN sent every row: `--resend-all`). Acknowledging RUN twice changes nothing.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .. import temporaries
from ..errors import DataError, UsageError
from .outdir import (MANIFEST, RUNS, Previous, link_or_copy, own_folder, checksum, current, is_switched, locked,
                     read_record, store)
from .output import atomic_path, output_target, writing

STATE = "acknowledged.json"  # DIR/.segtool/acknowledged.json
FILES = "acknowledged"  # DIR/.segtool/acknowledged/SHA256
KINDS = ("added", "removed")
_LINES = (".txt", ".ndjson", ".jsonl")  # a row a line, no header
_FRAMES = (".parquet", ".json")  # rows compared as values


def change_files(file: str) -> dict[str, str]:
    """NAME.csv -> {added: NAME.added.csv, removed: NAME.removed.csv}."""
    stem, suffix = os.path.splitext(file)
    return {kind: f"{stem}.{kind}{suffix}" for kind in KINDS}


@dataclass
class Acknowledged:
    """The acknowledged delivery of each file of DIR: {file: {run, segment, sha256, at}}."""

    folder: Path
    files: dict[str, dict]

    @classmethod
    def read(cls, folder: Path) -> "Acknowledged":
        path = store(folder) / STATE
        data = read_record(path, _AFRESH)
        if data is None:
            return cls(folder, {})
        files = data.get("files") if isinstance(data, dict) else None
        if not isinstance(files, dict):
            raise DataError(f"{path} is not segtool's record of the acknowledged deliveries; {_AFRESH}")
        return cls(folder, {k: v for k, v in files.items() if isinstance(v, dict)})

    def run(self, file: str) -> str | None:
        return self.files.get(file, {}).get("run")

    def path(self, file: str, warn) -> Path | None:
        """The acknowledged file (None: nothing acknowledged); one changed since is used as it is, with a warning."""
        entry = self.files.get(file)
        if entry is None:
            return None
        path = store(self.folder) / FILES / str(entry.get("sha256"))
        if not path.is_file():
            raise DataError(f"{path}, the acknowledged delivery of {file} (run {entry.get('run')}), is missing; "
                            f"{_AFRESH}")
        if checksum(path) != f"sha256:{entry.get('sha256')}":
            warn(f"{path}, the acknowledged delivery of {file}, changed since it was acknowledged; comparing "
                 "with it as it is")
        return path


_AFRESH = ("run with --resend-all to deliver every row afresh, then acknowledge that run (see "
           "docs/nightly.md, Acknowledged deliveries)")


def write_changes(staged: Path, file: str, acked: Acknowledged, resend: bool, warn) -> dict:
    """Write the change files of `file` (in the staging folder of a run) against its acknowledged delivery, or
    against nothing with `resend`; what the manifest records of them."""
    before = None if resend else acked.path(file, warn)
    names = change_files(file)
    added, removed = staged / names["added"], staged / names["removed"]
    counts = _difference(file, staged / file, before, added, removed)
    if counts is None:  # other columns: every row of each is a change
        warn(f"{file} does not have the columns of its acknowledged delivery (run {acked.run(file)}); "
             f"{names['added']} holds all its rows and {names['removed']} all the acknowledged ones")
        counts = _difference(file, staged / file, None, added, None)[0], _difference(file, before, None, removed,
                                                                                      None)[0]
    record = {"relative_to": None if resend else acked.run(file), "added_file": names["added"], "added": counts[0],
              "removed_file": names["removed"], "removed": counts[1]}
    return {**record, "resend": True} if resend else record


def _difference(file: str, now: Path, before: Path | None, added: Path, removed: Path | None):
    """Write the rows of `now` that `before` lacks to `added`, and those of `before` that `now` lacks to
    `removed` (both files of the format of `file`'s name): the counts, or None where their columns differ."""
    suffix = os.path.splitext(file)[1].lower()
    if suffix in _FRAMES:
        return _frame_difference(suffix, now, before, added, removed)
    header = suffix not in _LINES
    head, rows = _records(now, header)
    old_head, old = _records(before, header) if before is not None else (head, [])
    if old_head != head and old:
        return None
    known, kept = set(old), set(rows)
    changes = {added: [r for r in rows if r not in known], removed: [r for r in old if r not in kept]}
    for path, chosen in changes.items():
        if path is not None:
            with output_target(path) as target:
                target.write_bytes(b"".join([*head, *(row + b"\n" for row in chosen)]))
    return tuple(len(chosen) for chosen in changes.values())


def _records(path: Path, header: bool) -> tuple[list[bytes], list[bytes]]:
    """The header line (with its line end) and the rows (without theirs) of a text file; a CSV row spans the
    line breaks inside its quotes."""
    with reading(path):
        data = path.read_bytes()
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    if header and b'"' in data:
        rows, pending = [], None
        for line in lines:
            pending = line if pending is None else pending + b"\n" + line
            if pending.count(b'"') % 2 == 0:
                rows.append(pending)
                pending = None
        lines = rows + ([pending] if pending is not None else [])
    if header and lines:
        return [lines[0] + b"\n"], lines[1:]
    return [], lines


def _frame_difference(suffix: str, now: Path, before: Path | None, added: Path, removed: Path | None):
    import polars as pl

    def read(path: Path) -> pl.DataFrame:
        with reading(path):
            return pl.read_parquet(path) if suffix == ".parquet" else pl.read_json(path)

    rows = read(now)
    old = read(before) if before is not None else rows.clear()
    if old.height and old.schema != rows.schema:
        return None
    both = old.height and rows.height
    changes = {added: rows.join(old, on=rows.columns, how="anti", nulls_equal=True) if both else rows,
               removed: old.join(rows, on=old.columns, how="anti", nulls_equal=True) if both else old}
    for path, frame in changes.items():
        if path is not None:
            with output_target(path) as target:
                frame.write_parquet(target) if suffix == ".parquet" else frame.write_json(target)
    return tuple(frame.height for frame in changes.values())


@contextmanager
def reading(path: Path):
    """A file of a run or of the acknowledged delivery that cannot be read is a data error naming it."""
    import polars as pl

    try:
        yield
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise DataError(f"cannot read {path} ({(str(exc).splitlines() or [type(exc).__name__])[0]}); "
                        f"{_AFRESH}") from None


def acknowledge(folder: Path, run: str, chosen: tuple[str, ...], excluded: tuple[str, ...], wait: bool,
                on_wait, note, warn) -> None:
    """Make the files of `run` (those of the segments chosen) the acknowledged delivery of `folder`."""
    if not is_switched(folder):
        raise UsageError(f"{folder} holds no runs of `segtool run --output-dir`, so it has nothing to acknowledge")
    with locked(folder, wait, on_wait):
        runs = own_folder(store(folder) / RUNS)
        tidy(folder)
        where = runs / run
        if run in ("", ".", "..") or "/" in run or run.startswith(".") or not (where / MANIFEST).is_file():
            shown = current(folder)
            raise UsageError(f"{folder} keeps no run {run!r}; name the run whose files were delivered, as its "
                             f"manifest's `run` says" + (f" (the current run is {shown.name})" if shown else ""))
        segments = _chosen(Previous.read(where), chosen, excluded)
        if segments and not any(entry.get("delivery_changes") for entry in segments.values()):
            raise UsageError(f"run {run} wrote no change files to acknowledge: run `segtool run --output-dir "
                             f"{folder} --deliveries` (its NAME.added and NAME.removed files are what an upload "
                             "sends, and what `ack` acknowledges)")
        acked = Acknowledged.read(folder)
        files, refused, same = dict(acked.files), [], 0
        for name, entry in segments.items():
            for file, record in (entry.get("delivery_changes") or {}).items():
                if acked.run(file) == run:
                    same += 1
                elif record.get("resend") or record.get("relative_to") == acked.run(file):
                    files[file] = {"run": run, "segment": name, "sha256": _keep(folder, where / file, entry, warn),
                                   "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                else:
                    refused.append(f"{file} (its changes are relative to "
                                   f"{_named(record.get('relative_to'))}, the acknowledged delivery is "
                                   f"{_named(acked.run(file))})")
        if refused:
            raise UsageError(f"run {run}'s change files are not relative to the delivery acknowledged now: "
                             f"{'; '.join(refused)}. Nothing was acknowledged. Run again and deliver that run's "
                             f"files; where run {run}'s were uploaded, the destination may hold a mix: {_AFRESH}")
        if len(files) == len(acked.files) and files == acked.files:
            note(f"{folder}: run {run} was acknowledged already" if same else
                 f"{folder}: run {run} lists no delivered file of the segments chosen")
            return
        _save(folder, files)
        note(f"{folder}: acknowledged {sum(f.get('run') == run for f in files.values()) - same} file(s) of run {run}")
        now = current(folder)
        if now is not None and now.name != run and _stale(Previous.read(now), files):
            warn(f"the change files of the current run of {folder}, {now.name}, are relative to the delivery "
                 "acknowledged before; run again before delivering them")


def _chosen(manifest: Previous, chosen: tuple[str, ...], excluded: tuple[str, ...]) -> dict[str, dict]:
    """The manifest's segments that --select and --exclude choose (by name, glob or tag:NAME)."""
    from .selection import matches_name

    for pattern in chosen:
        if not any(matches_name(name, entry.get("tags") or (), pattern) for name, entry in manifest.segments.items()):
            raise UsageError(f"--select {pattern!r} matches no segment of that run; its segments: "
                             f"{', '.join(sorted(manifest.segments)) or 'none'}")
    return {name: entry for name, entry in manifest.segments.items()
            if (not chosen or any(matches_name(name, entry.get("tags") or (), p) for p in chosen))
            and not any(matches_name(name, entry.get("tags") or (), p) for p in excluded)}


def _stale(manifest: Previous, files: dict[str, dict]) -> bool:
    """Whether a run's change files are relative to another delivery than the acknowledged `files`."""
    return any(not record.get("resend") and record.get("relative_to") != files.get(file, {}).get("run")
               for entry in manifest.segments.values() for file, record in (entry.get("delivery_changes") or {}).items())


def _named(run: str | None) -> str:
    return f"run {run}" if run else "nothing"


def _keep(folder: Path, path: Path, entry: dict, warn) -> str:
    """Keep the acknowledged file as it is now in DIR/.segtool/acknowledged/SHA256 (a hard link, or a copy);
    its SHA-256."""
    if not path.is_file():
        raise DataError(f"{path} is missing, though its run's manifest lists it; nothing was acknowledged")
    digest = checksum(path)
    if (entry.get("checksums") or {}).get(path.name) not in (None, digest):
        warn(f"{path} changed since its run wrote it; acknowledging it as it is")
    kept = own_folder(store(folder) / FILES) / digest.removeprefix("sha256:")
    if not kept.is_file():
        with atomic_path(kept) as staged:  # whole or not at all: a file of that name is never a partial copy
            os.unlink(staged)
            link_or_copy(path, staged)
    return kept.name


def _save(folder: Path, files: dict[str, dict]) -> None:
    """Replace the record in one rename, then remove the kept files it no longer names."""
    state = store(folder) / STATE
    with writing(state), atomic_path(state) as staged:
        staged.write_text(json.dumps({"files": dict(sorted(files.items()))}, indent=2, ensure_ascii=False) + "\n",
                          encoding="utf-8")
    tidy(folder)


def tidy(folder: Path) -> None:
    """Remove the kept files the record does not name, and what a killed `ack` left (the caller holds the lock)."""
    if not (store(folder) / FILES).is_dir():
        return
    named = {str(entry.get("sha256")) for entry in Acknowledged.read(folder).files.values()}
    for path in (store(folder) / FILES).iterdir():
        if path.name not in named:
            temporaries.remove(path)
    for path in store(folder).glob(f".{STATE}.*.tmp"):
        temporaries.remove(path)
