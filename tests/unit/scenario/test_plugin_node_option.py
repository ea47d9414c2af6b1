"""The pytest plugin's ``--node``: parsed, handed to the fixtures, named in reproduce lines."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness import node_kinds, pytest_plugin
from harness.pytest_plugin import reproduce_test
from harness.scenario.results import ScenarioResult, reproduce_command

pytest_plugins = ["pytester"]
LOOP_SCOPE = "asyncio_default_fixture_loop_scope=function"  # as pyproject.toml sets it

INNER = """
def test_node(clp_node):
    print("node is", clp_node)
"""


def test_the_plugin_offers_the_registrys_kinds() -> None:
    assert tuple(node_kinds.KINDS) == pytest_plugin.NODE_KINDS
    assert pytest_plugin.DEFAULT_NODE == node_kinds.DEFAULT_KIND


@pytest.mark.parametrize(("argv", "kind"), [([], "python"), (["--node", "rust"], "rust")])
def test_the_option_reaches_the_fixture(
    pytester: pytest.Pytester, argv: list[str], kind: str
) -> None:
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest("-s", "-p", "no:cacheprovider", "-o", LOOP_SCOPE, *argv)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*node is {kind}*"])


def test_an_unknown_kind_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest("-p", "no:cacheprovider", "--node", "java")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--node*invalid choice*'java'*"])


def test_a_kind_that_cannot_run_fails_the_test_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing() -> str:
        raise node_kinds.NodeKindError("the Rust node is not built: make rust")

    monkeypatch.delenv(node_kinds.NODE_COMMAND_ENV, raising=False)
    monkeypatch.setattr(node_kinds, "rust_binary", missing)
    with (
        pytest.raises(pytest.fail.Exception, match=r"^--node rust: .*make rust$"),
        pytest_plugin.node_resolved("rust", "local"),
    ):
        pass


def _item(node: str) -> SimpleNamespace:
    options = {"--backend": "local", "--seed": 3, "--node": node}
    return SimpleNamespace(nodeid="t.py::x", config=SimpleNamespace(getoption=options.get))


def test_reproduce_lines_name_a_kind_that_is_not_the_default() -> None:
    assert reproduce_test(_item("rust")) == (  # type: ignore[arg-type]
        "pytest t.py::x --backend local --node rust --seed 3"
    )
    assert "--node" not in reproduce_test(_item("python"))  # type: ignore[arg-type]
    assert reproduce_command("a.toml", 1, "local", "rust").endswith("--backend local --node rust")
    assert "--node" not in reproduce_command("a.toml", 1, "local")
    r = ScenarioResult("a", "a.toml", 1, "docker", node="rust")
    assert ScenarioResult.from_json(r.to_json()).reproduce.endswith("--node rust")
