"""An output directory that cron writes into night after night, switched from one run's files to the next at
once. DIR is the user's folder; segtool keeps its own in DIR/.segtool: the lock against overlapping runs and
the runs, each a folder of one run's files and manifest (manifest.json, whose IDs `--changes` and
`max_change` compare with). DIR/current is a link to the folder of the last run: a run writes a new one,
then renames a new link over DIR/current (one rename: a reader who resolves DIR/current reads one whole run)
and removes the runs before the one it replaced. Each file of the current run shows in DIR as a link
through current (DIR/x.csv -> current/x.csv), so DIR/x.csv switches with it.

Only what segtool wrote is ever removed or replaced: its runs, its links in DIR, and files an older segtool
wrote in DIR itself (listed in its manifest); a run folder that holds anything its manifest does not list
stays, and a file of the user's at a name a run writes is refused.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import stat
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .. import temporaries
from ..errors import DataError, SegtoolError, UsageError
from .output import writing

MANIFEST = "manifest.json"
CURRENT = "current"  # DIR/current -> .segtool/runs/RUN
STORE, RUNS, LOCK = ".segtool", "runs", "lock"  # DIR/.segtool/lock, DIR/.segtool/runs/RUN
_BEFORE_RUNS = (".segtool.lock", ".segtool-staging-")  # what a segtool before runs kept in DIR itself
_AFRESH = f"restore it, or move {MANIFEST} away to compare with nothing (every member then counts as entered)"


class BusyError(SegtoolError):
    """Another run holds the output directory (`--no-wait`)."""

    exit_code = 5


def store(folder: Path) -> Path:
    """DIR/.segtool: the lock and the runs of DIR."""
    return Path(os.path.abspath(folder)) / STORE


def own_folder(path: Path) -> Path:
    """A folder of segtool's (made where missing), never reached through a symbolic link."""
    if path.is_symlink():
        raise UsageError(f"{path} is a symbolic link; segtool keeps its runs and lock there and follows no link "
                         "to do so: remove it")
    with writing(path):
        path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def locked(folder: Path, wait: bool, on_wait=None):
    """Hold DIR/.segtool/lock for the block: a second run waits for the first (or, without `wait`, fails at
    once), so two runs' files never mix. The lock is the kernel's (flock): it goes with the process, so a
    killed run never leaves a stale lock behind."""
    where = own_folder(store(folder))
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
    """The folder of the run DIR shows now (where DIR/current links to); None where there is none yet."""
    link = Path(os.path.abspath(folder)) / CURRENT
    if not os.path.lexists(link):
        return None
    target = Path(os.readlink(link)) if link.is_symlink() else None
    if target is None or target.parts[:2] != (STORE, RUNS) or len(target.parts) != 3 or target.name == "..":
        raise UsageError(f"{link} is not the link to the last run that segtool keeps there ({STORE}/{RUNS}/...); "
                         f"segtool needs that name in {folder}: move it away")
    run = link.parent / target
    return run if run.is_dir() else None


def is_switched(folder: Path) -> bool:
    """Whether `segtool run` writes its runs into DIR (and shows them through DIR/current)."""
    return os.path.islink(Path(folder) / CURRENT)


def last_run(folder: Path, note, warn) -> "Previous":
    """What the last run left in DIR, with DIR ready for the next (the caller holds the lock): what killed runs
    left in .segtool/runs removed, a DIR an older segtool wrote (its files and manifest in DIR itself) made
    the first run and its lock removed, and DIR's links made to show the current run (a run killed after its
    switch stops short of that)."""
    folder = Path(os.path.abspath(folder))
    runs = own_folder(store(folder) / RUNS)
    for entry in runs.iterdir():
        if entry.name.startswith(".") or entry.is_symlink():  # a killed run's staging folder or link
            temporaries.remove(entry)
            note(f"removed {entry}, left by a run that was killed")
    now = current(folder)
    if now is None and (folder / MANIFEST).is_file() and not (folder / MANIFEST).is_symlink():
        now = _adopt(folder, note, warn)
    for entry in folder.iterdir():
        if entry.name.startswith(_BEFORE_RUNS):  # an older segtool's lock, and a staging folder of its killed run
            temporaries.remove(entry)
    previous = Previous.read(now) if now is not None else Previous(None)
    _show(folder, previous, previous, warn)
    return previous


