"""The registry walk, without a cluster: every fault kind parses from a scenario and from
the command line to the same request, is documented, and moves the fault state as it
declares (and its ``undone_by`` takes it back). The walk on a running local testnet is
``tests/integration/test_fault_kinds.py``.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from harness.cli import build_parser
from harness.cluster.backends import BACKENDS
from harness.commands.fault import raw_fields
from harness.faults import docs
from harness.faults.errors import FieldError
from harness.faults.kinds import KINDS, RENAMED, get
from harness.faults.kinds._toxic import ToxicKind
from harness.faults.kinds.base import FaultKind, Request
from harness.faults.state import FaultState
from harness.scenario.parse import ScenarioError, parse_text
from harness.toxiproxy.toxics import KINDS as SERVER_TOXICS

NAMES = ["v0", "v1", "v2", "v3"]
ROOT = Path(__file__).resolve().parents[3]
ALL = sorted(KINDS)


def cli_request(kind: FaultKind, argv: list[str] | None = None) -> Request:
    words = shlex.split(kind.example) if argv is None else argv
    args = build_parser().parse_args(["fault", "--dir", "net", kind.cli_name, *words])
    assert args.kind == kind.name
    return kind.request(raw_fields(kind, args), NAMES)


def scenario_step(kind: str, fields: dict[str, Any]) -> str:
    doc = {
        "name": "walk",
        "cluster": {"validators": len(NAMES)},
        "run": {"until_epoch": 0},
        "steps": [{"at": {"height": 2}, "do": kind, **fields}],
    }
    return tomli_w.dumps(doc)


@pytest.mark.parametrize("name", ALL)
def test_every_kind_parses_alike_from_the_cli_and_a_scenario(name: str) -> None:
    kind = KINDS[name]
    from_cli = cli_request(kind)
    raw = {k: v for k, v in from_cli.args.items()}
    (step,) = parse_text(scenario_step(name, raw), "walk.toml").steps
    assert step.action.kind == name
    assert dict(step.action.args) == dict(from_cli.args)


@pytest.mark.parametrize("name", ALL)
def test_every_kind_moves_the_state_and_its_undo_takes_it_back(name: str) -> None:
    kind = KINDS[name]
    req = cli_request(kind)
    after = kind.effect(FaultState(), req)
    if kind.undone_by is None:  # the undoing kinds: nothing to undo on an empty state
        assert after.empty, after
        return
    assert not after.empty, f"{name} declares no effect"
    undo = KINDS[kind.undone_by]
    back = undo.effect(after, undo.request(kind.undo_args(req.args, undo), NAMES))
    assert back.empty, back
    assert KINDS["reset"].effect(after, KINDS["reset"].request({}, NAMES)).empty
    assert FaultState.from_json(after.to_json()) == after  # what the log holds is the state


@pytest.mark.parametrize("name", ALL)
def test_every_kind_is_described(name: str) -> None:
    kind = KINDS[name]
    assert kind.summary and kind.changes and kind.group
    assert kind.undone_by is None or kind.undone_by in KINDS
    assert set(kind.backends) <= set(BACKENDS)
    for f in kind.fields:
        assert f.help, f"{name}.{f.name} has no help"


def test_toxic_kinds_cover_every_toxiproxy_toxic_and_the_server_has_them() -> None:
    toxic_types = {k.toxic_type for k in KINDS.values() if isinstance(k, ToxicKind)}
    assert toxic_types == {t for t in SERVER_TOXICS if t != "noop"}


def test_docs_list_every_kind_as_the_registry_says() -> None:
    text = (ROOT / "docs" / "faults.md").read_text()
    assert text == docs.render(), "docs/faults.md is stale: python -m harness.faults.docs"
    for name in KINDS:
        assert f"| `{name}` |" in text


@pytest.mark.parametrize("old", sorted(RENAMED))
def test_old_spellings_name_the_new_one(old: str) -> None:
    new = RENAMED[old]
    if old.replace("-", "_") in KINDS:  # a CLI spelling of a kind: it still works
        assert get(old).name == new
        return
    with pytest.raises(ScenarioError, match=f'"{old}" is now called "{new}"'):
        parse_text(scenario_step(old, {}), "walk.toml")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["latency", "v1", "--ms", "x"], "field 'ms': want an integer >= 0, got \"x\""),
        (["latency", "--link", "v0,v0", "--ms", "1"], "field 'link': want two different nodes"),
        (["packet-loss", "v1", "--probability", "2"], "field 'probability': want a number"),
        (["clock-offset", "v1", "--ms", "4000000"], "in -3600000..3600000"),
        # the official server panics on these (Shopify/toxiproxy#541)
        (["slicer", "v1", "--average-size", "19", "--size-variation", "33"], "less than"),
        (["slicer", "v1", "--average-size", "8", "--size-variation", "8"], "less than"),
        (["slicer", "v1", "--average-size", "0"], "field 'average_size': want at least 1"),
    ],
)
def test_cli_and_scenario_say_the_same_about_a_bad_field(argv: list[str], message: str) -> None:
    kind = get(argv[0])
    with pytest.raises(FieldError, match=message.replace("(", r"\(")) as cli_error:
        cli_request(kind, argv[1:])
    raw = {k: v for k, v in raw_fields(kind, _parsed(kind, argv[1:])).items()}
    with pytest.raises(ScenarioError) as scenario_error:
        parse_text(scenario_step(kind.name, raw), "walk.toml")
    message_alone = cli_error.value.message
    assert f"field 'steps[0].{cli_error.value.path[0]}': {message_alone}" in str(
        scenario_error.value
    )


def _parsed(kind: FaultKind, words: list[str]) -> Any:
    return build_parser().parse_args(["fault", "--dir", "net", kind.cli_name, *words])
