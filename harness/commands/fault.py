"""``clp-testnet fault KIND ...``: one fault against a running testnet, from another shell.

The subcommands, their arguments and help come from the fault-kind registry
(``harness.faults.kinds``); the same validation as a scenario step checks the values.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from harness.commands import console
from harness.faults.kinds import KINDS
from harness.faults.kinds.base import FaultKind

WORDS = """words:
  heal    links only: every link enabled again (toxics stay)
  clear   toxics only: every toxic removed (links stay as they are)
  reset   everything: links, toxics, packet loss, stopped processes, test hooks"""


def _add_kind(sub: Any, kind: FaultKind) -> None:
    aliases = [kind.name] if kind.cli_name != kind.name else []
    sp = sub.add_parser(
        kind.cli_name,
        aliases=aliases,
        help=kind.summary,
        description=f"{kind.summary}. Undone by: {kind.undone_by or '-'}. "
        f"Backends: {', '.join(kind.backends)}.",
    )
    sp.add_argument("--dir", type=Path, default=argparse.SUPPRESS, help="testnet directory")
    for f in kind.fields:
        if f.positional and f.type == "groups":
            sp.add_argument(f.name, nargs="*", metavar="GROUP", help=f.help)
        elif f.positional:
            sp.add_argument(f.name, nargs="?", metavar=f.name.upper(), help=f.help)
        else:
            sp.add_argument(f.option, dest=f.name, metavar=f.name.upper(), help=f.help)
    sp.set_defaults(handler=run, kind=kind.name)


def register(sub: Any) -> None:
    examples = "\n".join(
        f"  clp-testnet fault --dir net {k.cli_name} {k.example}".rstrip() for k in KINDS.values()
    )
    p = sub.add_parser(
        "fault",
        help="inject a fault into a running testnet",
        description="Link faults and toxics go through the fault proxy; lazy, active and "
        "clock-offset use the nodes' test hooks; kill/pause/resume/restart act on the node "
        "processes of a testnet started with `up --detach`. Every fault is appended to "
        "DIR/faults.jsonl (kind, args, chain height, time window, fault state after it).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"{WORDS}\n\nexamples:\n{examples}",
    )
    p.add_argument("--dir", type=Path, help="testnet directory")
    kinds = p.add_subparsers(dest="kind_word", metavar="KIND", required=True)
    for kind in KINDS.values():
        _add_kind(kinds, kind)


def raw_fields(kind: FaultKind, args: argparse.Namespace) -> dict[str, Any]:
    """The command line's strings as the JSON values a scenario step would hold."""
    raw: dict[str, Any] = {}
    for f in kind.fields:
        value = getattr(args, f.name, None)
        if value is None or value == []:
            continue
        if f.type == "groups":
            raw[f.name] = [g.split(",") for g in value]
        elif f.type in ("nodes", "link"):
            raw[f.name] = value.split(",")
        elif f.type == "int":
            raw[f.name] = _number(value, int)
        elif f.type == "probability":
            raw[f.name] = _number(value, float)
        else:
            raw[f.name] = value
    return raw


def _number(text: str, kind: type) -> Any:
    try:
        return kind(text)
    except ValueError:
        return text  # the field's check names it


def run(args: argparse.Namespace) -> int:
    from harness.cluster.testnet import TestnetManifest
    from harness.faults.cli import run_fault

    if getattr(args, "dir", None) is None:
        console.print("[red]clp-testnet fault: error:[/] --dir is required")
        return 2
    manifest = TestnetManifest.load(args.dir)
    kind = KINDS[args.kind]
    return asyncio.run(run_fault(manifest, kind, raw_fields(kind, args), console))