def _adopt(folder: Path, note, warn) -> Path:
    """DIR as a segtool before runs left it (the files and manifest.json in DIR itself) becomes the first run:
    the files its manifest lists go into a run's folder (hard links: nothing is copied), which DIR/current
    then links to, and each file in DIR is replaced by its link, at once. The rest of DIR stays."""
    plain = Previous.read(folder)
    with staging(folder) as (stage, link):
        for name in plain.segments:
            plain.carry(name, stage, warn, whole=True)
        link_or_copy(folder / MANIFEST, stage / MANIFEST)
        run = publish(folder, stage, link, plain, warn)
    note(f"{folder}: the files of its last run are now in {run}, which {folder / CURRENT} links to; each run "
         "switches that link")
    return run


def check_names(folder: Path, names, previous: "Previous") -> None:
    """Refuse a run that would replace a file of the user's: one that DIR holds at a name the run writes, where
    it is neither segtool's link nor a file the last run's manifest lists (an older segtool wrote its files
    in DIR itself)."""
    folder = Path(os.path.abspath(folder))
    taken = sorted(name for name in names if not _replaceable(folder / name, previous))
    if taken:
        raise UsageError(f"{folder} holds {_some(taken)}, which segtool did not write, and this run writes files "
                         "of those names there (see docs/nightly.md): move them away, or choose "
                         "another --output-dir")


@contextmanager
def staging(folder: Path):
    """A new folder in .segtool/runs for the files of a run, and a new link to the run that folder becomes,
    for the block: publish() renames the one to the run and the other onto DIR/current."""
    runs = store(folder) / RUNS
    with temporaries.folder(f".{_stamp()}-", runs) as path:  # the run is STAMP-RANDOM, without the dot
        with _linking(runs):
            link = temporaries.make(runs, f"{path.name}.", ".link", link_to=f"{STORE}/{RUNS}/{path.name[1:]}")
        try:
            yield path, link
        finally:
            temporaries.remove(link)


def run_id(staged: Path) -> str:
    """The name the run staged in `staged` gets (its folder in .segtool/runs, and DIR/current's target)."""
    return staged.name[1:]


def publish(folder: Path, staged: Path, link: Path, keep: "Previous", warn) -> Path:
    """Rename the staged folder to its run, with the mode of the folder of the run it replaces, switch
    DIR/current to it at once (the new link renamed over the old) and show its files in DIR; then remove the
    runs before the one replaced (that one stays, for readers still reading it)."""
    folder = Path(os.path.abspath(folder))
    runs = store(folder) / RUNS
    run = runs / run_id(staged)
    like = keep.folder if keep.folder is not None else runs  # a first run's: what a new folder gets (the umask)
    with writing(folder):
        os.chmod(staged, stat.S_IMODE(os.stat(like).st_mode))  # made private, as a temporary
        os.rename(staged, run)
        os.replace(link, folder / CURRENT)
    _show(folder, Previous.read(run), keep, warn)
    for entry in runs.iterdir():
        if entry in (run, keep.folder) or entry.name.startswith(".") or entry.is_symlink() or not entry.is_dir():
            continue
        try:
            strangers = Previous.read(entry).unlisted()
        except DataError:
            strangers = [MANIFEST]
        if strangers:
            warn(f"kept {entry}, an earlier run of {folder}: it holds files segtool did not write "
                 f"({_some(strangers)}); move them elsewhere and remove it")
        else:
            shutil.rmtree(entry, ignore_errors=True)
    return run


def _show(folder: Path, shown: "Previous", owner: "Previous", warn) -> None:
    """Make DIR show the run `shown`: NAME -> current/NAME for its manifest and each file it lists, in place of
    what is there where segtool may replace it (`owner`: the run whose manifest lists which plain files are
    segtool's), and none of segtool's links to a file the run does not hold."""
    names, runs = shown.listed(), store(folder) / RUNS
    for name in sorted(names):
        path = folder / name
        if _is_link(path):
            continue
        if not _replaceable(path, owner):
            warn(f"{path} is not segtool's, so it was left as it is; the last run's file is {folder / CURRENT / name}")
            continue
        with writing(path), _linking(runs):
            link = temporaries.make(runs, ".", ".link", link_to=f"{CURRENT}/{name}")  # renamed over what is there
            os.replace(link, path)
        temporaries.remove(link)
    for entry in folder.iterdir():
        if entry.name not in names and _is_link(entry):
            with writing(entry):
                entry.unlink()


