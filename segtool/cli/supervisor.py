"""The process around a command: signals that end it at once and leave nothing behind, and one clear line
when memory runs out.

The engine is native code. When an allocation fails it writes its own report on stderr and aborts the
process (SIGABRT) before Python can say anything; the kernel's out-of-memory killer sends SIGKILL; and a
signal's Python handler waits until native code returns, which can take minutes. So `segtool` runs each
command in a forked child and waits for it. The parent, which holds no data:
- passes SIGINT, SIGTERM and SIGHUP on to the child, where they end the command like Ctrl-C, by an
  exception, so that every `finally` runs; a child still running GRACE_S later (inside native code) it kills;
- removes the temporary files and folders the child made and did not remove (temporaries.py);
- keeps what native code writes on stderr (file descriptor 2) in a file and passes it on once the child
  has ended, unless the child ran out of memory: that is reported in one line.
A memory limit (`engine.memory_limit`, `run --memory-limit`) is watched in the child: a thread reads the
resident memory of the command and its own subprocesses (a local Spark's JVM) and ends the command with
that one line as soon as it is over the limit, before the system's out-of-memory killer would.
A child whose parent dies, even of SIGKILL, gets SIGTERM (Linux).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable

from .. import temporaries
from ..errors import OutOfMemory

OUT_OF_MEMORY_EXIT = OutOfMemory.exit_code
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE_S = 1.0  # for the child to end by itself after a signal
_NATIVE_STDERR: list[int] = []  # in the child: file descriptor 2 is this file, not the real stderr
_SUPERVISED: list[bool] = []  # in the child: the process runs the command alone


class _Stopped(Exception):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def end_on_signals() -> None:
    """SIGINT, SIGTERM and SIGHUP raise SystemExit(128 + signal), as the shell reports a signal's exit code.
    Only the first: a second signal must not interrupt the `finally` blocks the first one runs."""
    for signum in SIGNALS:
        signal.signal(signum, _terminate)


def _terminate(signum, frame) -> None:
    _ignore_signals()
    raise SystemExit(128 + signum)


def _ignore_signals() -> None:
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def supervise(main: Callable[[], None]) -> int:
    """Run `main` in a child process and return the exit code to leave with (0 on success)."""
    if not hasattr(os, "fork"):
        end_on_signals()
        return _run(main)
    record, native = _scratch_file(), _scratch_file()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        _child(main, parent, record, native)
    handlers = {s: signal.getsignal(s) for s in SIGNALS}
    try:
        return _end(pid, record, native)
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def _end(pid: int, record, native) -> int:
    """Wait for the child (ending it on a signal), remove what it left, pass on its native stderr."""
    signum = None
    try:
        status = _wait(pid)
    except _Stopped as stopped:
        signum = stopped.signum
        status = _stop(pid, signum)
    if record is not None:
        temporaries.remove_left(record.fileno())
    if status is not None and os.WIFSIGNALED(status):
        return report_death(os.WTERMSIG(status), native)
    _pass_on(native)
    return 128 + signum if status is None else os.waitstatus_to_exitcode(status)


def _wait(pid: int) -> int:
    """The child's wait status; the first signal to segtool meanwhile raises _Stopped, later ones are ignored."""
    def stop(signum, frame):
        _ignore_signals()
        raise _Stopped(signum)

    for signum in SIGNALS:
        signal.signal(signum, stop)
    status = os.waitpid(pid, 0)[1]
    _ignore_signals()
    return status


def _stop(pid: int, signum: int) -> int | None:
    """Pass `signum` on to the child and return its wait status; None where it had to be killed, still
    running GRACE_S later (native code does not let Python's handler run until it returns)."""
    with contextlib.suppress(ChildProcessError, ProcessLookupError):  # it had ended already
        os.kill(pid, signum)
        deadline = time.monotonic() + GRACE_S
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            time.sleep(0.01)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return None


def _child(main: Callable[[], None], parent: int, record, native) -> None:
    """The command itself, in the child; never returns."""
    code = 1
    _SUPERVISED.append(True)
    try:
        end_on_signals()
        _end_with(parent)
        if record is not None:
            temporaries.record_in(record.fileno())
        if native is not None:
            _keep_native_stderr(native.fileno())
        code = _run(main)
    except SystemExit as exc:  # a signal before the command began
        code = exc.code
    except KeyboardInterrupt:
        code = 130
    except MemoryError:
        code = report_out_of_memory()
    except BaseException:
        traceback.print_exc()
    finally:
        if record is not None:  # what atexit handlers would remove: os._exit runs none
            temporaries.remove_left(record.fileno())
        _flush()
        os._exit(code)


