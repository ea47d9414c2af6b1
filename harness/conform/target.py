"""The node under test: a command template or a Docker image, and how backends find it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.cluster.local import CONFIG_PLACEHOLDER, default_node_command, node_argv
from harness.cluster.node_choice import container_images, local_command, scoped_environ
from harness.node_kinds import NODE_COMMAND_ENV, NODE_IMAGE_ENV, TOXIPROXY_IMAGE_ENV

IMAGE_ENV = NODE_IMAGE_ENV


@dataclass(frozen=True)
class Target:
    kind: str  # "command" or "image"
    value: str

    @property
    def backend(self) -> str:
        return "local" if self.kind == "command" else "docker"

    def describe(self) -> str:
        return f"{self.kind} {self.value!r}"


ONCE = "name the node under test once: IMAGE_OR_COMMAND, --image, --command or --node"


def parse_target(positional: str | None, image: str | None, command: str | None) -> Target:
    """Exactly one of them; a positional with a space or ``{config}`` is a command."""
    given = [x for x in (positional, image, command) if x]
    if len(given) != 1:
        raise ValueError(ONCE)
    if command or (positional and (" " in positional or CONFIG_PLACEHOLDER in positional)):
        text = command or positional or ""
        node_argv(text, Path("node.toml"))  # a bad template is refused before anything starts
        return Target("command", text)
    return Target("image", image or positional or "")


def kind_target(name: str, backend: str, progress: Callable[[str], None] | None = None) -> Target:
    """A node kind of the registry as the node under test: its command on the local
    backend, its image on docker (what the environment names wins, as everywhere)."""
    if backend == "local":
        return Target("command", local_command(name) or default_node_command())
    images = container_images(name, progress)
    if images is None:  # the default kind: the images `clp-testnet images build` makes
        from harness.images import ensure_images

        images = ensure_images(progress)
    return Target("image", images.node)


@contextmanager
def node_environment(target: Target, toxiproxy_image: str | None = None) -> Iterator[None]:
    """Point the backends at the node under test for the duration (they read the env)."""
    wanted = {NODE_COMMAND_ENV: target.value} if target.kind == "command" else {}
    if target.kind == "image":
        if toxiproxy_image is None:
            raise ValueError("a Docker target needs a Toxiproxy image")
        wanted = {IMAGE_ENV: target.value, TOXIPROXY_IMAGE_ENV: toxiproxy_image}
    with scoped_environ(wanted, cleared=(NODE_COMMAND_ENV, IMAGE_ENV, TOXIPROXY_IMAGE_ENV)):
        yield
