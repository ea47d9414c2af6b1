"""``clp-testnet conform``: how another team qualifies its node (docs/conform.md).

Exit codes: 0 the node honours every contract check and passed every scenario it could
run (a hook scenario on a node without hooks is not applicable, not failed); 1 something
failed (the list says what); 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from harness.cluster.backends import init_for_backend, make_cluster
from harness.commands import console
from harness.conform.checks import NOT_APPLICABLE, CheckRow, run_checks
from harness.conform.target import (
    ONCE,
    Target,
    kind_target,
    node_environment,
    parse_target,
)
from harness.node_kinds import DEFAULT_KIND, TOXIPROXY_IMAGE_ENV, add_node_option
from harness.scenario.parse import load_scenarios
from harness.scenario.results import FAILED, PASSED
from harness.scenario.results import NOT_APPLICABLE as SCENARIO_NA
from harness.scenario.runner import DEFAULT_SEED, RunOptions, run_scenario

DEFAULT_SCENARIOS = "happy-path,lazy-below-systemic"
STYLE = {"pass": "[green]pass[/]", "fail": "[red]FAIL[/]", NOT_APPLICABLE: "[yellow]n/a[/]"}


def register(sub: Any) -> None:
    p = sub.add_parser(
        "conform",
        help="qualify a node implementation (a command or a Docker image) against the contract",
        description="Writes the documented files (genesis, key files, node configs), starts\n"
        "a testnet of the node under test, checks every part of the node contract\n"
        "(docs/protocol.md) and runs scenarios; prints what the node honours.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""examples:
  clp-testnet conform 'clp-node --config {config}'
  clp-testnet conform --image clp-testnet/node:1a2b3c4d5e6f --scenarios none
  clp-testnet conform --command '/opt/other/bin/node run -c {config}' --scenarios all
  clp-testnet conform --node rust                    the Rust node (make rust) as a command
  clp-testnet conform --node rust --backend docker   ... and as its image

exit codes: 0 conforms, 1 something failed (listed), 2 bad input""",
    )
    p.add_argument("target", nargs="?", metavar="IMAGE_OR_COMMAND", help="the node under test")
    p.add_argument("--image", help="a local Docker image of the node (entrypoint clp-node)")
    p.add_argument(
        "--command",
        dest="node_command",
        help="a command with {config}, e.g. 'clp-node --config {config}'",
    )
    add_node_option(p, default=None)
    p.add_argument(
        "--backend",
        choices=("local", "docker"),
        help="with --node: run the kind's command (local, the default) or its image (docker)",
    )
    p.add_argument("--validators", "-n", type=int, default=4, help="testnet size (default 4)")
    p.add_argument(
        "--scenarios",
        default=DEFAULT_SCENARIOS,
        help=f"comma-separated scenario names or files, 'all' or 'none' "
        f"(default {DEFAULT_SCENARIOS})",
    )
    p.add_argument(
        "--scenario-dir",
        type=Path,
        default=Path("scenarios"),
        help="where scenario names are looked up (default scenarios)",
    )
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="keys and randomness")
    p.add_argument("--out", type=Path, help="folder for the run (default runs/conform-<time>)")
    p.set_defaults(handler=run)


def scenario_files(spec: str, folder: Path) -> list[Path]:
    if spec == "none":
        return []
    if spec == "all":
        found = sorted(folder.glob("*.toml"))
        if not found:
            raise ValueError(f"--scenarios all: no *.toml in {folder}")
        return found
    out = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        path = Path(item) if item.endswith(".toml") else folder / f"{item}.toml"
        if not path.is_file():
            raise ValueError(f"--scenarios: no scenario file {path}")
        out.append(path)
    return out


def target_of(args: argparse.Namespace) -> Target:
    """The node under test: named once, by IMAGE_OR_COMMAND, --image, --command or --node."""
    if args.node is None:
        if args.backend is not None:
            raise ValueError("--backend goes with --node (a command or an image says its own)")
        return parse_target(args.target, args.image, args.node_command)
    if args.target or args.image or args.node_command:
        raise ValueError(ONCE)
    backend = args.backend or "local"
    return kind_target(args.node, backend, lambda text: console.print(f"  {escape(text)}"))


