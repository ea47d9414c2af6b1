"""One module per ``clp-testnet`` subcommand: each adds its parser and its handler.

A command module exposes ``register(sub)``; the parser it adds sets ``handler`` to a
function ``(args) -> exit code``. Keeping each command apart lets them grow without one
file that every change touches.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from rich.console import Console

console = Console()

Handler = Callable[[argparse.Namespace], int]

RUN_FILE = "run.json"
