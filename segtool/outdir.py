"""An output directory that cron writes into night after night: a lock against overlapping runs, the
manifest of what the last run wrote (manifest.json, written last and atomically), the IDs that run wrote
(for `--changes` and `max_change`), and the removal of files a previous run wrote that this one does not.

Only files a manifest lists are ever removed, so a directory shared with other files is safe.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SegtoolError
from .output import atomic_path

MANIFEST = "manifest.json"
LOCK = ".segtool.lock"


class BusyError(SegtoolError):
    """Another run holds the output directory (`--no-wait`)."""

    exit_code = 5


@contextmanager
def locked(folder: Path, wait: bool, on_wait=None):
    """Hold DIR/.segtool.lock for the block: a second run waits for the first (or, without `wait`, fails at
    once), so two runs' files never mix. The lock is the kernel's (flock): it goes with the process, so a
    killed run never leaves a stale lock behind."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK, "a+") as handle:
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
            segments = data.get("segments", {}) if isinstance(data, dict) else {}
        except FileNotFoundError:
            segments = {}
        except (OSError, ValueError) as exc:
            raise SegtoolError(f"cannot read {path}: {exc}; move it away to start the directory afresh") from None
        return cls(folder, {k: v for k, v in segments.items() if isinstance(v, dict)})

    def size(self, name: str) -> int | None:
        size = self.segments.get(name, {}).get("size")
        return size if isinstance(size, int) else None

    def ids(self, name: str):
        """The IDs the last run wrote for the segment (a polars Series), or None where it wrote none."""
        import polars as pl

        entry = self.segments.get(name, {})
        output, fmt = entry.get("output"), entry.get("format")
        path = self.folder / output if isinstance(output, str) else None
        if path is None or not path.is_file() or path.name != output:
            return None
        if fmt == "parquet":
            frame = pl.read_parquet(path, columns=["visitor_id"])
        elif fmt in ("json", "ndjson"):
            frame = pl.read_json(path) if fmt == "json" else pl.read_ndjson(path)
        elif fmt == "txt":
            frame = pl.DataFrame({"visitor_id": path.read_text(encoding="utf-8").splitlines()})
        else:
            frame = pl.read_csv(path, columns=["visitor_id"], infer_schema=False)
        return frame["visitor_id"].cast(pl.String)

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


def write_manifest(folder: Path, manifest: dict) -> Path:
    path = folder / MANIFEST
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
