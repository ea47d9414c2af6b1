"""Shared helpers for the CLP / chain unit tests: deterministic keys, genesis, a block driver."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace

import pytest

from clp_node.chain.block import Block
from clp_node.chain.genesis import ConsensusParams, Genesis, GenesisValidator
from clp_node.chain.keys import ValidatorKey
from clp_node.chain.state import AppliedBlock, ChainState
from clp_node.clp.types import ClpChallenge, ClpConfig
from clp_node.config import HostPort, NodeConfig, PeerConfig

# 12 deterministic keys, sorted by address so KEYS[i].address < KEYS[i + 1].address.
KEYS = sorted(
    (ValidatorKey.from_seed_text(f"unit-v{i}") for i in range(12)), key=lambda k: k.address
)
ADDRS = [k.address for k in KEYS]
KEY_BY_ADDR = dict(zip(ADDRS, KEYS, strict=True))

# answer(challenge, address) -> inclusion delay in 1..W, or None for "never answers".
Answer = Callable[[ClpChallenge, str], int | None]


def make_genesis(
    stakes: Sequence[int], clp: ClpConfig | None = None, chain_id: str = "t"
) -> Genesis:
    """Validators KEYS[0..len(stakes)) with the given stakes (address order = index order)."""
    return Genesis(
        chain_id,
        clp or ClpConfig.test_profile(),
        ConsensusParams.test_profile(),
        tuple(
            GenesisValidator(f"v{i}", KEYS[i].address, KEYS[i].public_key, s)
            for i, s in enumerate(stakes)
        ),
    )


class Driver:
    """Feeds a ChainState real blocks; committee members answer challenges as ``answer`` says."""

    def __init__(self, genesis: Genesis) -> None:
        self.state = ChainState(genesis)
        self.pending: list[tuple[int, object]] = []  # (inclusion height, ClpResponse)
        self.blocks: list[Block] = []

    def make_block(self, proposer: str | None = None) -> Block:
        s = self.state
        h = s.next_height
        members = sorted(s.committee_for_height(h) or {})
        responses = tuple(sorted(r for at, r in self.pending if at == h))
        return Block(s.chain_id, h, s.head_hash, proposer or members[h % len(members)], responses)

    def step(self, answer: Answer | None = None) -> AppliedBlock:
        block = self.make_block()
        applied = self.state.apply_block(block)
        self.blocks.append(block)
        self.pending = [(at, r) for at, r in self.pending if at > block.height]
        ch = applied.challenge
        if ch is not None:
            for addr in ch.expected:
                delay = 1 if answer is None else answer(ch, addr)
                if delay is not None:
                    r = self.state.clp.handler.create_response(KEY_BY_ADDR[addr], ch)
                    self.pending.append((ch.height + delay, r))
        return applied

    def run_to(self, height: int, answer: Answer | None = None) -> list[AppliedBlock]:
        return [self.step(answer) for _ in range(height - self.state.height)]


def lazy(*addresses: str) -> Answer:
    """Everyone answers at once except ``addresses``, who never answer."""
    return lambda _ch, addr: None if addr in addresses else 1


def node_config(folder: Path, genesis: Genesis, peers: int) -> NodeConfig:
    """Validator KEYS[0]'s config over ``genesis`` (saved in ``folder`` with its key), with
    KEYS[1..peers] as peers on unused loopback ports: for nodes built but not started."""
    genesis.save(folder / "genesis.json")
    KEYS[0].save(folder / "key.json")
    return NodeConfig(
        name="v0",
        key_file=folder / "key.json",
        genesis_file=folder / "genesis.json",
        data_dir=folder / "data",
        p2p_listen=HostPort("127.0.0.1", 0),
        api_listen=HostPort("127.0.0.1", 0),
        peers=tuple(
            PeerConfig(f"v{i}", KEYS[i].address, HostPort("127.0.0.1", 1 + i))
            for i in range(1, peers + 1)
        ),
    )


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    return SimpleNamespace(
        keys=KEYS,
        addrs=ADDRS,
        key_by_addr=KEY_BY_ADDR,
        genesis=make_genesis,
        node_config=node_config,
        Driver=Driver,
        lazy=lazy,
    )
