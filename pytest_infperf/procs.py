"""Child processes that never outlive pytest: the trial workers (runner.worker) and `vllm serve`
(serving.server) run in sessions of their own, so Ctrl-C at the terminal reaches pytest only and pytest stops
them in order. When pytest dies without that chance (SIGTERM from a CI cancel or `timeout`, SIGKILL, a crash),
the kernel tells each child (PR_SET_PDEATHSIG, Linux), which then takes its own process group, engine
processes included, with it."""

from __future__ import annotations

import contextlib
import os
import signal

PR_SET_PDEATHSIG = 1
PARENT_ENV = "INFPERF_PARENT_PID"


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel for `sig` when the parent dies (Linux; elsewhere nothing). The parent is the thread that
    started this process: pytest starts its children from its main thread."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, sig)


def follow_parent() -> None:
    """In a worker, first thing: SIGTERM when pytest dies, and SIGTERM (from that or anyone) takes the
    worker's whole process group with it, vLLM's engine-core processes included, which would otherwise keep
    the GPUs' memory. A parent that died before the request took effect (the pid in INFPERF_PARENT_PID is no
    longer the parent) is acted on at once."""
    signal.signal(signal.SIGTERM, _take_group_down)
    die_with_parent(signal.SIGTERM)
    expected = os.environ.get(PARENT_ENV)
    if expected and int(expected) != os.getppid():
        _take_group_down(signal.SIGTERM, None)


def _take_group_down(signum: int, frame: object) -> None:
    if os.getpgrp() == os.getpid():  # a group of its own (start_new_session): everything it started is in it
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os._exit(128 + signum)