def run(args: argparse.Namespace) -> int:
    target = target_of(args)
    if args.validators < 4:
        raise ValueError(f"--validators {args.validators}: the contract checks need >= 4")
    scenarios = load_scenarios(scenario_files(args.scenarios, args.scenario_dir))
    out = args.out or Path("runs") / f"conform-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"--out {out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    console.print(f"conform: {escape(target.describe())} ({target.backend} backend), out {out}")
    node = args.node or DEFAULT_KIND
    rows = asyncio.run(conform(target, args.validators, scenarios, args.seed, out, node))
    console.print(report_table(target, rows))
    failed = [r for r in rows if r.failed]
    if failed:
        console.print(f"[red]the node does not honour the contract: {len(failed)} failure(s)[/]")
        for r in failed:
            console.print(f"  - {escape(r.name)}: {escape(r.detail)}")
        return 1
    na = [r.name for r in rows if r.verdict == NOT_APPLICABLE]
    extra = f" ({', '.join(na)} not applicable)" if na else ""
    console.print(f"[green]the node honours every check it was given{escape(extra)}[/]")
    return 0


def toxiproxy_image() -> str:
    """The Toxiproxy image beside a node image: CLP_TESTNET_TOXIPROXY_IMAGE, else ours."""
    import os

    named = os.environ.get(TOXIPROXY_IMAGE_ENV)
    if named:
        return named
    from harness.images import ensure_images

    return ensure_images(lambda text: console.print(f"  {escape(text)}")).toxiproxy


async def conform(
    target: Target,
    validators: int,
    scenarios: list[Any],
    seed: int,
    out: Path,
    node: str = DEFAULT_KIND,
) -> list[CheckRow]:
    """``node`` names the kind behind ``target`` (``--node``), for reproduce commands."""
    tox = await asyncio.to_thread(toxiproxy_image) if target.kind == "image" else None
    with node_environment(target, tox):
        rows = await contract_rows(target, validators, seed, out)
        for sc in scenarios:
            console.print(f"scenario {sc.name} ...")
            opts = RunOptions(seed, target.backend, out / "scenarios", node=node)
            result = await run_scenario(sc, opts)
            verdict = {PASSED: "pass", SCENARIO_NA: NOT_APPLICABLE}.get(result.status, "fail")
            if result.status == FAILED or verdict == "fail":
                detail = "; ".join(result.failures()) or result.status
                detail += f" (reproduce: {result.reproduce})"
            else:
                detail = result.not_applicable or f"{result.duration_s:.0f}s"
            rows.append(CheckRow(f"scenario {sc.name}", verdict, detail))
    return rows


async def contract_rows(target: Target, validators: int, seed: int, out: Path) -> list[CheckRow]:
    manifest = init_for_backend(
        target.backend, out / "testnet", validators=validators, seed=str(seed)
    )
    cluster = make_cluster(target.backend, manifest, out / "logs")
    try:
        try:
            await cluster.start()
        except Exception as exc:
            logs = ", ".join(cluster.log_path(n) for n in cluster.names)
            return [CheckRow("startup", "fail", f"{type(exc).__name__}: {exc} (logs: {logs})")]
        rows = [CheckRow("startup", "pass", f"{validators} nodes up from the documented files")]
        return rows + await run_checks(cluster, seed)
    finally:
        await cluster.shutdown()


def report_table(target: Target, rows: list[CheckRow]) -> Table:
    t = Table(title=escape(f"conformance of {target.describe()}"))
    t.add_column("check")
    t.add_column("result")
    t.add_column("detail", overflow="fold")
    for r in rows:
        t.add_row(escape(r.name), STYLE.get(r.verdict, r.verdict), escape(r.detail))
    return t
