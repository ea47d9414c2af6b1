"""Wheels built on the host for the image's Python, so ``docker build`` needs no network.

``pip wheel`` resolves the project and its runtime dependencies here (PyPI is reachable
from the host, not necessarily from a build); every wheel is then checked against the
interpreter, ABI and C library the base image really has.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from harness.images import docker_cli
from harness.images.docker_cli import ImagesError, Lines

PROBE = (
    "import json, os, platform, sys; print(json.dumps({'python': list(sys.version_info[:2]),"
    " 'glibc': os.confstr('CS_GNU_LIBC_VERSION'), 'machine': platform.machine()}))"
)
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


@dataclass(frozen=True)
class Target:
    """What a wheel must fit: CPython major.minor, glibc version and CPU architecture."""

    python: tuple[int, int]
    glibc: tuple[int, int]
    machine: str

    @classmethod
    def from_probe(cls, text: str) -> Target:
        try:
            data = json.loads(text)
            libc = str(data["glibc"]).split()[-1]
            major, minor = (int(x) for x in libc.split(".")[:2])
            python = data["python"]
            return cls((int(python[0]), int(python[1])), (major, minor), str(data["machine"]))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ImagesError(f"cannot read the base image's Python probe: {text!r}") from exc

    @classmethod
    def host(cls) -> Target:
        return cls.from_probe(_probe_here())


def _probe_here() -> str:
    return json.dumps(
        {
            "python": list(sys.version_info[:2]),
            "glibc": os.confstr("CS_GNU_LIBC_VERSION") or "glibc 0.0",
            "machine": platform.machine(),
        }
    )


def probe_image(image: str) -> Target:
    """Ask the base image's ``python3`` what it is (one throwaway container, no network)."""
    return Target.from_probe(docker_cli.run_probe(image, "python3", ["-c", PROBE]))


@dataclass(frozen=True)
class WheelName:
    name: str
    version: str
    python: tuple[str, ...]
    abi: tuple[str, ...]
    platform: tuple[str, ...]


def parse_wheel_name(filename: str) -> WheelName:
    """``name-version[-build]-python-abi-platform.whl`` (PEP 427), compressed tag sets split."""
    if not filename.endswith(".whl"):
        raise ImagesError(f"{filename}: not a wheel file name")
    parts = filename[: -len(".whl")].split("-")
    if len(parts) not in (5, 6):
        raise ImagesError(f"{filename}: not a wheel file name (want 5 or 6 dash-separated parts)")
    py, abi, plat = parts[-3:]
    return WheelName(
        parts[0], parts[1], tuple(py.split(".")), tuple(abi.split(".")), tuple(plat.split("."))
    )


def _python_fits(tag: str, abi: str, target: Target) -> bool:
    major, minor = target.python
    if tag in (f"py{major}", f"py{major}{minor}", f"cp{major}{minor}"):
        return abi in ("none", "abi3", f"cp{major}{minor}")
    stable = re.fullmatch(rf"cp{major}(\d+)", tag)
    return bool(stable and abi == "abi3" and int(stable.group(1)) <= minor)


def _platform_fits(tag: str, target: Target, host: Target) -> bool:
    if tag == "any":
        return True
    if not tag.endswith("_" + target.machine):
        return False
    stem = tag[: -len(target.machine) - 1]
    if stem == "linux":  # built here from an sdist: it links the host's glibc
        return host.machine == target.machine and host.glibc <= target.glibc
    if stem in _LEGACY_MANYLINUX:
        return _LEGACY_MANYLINUX[stem] <= target.glibc
    versioned = re.fullmatch(r"manylinux_(\d+)_(\d+)", stem)
    return bool(versioned and (int(versioned.group(1)), int(versioned.group(2))) <= target.glibc)


def wheel_fits(filename: str, target: Target, host: Target) -> bool:
    """Whether pip in the image would install this wheel (any of its tag triples fits)."""
    wheel = parse_wheel_name(filename)
    return any(
        _python_fits(py, abi, target) and _platform_fits(plat, target, host)
        for py in wheel.python
        for abi in wheel.abi
        for plat in wheel.platform
    )


def check_wheels(wheel_dir: Path, target: Target, host: Target) -> list[str]:
    """The wheel file names in ``wheel_dir``; an error naming every one that would not fit."""
    names = sorted(p.name for p in wheel_dir.glob("*.whl"))
    if not names:
        raise ImagesError(f"{wheel_dir}: pip built no wheels")
    misfits = [name for name in names if not wheel_fits(name, target, host)]
    if misfits:
        raise ImagesError(
            f"wheels that do not fit the image's Python {target.python[0]}.{target.python[1]} "
            f"(glibc {target.glibc[0]}.{target.glibc[1]}, {target.machine}): {', '.join(misfits)}"
        )
    return names


def require_same_python(target: Target, host: Target) -> None:
    if target.python != host.python or target.machine != host.machine:
        raise ImagesError(
            f"the base image runs Python {target.python[0]}.{target.python[1]} on "
            f"{target.machine} but the host {host.python[0]}.{host.python[1]} on "
            f"{host.machine}: wheels built here would not fit (pass --base-image with a "
            f"Python {host.python[0]}.{host.python[1]} image)"
        )


def stage_sources(root: Path, files: list[str], dest: Path) -> Path:
    """Copy exactly the hashed files to ``dest``, so the wheel holds what the tag names."""
    shutil.rmtree(dest, ignore_errors=True)
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)
    return dest


def runtime_requirements(pyproject: Path) -> list[str]:
    """``[project] dependencies`` of pyproject.toml: what the image needs besides the project."""
    try:
        data = tomllib.loads(pyproject.read_text())
        deps = data["project"]["dependencies"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
        raise ImagesError(f"{pyproject}: cannot read [project] dependencies ({exc})") from exc
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise ImagesError(f"{pyproject}: [project] dependencies must be a list of strings")
    return sorted(deps)


def deps_key(requirements: list[str], target: Target) -> str:
    """Names the cached dependency wheels: same requirements and Python, same files."""
    text = "\n".join([*requirements, repr(target)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _pip_wheel(args: list[str], wheel_dir: Path, on_line: Lines, what: str) -> None:
    shutil.rmtree(wheel_dir, ignore_errors=True)
    wheel_dir.mkdir(parents=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        "--wheel-dir",
        str(wheel_dir),
        *args,
    ]
    docker_cli.stream(command, on_line, what=what)


def dependency_wheels(requirements: list[str], target: Target, cache: Path, on_line: Lines) -> Path:
    """Wheels of the runtime dependencies, built once per requirements and Python.

    The same files every time means Docker's cache keeps the dependency layer.
    """
    folder = cache / "deps" / deps_key(requirements, target)
    done = folder.with_name(folder.name + ".complete")
    if not done.exists():
        _pip_wheel(requirements, folder, on_line, "pip wheel of the dependencies")
        done.touch()
    return folder


def project_wheel(source: Path, wheel_dir: Path, on_line: Lines) -> None:
    """The project's own wheel (no dependencies) from the staged sources."""
    _pip_wheel(["--no-deps", str(source)], wheel_dir, on_line, "pip wheel of the project")