def _is_link(path: Path) -> bool:
    """Whether `path` is segtool's link to the current run's file of its name."""
    return path.is_symlink() and os.readlink(path) == f"{CURRENT}/{path.name}"


def _replaceable(path: Path, previous: "Previous") -> bool:
    """Whether segtool may put its link at `path`: nothing there, its link, or a plain file `previous` lists."""
    return (not os.path.lexists(path) or _is_link(path)
            or (path.name in previous.listed() and path.is_file() and not path.is_symlink()))


def _stamp() -> str:
    """The start of a new run's name (then a random part): when, in UTC."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


@contextmanager
def _linking(where: Path):
    """A filesystem that refuses symbolic links, told as what it means for --output-dir."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.ENOSYS):
            raise
        raise UsageError(f"cannot make a symbolic link in {where}: {exc.strerror}; an --output-dir shows its last "
                         f"run through links ({CURRENT}, and one per file; see docs/nightly.md), so "
                         "it needs a filesystem with symbolic links") from None


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link, or a copy where the filesystem has none (FileNotFoundError where `source` is missing)."""
    try:
        os.link(source, target, follow_symlinks=False)
    except FileNotFoundError:
        raise
    except OSError:
        with writing(target):
            shutil.copy2(source, target, follow_symlinks=False)


def _some(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def read_record(path: Path, afresh: str) -> object | None:
    """The JSON segtool keeps in `path` (None where there is no such file); a file it cannot read is a data
    error that says how to start afresh."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}; {afresh}") from None


@dataclass
class Previous:
    """What the last run recorded in its manifest (empty when there is none), in the folder it wrote."""

    folder: Path | None
    segments: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def read(cls, folder: Path) -> "Previous":
        path = folder / MANIFEST
        data = read_record(path, "move it away to start the directory afresh")
        if data is None:
            return cls(folder, {})
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
        files = self.data_files(name)
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
        return {file: name for name in keep for file in self.data_files(name)}

    def data_files(self, name: str) -> list[str]:
        """The files of the segment's members: those it lists, but the change files that come with them (a
        segment whose files stay keeps those alone)."""
        entry = self.segments.get(name, {})
        delivery = entry.get("delivery_changes") if isinstance(entry.get("delivery_changes"), dict) else {}
        changes = {entry.get("entered_file"), entry.get("exited_file"),
                   *(record.get(key) for record in delivery.values() if isinstance(record, dict)
                     for key in ("added_file", "removed_file"))}
        return [f for f in self.files(name) if f not in changes]

    def files(self, name: str) -> list[str]:
        """The files the manifest lists for the segment: names in the folder (a hand-edited path is ignored, and
        so are the names segtool keeps for itself in DIR)."""
        listed = self.segments.get(name, {}).get("files", [])
        return [f for f in listed if isinstance(f, str) and Path(f).name == f
                and f not in (".", "..", MANIFEST, CURRENT, STORE)]

    def listed(self) -> set[str]:
        """What segtool wrote in the folder: the manifest and the files it lists (nothing without a folder)."""
        if self.folder is None:
            return set()
        return {file for name in self.segments for file in self.files(name)} | {MANIFEST}

    def unlisted(self) -> list[str]:
        """What the folder holds that segtool did not write there."""
        listed = self.listed()
        return sorted(p.name for p in self.folder.iterdir() if p.name not in listed) if self.folder else []

    def carry(self, name: str, into: Path, warn, whole: bool = False) -> list[str]:
        """Put the files of members the last run wrote for the segment into the folder `into` of this run (the
        segment keeps them; their change files describe the last run's changes and stay behind, but `whole`
        carries them too): hard links, or copies where the filesystem has none. The files put there."""
        carried = []
        for file in self.files(name) if whole else self.data_files(name):
            try:
                link_or_copy(self.folder / file, into / file)
                carried.append(file)
            except FileNotFoundError:
                warn(f"{self.folder / file} is missing, though {self.folder / MANIFEST} lists it; this run's folder "
                     "lacks it too")
        return carried


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
