"""SIGTERM, SIGHUP and SIGINT stop the CLI even when it was started with SIGINT ignored.

A non-interactive shell starts a background job (``clp-testnet run ... &`` in a CI
script) with SIGINT ignored; the CLI turns SIGTERM into SIGINT, so without putting
Ctrl-C's handler back it would drop all three and leave its testnet running.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

# The CLI's shape (harness.cli.main): handlers installed, an asyncio run, exit code on
# KeyboardInterrupt. (tests/integration/test_teardown.py sends the signals to real commands.)
SERVE = """
import asyncio, sys
from harness import signals

async def serve() -> None:
    print("ready", flush=True)
    await asyncio.sleep(60)

signals.stop_like_ctrl_c()
try:
    asyncio.run(serve())
except KeyboardInterrupt:
"""
PROGRAM = SERVE + "    sys.exit(signals.exit_code())\n"


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=str)
def test_a_cli_started_with_sigint_ignored_still_stops_on(sig: signal.Signals) -> None:
    with subprocess.Popen(  # its exit closes the pipe and waits for the process
        [sys.executable, "-c", PROGRAM],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_ignore_sigint,
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline() == "ready\n"  # handlers installed, loop running
            process.send_signal(sig)
            assert process.wait(10) == 128 + sig
        finally:
            if process.poll() is None:
                process.kill()


# The CLI's end after a Ctrl-C: the teardown has run, it says so and exits; here it waits
# for a line on stdin in between, so the second signal lands exactly there.
SECOND = (
    SERVE
    + """    signals.ignore_further()
    print("stopped", flush=True)
    sys.stdin.readline()
    sys.exit(signals.exit_code())
"""
)


def test_a_second_ctrl_c_after_the_teardown_still_exits_130() -> None:
    """An impatient user's second Ctrl-C, landing once everything is stopped, used to
    kill the CLI by SIGINT (exit -2) as it said so, instead of exit 130."""
    with subprocess.Popen(
        [sys.executable, "-c", SECOND], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None and process.stdin is not None
            assert process.stdout.readline() == "ready\n"
            process.send_signal(signal.SIGINT)
            assert process.stdout.readline() == "stopped\n"
            process.send_signal(signal.SIGINT)
            process.send_signal(signal.SIGTERM)
            process.stdin.write("go\n")
            process.stdin.flush()
            assert process.wait(10) == 130
        finally:
            if process.poll() is None:
                process.kill()
