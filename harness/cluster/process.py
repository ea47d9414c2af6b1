"""Signalling the process groups the harness starts (each child runs in its own session)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def signal_group(pid: int, sig: int) -> None:
    """Signal a whole process group; a group that is already gone is not an error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def terminate(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the group, SIGKILL it if it outlives ``grace`` seconds, and reap it."""
    if proc.poll() is not None:
        return
    signal_group(proc.pid, signal.SIGCONT)
    signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        signal_group(proc.pid, signal.SIGKILL)
        proc.wait(grace)
