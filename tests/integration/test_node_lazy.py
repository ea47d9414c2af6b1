"""A validator that stops answering challenges but keeps voting (test hook ``lazy``).

Test profile: E=20, K=2, W=4 -> 8 challenges per epoch; max_consecutive_failures=12.
The hook goes on after the last challenge of epoch 0, so the lazy validator misses every
challenge of epoch S (=1): rate 0 -> slashed, 8 consecutive failures (< 12, kept). In epoch
S+1 it reaches 16 >= 12 -> ejected (cap min((5-1)//3, 5-4) = 1 allows exactly one), and
from epoch S+2 on the committee has 4 members and the lazy node only follows the chain.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from integration_helpers import (
    challenge_heights,
    check_certificate,
    clp_config,
    committee_stakes,
    fetch_blocks,
    genesis_of,
    logs_hint,
    running_cluster,
)

from harness.cluster.local import LocalBackend
from harness.cluster.testnet import DEFAULT_STAKE

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

LAZY = "v2"


@dataclass
class LazyRun:
    c: LocalBackend
    lazy: str  # address
    set_at: int  # the lazy node's height right after the hook was switched on
    slash_epoch: int  # first epoch none of whose challenges it can have answered
    results: dict[int, dict[str, dict[str, Any]]]  # epoch -> node -> served result


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def run(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LazyRun]:
    async with running_cluster(tmp_path_factory.mktemp("lazy") / "net", seed="lazy") as c:
        cfg = clp_config(c)
        # After the lazy node has finalized (and so answered) epoch 0's last challenge.
        last_ch0 = challenge_heights(cfg, 1, cfg.epoch_length)[-1]
        await c.wait_for_height(last_ch0 + 1, names=[LAZY])
        faults = await c.client(LAZY).set_faults(lazy=True)
        assert faults["lazy"] is True, faults
        set_at = await c.client(LAZY).height()
        # The lazy node answers a challenge when it finalizes the challenge block, so every
        # challenge at a height > set_at goes unanswered.
        slash_epoch = next(
            e
            for e in range(100)
            if challenge_heights(cfg, cfg.epoch_first_height(e), cfg.epoch_last_height(e))[0]
            > set_at
        )
        missed_before = [
            h for h in challenge_heights(cfg, set_at + 1, cfg.epoch_last_height(slash_epoch - 1))
        ]
        # With >= 4 misses before epoch S the ejection would already come at S's end.
        assert len(missed_before) < 4, f"hook switched on too late (height {set_at})"
        results = {}
        for e in (slash_epoch, slash_epoch + 1):
            results[e] = await c.wait_for_epoch_result(e)
        yield LazyRun(c, c.address(LAZY), set_at, slash_epoch, results)


def _outcome(result: dict[str, Any], address: str) -> dict[str, Any]:
    return next(v for v in result["validators"] if v["address"] == address)


async def test_epoch_results_identical_on_every_node(run: LazyRun) -> None:
    for e, per_node in run.results.items():
        distinct = {repr(r) for r in per_node.values()}
        assert len(distinct) == 1, f"epoch {e} results differ: {per_node}{logs_hint(run.c)}"


async def test_lazy_validator_slashed_at_first_epoch_end_not_yet_ejected(run: LazyRun) -> None:
    c, e = run.c, run.slash_epoch
    result = run.results[e]["v0"]
    me = _outcome(result, run.lazy)
    hint = f" (epoch {e}: {result}){logs_hint(c)}"
    assert me["challenges"] == 8 and me["responses"] == 0 and me["rate_bps"] == 0, hint
    assert me["status"] == "slashed", hint
    bps = clp_config(c).slash_fraction_bps
    assert me["slashed"] == DEFAULT_STAKE * bps // 10_000, hint
    assert result["ejected"] == [] and not result["systemic"], hint
    assert run.lazy in result["next_committee"] and len(result["next_committee"]) == 5, hint
    for other in result["validators"]:
        if other["address"] != run.lazy:
            assert other["status"] == "active" and other["slashed"] == 0, hint


async def test_lazy_validator_ejected_at_second_epoch_end(run: LazyRun) -> None:
    c, e = run.c, run.slash_epoch + 1
    result = run.results[e]["v0"]
    me = _outcome(result, run.lazy)
    hint = f" (epoch {e}: {result}){logs_hint(c)}"
    assert me["rate_bps"] == 0 and me["status"] == "ejected", hint
    assert result["ejected"] == [run.lazy], hint
    assert len(result["next_committee"]) == 4 and run.lazy not in result["next_committee"], hint
    # Slashed again (§7: a share of the stake left after the first slash), all of it burned.
    bps = clp_config(c).slash_fraction_bps
    first = DEFAULT_STAKE * bps // 10_000
    assert me["slashed"] == (DEFAULT_STAKE - first) * bps // 10_000, hint
    assert result["burned_total"] == first + me["slashed"], hint

    for n in c.names:
        committee = await c.client(n).committee(e + 1)
        assert committee is not None, f"{n} knows no committee of epoch {e + 1}{logs_hint(c)}"
        members = [m["address"] for m in committee["members"]]
        assert len(members) == 4 and run.lazy not in members, (
            f"{n}: committee of epoch {e + 1} is {members}{logs_hint(c)}"
        )
        view = await c.client(n).validator(run.lazy)
        assert view["status"] == "ejected" and view["in_committee"] is False, (
            f"{n}: {view}{logs_hint(c)}"
        )
        assert view["ejected_at_epoch"] == e, f"{n}: {view}{logs_hint(c)}"


async def test_ejected_validator_signs_nothing_and_keeps_following(run: LazyRun) -> None:
    c, cfg = run.c, clp_config(run.c)
    after = run.slash_epoch + 2
    lo, hi = cfg.epoch_first_height(after), cfg.epoch_last_height(after)
    # Every node, the ejected one included, finalizes the whole next epoch.
    await c.wait_for_height(hi)
    genesis = genesis_of(c)
    stakes = await committee_stakes(c, "v0", after)
    assert run.lazy not in stakes
    blocks = await fetch_blocks(c, "v0", lo, hi)
    problems = []
    for h, entry in sorted(blocks.items()):
        signers = {v["validator"] for v in entry["certificate"]["votes"]}
        if run.lazy in signers:
            problems.append(f"h{h}: ejected validator signed the commit certificate")
        if entry["block"]["proposer"] == run.lazy:
            problems.append(f"h{h}: ejected validator proposed the block")
        if any(r["validator"] == run.lazy for r in entry["block"]["responses"]):
            problems.append(f"h{h}: a response of the ejected validator was included")
        problems += check_certificate(genesis, h, entry, stakes)
    assert not problems, "\n".join(problems) + logs_hint(c)

    # Contrast: while still a member (lazy but voting) its precommits did reach certificates,
    # so the absence above is the ejection, not a node that never signs anything.
    before = await fetch_blocks(
        c, "v0", cfg.epoch_first_height(run.slash_epoch), cfg.epoch_last_height(run.slash_epoch + 1)
    )
    signed_before = sum(
        run.lazy in {v["validator"] for v in b["certificate"]["votes"]} for b in before.values()
    )
    assert signed_before > 0, f"lazy validator never signed while a member{logs_hint(c)}"

    # It follows: same blocks as the others over the epoch after its ejection.
    mine = await fetch_blocks(c, LAZY, lo, hi)
    diverging = [h for h in blocks if mine[h]["block"]["hash"] != blocks[h]["block"]["hash"]]
    assert not diverging, f"{LAZY} diverges at {diverging}{logs_hint(c)}"
    heights = await c.heights()
    mine_h = heights[LAZY]
    others = [h for n, h in heights.items() if n != LAZY and h is not None]
    assert mine_h is not None and mine_h >= min(others) - cfg.response_window, (
        f"{LAZY} lags: {heights}{logs_hint(c)}"
    )
