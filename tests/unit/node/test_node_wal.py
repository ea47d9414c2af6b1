"""The node's consensus WAL: what a validator signed survives a restart, lock included."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from clp_node.chain.block import Block
from clp_node.config import NodeConfig
from clp_node.consensus.types import Proposal, Vote, VoteType
from clp_node.node import ValidatorNode
from clp_node.store.sqlite import BlockStore
from clp_node.wire import encode_consensus


@pytest.fixture
def config(tmp_path: Path, kit: SimpleNamespace) -> NodeConfig:
    """Validator KEYS[0] of a 4-validator genesis; no peers, nothing is started."""
    return kit.node_config(tmp_path, kit.genesis([100_000] * 4), peers=0)


def boot(config: NodeConfig) -> ValidatorNode:
    """What ``run`` does before it opens sockets: replay the store, start the next height."""
    node = ValidatorNode(config)
    node.replay()
    node.driver.start_height()
    return node


def stop(node: ValidatorNode) -> None:
    """A SIGKILL as far as the store is concerned: nothing is flushed or cleaned up."""
    node.request_stop()  # pending round timers become no-ops
    node.store.close()


@pytest.fixture
async def locked(
    config: NodeConfig, kit: SimpleNamespace
) -> AsyncIterator[tuple[ValidatorNode, Block]]:
    """Height 1, round 0: KEYS[1] proposes, KEYS[1..2] prevote it, we precommit it (lock)."""
    node = boot(config)
    chain = node.genesis.chain_id
    proposer = kit.keys[1]
    assert node.core.status().proposer == proposer.address
    block = Block(chain, 1, node.state.head_hash, proposer.address, (), int(time.time() * 1000))
    p = Proposal.create(chain, 1, 0, block.hash, block, -1, proposer.address, proposer.sign)
    node._on_message(proposer.address, encode_consensus(p))
    for k in kit.keys[1:3]:
        v = Vote.create(chain, VoteType.PREVOTE, 1, 0, block.hash, k.address, k.sign)
        node._on_message(k.address, encode_consensus(v))
    assert node.core.status().locked_round == 0
    yield node, block
    stop(node)


async def test_restart_keeps_the_lock_and_the_valid_block(
    locked: tuple[ValidatorNode, Block], config: NodeConfig
) -> None:
    node, block = locked
    logged = node.store.signed_messages(1)
    assert sorted(m["msg"]["kind"] for m in logged) == ["proposal", "vote", "vote"]
    stop(node)
    restarted = boot(config)
    status = restarted.core.status()
    assert (status.height, status.locked_round, status.valid_round) == (1, 0, 0)
    own = restarted.core.own_messages()
    assert {(m.type, m.block_hash) for m in own if isinstance(m, Vote)} == {
        (VoteType.PREVOTE, block.hash),
        (VoteType.PRECOMMIT, block.hash),
    }
    stop(restarted)


async def test_a_conflicting_vote_never_leaves_even_after_restart(
    locked: tuple[ValidatorNode, Block], config: NodeConfig
) -> None:
    node, _ = locked
    stop(node)
    restarted = boot(config)
    me = restarted.key
    nil = Vote.create(
        restarted.genesis.chain_id, VoteType.PRECOMMIT, 1, 0, None, me.address, me.sign
    )
    assert restarted.votelog.admit(nil) is False
    stop(restarted)


async def test_committed_heights_leave_the_wal(
    locked: tuple[ValidatorNode, Block], config: NodeConfig
) -> None:
    node, _ = locked
    assert node.store.signed_messages(1)
    node.store.prune_signed(2)
    assert node.store.signed_messages(1) == []


def test_the_store_commits_without_fsync_but_in_wal_mode(tmp_path: Path) -> None:
    """WAL + synchronous=NORMAL: a commit is no fsync, and still survives a process crash."""
    store = BlockStore(tmp_path / "chain.sqlite")
    try:
        mode = store._db.execute("PRAGMA journal_mode").fetchone()[0]
        sync = store._db.execute("PRAGMA synchronous").fetchone()[0]
    finally:
        store.close()
    assert (mode, sync) == ("wal", 1)  # 1 is NORMAL


def test_what_a_killed_process_committed_is_there_on_restart(tmp_path: Path) -> None:
    """SIGKILL right after the writes, no close and no checkpoint: nothing is lost."""
    path = tmp_path / "chain.sqlite"
    writer = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from clp_node.store.sqlite import BlockStore
        s = BlockStore(Path({str(path)!r}))
        s.record_signed(1, 0, "prevote", "aa", {{"n": 1}})
        s.append(1, "ff", {{"height": 1}}, {{"height": 1}})
        s.record_signed(2, 0, "prevote", "bb", {{"n": 2}})
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", writer], check=False)
    assert proc.returncode == -signal.SIGKILL
    store = BlockStore(path)
    try:
        assert store.head_height() == 1
        assert store.signed_messages(1) == []  # pruned with block 1, in its transaction
        assert store.signed_messages(2) == [{"n": 2}]
    finally:
        store.close()