def _end_with(parent: int) -> None:
    """Have the kernel send SIGTERM to this process when `parent` dies, even of SIGKILL (Linux only)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before that
        os.kill(os.getpid(), signal.SIGTERM)


def _keep_native_stderr(capture: int) -> None:
    """Point file descriptor 2, where native code writes (the allocator's report, panics, jemalloc's
    complaints, subprocesses), at the file `capture`; Python's sys.stderr goes on writing to the real one."""
    try:
        if sys.stderr.fileno() != 2:
            return
        real = os.dup(2)
    except (AttributeError, ValueError, OSError):
        return
    sys.stderr.flush()
    sys.stderr = os.fdopen(real, "w", buffering=1, encoding=sys.stderr.encoding, errors=sys.stderr.errors)
    os.dup2(capture, 2)
    _NATIVE_STDERR.append(capture)


def _pass_on(native) -> None:
    """Copy what the child's native code wrote on stderr to segtool's stderr."""
    if native is None:
        return
    with contextlib.suppress(OSError, ValueError):
        native.seek(0)
        sys.stderr.flush()
        with open(sys.stderr.fileno(), "wb", closefd=False) as stderr:
            shutil.copyfileobj(native, stderr)


def _scratch_file():
    """An unnamed temporary file, written at its end (None where no temporary file can be made)."""
    try:
        handle = tempfile.TemporaryFile()
        fcntl.fcntl(handle, fcntl.F_SETFL, fcntl.fcntl(handle, fcntl.F_GETFL) | os.O_APPEND)
    except OSError:
        return None
    return handle


WATCH_EVERY_S = 0.05


def watch_memory(limit: int, said: str) -> None:
    """End the command (exit 3, one line) once it has held more than `limit` bytes of memory; `said` is where
    the limit was set. Checked now, then every WATCH_EVERY_S while the command runs. Only in the process the
    supervisor made for the command, whose memory is the command's: a command run inside another program (a
    test's CliRunner, the library) would end that program."""
    if not _SUPERVISED:
        return
    def over() -> bool:
        if held_bytes() <= limit:
            return False
        report_out_of_memory(f"it needed more than {said}; --engine duckdb spills to disk within a limit")
        _flush()
        os._exit(OUT_OF_MEMORY_EXIT)

    def watch() -> None:
        while not over():
            time.sleep(WATCH_EVERY_S)

    over()
    threading.Thread(target=watch, name="segtool-memory-limit", daemon=True).start()


def held_bytes() -> int:
    """The most memory this process has held so far (its peak resident set), and what its subprocesses (a
    local Spark's JVM) hold now, in bytes."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return peak + sum(_resident(child) for child in _children("self"))


def _resident(pid: str) -> int:
    """A process's resident memory and its descendants', in bytes (0 where the system does not show it)."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            held = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
    return held + sum(_resident(child) for child in _children(pid))


def _children(pid: int | str) -> list[str]:
    children = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as listed:
                children.extend(listed.read().split())
    return children


def report_death(signum: int, native=None) -> int:
    """A child that died of a signal: SIGABRT and SIGKILL are what running out of memory looks like (the
    allocator's own report, in `native`, is not passed on)."""
    if signum in (signal.SIGABRT, signal.SIGKILL):
        return report_out_of_memory("an allocation failed" if signum == signal.SIGABRT else "the system killed it")
    _pass_on(native)
    return 128 + signum


def report_panic(message: str) -> int:
    """The engine's native code gave up: out of memory or threads, or a failure of its own."""
    first = (message.strip().splitlines() or ["no message"])[0]
    if any(sign in first for sign in ("os error 11", "os error 12", "memory", "spawn")):
        return report_out_of_memory(first)
    _drop_native_stderr()  # the panic's own report: its first line is in ours
    print(f"Error: the engine failed: {first}", file=sys.stderr, flush=True)
    return OUT_OF_MEMORY_EXIT


def report_out_of_memory(how: str = "") -> int:
    _drop_native_stderr()
    print(f"Error: {OutOfMemory(how)}", file=sys.stderr, flush=True)
    return OUT_OF_MEMORY_EXIT


def _drop_native_stderr() -> None:
    """In the child: forget what native code wrote on stderr so far, as segtool reports the failure itself."""
    if _NATIVE_STDERR:
        with contextlib.suppress(OSError):
            os.ftruncate(_NATIVE_STDERR[0], 0)


def _run(main: Callable[[], None]) -> int:
    try:
        main()
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    return 0


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
