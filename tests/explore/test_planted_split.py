"""The split check names a real divergence between two implementations of the node.

v4 runs a copy of clp_node/ with one planted difference, the others the real node: two
implementations by label (``python`` and ``planted`` in the fault state), one local
testnet. (a) From height HASH_FROM on the copy hashes blocks its own way: v4 (a fifth of
the stake) refuses every block from there on while connected to all, the others go on.
(b) The copy rounds slashes up: with v3 lazy through epoch 0, v4 slashes it one unit more.
The run's result.json and report.html must name the first divergent height or epoch and
the sides; v4 on an unpatched copy under the same label must pass. Slow (20-30 s each, a
testnet run): `make explore-power`.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_planted_bugs import patched_node

from harness.checks import collect_history, run_checks
from harness.checks.votes import VoteCollector
from harness.cluster.backends import init_for_backend, make_cluster
from harness.cluster.base import Cluster
from harness.contract.genesis import ConsensusParams
from harness.contract.params import ClpParams
from harness.faults.log import FaultRecord
from harness.faults.nemesis import Nemesis
from harness.faults.state import FaultState
from harness.report.build import write_report
from harness.scenario.results import CheckOutcome, ScenarioResult

pytestmark = pytest.mark.explore_power

NAMES = ["v0", "v1", "v2", "v3", "v4"]
PLANTED = "v4"
LABELS = {n: "planted" if n == PLANTED else "python" for n in NAMES}
HASH_FROM = 12
# What the split check needs to call v4's stall a divergence: a stall budget of the test
# profile (5 rounds of 1.4 s, + 2 s) and a redial, with a margin.
STALLED_S = 20.0


@dataclass(frozen=True)
class PlantedSplit:
    name: str
    file: str
    before: str
    after: str


HASH_RULE = PlantedSplit(
    name="block-hash-rule",
    file="clp_node/chain/block.py",
    before="        return hashlib.blake2b(self.canonical_bytes(), "
    "digest_size=HASH_BYTES).digest()\n",
    after="        salt = b'planted' if self.height >= " + str(HASH_FROM) + " else b''\n"
    "        return hashlib.blake2b(self.canonical_bytes() + salt, "
    "digest_size=HASH_BYTES).digest()\n",
)
SLASH_ROUNDING = PlantedSplit(
    name="slash-rounds-up",
    file="clp_node/clp/penalty.py",
    before="        amount = min(stake * self.config.slash_fraction_bps // BPS_MAX, stake)\n",
    after="        amount = min(-(-stake * self.config.slash_fraction_bps // BPS_MAX), stake)\n",
)


def labelled(faults: list[dict[str, Any]], t0: float) -> list[dict[str, Any]]:
    """The fault log with every state saying which implementation each validator ran, and
    a first record (at the start) giving the initial ones."""
    start = FaultRecord(0, "start", {}, 0, t0, t0, FaultState(implementations=LABELS))
    out = [start.to_json()]
    for seq, raw in enumerate(faults, start=1):
        rec = json.loads(json.dumps(raw))
        rec["seq"] = seq
        rec["state"]["implementations"] = dict(LABELS)
        out.append(rec)
    return out


async def run_mixed(
    bug: PlantedSplit,
    root: Path,
    stakes: list[int] | None,
    drive: Callable[[Cluster, Nemesis], Awaitable[None]],
) -> tuple[dict[str, Any], str]:
    """A local testnet with v4 on the planted copy; result.json and report.html of it."""
    node = patched_node(bug, root)  # type: ignore[arg-type]  # the same patch fields
    manifest = init_for_backend(
        "local",
        root / "testnet",
        nodes=["python"] * len(NAMES),
        validators=len(NAMES),
        clp=ClpParams.test_profile(),
        consensus=ConsensusParams.test_profile(),
        stakes=stakes,
        seed="1",
    )
    run = root / "run"
    cluster = make_cluster("local", manifest, run / "logs")
    # the planted copy first on v4's path (the console script: ``python -m`` would put the
    # working folder, perhaps the repository, before it); the others keep the real node
    script = Path(sys.executable).with_name("clp-node")
    cluster.node_commands[PLANTED] = (  # type: ignore[attr-defined]
        f"env PYTHONPATH={shlex.quote(str(node))} {shlex.quote(str(script))} --config {{config}}"
    )
    t0 = time.time()
    await cluster.start()
    try:
        nemesis = Nemesis(cluster, cluster.fault_api())
        await drive(cluster, nemesis)
        faults = labelled(nemesis.log.to_json(), t0)
        history = await collect_history(cluster, faults, VoteCollector(NAMES))
    finally:
        await cluster.shutdown()
    checks = run_checks(history)
    result = ScenarioResult(bug.name, f"{bug.name}.toml", 1, "local", out_dir=str(run))
    result.checks = [CheckOutcome(r.name, r.verdict, list(r.evidence)) for r in checks]
    result.fault_log = faults
    result.logs = {n: cluster.log_path(n) for n in NAMES}
    result.finish()
    result.save(run / "result.json")
    (run / "history.json").write_text(json.dumps(history.to_json()) + "\n")
    page = write_report(run).read_text()
    data = json.loads((run / "result.json").read_text())
    (split,) = [c for c in data["checks"] if c["name"] == "split"]
    return split, page


async def past_the_hash_rule(cluster: Cluster, nemesis: Nemesis) -> None:
    """The real nodes reach HASH_FROM; then long enough for a stall there to count (what v4
    does is the split check's to judge)."""
    python = [n for n in NAMES if n != PLANTED]
    await cluster.wait_for_height(HASH_FROM, python, timeout=60)
    await asyncio.sleep(STALLED_S)


async def test_a_different_block_hash_rule_is_a_split_at_its_first_height(
    tmp_path: Path,
) -> None:
    split, page = await run_mixed(HASH_RULE, tmp_path, None, past_the_hash_rule)
    assert split["verdict"] == "fail", split
    first = split["evidence"][0]
    assert first.startswith(
        f"first divergent height {HASH_FROM}: python (v0 v1 v2 v3) finalized it, "
        f"planted (v4) stalled at {HASH_FROM - 1}: v4 connected"
    ), first
    assert "planted holds 100000 of 500000 (v4); python holds 400000 of 500000" in first
    banner = page[page.index('<section id="split">') : page.index("</section>")]
    assert f"first divergent height {HASH_FROM}: python (v0 v1 v2 v3) finalized it" in banner
    assert "planted holds 100000 of 500000 (v4)" in banner


async def test_a_different_slash_rounding_is_a_split_at_its_first_epoch(tmp_path: Path) -> None:
    async def drive(cluster: Cluster, nemesis: Nemesis) -> None:
        await nemesis.apply("lazy", node="v3")
        await cluster.wait_for_epoch_result(0, timeout=90)

    stakes = [22224, 22223, 22223, 16665, 16665]  # v3 slashed 1666.5: rounding decides
    split, page = await run_mixed(SLASH_ROUNDING, tmp_path, stakes, drive)
    assert split["verdict"] == "fail", split
    (epoch,) = [e for e in split["evidence"] if e.startswith("first divergent epoch")]
    assert epoch.startswith("first divergent epoch 0: its result differs"), epoch
    assert "validators.v3.slashed: python v0 v1 v2 v3 = 1666; planted v4 = 1667" in epoch
    assert "sides in epoch 0: planted holds 16665 of 100000 (v4); python holds 83335" in epoch
    banner = page[page.index('<section id="split">') : page.index("</section>")]
    assert "first divergent epoch 0" in banner and "planted v4 = 1667" in banner


async def test_the_same_node_under_two_labels_is_no_split(tmp_path: Path) -> None:
    """The control: v4 on an unpatched copy, labelled ``planted`` all the same."""
    unchanged = PlantedSplit("no-plant", HASH_RULE.file, HASH_RULE.before, HASH_RULE.before)
    split, page = await run_mixed(unchanged, tmp_path, None, past_the_hash_rule)
    assert split["verdict"] == "pass", split
    assert "at the start: planted v4; python v0 v1 v2 v3" in split["evidence"][0]
    assert 'id="split"' not in page
