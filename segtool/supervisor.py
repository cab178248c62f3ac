"""The process around a command: signals that end it cleanly, and a clear line when memory runs out.

The engine is native code: when an allocation fails it aborts the process (SIGABRT) before Python can say
anything, and the kernel's out-of-memory killer sends SIGKILL. So `segtool` runs each command in a forked
child and waits for it; the parent, which holds no data, reports such a death as running out of memory.
SIGTERM and SIGHUP sent to segtool reach the child, which ends them like Ctrl-C: by an exception, so every
`finally` runs and no temporary file stays behind.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Callable

MEMORY_HINT = ("run fewer segments per command, or give the job more memory (a container's memory limit or "
               "`ulimit -v` counts)")
OUT_OF_MEMORY_EXIT = 3


def _terminate(signum, frame) -> None:
    raise SystemExit(128 + signum)


def end_on_signals() -> None:
    """SIGTERM and SIGHUP raise SystemExit(128 + signal), as the shell reports a signal's exit code."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _terminate)


def supervise(main: Callable[[], None]) -> int:
    """Run `main` in a child process and return the exit code to leave with (0 on success)."""
    if not hasattr(os, "fork"):
        return _run(main)
    pid = os.fork()
    if pid == 0:  # the child: the command itself, which never returns from here
        code = 1
        try:
            code = _run(main)
        except KeyboardInterrupt:
            code = 130
        except MemoryError:
            code = report_out_of_memory()
        except BaseException:
            traceback.print_exc()
        finally:
            _flush()
            os._exit(code)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the child, which ends cleanly
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda s, _frame: os.kill(pid, s))
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return report_death(os.WTERMSIG(status))
    return os.waitstatus_to_exitcode(status)


def report_death(signum: int) -> int:
    """A child that died of a signal: SIGABRT and SIGKILL are what running out of memory looks like."""
    if signum in (signal.SIGABRT, signal.SIGKILL):
        return report_out_of_memory("an allocation failed" if signum == signal.SIGABRT else "the system killed it")
    return 128 + signum


def report_panic(message: str) -> int:
    """The engine's native code gave up: out of memory or threads, or a failure of its own."""
    first = (message.strip().splitlines() or ["no message"])[0]
    if any(sign in first for sign in ("os error 11", "os error 12", "memory", "spawn")):
        return report_out_of_memory(first)
    print(f"Error: the engine failed: {first}", file=sys.stderr, flush=True)
    return OUT_OF_MEMORY_EXIT


def report_out_of_memory(how: str = "") -> int:
    print(f"Error: segtool ran out of memory{f' ({how})' if how else ''}; {MEMORY_HINT}", file=sys.stderr, flush=True)
    return OUT_OF_MEMORY_EXIT


def _run(main: Callable[[], None]) -> int:
    end_on_signals()
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
