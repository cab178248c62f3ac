"""An output directory that cron writes into night after night, switched from one run's files to the next at
once: DIR is a symbolic link to the folder of the run that wrote it last, a version in `.DIR.segtool/` beside
it. A run writes a new version, then renames a new link over DIR (one rename: a reader opening DIR/x.csv
gets the old run's file or the new run's), and removes the versions before the one it replaced. Beside the
versions: the lock against overlapping runs. In each version: the manifest of what that run wrote
(manifest.json), whose IDs `--changes` and `max_change` compare with.

Only what segtool wrote is ever removed: a version that holds anything its manifest does not list stays, and
a DIR holding such files is not switched at all.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import stat
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .. import temporaries
from ..errors import DataError, SegtoolError, UsageError
from .output import OutputError, writing

MANIFEST = "manifest.json"
LOCK = "lock"  # in .DIR.segtool
_BEFORE_VERSIONS = (".segtool.lock", ".segtool-staging-")  # what a segtool before versions kept in DIR itself
_AFRESH = f"restore it, or move {MANIFEST} away to compare with nothing (every member then counts as entered)"
_RENAME_EXCHANGE, _AT_FDCWD = 2, -100  # Linux's renameat2


class BusyError(SegtoolError):
    """Another run holds the output directory (`--no-wait`)."""

    exit_code = 5


def store(folder: Path) -> Path:
    """`.DIR.segtool` beside DIR: the versions of DIR and its lock."""
    folder = Path(os.path.abspath(folder))
    if not folder.name:
        raise UsageError(f"--output-dir cannot be {folder}: segtool keeps the versions of DIR beside it")
    return folder.with_name(f".{folder.name}.segtool")


@contextmanager
def locked(folder: Path, wait: bool, on_wait=None):
    """Hold .DIR.segtool/lock for the block: a second run waits for the first (or, without `wait`, fails at
    once), so two runs' files never mix. The lock is the kernel's (flock): it goes with the process, so a
    killed run never leaves a stale lock behind. It lies beside the versions, the same file for every run."""
    where = store(folder)
    if where.is_symlink():
        raise UsageError(f"{where} is a symbolic link; segtool keeps the versions of {folder} there and follows "
                         "no link to do so: remove it")
    with writing(where):
        where.mkdir(parents=True, exist_ok=True)
    try:  # never through a link: a planted `lock -> ../precious` must not be truncated
        descriptor = os.open(where / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise UsageError(f"cannot use {where / LOCK} as the lock of {folder}: {exc.strerror or exc}"
                         + ("; it is a symbolic link" if (where / LOCK).is_symlink() else "")) from None
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


def current(folder: Path) -> Path | None:
    """The folder a reader of DIR sees now: the version DIR links to, DIR itself where it is a plain folder (a
    segtool before versions wrote it, or it was made by hand), None where there is none yet."""
    if os.path.islink(folder):
        where, target = store(folder), Path(os.readlink(folder))
        if len(target.parts) != 2 or target.parts[0] != where.name or target.name in (".", ".."):
            raise UsageError(f"{folder} is a symbolic link to {target}, which segtool did not make; give the "
                             "folder it points to as --output-dir, or remove the link")
        return where / target.name if (where / target.name).is_dir() else None
    if os.path.isdir(folder):
        return Path(folder)
    if os.path.lexists(folder):
        raise OutputError(f"cannot write into {folder}: it is not a folder")
    return None


def is_switched(folder: Path) -> bool:
    """Whether DIR is a link that `segtool run` switches from version to version."""
    return os.path.islink(folder) and current(folder) is not None


def last_run(folder: Path, note, warn) -> "Previous":
    """What the last run left in DIR, with DIR ready for the next (the caller holds the lock): what killed
    runs left in .DIR.segtool removed, and a plain folder DIR made the first version. A DIR holding files
    segtool did not write is refused, so nothing of them is ever removed."""
    where, now = store(folder), current(folder)
    previous = Previous.read(now) if now is not None else Previous(None)
    strangers = previous.unlisted()
    if strangers:
        raise UsageError(f"{folder} holds files segtool did not write ({_some(strangers)}); each run replaces "
                         f"{folder} as a whole (a link to a folder of that run's files, see \"Nightly jobs\" in the "
                         "README), so they would be lost: move them elsewhere, or choose another --output-dir")
    for entry in where.iterdir():
        if entry.name.startswith(".") or entry.is_symlink():  # a killed run's staging folder or link
            temporaries.remove(entry)
            note(f"removed {entry}, left by a run that was killed")
    if now is not None and not os.path.islink(folder):
        previous.folder = _adopt(Path(folder), where)
        note(f"{folder} is now a link to {previous.folder}, the folder of its last run; each run switches it")
    return previous


def _adopt(folder: Path, where: Path) -> Path:
    """Move a plain folder DIR into .DIR.segtool and put a link to it in its place: in one step where the system
    can swap two paths (Linux's renameat2), else in two (DIR is missing for a moment in between)."""
    version = where / f"{_stamp()}-{secrets.token_hex(6)}"
    with writing(folder):
        with _linking(where):
            os.symlink(_target(version), version)  # the link DIR will be, where DIR's folder will be
        try:
            swapped = _exchange(version, folder)
        except OSError:
            os.unlink(version)
            raise
        if not swapped:
            os.unlink(version)
            os.rename(folder, version)
            os.symlink(_target(version), folder)
    return version


@contextmanager
def staging(folder: Path):
    """A new folder in .DIR.segtool for the files of a run, and a new link to the version that folder becomes,
    for the block: publish() renames the one to the version and the other onto DIR."""
    where = store(folder)
    with temporaries.folder(f".{_stamp()}-", where) as path:  # the version is STAMP-RANDOM, without the dot
        with _linking(where):
            link = temporaries.make(where, f"{path.name}.", ".link", link_to=_target(where / path.name[1:]))
        try:
            yield path, link
        finally:
            temporaries.remove(link)


def publish(folder: Path, staged: Path, link: Path, keep: "Previous", warn) -> None:
    """Rename the staged folder to its version, with the mode of the folder DIR links to, and switch DIR to it
    at once (the new link renamed over the old); then remove the versions before the one DIR linked to (that
    one stays, for readers still reading it)."""
    where = store(folder)
    version = where / staged.name[1:]
    like = keep.folder if keep.folder is not None else where  # a first run's: what a new folder gets (the umask)
    with writing(folder):
        os.chmod(staged, stat.S_IMODE(os.stat(like).st_mode))  # made private, as a temporary
        os.rename(staged, version)
        os.replace(link, folder)
    for entry in where.iterdir():
        if entry in (version, keep.folder) or entry.name.startswith(".") or entry.is_symlink() or not entry.is_dir():
            continue
        try:
            strangers = Previous.read(entry).unlisted()
        except DataError:
            strangers = [MANIFEST]
        if strangers:
            warn(f"kept {entry}, an earlier version of {folder}: it holds files segtool did not write "
                 f"({_some(strangers)}); move them elsewhere and remove it")
        else:
            shutil.rmtree(entry, ignore_errors=True)


def _stamp() -> str:
    """The start of a new version's name (then a random part): when, in UTC."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def _target(version: Path) -> str:
    """What a link to a version says: `.DIR.segtool/VERSION`, relative to DIR's parent, where DIR is."""
    return f"{version.parent.name}/{version.name}"


@contextmanager
def _linking(where: Path):
    """A filesystem that refuses symbolic links, told as what it means for --output-dir."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.ENOSYS):
            raise
        raise UsageError(f"cannot make a symbolic link in {where}: {exc.strerror}; an --output-dir is a link to "
                         "the folder of its last run (see \"Nightly jobs\" in the README), so it needs a "
                         "filesystem with symbolic links") from None


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step (Linux's renameat2 with RENAME_EXCHANGE); False where the system cannot."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(second))


def _some(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


@dataclass
class Previous:
    """What the last run recorded in its manifest (empty when there is none), in the folder it wrote."""

    folder: Path | None
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
        files = [f for f in self.files(name) if f not in changes]
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
        """The files the manifest lists for the segment: names in the folder (a hand-edited path is ignored)."""
        listed = self.segments.get(name, {}).get("files", [])
        return [f for f in listed if isinstance(f, str) and Path(f).name == f and f not in (".", "..", MANIFEST)]

    def unlisted(self) -> list[str]:
        """What the folder holds that segtool did not write there: not the manifest nor a file it lists."""
        if self.folder is None:
            return []
        listed = {file for name in self.segments for file in self.files(name)} | {MANIFEST}
        return sorted(p.name for p in self.folder.iterdir()
                      if p.name not in listed and not p.name.startswith(_BEFORE_VERSIONS))

    def carry(self, name: str, into: Path, warn) -> None:
        """Put the files the last run wrote for the segment into the folder `into` of this run (the segment
        keeps them): hard links, or copies where the filesystem has none."""
        for file in self.files(name):
            source = self.folder / file
            try:
                os.link(source, into / file, follow_symlinks=False)
            except FileNotFoundError:
                warn(f"{source} is missing, though {self.folder / MANIFEST} lists it; this run's folder lacks it too")
            except OSError:
                with writing(into / file):
                    shutil.copy2(source, into / file, follow_symlinks=False)


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


def write_manifest(manifest: dict, staged: Path) -> Path:
    """Written last, into the staging folder `staged`."""
    path = staged / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
