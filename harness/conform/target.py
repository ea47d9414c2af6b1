"""The node under test: a command template or a Docker image, and how backends find it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.cluster.local import CONFIG_PLACEHOLDER, NODE_COMMAND_ENV, node_argv

IMAGE_ENV = "CLP_TESTNET_NODE_IMAGE"
TOXIPROXY_IMAGE_ENV = "CLP_TESTNET_TOXIPROXY_IMAGE"


@dataclass(frozen=True)
class Target:
    kind: str  # "command" or "image"
    value: str

    @property
    def backend(self) -> str:
        return "local" if self.kind == "command" else "docker"

    def describe(self) -> str:
        return f"{self.kind} {self.value!r}"


def parse_target(positional: str | None, image: str | None, command: str | None) -> Target:
    """Exactly one of them; a positional with a space or ``{config}`` is a command."""
    given = [x for x in (positional, image, command) if x]
    if len(given) != 1:
        raise ValueError("name the node under test once: IMAGE_OR_COMMAND, --image or --command")
    if command or (positional and (" " in positional or CONFIG_PLACEHOLDER in positional)):
        text = command or positional or ""
        node_argv(text, Path("node.toml"))  # a bad template is refused before anything starts
        return Target("command", text)
    return Target("image", image or positional or "")


@contextmanager
def node_environment(target: Target, toxiproxy_image: str | None = None) -> Iterator[None]:
    """Point the backends at the node under test for the duration (they read the env)."""
    wanted = {NODE_COMMAND_ENV: target.value} if target.kind == "command" else {}
    if target.kind == "image":
        if toxiproxy_image is None:
            raise ValueError("a Docker target needs a Toxiproxy image")
        wanted = {IMAGE_ENV: target.value, TOXIPROXY_IMAGE_ENV: toxiproxy_image}
    saved = {k: os.environ.get(k) for k in (NODE_COMMAND_ENV, IMAGE_ENV, TOXIPROXY_IMAGE_ENV)}
    for k in saved:
        os.environ.pop(k, None)
    os.environ.update(wanted)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
