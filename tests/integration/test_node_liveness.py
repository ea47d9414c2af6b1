"""Five healthy validators: progress, agreement, complete CLP answers, valid certificates."""

from __future__ import annotations

import os
import time
from collections import Counter
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
    response_inclusion,
    responses_by_challenge,
    running_cluster,
)

from harness.cluster.base import WaitTimeout
from harness.cluster.local import LocalBackend, node_nice

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

TARGET = 100
DEADLINE_S = 60.0


@dataclass
class Run:
    c: LocalBackend
    started: float  # monotonic time just before the first node was spawned


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def run(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Run]:
    started = time.monotonic()
    async with running_cluster(tmp_path_factory.mktemp("liveness") / "net", seed="live") as c:
        yield Run(c, started)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chains(run: Run) -> dict[str, dict[int, dict[str, Any]]]:
    """Blocks 1..TARGET as served by every node (after all of them reached TARGET)."""
    c = run.c
    await c.wait_for_height(TARGET, timeout=DEADLINE_S * 2)
    return {n: await fetch_blocks(c, n, 1, TARGET) for n in c.names}


async def test_five_validators_reach_height_100_within_60s(run: Run) -> None:
    c = run.c
    remaining = DEADLINE_S - (time.monotonic() - run.started)
    try:
        await c.wait_for_height(TARGET, timeout=max(remaining, 0.1))
    except WaitTimeout as exc:
        heights = await c.heights()
        pytest.fail(f"not all at {TARGET} within {DEADLINE_S}s: {heights} ({exc}){logs_hint(c)}")
    elapsed = time.monotonic() - run.started
    assert elapsed <= DEADLINE_S, f"height {TARGET} took {elapsed:.1f}s{logs_hint(c)}"


async def test_nodes_run_nicer_than_the_harness(run: Run) -> None:
    """So that on a loaded machine the harness keeps protocol time (README, local backend)."""
    want = min(19, os.getpriority(os.PRIO_PROCESS, 0) + node_nice())
    for n in run.c.names:
        pid = run.c.pid(n)
        assert pid is not None, f"{n} is not running{logs_hint(run.c)}"
        assert os.getpriority(os.PRIO_PROCESS, pid) == want, f"{n} runs at another priority"


async def test_finalized_chains_identical(
    run: Run, chains: dict[str, dict[int, dict[str, Any]]]
) -> None:
    c = run.c
    reference = chains[c.names[0]]
    diverging = [
        (n, h, b["block"]["hash"], reference[h]["block"]["hash"])
        for n, blocks in chains.items()
        for h, b in sorted(blocks.items())
        if b["block"]["hash"] != reference[h]["block"]["hash"]
    ]
    assert not diverging, (
        f"chains diverge (node, height, hash, v0's): {diverging[:5]}{logs_hint(c)}"
    )
    # Hash links: each block's parent is the previous block (the hash is recomputed by the
    # node on parse, so equal hashes at every height mean one chain, not five lists).
    genesis_hash = genesis_of(c).hash().hex()
    for h in range(1, TARGET + 1):
        parent = reference[h]["block"]["parent_hash"]
        want = genesis_hash if h == 1 else reference[h - 1]["block"]["hash"]
        assert parent == want, f"block {h}'s parent is {parent}, want {want}{logs_hint(c)}"
        assert reference[h]["block"]["height"] == h


async def test_every_challenge_answered_by_every_validator_on_chain(
    run: Run, chains: dict[str, dict[int, dict[str, Any]]]
) -> None:
    c = run.c
    cfg = clp_config(c)
    blocks = chains[c.names[0]]
    members = sorted(n.address for n in c.manifest.nodes)
    heights = challenge_heights(cfg, 1, TARGET - cfg.response_window)
    # Test profile: K=2, W=4, E=20 -> 8 challenges per epoch (h = 2..16 of each epoch).
    assert len(heights) == (TARGET // cfg.epoch_length) * 8, heights
    counts = responses_by_challenge(blocks)
    incl = response_inclusion(blocks)
    problems = []
    for h in heights:
        got = counts.get(h, Counter())
        missing = [c.name_of(a) for a in members if got.get(a, 0) == 0]
        doubled = [c.name_of(a) for a in members if got.get(a, 0) > 1]
        if missing or doubled:
            problems.append(f"challenge {h}: missing {missing}, included twice {doubled}")
        for a in members:
            for b in incl.get((h, a), []):
                if not h < b <= h + cfg.response_window:
                    problems.append(f"challenge {h}: {c.name_of(a)}'s response in block {b}")
    strays = sorted(set(counts) - set(heights))
    assert not strays, f"responses to heights without a challenge: {strays}{logs_hint(c)}"
    assert not problems, "\n".join(problems) + logs_hint(c)


async def test_every_block_carries_a_supermajority_certificate(
    run: Run, chains: dict[str, dict[int, dict[str, Any]]]
) -> None:
    c = run.c
    cfg = clp_config(c)
    genesis = genesis_of(c)
    stakes_by_epoch = {
        e: await committee_stakes(c, c.names[0], e) for e in range(TARGET // cfg.epoch_length)
    }
    problems = []
    for n, blocks in chains.items():
        for h, entry in sorted(blocks.items()):
            stakes = stakes_by_epoch[cfg.epoch_of(h)]
            problems += [f"{n} {p}" for p in check_certificate(genesis, h, entry, stakes)]
    assert not problems, "\n".join(problems[:20]) + logs_hint(c)
