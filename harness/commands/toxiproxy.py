"""``clp-testnet toxiproxy``: the Toxiproxy-API-compatible server, standalone."""

from __future__ import annotations

import argparse
from typing import Any


def tcp_port(text: str) -> int:
    """A port argparse can reject with a clear message instead of a bind() traceback."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not in 0..65535")
    return port


def register(sub: Any) -> None:
    p = sub.add_parser(
        "toxiproxy",
        help="run the Toxiproxy-API-compatible server",
        description="Serve the Toxiproxy HTTP API (proxies, toxics, /populate, /reset) in the "
        "foreground until Ctrl-C; any Toxiproxy client can drive it.",
    )
    p.add_argument("--host", default="127.0.0.1", help="API listen host (default 127.0.0.1)")
    p.add_argument(
        "--port", type=tcp_port, default=8474, help="API port (default 8474; 0 picks a free one)"
    )
    p.add_argument(
        "--proxy-metrics",
        action="store_true",
        help="serve per-proxy byte counters as Prometheus text at GET /metrics",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from harness.toxiproxy.__main__ import main as tox_main

    flags = ["--proxy-metrics"] if args.proxy_metrics else []
    tox_main(["--host", args.host, "--port", str(args.port), *flags])
    return 0
