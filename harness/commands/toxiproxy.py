"""``clp-testnet toxiproxy``: the Toxiproxy-API-compatible server, standalone."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("toxiproxy", help="run the Toxiproxy-API-compatible server")
    p.add_argument("--host", default="127.0.0.1", help="API listen host (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8474, help="API port (default 8474)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from harness.toxiproxy.__main__ import main as tox_main

    tox_main(["--host", args.host, "--port", str(args.port)])
    return 0
