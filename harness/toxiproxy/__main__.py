"""``python -m harness.toxiproxy``: run the Toxiproxy-compatible server in the foreground."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .server import VERSION, run


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m harness.toxiproxy",
        description=(
            f"Toxiproxy-compatible TCP fault-injection proxy (HTTP API of Toxiproxy {VERSION}). "
            "Create proxies and add toxics (latency, bandwidth, slow_close, timeout, "
            "reset_peer, slicer, limit_data, noop) over HTTP with any Toxiproxy client. "
            "Prints one line with the API URL once listening; stops on SIGINT/SIGTERM."
        ),
    )
    cli.add_argument(
        "--host", default="127.0.0.1", help="address the HTTP API listens on (default: 127.0.0.1)"
    )
    cli.add_argument(
        "--port",
        type=int,
        default=8474,
        help="port of the HTTP API (default: 8474, Toxiproxy's; 0 picks a free port)",
    )
    return cli


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    run(args.host, args.port)


if __name__ == "__main__":
    main()
