"""The Dockerfiles: a registry default for BASE_IMAGE, shared layers, the labels the CLI finds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.images import DEFAULT_BASE_IMAGE, DOCKERFILES
from harness.images.docker_cli import CONTENT_LABEL, PROJECT_LABEL

COMPOSE = Path(__file__).resolve().parents[3] / "compose"


def instructions(name: str) -> list[str]:
    """Instructions with continuations joined and comments dropped."""
    text = (COMPOSE / name).read_text()
    text = re.sub(r"\\\n", " ", text)
    return [
        " ".join(line.split())
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_base_image_is_an_argument_defaulting_to_slim_python(kind: str) -> None:
    steps = instructions(DOCKERFILES[kind])
    assert steps[0] == f"ARG BASE_IMAGE={DEFAULT_BASE_IMAGE}"
    assert steps[1] == "FROM ${BASE_IMAGE}"


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_labels_are_the_ones_images_list_and_clean_look_for(kind: str) -> None:
    label = instructions(DOCKERFILES[kind])[-1]
    assert label == f"LABEL {PROJECT_LABEL}={kind} {CONTENT_LABEL}=${{CONTENT_TAG}}"


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_nothing_is_fetched_inside_the_build(kind: str) -> None:
    runs = [s for s in instructions(DOCKERFILES[kind]) if s.startswith("RUN ")]
    assert runs and all("--no-index" in s for s in runs if "pip install" in s)
    assert not any(tool in s for s in runs for tool in ("apt-get", "curl ", "wget "))


def test_node_and_toxiproxy_share_every_layer_up_to_the_user() -> None:
    node, tox = instructions(DOCKERFILES["node"]), instructions(DOCKERFILES["toxiproxy"])
    cut = node.index("USER 10001:10001") + 1
    assert node[:cut] == tox[:cut]
