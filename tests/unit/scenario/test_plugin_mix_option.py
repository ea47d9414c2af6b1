"""The pytest plugin's ``--mix``: handed to the fixtures, exclusive with ``--node``, named
in reproduce lines."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness.pytest_plugin import reproduce_test
from harness.scenario.results import ScenarioResult, reproduce_command

pytest_plugins = ["pytester"]
LOOP_SCOPE = "asyncio_default_fixture_loop_scope=function"

INNER = """
def test_mix(clp_mix):
    print("mix is", clp_mix)
"""


@pytest.mark.parametrize(
    ("argv", "mix"), [([], "None"), (["--mix", "python:3,rust:2"], "python:3,rust:2")]
)
def test_the_option_reaches_the_fixture(
    pytester: pytest.Pytester, argv: list[str], mix: str
) -> None:
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest("-s", "-p", "no:cacheprovider", "-o", LOOP_SCOPE, *argv)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*mix is {mix}*"])


def test_mix_with_node_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "-o", LOOP_SCOPE, "--mix", "rust:1", "--node", "rust"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*--mix and --node exclude each other*"])


def test_reproduce_lines_name_the_mix() -> None:
    options = {"--backend": "local", "--seed": 3, "--node": "python", "--mix": "python:3,rust:2"}
    item = SimpleNamespace(nodeid="t.py::x", config=SimpleNamespace(getoption=options.get))
    assert reproduce_test(item) == (  # type: ignore[arg-type]
        "pytest t.py::x --backend local --mix python:3,rust:2 --seed 3"
    )
    assert reproduce_command("a.toml", 1, "local", mix="python:1,rust:1").endswith(
        "--backend local --mix python:1,rust:1"
    )
    r = ScenarioResult("a", "a.toml", 1, "local", mix="rust:2", implementations={"v0": "rust"})
    again = ScenarioResult.from_json(r.to_json())
    assert again.mix == "rust:2" and again.implementations == {"v0": "rust"}
    assert again.reproduce.endswith("--mix rust:2")
