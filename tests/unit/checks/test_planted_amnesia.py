"""A planted amnesia bug (the prevote rule ignores the lock, Tendermint line 22) is caught by
the lock discipline check; the real rule passes it.

Deterministic and fast: one validator's TendermintCore is driven by hand through the round
that locks it (a polka for B, precommits for nil: the round fails) and the next round, whose
proposer saw no polka and proposes a fresh block B'. The patched core is a copy of
``clp_node/consensus/core.py`` with the rule's lock clause removed, loaded under another name.
A live scenario that makes one validator lock while the round fails needs message-level
timing the fault proxies cannot give reliably; this drives the same steps exactly.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from clp_node.consensus import core as real_core
from clp_node.consensus.types import Proposal, ValidatorSet, Vote, VoteType
from harness.checks import lock_discipline
from harness.checks.history import History
from harness.checks.votes import NodeVotes, SignedVote

from .history_builder import Net, build

LOCK_CLAUSE = "self._locked_round == -1 or self._locked_hash == p.block_hash"
B, B2 = b"\x0b" * 32, b"\x0c" * 32


def amnesiac_core(tmp_path: Path) -> ModuleType:
    source = Path(real_core.__file__).read_text()
    assert source.count(LOCK_CLAUSE) == 1, "the planted patch no longer applies to core.py"
    path = tmp_path / "amnesiac_core.py"
    path.write_text(source.replace(LOCK_CLAUSE, "True"))
    spec = importlib.util.spec_from_file_location("amnesiac_core", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while defined
    spec.loader.exec_module(module)
    return module


def locked_then_fresh_proposal(core_module: Any, net: Net) -> tuple[str, list[Vote]]:
    """Drive a validator through a failed locking round and the next; every signed vote."""
    vs = ValidatorSet({a: (net.keys[n].public_key, 1) for n, a in net.addr.items()})
    p0, p1 = vs.proposer(1, 0), vs.proposer(1, 1)
    me = next(n for n, a in net.addr.items() if a not in (p0, p1))
    key = net.keys[me]
    others = [n for n in net.names if n != me]
    core = core_module.TendermintCore(
        net.chain_id, key.address, key.sign, core_module.TimeoutConfig.test_profile()
    )
    votes: list[Vote] = []

    def run(actions: list[Any]) -> None:
        for a in actions:
            if isinstance(a, core_module.Broadcast) and isinstance(a.message, Vote):
                votes.append(a.message)

    def vote(name: str, kind: VoteType, round_: int, value: bytes | None) -> Vote:
        v = Vote.create(net.chain_id, kind, 1, round_, value, net.addr[name], net.keys[name].sign)
        votes.append(v)
        return v

    def propose(proposer: str, round_: int, value: bytes) -> Proposal:
        k = net.keys[net.name_of[proposer]]
        return Proposal.create(net.chain_id, 1, round_, value, value, -1, proposer, k.sign)

    run(core.start_height(1, vs, lambda h, r: (B2, B2), lambda block: True))
    run(core.on_proposal(propose(p0, 0, B)))  # we prevote B
    for n in others[:2]:  # a polka for B: we precommit B and lock on it
        run(core.on_vote(vote(n, VoteType.PREVOTE, 0, B)))
    for n in others:  # nobody else saw it: the round fails
        run(core.on_vote(vote(n, VoteType.PRECOMMIT, 0, None)))
    run(core.on_timeout(core_module.TimeoutKind.PRECOMMIT, 1, 0))
    run(core.on_proposal(propose(p1, 1, B2)))  # a fresh block, no polka for it anywhere
    return me, votes


def judged(net: Net, me: str, votes: list[Vote]) -> Any:
    served = {SignedVote.from_json(v.to_json()) for v in votes}
    history = build(net, 1).history
    nodes = {n: NodeVotes(set(served), [(1, 1)]) for n in net.names}
    return lock_discipline.check(
        History.from_json(dataclasses.replace(history, votes=nodes).to_json())
    )


@pytest.fixture(scope="module")
def net() -> Net:
    return Net(n=4, seed="amnesia")


def test_the_real_prevote_rule_keeps_the_lock(net: Net) -> None:
    me, votes = locked_then_fresh_proposal(real_core, net)
    mine = [(v.type, v.round, v.block_hash) for v in votes if v.validator == net.addr[me]]
    assert (VoteType.PREVOTE, 1, None) in mine  # locked on B: nil for B'
    r = judged(net, me, votes)
    assert r.verdict == "pass", r.evidence


def test_an_amnesiac_prevote_fails_naming_the_validator_and_the_votes(
    net: Net, tmp_path: Path
) -> None:
    me, votes = locked_then_fresh_proposal(amnesiac_core(tmp_path), net)
    mine = [(v.type, v.round, v.block_hash) for v in votes if v.validator == net.addr[me]]
    assert (VoteType.PRECOMMIT, 0, B) in mine and (VoteType.PREVOTE, 1, B2) in mine
    r = judged(net, me, votes)
    assert r.verdict == "fail", r.evidence
    assert r.evidence[0].startswith(
        f"{me} precommitted {B.hex()[:12]} at 1/0, then prevoted {B2.hex()[:12]} at 1/1"
    )
    assert "with no polka for it in rounds 0..0" in r.evidence[0]
