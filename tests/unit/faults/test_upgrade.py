"""The ``upgrade`` kind: the node kinds in the fault state, what the record says, what the
cluster is asked (keep the data for the same kind, wipe it for the other)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from harness.cluster.base import wait_until
from harness.faults import kinds
from harness.faults.errors import FaultError, FieldError
from harness.faults.nemesis import Nemesis
from harness.faults.state import FaultState

NAMES = ["v0", "v1", "v2"]
START = {"v0": "python", "v1": "rust", "v2": "python"}


class FakeClient:
    async def height(self) -> int:
        return 9


class UpgradeCluster:
    """Records the kills and upgrades asked of it; the chain grows a block per question."""

    def __init__(self) -> None:
        self.names = list(NAMES)
        self.upgrades: list[tuple[str, str, bool, str | None, str | None]] = []
        self.killed: list[tuple[str, int]] = []  # (node, chain height then)
        self.height = 9
        self.clock = SimpleNamespace(blocks=lambda n: 5.0)

    def implementations(self) -> dict[str, str]:
        return dict(START)

    async def heights(self, names: list[str] | None = None) -> dict[str, int | None]:
        self.height += 1
        return dict.fromkeys(names or self.names, self.height)

    async def kill(self, name: str) -> None:
        self.killed.append((name, self.height))

    async def wait_for(self, predicate: Any, timeout: float, what: str) -> Any:
        return await wait_until(predicate, timeout, what, interval=0.0)

    async def upgrade(
        self,
        name: str,
        kind: str,
        keep_data: bool,
        command: str | None = None,
        image: str | None = None,
    ) -> None:
        self.upgrades.append((name, kind, keep_data, command, image))


@pytest.fixture
def env() -> tuple[Nemesis, UpgradeCluster]:
    cluster = UpgradeCluster()
    return Nemesis(cluster, None), cluster  # type: ignore[arg-type]


def test_before_any_fault_the_state_holds_the_kinds_the_nodes_started_as(env: Any) -> None:
    nemesis, _ = env
    assert nemesis.state.implementations == START and nemesis.state.empty


async def test_an_upgrade_to_the_other_kind_wipes_and_is_recorded(env: Any) -> None:
    nemesis, cluster = env
    record = await nemesis.apply("upgrade", node="v0", to="rust")
    assert cluster.upgrades == [("v0", "rust", False, None, None)]
    # stopped first; started again only once the chain is two heights past where it was
    ((killed, then),) = cluster.killed
    assert killed == "v0" and cluster.height >= then + 2
    assert record.state.implementations == {**START, "v0": "rust"}
    assert record.args == {"node": "v0", "to": "rust", "from": "python"}
    assert record.state.empty  # a node's kind is no fault: nothing for reset to undo
    assert record.to_json()["state"]["implementations"] == {**START, "v0": "rust"}


async def test_an_upgrade_within_a_kind_keeps_the_data(env: Any) -> None:
    nemesis, cluster = env
    await nemesis.apply("upgrade", node="v1", to="rust", node_command="new-build --config {config}")
    assert cluster.upgrades == [("v1", "rust", True, "new-build --config {config}", None)]


async def test_the_kinds_survive_reset_and_later_faults(env: Any) -> None:
    nemesis, _ = env
    await nemesis.apply("upgrade", node="v2", to="rust")
    nemesis.api = None
    after = kinds.get("kill").effect(
        nemesis.state, kinds.get("kill").request({"node": "v0"}, NAMES)
    )
    assert after.implementations["v2"] == "rust"
    healed = kinds.get("reset").effect(after, kinds.get("reset").request({}, NAMES))
    assert healed == FaultState(implementations={**START, "v2": "rust"})


async def test_a_from_that_is_not_the_nodes_kind_is_refused(env: Any) -> None:
    nemesis, cluster = env
    with pytest.raises(FaultError, match="v1 runs the rust node, not python"):
        await nemesis.apply("upgrade", node="v1", to="python", **{"from": "python"})
    assert cluster.upgrades == [] and nemesis.log.records == []
    record = await nemesis.apply("upgrade", node="v1", to="python", **{"from": "rust"})
    assert record.args["from"] == "rust" and cluster.upgrades[0][:3] == ("v1", "python", False)


def test_the_upgrade_clears_the_nodes_process_faults_like_a_restart() -> None:
    state = (
        FaultState(implementations=dict(START))
        .with_process("v0", killed=True, paused=False)
        .with_hook("v0", lazy=True)
        .with_loss("v0", 0.5)
    )
    kind = kinds.get("upgrade")
    after = kind.effect(state, kind.request({"node": "v0", "to": "rust"}, NAMES))
    assert after == FaultState(implementations={**START, "v0": "rust"})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"node": "v0"}, "field 'to': required by \"upgrade\", missing"),
        ({"node": "v0", "to": "java"}, "field 'to': want a node kind (python, rust), got \"java\""),
        ({"node": "v9", "to": "rust"}, "field 'node': want a node name"),
        ({"node": "v0", "to": "rust", "node_image": ""}, "field 'node_image': want a non-empty"),
    ],
)
def test_bad_upgrades_are_refused_before_anything(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(FieldError) as err:
        kinds.get("upgrade").request(raw, NAMES)
    assert message in str(err.value)


def test_states_without_kinds_still_load() -> None:
    """Logs written before the kinds were recorded: no implementations, nothing else lost."""
    state = FaultState.from_json({"links_down": ["v0_to_v1"], "killed": ["v2"]})
    assert state.implementations == {} and state.killed == {"v2"}
    again = FaultState.from_json(FaultState(implementations=START).to_json())
    assert again.implementations == START
