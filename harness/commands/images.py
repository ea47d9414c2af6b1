"""``clp-testnet images``: build, list and remove the testnet's Docker images."""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.commands import Handler, console
from harness.node_kinds import RUST, add_node_option, node_kind

DETAIL_WIDTH = 70


def register(sub: Any) -> None:
    p = sub.add_parser(
        "images",
        help="build, list or remove the Docker images (node, Rust node, Toxiproxy)",
        description="Docker images of the testnet, built with no registry: the base is "
        "BASE_IMAGE (python:3.11-slim) when local or pullable, else a Debian base made with "
        "debootstrap; the project goes in from wheels built on the host. Tags are content "
        "hashes, so an unchanged tree builds nothing. `build --node rust` also makes the Rust "
        "node's image (clp-testnet/node-rs) from the release binary `make rust` builds.",
    )
    actions = p.add_subparsers(dest="images_action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="build whatever is missing (idempotent)")
    add_node_option(build, starts_nodes=False)
    build.add_argument(
        "--base-image", metavar="REF", help="build on this image (must be local or pullable)"
    )
    build.add_argument(
        "--no-cache", action="store_true", help="rebuild without Docker's layer cache"
    )
    build.add_argument(
        "--pull-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="give up pulling an image after this long (default 30; 0 never pulls)",
    )
    build.set_defaults(handler=reporting_errors(run_build))
    listing = actions.add_parser("list", help="the project's local images")
    listing.add_argument("--base", action="store_true", help="include the Debian base")
    listing.set_defaults(handler=reporting_errors(run_list))
    clean = actions.add_parser("clean", help="remove the project's images")
    clean.add_argument(
        "--base", action="store_true", help="also the Debian base and its debootstrap folder"
    )
    clean.set_defaults(handler=reporting_errors(run_clean))


class StepDisplay:
    """One spinner line per step with its elapsed time; tool output shown as the step's tail."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.task: TaskID | None = None
        self.started = time.monotonic()

    def step(self, text: str) -> None:
        if self.progress is None:  # not a terminal: one line per step, time since the start
            console.print(f"  [{time.monotonic() - self.started:6.1f} s] {text}", soft_wrap=True)
            return
        if self.task is not None:
            self.progress.update(self.task, detail="")
            self.progress.stop_task(self.task)
        self.task = self.progress.add_task(text, detail="")

    def detail(self, line: str) -> None:
        if self.progress is not None and self.task is not None:
            short = line if len(line) <= DETAIL_WIDTH else line[: DETAIL_WIDTH - 1] + "…"
            self.progress.update(self.task, detail=short)

    def finish(self) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, detail="")
            self.progress.stop_task(self.task)


@contextmanager
def step_display() -> Iterator[StepDisplay]:
    if not console.is_terminal:
        yield StepDisplay(None)
        return
    columns = (
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("{task.description}"),
        TextColumn("[dim]{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        display = StepDisplay(progress)
        try:
            yield display
        finally:
            display.finish()


def reporting_errors(handler: Handler) -> Handler:
    """An image that cannot be had is the user's to fix: its reason, exit 2, no traceback."""

    @functools.wraps(handler)
    def wrapped(args: argparse.Namespace) -> int:
        from harness.images import ImagesError

        try:
            return handler(args)
        except ImagesError as exc:
            console.print(f"[red]clp-testnet images: error:[/] {exc}")
            return 2

    return wrapped


def run_build(args: argparse.Namespace) -> int:
    """The Python node's and Toxiproxy's images; with ``--node rust`` the Rust node's too
    (its binary from ``make rust``), so a Rust testnet has all it runs."""
    from harness.images import ensure_images, ensure_rust_node_image

    kind = node_kind(args.node)
    started = time.monotonic()
    with step_display() as display:
        rust = None
        if kind.name == RUST:
            rust = ensure_rust_node_image(
                display.step,
                detail=display.detail,
                base_image=args.base_image,
                pull_timeout=args.pull_timeout,
            )
        images = ensure_images(
            display.step,
            detail=display.detail,
            base_image=args.base_image,
            no_cache=args.no_cache,
            pull_timeout=args.pull_timeout,
        )
    toxiproxy = "official" if images.toxiproxy_official else "compatible server"
    if rust is not None:
        console.print(f"node-rs    {rust}")
    console.print(f"node       {images.node}")
    console.print(f"toxiproxy  {images.toxiproxy}  ({toxiproxy})")
    console.print(f"done in {time.monotonic() - started:.1f} s")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from harness.images import project_images

    rows = project_images(include_base=args.base)
    table = Table("image", "id", "created", "size", box=None)
    for row in rows:
        table.add_row(
            f"{row.get('Repository')}:{row.get('Tag')}",
            str(row.get("ID", ""))[:12],
            str(row.get("CreatedSince", "")),
            str(row.get("Size", "")),
        )
    console.print(table if rows else "no clp-testnet images (build them: clp-testnet images build)")
    return 0


def run_clean(args: argparse.Namespace) -> int:
    from harness.images import clean_images

    removed = clean_images(include_base=args.base)
    for ref in removed:
        console.print(f"removed {ref}")
    console.print(f"{len(removed)} image(s) removed")
    return 0
