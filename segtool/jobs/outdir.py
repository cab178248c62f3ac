"""An output directory that cron writes into night after night: a lock against overlapping runs, the
staging folder a run writes into before it renames its files into place, the manifest of what the last run
wrote (manifest.json, written last and atomically), the IDs that run wrote (for `--changes` and
`max_change`), and the removal of files a previous run wrote that this one does not.

Only files a manifest lists are ever removed, so a directory shared with other files is safe.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .. import temporaries
from ..errors import DataError, SegtoolError, UsageError

MANIFEST = "manifest.json"
LOCK = ".segtool.lock"
_AFRESH = f"restore it, or move {MANIFEST} away to compare with nothing (every member then counts as entered)"
STAGING = ".segtool-staging-"


class BusyError(SegtoolError):
    """Another run holds the output directory (`--no-wait`)."""

    exit_code = 5


@contextmanager
def locked(folder: Path, wait: bool, on_wait=None):
    """Hold DIR/.segtool.lock for the block: a second run waits for the first (or, without `wait`, fails at
    once), so two runs' files never mix. The lock is the kernel's (flock): it goes with the process, so a
    killed run never leaves a stale lock behind."""
    folder.mkdir(parents=True, exist_ok=True)
    try:  # never through a link: a planted `.segtool.lock -> ../precious` must not be truncated
        descriptor = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise UsageError(f"cannot use {folder / LOCK} as the lock of {folder}: {exc.strerror or exc}"
                         + ("; it is a symbolic link" if (folder / LOCK).is_symlink() else "")) from None
    with os.fdopen(descriptor, "r+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = handle.read().strip() if handle.seek(0) == 0 else ""
            if not wait:
                raise BusyError(f"another segtool run is writing into {folder}{f' ({holder})' if holder else ''}; "
                                "try again later, or leave out --no-wait to wait for it") from None
            if on_wait is not None:
                on_wait(holder)
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def staging(folder: Path, note):
    """A new staging folder in `folder` for the block. Staging folders already there were left by runs that
    were killed (the caller holds the lock, so no other run is writing): they are removed first."""
    for stale in folder.glob(f"{STAGING}*"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
            note(f"removed {stale}, left by a run that was killed")
    with temporaries.folder(STAGING, folder) as path:
        yield path


@dataclass
class Previous:
    """What the last run recorded in the directory's manifest (empty when there is none)."""

    folder: Path
    segments: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def read(cls, folder: Path) -> "Previous":
        path = folder / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(folder, {})
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read {path}: {exc}; move it away to start the directory afresh") from None
        segments = data.get("segments") if isinstance(data, dict) else None
        if not isinstance(segments, dict):
            raise DataError(f"{path} is not a manifest segtool wrote (no `segments` mapping); move it away to start "
                            "the directory afresh")
        return cls(folder, {k: v for k, v in segments.items() if isinstance(v, dict)})

    def size(self, name: str) -> int | None:
        size = self.segments.get(name, {}).get("size")
        return size if isinstance(size, int) else None

    def ids(self, name: str, warn):
        """The IDs the last run wrote for the segment (all its parts after a split), or None where it wrote
        none. A file that is not as the manifest recorded it (edited, or replaced by another program) is
        read as it is, with a warning; one that cannot be read is a DataError."""
        entry = self.segments.get(name, {})
        fmt, checksums = entry.get("format"), entry.get("checksums") or {}
        changes = {entry.get("entered_file"), entry.get("exited_file")}
        files = [f for f in self.files(name) if f not in changes and Path(f).name == f]
        if not files:
            return None
        import polars as pl

        ids = []
        for file in files:
            path = self.folder / file
            if not path.is_file():
                raise DataError(f"{path} is missing, though {self.folder / MANIFEST} lists it as written by the last "
                                f"run; {_AFRESH}")
            if isinstance(checksums, dict) and checksums.get(file) not in (None, checksum(path)):
                warn(f"{path} changed since the last run wrote it (its checksum is not the manifest's); comparing "
                     "with it as it is")
            ids.append(_read_ids(path, fmt))
        return pl.concat(ids)

    def names(self, keep: set[str]) -> dict[str, str]:
        """File name -> segment, of the segments in `keep` (those whose files stay)."""
        return {file: name for name in keep for file in self.files(name)}

    def files(self, name: str) -> list[str]:
        listed = self.segments.get(name, {}).get("files", [])
        return [f for f in listed if isinstance(f, str)]

    def remove_unless(self, keep: set[str], names: set[str]) -> list[Path]:
        """Remove the files the last run wrote for `names` that are not in `keep` (file names in the folder)."""
        removed = []
        for name in names:
            for file in self.files(name):
                path = self.folder / file
                if file not in keep and Path(file).name == file and file not in (MANIFEST, LOCK) and path.is_file():
                    path.unlink()
                    removed.append(path)
        return removed


def _read_ids(path: Path, fmt: str | None):
    """The visitor IDs of an output file (a polars Series of text)."""
    import polars as pl

    empty = pl.Series("visitor_id", [], dtype=pl.String)
    try:
        if path.stat().st_size == 0:
            return empty
        if fmt == "txt":  # one ID per line, split on \n only (an ID may hold other line separators)
            return pl.Series("visitor_id", path.read_text(encoding="utf-8").split("\n")[:-1], dtype=pl.String)
        if fmt == "parquet":
            frame = pl.read_parquet(path)
        elif fmt == "json":
            frame = pl.read_json(path)
        elif fmt == "ndjson":
            frame = pl.read_ndjson(path)
        else:
            frame = pl.read_csv(path, infer_schema=False)
        if frame.height == 0:
            return empty
        return frame["visitor_id"].cast(pl.String)
    except (OSError, UnicodeDecodeError, pl.exceptions.PolarsError) as exc:
        raise DataError(f"cannot read the IDs the last run wrote to {path} ({str(exc).splitlines()[0]}); "
                        f"{_AFRESH}") from None


def checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def file_facts(path: str) -> dict:
    """Size and modification time of an input file (a bucket object: its path only)."""
    try:
        stat = os.stat(path)
    except OSError:
        return {"path": path}
    return {"path": path, "bytes": stat.st_size,
            "modified": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stat.st_mtime))}


def write_manifest(folder: Path, manifest: dict, staged: Path) -> Path:
    """Written in the staging folder `staged`, then renamed into place."""
    path = staged / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(path, folder / MANIFEST)
    return folder / MANIFEST
