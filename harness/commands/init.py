"""``clp-testnet init``: keys, genesis and one node config per validator."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cluster.backends import init_for_backend
from harness.cluster.node_choice import latest_image
from harness.cluster.testnet import MANIFEST, TestnetError, TestnetManifest
from harness.contract.params import ClpParams
from harness.node_kinds import NodeKind, add_node_option, node_kind
from harness.node_mix import mix_nodes, parse_mix

if TYPE_CHECKING:
    from harness.cluster.compose import PublishedPorts
from harness.commands import console


def register(sub: Any) -> None:
    p = sub.add_parser("init", help="write keys, genesis and node configs for a testnet")
    p.add_argument("--dir", type=Path, required=True, help="directory to create")
    p.add_argument("--validators", "-n", type=int, default=5, help="validators (default 5)")
    p.add_argument(
        "--profile",
        choices=["test", "production"],
        default="test",
        help="CLP parameters of docs/protocol.md §2 (default: test profile, E=20 K=2 W=4)",
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
    add_node_option(p, mix=True)
    p.add_argument(
        "--stakes",
        help="comma-separated positive stakes, one per validator (default 100000 each)",
    )
    p.add_argument(
        "--compose",
        action="store_true",
        help="lay the testnet out for containers and write docker-compose.yml, .env and "
        "prometheus.yml beside it (run it with `docker compose up` or `docker-compose up`)",
    )
    p.add_argument(
        "--api-port-base",
        type=int,
        default=18080,
        metavar="PORT",
        help="with --compose: vi's API is published on PORT+i, Toxiproxy's on 18474, "
        "Prometheus on 19090; 0 lets Docker pick every published port (default 18080)",
    )
    p.add_argument(
        "--compose-dir",
        type=Path,
        metavar="DIR",
        help="with --compose: write the compose files here instead of into --dir (they "
        "name the testnet's files by relative path)",
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


def parse_stakes(text: str) -> list[int]:
    try:
        stakes = [int(s) for s in text.split(",")]
    except ValueError as exc:
        raise ValueError(f"--stakes {text!r}: want comma-separated integers") from exc
    if any(s <= 0 for s in stakes):
        raise ValueError(f"--stakes {text!r}: every stake must be positive")
    return stakes


def check_target(root: Path) -> None:
    """init writes a whole new testnet: never into a file or over someone's files."""
    if root.exists() and not root.is_dir():
        raise TestnetError(f"{root} exists and is not a directory")
    if root.is_dir() and any(root.iterdir()):
        what = "a testnet" if (root / MANIFEST).exists() else "files"
        raise TestnetError(f"{root} already holds {what}; choose a new or empty directory")


def run(args: argparse.Namespace) -> int:
    if args.compose_dir is not None and not args.compose:
        raise ValueError("--compose-dir goes with --compose")
    if args.compose and args.mix:  # one image in the compose file's .env
        raise ValueError("--mix does not go with --compose (a compose testnet runs one node image)")
    check_target(args.dir)
    kind = node_kind(args.node)  # the files are the same for every kind: it names the hints
    base = ClpParams.test_profile() if args.profile == "test" else ClpParams.production()
    clp = ClpParams.from_dict({**base.to_dict(), **parse_overrides(args.clp)})
    stakes = parse_stakes(args.stakes) if args.stakes else None
    ports = compose_ports(args) if args.compose else None
    manifest = init_for_backend(
        "docker" if args.compose else "local",
        args.dir,
        validators=args.validators,
        clp=clp,
        chain_id=args.chain_id,
        stakes=stakes,
        proxied=not args.no_proxy,
        seed=args.seed,
        nodes=mix_nodes(parse_mix(args.mix), args.validators, exact=False) if args.mix else None,
    )
    if ports is not None:
        return write_compose(args, manifest, ports, kind)
    console.print(f"wrote a {len(manifest.nodes)}-validator testnet to {args.dir}")
    for n in manifest.nodes:
        runs = f"  ({manifest.implementations[n.name]})" if manifest.implementations else ""
        console.print(f"  {n.name}  {n.address}  api {n.api_url}{runs}")
    console.print(f"start it with: clp-testnet up --dir {args.dir}{kind.flag()}")
    return 0


def compose_ports(args: argparse.Namespace) -> PublishedPorts:
    """The host ports ``--api-port-base`` asks for, checked before anything is written."""
    from harness.cluster.compose import PublishedPorts

    if args.api_port_base == 0:
        return PublishedPorts(api_base=None, toxiproxy=None, prometheus=None)
    last = args.api_port_base + args.validators - 1
    if args.api_port_base < 1 or last > 65535:
        raise ValueError(
            f"--api-port-base {args.api_port_base}: want 1..{65536 - args.validators} "
            "(or 0 to let Docker pick)"
        )
    return PublishedPorts(api_base=args.api_port_base)


def write_compose(
    args: argparse.Namespace, manifest: TestnetManifest, ports: PublishedPorts, kind: NodeKind
) -> int:
    """``init --compose``: the compose project that runs the docker-layout testnet (its
    ``.env`` names the node image of ``kind``)."""
    from harness.cluster.compose import write_compose_project

    owner = (os.getuid(), os.getgid())
    written = write_compose_project(
        manifest, ports, owner, args.compose_dir, node_image=latest_image(kind.name)
    )
    console.print(f"wrote a {len(manifest.nodes)}-validator compose testnet to {args.dir}")
    for index, n in enumerate(manifest.nodes):
        port = ports.api(index)
        where = f"http://{ports.bind}:{port}" if port else "a port Docker picks"
        console.print(f"  {n.name}  {n.address}  api {where}")
    console.print(f"  {', '.join(p.name for p in written)}")
    console.print(f"build the images:  clp-testnet images build{kind.flag()}")
    where = args.compose_dir or args.dir
    console.print(f"start it with:     cd {where} && docker compose up -d  (or docker-compose)")
    return 0
