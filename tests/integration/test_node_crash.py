"""SIGKILL one validator for two whole epochs, then restart it from its data directory.

The chain uses the test profile except ``max_consecutive_failures``: two missed epochs are
16 missed challenges, which would eject the validator under the profile's 12, and this
test is about slashing and recovery (ejection is test_node_lazy's subject).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from integration_helpers import (
    challenge_heights,
    clp_config,
    fetch_blocks,
    log_events,
    logs_hint,
    running_cluster,
)

from clp_node.clp.types import ClpConfig
from harness.cluster.local import LocalBackend
from harness.cluster.testnet import DEFAULT_STAKE

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

VICTIM = "v1"
CLP = dataclasses.replace(ClpConfig.test_profile(), max_consecutive_failures=48)


@dataclass
class CrashRun:
    c: LocalBackend
    victim: str  # address
    own_height_at_kill: int  # the victim's height read just before SIGKILL
    missed_epochs: tuple[int, int]  # the two epochs it was down for from start to end
    restart_height: int  # the others' head when it was restarted
    caught_up_height: int  # its height once it had caught up


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def run(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CrashRun]:
    root = tmp_path_factory.mktemp("crash") / "net"
    async with running_cluster(root, clp=CLP, seed="crash") as c:
        cfg = clp_config(c)
        others = [n for n in c.names if n != VICTIM]
        # Kill after the victim answered epoch 0's last challenge (a clean epoch 0).
        last_ch0 = challenge_heights(cfg, 1, cfg.epoch_length)[-1]
        await c.wait_for_height(last_ch0 + 1, names=[VICTIM])
        own_height = await c.client(VICTIM).height()
        await c.kill(VICTIM)
        assert not c.is_running(VICTIM)
        head = max(h for h in (await c.heights(others)).values() if h is not None)
        kill_epoch = cfg.epoch_of(head)
        missed = (kill_epoch + 1, kill_epoch + 2)
        # The others go on without it past the end of the epoch after next.
        await c.wait_for_height(cfg.epoch_last_height(missed[1]), names=others)
        restart_height = max(h for h in (await c.heights(others)).values() if h is not None)
        await c.restart(VICTIM)
        # Catch up to the head the others had at restart; budget: that many blocks.
        caught = await c.wait_for_height(restart_height, names=[VICTIM])
        yield CrashRun(c, c.address(VICTIM), own_height, missed, restart_height, caught[VICTIM])


async def test_survivors_finalized_and_slashed_the_victim_identically(run: CrashRun) -> None:
    c, cfg = run.c, clp_config(run.c)
    others = [n for n in c.names if n != VICTIM]
    stake = DEFAULT_STAKE
    for e in run.missed_epochs:
        bodies = {}
        for n in others:
            resp = await c.client(n).request("GET", f"/alpha/clp/epoch/{e}")
            assert resp.status_code == 200, f"{n}: epoch {e}: {resp.status_code}{logs_hint(c)}"
            bodies[n] = resp.content
        assert len(set(bodies.values())) == 1, (
            f"epoch {e} served differently: {bodies}{logs_hint(c)}"
        )
        result = (await c.client(others[0]).epoch_result(e)) or {}
        hint = f" (epoch {e}: {result}){logs_hint(c)}"
        me = next(v for v in result["validators"] if v["address"] == run.victim)
        assert me["challenges"] == 8 and me["responses"] == 0, hint
        assert me["rate_bps"] == 0 and me["status"] == "slashed", hint
        assert me["slashed"] == stake * cfg.slash_fraction_bps // 10_000, hint
        stake -= me["slashed"]
        assert not result["systemic"] and result["ejected"] == [], hint
        for v in result["validators"]:
            if v["address"] != run.victim:
                assert v["status"] == "active" and v["slashed"] == 0, hint
    view = await c.client(others[0]).validator(run.victim)
    assert view["stake"] == stake and view["in_committee"], f"{view}{logs_hint(c)}"


async def test_restarted_node_replayed_its_data_dir(run: CrashRun) -> None:
    c = run.c
    replays = log_events(c, VICTIM, "node.replayed")
    assert len(replays) == 2, f"expected a start and a restart: {replays}{logs_hint(c, [VICTIM])}"
    assert replays[0]["height"] == 0
    replayed = replays[-1]["height"]
    # Every block it had finalized before the SIGKILL survived on disk.
    assert replayed >= run.own_height_at_kill > 0, (
        f"replayed {replayed}, had {run.own_height_at_kill} before the kill{logs_hint(c, [VICTIM])}"
    )


async def test_restarted_node_catches_up_and_agrees(run: CrashRun) -> None:
    c = run.c
    assert run.caught_up_height >= run.restart_height
    # Keeps tracking the head afterwards, with the same chain as the others.
    target = run.caught_up_height + 5
    await c.wait_for_height(target)
    mine = await fetch_blocks(c, VICTIM, 1, target)
    theirs = await fetch_blocks(c, "v0", 1, target)
    diverging = [h for h in mine if mine[h]["block"]["hash"] != theirs[h]["block"]["hash"]]
    assert not diverging, f"{VICTIM} diverges at {diverging[:5]}{logs_hint(c)}"
    # It serves the epochs it missed exactly as the others do (recomputed from the chain).
    for e in run.missed_epochs:
        a = await c.client(VICTIM).request("GET", f"/alpha/clp/epoch/{e}")
        b = await c.client("v0").request("GET", f"/alpha/clp/epoch/{e}")
        assert a.status_code == 200 and a.content == b.content, (
            f"epoch {e}: {a.text} vs {b.text}{logs_hint(c)}"
        )


async def test_responses_count_again_after_restart(run: CrashRun) -> None:
    c, cfg = run.c, clp_config(run.c)
    # The first epoch that starts after it had caught up.
    epoch = cfg.epoch_of(run.caught_up_height) + 1
    results = await c.wait_for_epoch_result(epoch)
    assert len({repr(r) for r in results.values()}) == 1, f"{results}{logs_hint(c)}"
    result = results["v0"]
    me = next(v for v in result["validators"] if v["address"] == run.victim)
    assert me["challenges"] == 8 and me["rate_bps"] == 10_000, f"{result}{logs_hint(c)}"
    assert me["status"] == "active" and me["slashed"] == 0, f"{result}{logs_hint(c)}"
    blocks = await fetch_blocks(c, "v0", run.restart_height + 1, cfg.epoch_last_height(epoch))
    answered = sorted(
        r["challenge_height"]
        for b in blocks.values()
        for r in b["block"]["responses"]
        if r["validator"] == run.victim
    )
    expected = challenge_heights(cfg, cfg.epoch_first_height(epoch), cfg.epoch_last_height(epoch))
    assert set(expected) <= set(answered), (
        f"{VICTIM} answered {answered} after restart, epoch {epoch} has {expected}{logs_hint(c)}"
    )
