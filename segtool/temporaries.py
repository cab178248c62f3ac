"""Temporary files and folders of a command, removed whatever ends it.

Each is recorded before it is made. In the process that runs a command under the supervisor
(supervisor.py), the record is a file its parent reads once the command has ended: what the command made
and did not remove (it was killed, or a signal came while native code ran and the supervisor had to kill
it) the parent removes. Elsewhere the record is not kept and the command's own `finally` blocks remove them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

_RECORD: list[int] = []  # the file descriptor of the record, under the supervisor


def make(folder: Path | str, prefix: str, suffix: str = "", *, directory: bool = False,
         link_to: str | None = None) -> Path:
    """A new file (empty, with the mode the umask gives), folder (private) or symbolic link (to `link_to`) in
    `folder`, recorded first."""
    while True:
        path = Path(os.path.abspath(folder)) / f"{prefix}{secrets.token_hex(6)}{suffix}"
        _note(b"+", path)
        try:
            if directory:
                os.mkdir(path, 0o700)
            elif link_to is not None:
                os.symlink(link_to, path)
            else:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return path
        except OSError as exc:  # not made: the record must not say so (a file of that name is another's)
            _note(b"-", path)
            if not isinstance(exc, FileExistsError):
                raise


def remove(path: Path) -> None:
    """Remove a temporary (what is left of it: a file may have been renamed into place) and its record."""
    _delete(path)
    _note(b"-", path)


@contextlib.contextmanager
def folder(prefix: str, parent: Path | str | None = None) -> Iterator[Path]:
    """A temporary folder for the block, in `parent` (default: the system's temporary folder)."""
    path = make(parent or tempfile.gettempdir(), prefix, directory=True)
    try:
        yield path
    finally:
        remove(path)


def record_in(descriptor: int) -> None:
    """Keep the record in the open file `descriptor` (the supervisor's child, before the command runs)."""
    _RECORD[:] = [descriptor]


def remove_left(descriptor: int) -> None:
    """Remove what the record in `descriptor` says was made and not removed (the supervisor, at the end)."""
    left: dict[bytes, None] = {}
    for entry in os.pread(descriptor, os.fstat(descriptor).st_size, 0).split(b"\0")[:-1]:
        if entry[:1] == b"+":
            left[entry[1:]] = None
        else:
            left.pop(entry[1:], None)
    for path in left:
        _delete(Path(os.fsdecode(path)))


def _note(sign: bytes, path: Path) -> None:
    if _RECORD:
        with contextlib.suppress(OSError):  # without a record, only the command itself cleans up
            os.write(_RECORD[0], sign + os.fsencode(path) + b"\0")


def _delete(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):  # gone already, or not ours to remove after all
            path.unlink()
