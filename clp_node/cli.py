"""``clp-node``: run a validator, make a key, or check a config before starting."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from clp_node.chain.genesis import GenesisError
from clp_node.chain.keys import KeyFileError, ValidatorKey
from clp_node.config import ConfigError, NodeConfig
from clp_node.logs import setup_json_logging
from clp_node.preflight import NodeError, check_listen
from clp_node.store.sqlite import StoreError

EPILOG = """\
examples:
  clp-node --config testnet/v0/node.toml      run a validator
  clp-node keygen --out keys/v5.json          make a new validator key
  clp-node check-config --config node.toml    validate a config and its key and genesis

The config (TOML) names the key file, the genesis file, the data directory, the p2p and
API listen addresses and, for every peer, the endpoint this node dials to send to it.
Logs are JSON lines on stdout. See CLP_SPEC.md §9 for the REST endpoints.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clp-node",
        description="A CLP validator node: BFT finality, authenticated P2P, CLP challenges, "
        "slashing and ejection, REST API and Prometheus metrics.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, help="node config (TOML) to run with")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run a validator (same as --config without a command)")
    run.add_argument("--config", type=Path, required=True, help="node config (TOML)")
    keygen = sub.add_parser("keygen", help="write a new Ed25519 validator key (JSON)")
    keygen.add_argument("--out", type=Path, required=True, help="key file to write")
    keygen.add_argument(
        "--seed-text", help="derive the key from this text (reproducible testnets only)"
    )
    keygen.add_argument("--force", action="store_true", help="overwrite an existing key file")
    check = sub.add_parser("check-config", help="validate a config, its key and genesis")
    check.add_argument("--config", type=Path, required=True, help="node config (TOML)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "keygen":
            return keygen(args.out, args.seed_text, args.force)
        if args.command == "check-config":
            return check_config(args.config)
        if args.config is None:
            parser.print_help()
            return 2
        return run_node(args.config)
    except (ConfigError, KeyFileError, GenesisError, StoreError, NodeError) as exc:
        print(f"clp-node: error: {exc}", file=sys.stderr)
        return 2


def keygen(out: Path, seed_text: str | None, force: bool) -> int:
    if out.exists() and not force:
        print(f"clp-node: error: {out} exists (use --force to overwrite)", file=sys.stderr)
        return 2
    key = ValidatorKey.from_seed_text(seed_text) if seed_text else ValidatorKey.generate()
    key.save(out)
    print(f"{key.address} {key.public_key.hex()}")
    return 0


def check_config(path: Path) -> int:
    """Everything start-up checks, short of starting: the same errors, the same exit code."""
    config = NodeConfig.load(path)
    check_listen(config)
    # Imported after the config's own checks: a bad file is refused without the ~0.3 s of
    # CPU the node's modules (aiohttp, prometheus_client) take to import.
    from clp_node.node import ValidatorNode

    node = ValidatorNode(config)
    try:
        node.replay()
    finally:
        node.store.close()
    print(f"ok: {config.name} {node.address} chain {node.genesis.chain_id}")
    return 0


def event_loop_factory(env: Mapping[str, str] = os.environ) -> Callable[[], Any] | None:
    """uvloop's event loop (its C transports, timers and poll cut what each frame costs,
    docs/scale.md) unless ``CLP_NODE_EVENT_LOOP=asyncio`` asks for asyncio's (None)."""
    choice = env.get("CLP_NODE_EVENT_LOOP", "uvloop")
    if choice == "asyncio":
        return None
    if choice != "uvloop":
        raise NodeError(f"CLP_NODE_EVENT_LOOP: {choice!r} is not one of uvloop, asyncio")
    import uvloop

    return uvloop.new_event_loop


# Young objects per collection: a node makes a few short-lived objects per frame and almost
# no cycles, so collecting every 700 allocations (Python's default) was ~6% of its CPU.
GC_GEN0_THRESHOLD = 20_000


def tune_gc() -> None:
    """What was made at start (modules, genesis, keys) lives as long as the process: out of
    every later collection's scan (gc.freeze); and young collections less often."""
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def run_node(path: Path) -> int:
    config = NodeConfig.load(path)
    check_listen(config)
    loop_factory = event_loop_factory()
    from clp_node.node import ValidatorNode  # after the config's checks, as in check_config

    setup_json_logging(config.name, config.log_level)
    node = ValidatorNode(config)
    tune_gc()

    async def main_async() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, node.request_stop)
        try:
            await node.run()
        finally:
            await node.close()

    try:
        with (
            contextlib.suppress(KeyboardInterrupt),
            asyncio.Runner(loop_factory=loop_factory) as runner,
        ):
            runner.run(main_async())
    except OSError as exc:  # a listener lost the race for its port after check_listen
        raise NodeError(f"{config.source}: listen: cannot start ({exc.strerror or exc})") from exc
    return 0


if __name__ == "__main__":
    sys.exit(main())
