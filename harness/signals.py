"""SIGTERM and SIGHUP stop ``clp-testnet`` exactly as Ctrl-C does: teardown included.

CI runners and ``timeout`` send SIGTERM, a closed terminal sends SIGHUP; by default either
kills the CLI at once and leaves its nodes and proxy running. Installed once, in
``harness.cli.main``, so every command (run, demo, up, and any later one) gets it: each
signal is turned into a SIGINT, which ``asyncio.run`` turns into cancelling the main task
(so every ``finally`` and ``async with`` teardown runs) and then a KeyboardInterrupt.

A process started in the background by a non-interactive shell (``cmd &`` in a CI script,
``nohup``) inherits SIGINT *ignored*: Python then installs no KeyboardInterrupt handler,
``asyncio.run`` none either, and a SIGTERM turned into SIGINT would be dropped, leaving the
testnet running. So Ctrl-C's handler is put back first: a CLI that owns a testnet must
stop on every one of these signals, whoever started it.
"""

from __future__ import annotations

import signal
from types import FrameType

TERMINATING = (signal.SIGTERM, signal.SIGHUP)

_received: list[int] = []


def _as_interrupt(signum: int, _frame: FrameType | None) -> None:
    _received.append(signum)
    signal.raise_signal(signal.SIGINT)


def stop_like_ctrl_c() -> None:
    """Make SIGTERM and SIGHUP behave as SIGINT for the rest of this process."""
    _received.clear()
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in TERMINATING:
        signal.signal(signum, _as_interrupt)


def ignore_further() -> None:
    """Once the teardown has run there is nothing left to stop: a second Ctrl-C (or a
    SIGTERM) arriving while the CLI says so and exits must not kill it mid-sentence."""
    for signum in (signal.SIGINT, *TERMINATING):
        signal.signal(signum, signal.SIG_IGN)


def exit_code() -> int:
    """The shell's code for the signal that stopped us: 128 + its number (130 for Ctrl-C)."""
    return 128 + (_received[0] if _received else signal.SIGINT)


def stopped_by() -> str:
    return signal.Signals(_received[0]).name if _received else "SIGINT"
