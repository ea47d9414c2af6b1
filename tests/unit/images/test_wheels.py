"""Which host-built wheels the image's Python accepts (PEP 425 tags, glibc, architecture)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.images.docker_cli import ImagesError
from harness.images.wheels import (
    Target,
    check_wheels,
    deps_key,
    parse_wheel_name,
    require_same_python,
    runtime_requirements,
    wheel_fits,
)

BOOKWORM = Target((3, 11), (2, 36), "x86_64")
HOST = Target((3, 11), (2, 36), "x86_64")


def test_parse_wheel_name_splits_compressed_tag_sets() -> None:
    wheel = parse_wheel_name(
        "PyNaCl-1.5.0-cp36-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    )
    assert (wheel.name, wheel.version) == ("PyNaCl", "1.5.0")
    assert wheel.python == ("cp36",) and wheel.abi == ("abi3",)
    assert wheel.platform == ("manylinux_2_17_x86_64", "manylinux2014_x86_64")
    assert parse_wheel_name("six-1.16.0-1-py2.py3-none-any.whl").python == ("py2", "py3")


@pytest.mark.parametrize("name", ["x.tar.gz", "x-1.0.whl", "a-b-c-d-e-f-g.whl"])
def test_bad_wheel_names_are_rejected(name: str) -> None:
    with pytest.raises(ImagesError, match="wheel file name"):
        parse_wheel_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "httpx-0.28.1-py3-none-any.whl",
        "six-1.16.0-py2.py3-none-any.whl",
        "aiohttp-3.9.5-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "PyNaCl-1.5.0-cp36-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "frozenlist-1.4.1-cp311-cp311-manylinux_2_5_x86_64.manylinux1_x86_64.whl",
        "cffi-1.17-cp311-cp311-manylinux_2_36_x86_64.whl",
        "future-1.0.0-py3-none-any.whl",
        "local-1.0-cp311-cp311-linux_x86_64.whl",
    ],
)
def test_wheels_that_fit_bookworm(name: str) -> None:
    assert wheel_fits(name, BOOKWORM, HOST)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("aiohttp-3.9.5-cp312-cp312-manylinux_2_17_x86_64.whl", "another Python"),
        ("x-1.0-cp311-cp311-manylinux_2_38_x86_64.whl", "a newer glibc"),
        ("x-1.0-cp311-cp311-manylinux_2_17_aarch64.whl", "another architecture"),
        ("x-1.0-cp311-cp311-musllinux_1_1_x86_64.whl", "musl"),
        ("x-1.0-cp312-abi3-manylinux_2_17_x86_64.whl", "a stable ABI newer than 3.11"),
        ("x-1.0-py2-none-any.whl", "Python 2 only"),
        ("x-1.0-cp311-cp311-win_amd64.whl", "Windows"),
    ],
)
def test_wheels_that_do_not_fit(name: str, why: str) -> None:
    assert not wheel_fits(name, BOOKWORM, HOST), why


def test_a_locally_built_wheel_needs_a_glibc_at_least_the_hosts() -> None:
    newer_host = Target((3, 11), (2, 39), "x86_64")
    assert not wheel_fits("local-1.0-cp311-cp311-linux_x86_64.whl", BOOKWORM, newer_host)


def test_check_wheels_names_every_misfit(tmp_path: Path) -> None:
    for name in ("ok-1-py3-none-any.whl", "bad-1-cp312-cp312-linux_x86_64.whl"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(ImagesError, match=r"bad-1-cp312-cp312-linux_x86_64\.whl") as err:
        check_wheels(tmp_path, BOOKWORM, HOST)
    assert "ok-1" not in str(err.value)


def test_check_wheels_refuses_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ImagesError, match="no wheels"):
        check_wheels(tmp_path, BOOKWORM, HOST)


def test_probe_output_is_read_and_bad_output_is_an_error() -> None:
    text = '{"python": [3, 11], "glibc": "glibc 2.36", "machine": "x86_64"}'
    assert Target.from_probe(text) == BOOKWORM
    with pytest.raises(ImagesError, match="probe"):
        Target.from_probe("Traceback ...")
    with pytest.raises(ImagesError, match="probe"):
        Target.from_probe('{"python": [3, 11], "machine": "x86_64"}')


def test_a_different_python_in_the_image_is_refused_with_advice() -> None:
    require_same_python(BOOKWORM, HOST)
    with pytest.raises(ImagesError, match=r"Python 3\.12 .*--base-image"):
        require_same_python(Target((3, 12), (2, 36), "x86_64"), HOST)


def test_runtime_requirements_come_from_pyproject(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["rich>=13", "aiohttp>=3.9"]\n')
    assert runtime_requirements(pyproject) == ["aiohttp>=3.9", "rich>=13"]
    pyproject.write_text('[project]\nname = "x"\n')
    with pytest.raises(ImagesError, match="dependencies"):
        runtime_requirements(pyproject)
    assert "pynacl>=1.5" in runtime_requirements(Path(__file__).parents[3] / "pyproject.toml")


def test_dependency_cache_key_follows_requirements_and_python() -> None:
    key = deps_key(["a", "b"], BOOKWORM)
    assert key == deps_key(["a", "b"], BOOKWORM)
    assert key != deps_key(["a", "b>=2"], BOOKWORM)
    assert key != deps_key(["a", "b"], Target((3, 12), (2, 36), "x86_64"))
