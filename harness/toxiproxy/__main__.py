"""``python -m harness.toxiproxy``: run the Toxiproxy-compatible server in the foreground.

The options also take the official ``toxiproxy-server`` spellings (``-host=0.0.0.0``,
``-port``, ``-config``, ``-proxy-metrics``), so one container command line fits either
server's image.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from . import schema
from .errors import ApiError
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
        "--host",
        "-host",
        default="127.0.0.1",
        help="address the HTTP API listens on (default: 127.0.0.1)",
    )
    cli.add_argument(
        "--port",
        "-port",
        type=int,
        default=8474,
        help="port of the HTTP API (default: 8474, Toxiproxy's; 0 picks a free port)",
    )
    cli.add_argument(
        "--config",
        "-config",
        type=Path,
        metavar="FILE",
        help="JSON array of proxies (the POST /populate body) to create before serving",
    )
    cli.add_argument(
        "--proxy-metrics",
        "-proxy-metrics",
        action="store_true",
        help="serve per-proxy byte counters as Prometheus text at GET /metrics",
    )
    return cli


def load_config(path: Path) -> list[schema.ProxyInput]:
    """The proxies of a ``-config`` file; ValueError says what is wrong with it."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return schema.populate(raw)
    except ApiError as exc:
        raise ValueError(f"{path}: {exc.message}") from exc


def main(argv: Sequence[str] | None = None) -> None:
    cli = parser()
    args = cli.parse_args(argv)
    initial: list[schema.ProxyInput] = []
    if args.config is not None:
        try:
            initial = load_config(args.config)
        except ValueError as exc:
            cli.error(f"--config: {exc}")
    try:
        run(args.host, args.port, initial, args.proxy_metrics)
    except ApiError as exc:  # a proxy of the config file could not listen
        raise SystemExit(f"toxiproxy: --config {args.config}: {exc.message}") from exc
    except OSError as exc:  # the API address could not be bound
        raise SystemExit(f"toxiproxy: cannot listen on {args.host}:{args.port}: {exc}") from exc


if __name__ == "__main__":
    main()
