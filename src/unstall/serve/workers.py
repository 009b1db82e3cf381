"""Several serving processes on one listening socket, supervised by the parent.

The parent binds the socket, forks the workers (each runs the whole server on the
inherited socket; the kernel hands each connection to one of them), forwards
SIGTERM/SIGINT to them, restarts a worker that dies on its own, and exits when all
have stopped. Workers run in their own process groups, so a Ctrl-C at a terminal
reaches only the parent, which passes it on once; and they ask the kernel for a
SIGTERM should the parent die, so none outlives it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from prometheus_client.multiprocess import mark_process_dead

_log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1
_RESTART_PAUSE = 1.0
_START_GRACE = 5.0  # a worker dying sooner failed to start, rather than crashed later


def _die_with_parent(parent: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


def run_workers(
    count: int,
    worker: Callable[[int], int],
    *,
    metrics_dir: Path,
    report: Callable[[str], None],
) -> int:
    """Run ``worker(index)`` in ``count`` child processes until a signal stops them;
    0 when every worker stopped cleanly."""
    parent = os.getpid()
    children: dict[int, int] = {}
    started: dict[int, float] = {}
    stopping = False
    failed = False

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                os.setpgid(0, 0)
                _die_with_parent(parent)
                for signum in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(signum, signal.SIG_DFL)
                code = worker(index)
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children[pid] = index
        started[pid] = time.monotonic()

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for index in range(count):
            spawn(index)
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            index = children.pop(pid, -1)
            lived = time.monotonic() - started.pop(pid, 0.0)
            mark_process_dead(pid, str(metrics_dir))  # type: ignore[no-untyped-call]
            code = os.waitstatus_to_exitcode(status)
            if stopping:
                failed = failed or code not in (0, -signal.SIGTERM)
                continue
            if lived < _START_GRACE and code > 0:
                # It exited on its own right away: it could not start (the store not
                # writable, ...) and would fail the same way again. Stop the others too.
                # Killed by a signal is a crash, whenever it happens: start it again.
                report(f"worker {index} (pid {pid}) failed at start with {code}; stopping")
                failed = True
                forward(signal.SIGTERM, None)
                continue
            report(f"worker {index} (pid {pid}) exited with {code}; starting it again")
            time.sleep(_RESTART_PAUSE)
            if not stopping and index >= 0:
                spawn(index)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 1 if failed else 0


__all__ = ["run_workers"]
