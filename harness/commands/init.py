"""``clp-testnet init``: keys, genesis and one node config per validator."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from clp_node.clp.types import ClpConfig
from harness.cluster.testnet import init_testnet
from harness.commands import console


def register(sub: Any) -> None:
    p = sub.add_parser("init", help="write keys, genesis and node configs for a testnet")
    p.add_argument("--dir", type=Path, required=True, help="directory to create")
    p.add_argument("--validators", "-n", type=int, default=5, help="validators (default 5)")
    p.add_argument(
        "--profile",
        choices=["test", "production"],
        default="test",
        help="CLP parameters of CLP_SPEC §2 (default: test profile, E=20 K=2 W=4)",
    )
    p.add_argument(
        "--clp",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one CLP parameter, e.g. --clp epoch_length=40 (repeatable)",
    )
    p.add_argument("--chain-id", default="clp-testnet", help="chain id (default clp-testnet)")
    p.add_argument("--seed", help="derive keys from this text (reproducible testnets)")
    p.add_argument("--no-proxy", action="store_true", help="direct links, no fault proxy")
    p.add_argument(
        "--stakes", help="comma-separated stakes, one per validator (default 100000 each)"
    )
    p.set_defaults(handler=run)


def parse_overrides(items: list[str]) -> dict[str, int]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not value.lstrip("-").isdigit():
            raise ValueError(f"--clp {item!r}: want NAME=INTEGER")
        out[name.strip()] = int(value)
    return out


def run(args: argparse.Namespace) -> int:
    base = ClpConfig.test_profile() if args.profile == "test" else ClpConfig.production()
    clp = ClpConfig.from_dict({**base.to_dict(), **parse_overrides(args.clp)})
    stakes = None
    if args.stakes:
        try:
            stakes = [int(s) for s in args.stakes.split(",")]
        except ValueError as exc:
            raise ValueError(f"--stakes {args.stakes!r}: want comma-separated integers") from exc
    manifest = init_testnet(
        args.dir,
        validators=args.validators,
        clp=clp,
        chain_id=args.chain_id,
        stakes=stakes,
        proxied=not args.no_proxy,
        seed=args.seed,
    )
    console.print(f"wrote a {len(manifest.nodes)}-validator testnet to {args.dir}")
    for n in manifest.nodes:
        console.print(f"  {n.name}  {n.address}  api {n.api_url}")
    console.print(f"start it with: clp-testnet up --dir {args.dir}")
    return 0
