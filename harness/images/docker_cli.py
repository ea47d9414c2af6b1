"""The few ``docker`` CLI calls image building needs.

The CLI rather than the SDK: it is present wherever the Engine is, streams build output
line by line, and ``DOCKER_BUILDKIT=0`` selects the classic builder (no buildx needed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

Lines = Callable[[str], None]

PROJECT_LABEL = "org.clp-testnet.image"
CONTENT_LABEL = "org.clp-testnet.content"


class ImagesError(RuntimeError):
    """An image that cannot be had: the message says why and what to do."""


def _docker() -> str:
    path = shutil.which("docker")
    if path is None:
        raise ImagesError("the `docker` command is not on PATH (install Docker Engine)")
    return path


def _run(args: Sequence[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_docker(), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def require_engine() -> str:
    """The Engine's version; a clear error when it cannot be reached."""
    try:
        done = _run(["version", "--format", "{{.Server.Version}}"], timeout=20)
    except subprocess.TimeoutExpired as exc:
        raise ImagesError("Docker Engine did not answer within 20 s") from exc
    if done.returncode != 0 or not done.stdout.strip():
        reason = done.stderr.strip().splitlines()[-1:] or ["no answer"]
        raise ImagesError(f"Docker Engine is not reachable: {reason[0]}")
    return done.stdout.strip()


def image_id(ref: str) -> str | None:
    """The local image's id, or None when ``ref`` is not in the local store."""
    done = _run(["image", "inspect", "--format", "{{.Id}}", ref])
    return done.stdout.strip() if done.returncode == 0 else None


def retag_latest(ref: str) -> None:
    """Point ``repo:latest`` at ``ref`` (compose files name the images by ``latest``)."""
    latest = ref.rsplit(":", 1)[0] + ":latest"
    wanted = image_id(ref)
    if wanted is not None and image_id(latest) != wanted:
        done = _run(["tag", ref, latest])
        if done.returncode != 0:
            raise ImagesError(f"docker tag {ref} {latest} failed: {done.stderr.strip()}")


def pull(ref: str, timeout: float) -> bool:
    """Try to pull ``ref``; False when no registry answers within ``timeout`` seconds."""
    try:
        done = _run(["pull", "--quiet", ref], timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def stream(
    args: Sequence[str],
    on_line: Lines,
    *,
    env: dict[str, str] | None = None,
    stdin: int | None = None,
    what: str,
) -> None:
    """Run a command, handing each output line to ``on_line``; raise with its tail on failure."""
    tail: list[str] = []
    with subprocess.Popen(
        list(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        text=True,
        errors="replace",
        env=env,
    ) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip()
            if line:
                tail = [*tail[-19:], line]
                on_line(line)
        code = proc.wait()
    if code != 0:
        shown = "\n  ".join(tail)
        raise ImagesError(f"{what} failed (exit {code}):\n  {shown}")


def build(
    dockerfile: Path,
    context: Path,
    tags: Iterable[str],
    build_args: dict[str, str],
    on_line: Lines,
    no_cache: bool = False,
) -> None:
    """``docker build`` with the classic builder and no network for RUN steps."""
    args = [_docker(), "build", "--network", "none", "--file", str(dockerfile)]
    for tag in tags:
        args += ["--tag", tag]
    for key, value in build_args.items():
        args += ["--build-arg", f"{key}={value}"]
    if no_cache:
        args.append("--no-cache")
    args.append(str(context))
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    stream(args, on_line, env=env, what=f"docker build of {next(iter(tags))}")


def import_rootfs(rootfs: Path, tag: str, labels: dict[str, str], on_line: Lines) -> None:
    """``tar -C rootfs -c . | docker import - tag``: a base image from a directory."""
    changes = ['CMD ["/bin/bash"]', *(f"LABEL {k}={v}" for k, v in labels.items())]
    args = [_docker(), "import"]
    for change in changes:
        args += ["--change", change]
    args += ["-", tag]
    with subprocess.Popen(
        ["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE
    ) as tar:
        assert tar.stdout is not None
        stream(args, on_line, stdin=tar.stdout.fileno(), what=f"docker import of {tag}")
        tar.stdout.close()
        if tar.wait() != 0:
            raise ImagesError(f"tar of {rootfs} failed (exit {tar.returncode})")


def run_probe(image: str, entrypoint: str, command: Sequence[str]) -> str:
    """Run a throwaway container with no network and return its stdout."""
    done = _run(
        ["run", "--rm", "--network", "none", "--entrypoint", entrypoint, image, *command],
        timeout=60,
    )
    if done.returncode != 0:
        raise ImagesError(f"{image}: `{entrypoint}` failed in a container: {done.stderr.strip()}")
    return done.stdout


def labelled_images(label: str = PROJECT_LABEL) -> list[dict[str, str]]:
    """Every local image carrying ``label``, one dict per tag (Repository, Tag, ID, ...)."""
    done = _run(["images", "--filter", f"label={label}", "--format", "{{json .}}"])
    if done.returncode != 0:
        raise ImagesError(f"docker images failed: {done.stderr.strip()}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def remove_images(refs: Sequence[str]) -> None:
    if not refs:
        return
    done = _run(["image", "rm", "--force", *refs], timeout=300)
    if done.returncode != 0:
        raise ImagesError(f"docker image rm failed: {done.stderr.strip()}")
