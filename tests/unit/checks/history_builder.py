"""Synthetic run histories for the checkers' tests: real signed blocks, real results.

Blocks, responses and certificates are signed with PyNaCl over the node's byte formats;
the served epoch results and statuses come from the node's own ChainState applying those
blocks. The checkers (which never import the node) must agree with it on a clean history,
and every doctored history must make the relevant checker fail.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nacl.signing import SigningKey

from clp_node.chain.block import Block
from clp_node.chain.genesis import ConsensusParams, Genesis, GenesisValidator
from clp_node.chain.keys import ValidatorKey
from clp_node.chain.state import ChainState
from clp_node.clp.response import response_message
from clp_node.clp.types import ClpConfig, ClpResponse
from clp_node.consensus.types import VoteType, vote_sign_bytes
from harness.checks.history import History
from harness.checks.votes import NodeVotes, SignedVote
from harness.faults.kinds import KINDS
from harness.faults.log import FaultRecord
from harness.faults.state import FaultState

T0_MS = 1_700_000_000_000
BLOCK_MS = 200

# online(name, height) -> False while the node is cut off at that height
Online = Callable[[str, int], bool]


def always(_name: str, _height: int) -> bool:
    return True


def offline(name: str, lo: int, hi: int) -> Online:
    """``name`` is cut off for heights lo..=hi (it receives, sends and votes nothing)."""
    return lambda n, h: not (n == name and lo <= h <= hi)


@dataclass
class Net:
    n: int = 5
    stakes: list[int] | None = None
    clp: dict[str, int] = field(default_factory=dict)
    chain_id: str = "synthetic"
    seed: str = "chk"

    def __post_init__(self) -> None:
        self.names = [f"v{i}" for i in range(self.n)]
        self.keys = {nm: ValidatorKey.from_seed_text(f"{self.seed}/{nm}") for nm in self.names}
        self.addr = {nm: k.address for nm, k in self.keys.items()}
        self.name_of = {a: nm for nm, a in self.addr.items()}
        stakes = self.stakes or [100_000] * self.n
        cfg = ClpConfig.from_dict({**ClpConfig.test_profile().to_dict(), **self.clp})
        self.genesis = Genesis(
            self.chain_id,
            cfg,
            ConsensusParams.test_profile(),
            tuple(
                sorted(
                    (
                        GenesisValidator(nm, self.addr[nm], self.keys[nm].public_key, s)
                        for nm, s in zip(self.names, stakes, strict=True)
                    ),
                    key=lambda v: v.address,
                )
            ),
        )

    def sign(self, address: str, message: bytes) -> bytes:
        key = self.keys[self.name_of[address]]
        return bytes(SigningKey(key.seed).sign(message).signature)

    def precommit(self, address: str, height: int, block_hash: bytes, round_: int = 0) -> dict:
        msg = vote_sign_bytes(self.chain_id, VoteType.PRECOMMIT, height, round_, block_hash)
        return {
            "type": "precommit",
            "height": height,
            "round": round_,
            "block_hash": block_hash.hex(),
            "validator": address,
            "signature": self.sign(address, msg).hex(),
        }

    def prevote(self, address: str, height: int, block_hash: bytes, round_: int = 0) -> dict:
        msg = vote_sign_bytes(self.chain_id, VoteType.PREVOTE, height, round_, block_hash)
        return {
            **self.precommit(address, height, block_hash, round_),
            "type": "prevote",
            "signature": self.sign(address, msg).hex(),
        }

    def certificate(self, height: int, block_hash: bytes, signers: list[str]) -> dict:
        return {
            "height": height,
            "round": 0,
            "block_hash": block_hash.hex(),
            "votes": [self.precommit(a, height, block_hash) for a in signers],
        }


@dataclass
class Built:
    net: Net
    entries: list[dict[str, Any]]
    state: ChainState
    history: History


def build(
    net: Net,
    height: int,
    online: Online = always,
    faults: list[dict[str, Any]] | None = None,
    delays_ms: dict[int, int] | None = None,
    answering: Online = always,
) -> Built:
    """A chain of ``height`` blocks in which only online validators answer, vote and propose.

    A response to the challenge at h is included in the first block of h+1..h+W at which
    its validator is online (a node back from a cut answers the challenges still open);
    a validator not ``answering`` (lazy) still votes and proposes.
    """
    state = ChainState(net.genesis)
    W = net.genesis.clp.response_window
    entries: list[dict[str, Any]] = []
    votes: list[dict[str, Any]] = []
    challenges: dict[int, Any] = {}
    sent: dict[str, list[dict[str, int]]] = {}  # name -> its answers
    t = T0_MS
    for b in range(1, height + 1):
        t += BLOCK_MS + (delays_ms or {}).get(b, 0)
        committee = state.committee_for_height(b) or {}
        members = sorted(committee)
        up = [a for a in members if online(net.name_of[a], b)]
        proposer = next(
            members[(b + i) % len(members)]
            for i in range(len(members))
            if members[(b + i) % len(members)] in up
        )
        responses = []
        for h, ch in challenges.items():
            if h < b <= h + W:
                for a in ch.expected:
                    lazy = not answering(net.name_of[a], b)
                    if a in up and not lazy and not state.clp.aggregator.has_response(h, a):
                        msg = response_message(net.chain_id, h, ch.value, a)
                        responses.append(ClpResponse(h, a, net.sign(a, msg)))
        block = Block(net.chain_id, b, state.head_hash, proposer, tuple(sorted(responses)), t)
        applied = state.apply_block(block)
        if applied.challenge is not None:
            challenges[b] = applied.challenge
            for a in applied.challenge.expected:  # /alpha/clp/answers: sent 50 ms after
                nm = net.name_of[a]
                if online(nm, b) and answering(nm, b + 1):
                    sent.setdefault(nm, []).append({"challenge_height": b, "sent_at_ms": t + 50})
        power = sum(committee[a] for a in up)
        assert 3 * power > 2 * sum(committee.values()), f"no quorum online at height {b}"
        entries.append(
            {
                "height": b,
                "block": block.to_json(),
                "responses": block.to_json()["responses"],
                "certificate": net.certificate(b, block.hash, up),
            }
        )
        # what every node serves at /alpha/consensus/votes: the online validators' round 0
        votes += [net.prevote(a, b, block.hash) for a in up] + entries[-1]["certificate"]["votes"]
    results = {e: r.to_json() for e, r in state.epoch_results.items()}
    last = state.epoch_results.get(max(state.epoch_results)) if state.epoch_results else None
    status = {
        "current_epoch": state.current_epoch,
        "height": state.height,
        "active_challenges": [c.to_json() for c in state.clp.open_challenges()],
        "validator_statuses": {a: st.to_json() for a, st in state.clp.statuses().items()},
        "last_epoch_result": last.to_json() if last else None,
        "stakes": state.ledger.stakes(),
        "burned": state.ledger.burned,
    }
    g = net.genesis.to_json()
    history = History(
        chain_id=net.chain_id,
        params=g["clp"],
        genesis=g["validators"],
        names={v["address"]: v["name"] for v in g["validators"]},
        chains={nm: copy.deepcopy(entries) for nm in net.names},
        results={nm: copy.deepcopy(results) for nm in net.names},
        statuses={nm: copy.deepcopy(status) for nm in net.names},
        faults=fault_log(net.names, list(faults or [])),
        consensus=g["consensus"],
        collected_at=(t + 300) / 1000,
        link_bytes=disciplined_links(net.names, (t + 300 - T0_MS) / 1000),
        link_bytes_at=(t + 400) / 1000,
        answers={nm: {"validator": net.addr[nm], "answers": sent.get(nm, [])} for nm in net.names},
        votes={
            nm: NodeVotes({SignedVote.from_json(v) for v in votes}, [(1, height)])
            for nm in net.names
        },
    )
    return Built(net, entries, state, history)


HANDSHAKE_B = 362  # the listener's frames 2 and 4 for a short chain id (§16.9)
CONSENSUS_B_PER_S = 2000  # what a dialler sends a peer: votes, proposals, status


def disciplined_links(names: list[str], seconds: float) -> dict[str, dict[str, int]]:
    """Fault-proxy counters of nodes that keep §16.3: one connection per link, and backward
    only its handshake and an answer to a keepalive every 2 s (the reference's rate)."""
    back = HANDSHAKE_B + 4 * (1 + int(seconds / 2))
    return {
        f"{a}_to_{b}": {
            "upstream": HANDSHAKE_B + int(CONSENSUS_B_PER_S * seconds),
            "downstream": back,
        }
        for a in names
        for b in names
        if a != b
    }


def time_s(built_or_entries: Built | list[dict[str, Any]], height: int) -> float:
    entries = built_or_entries.entries if isinstance(built_or_entries, Built) else built_or_entries
    return float(entries[height - 1]["block"]["time_ms"]) / 1000


ACTION_S = 0.5  # a fault's effect window: [at - ACTION_S, at]


def record(kind: str, at: float, height: int, **args: Any) -> dict[str, Any]:
    """One fault step of a synthetic log; ``build`` turns the steps into format-2 records."""
    return {"step": kind, "at": at, "height": height, "args": args}


def fault_log(names: list[str], steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Format-2 records of ``steps``, each carrying the state the kind's declared effect
    gives (what the Nemesis would have written)."""
    state = FaultState()
    out = []
    for seq, st in enumerate(steps):
        kind = KINDS[st["step"]]
        req = kind.request(st["args"], names, seq)
        state = kind.effect(state, req)
        at = float(st["at"])
        rec = FaultRecord(seq, kind.name, req.args, st["height"], at - ACTION_S, at, state)
        out.append(rec.to_json())
    return out


def reseal(net: Net, entry: dict[str, Any]) -> None:
    """After doctoring a block: recompute its hash and re-sign its certificate's votes."""
    block = Block.from_json({k: v for k, v in entry["block"].items() if k != "hash"})
    entry["block"] = block.to_json()
    entry["responses"] = entry["block"]["responses"]
    signers = [v["validator"] for v in entry["certificate"]["votes"]]
    entry["certificate"] = net.certificate(block.height, block.hash, signers)


def relink(net: Net, chain: list[dict[str, Any]], index: int) -> None:
    """Reseal ``chain[index]`` and re-link every later block to its new parent hash.

    Only for doctoring at the chain's end: a later challenge's value (and so its
    responses' signatures) would change if a challenge block's hash did.
    """
    reseal(net, chain[index])
    for i in range(index + 1, len(chain)):
        chain[i]["block"]["parent_hash"] = chain[i - 1]["block"]["hash"]
        reseal(net, chain[i])


def doctored(history: History, edit: Callable[[dict[str, Any]], None]) -> History:
    """A copy of ``history`` with ``edit`` applied to its JSON form."""
    data = copy.deepcopy(history.to_json())
    edit(data)
    return History.from_json(data)


def set_outcome(d: dict[str, Any], epoch: int, address: str, **fields: Any) -> None:
    """Change ``address``'s outcome in every node's result of ``epoch`` (JSON form)."""
    for per_node in d["results"].values():
        for v in per_node[str(epoch)]["validators"]:
            if v["address"] == address:
                v.update(fields)


def with_implementations(
    history: History,
    initial: dict[str, str],
    upgrades: list[tuple[float, str, str]] | None = None,
    start_record: bool = True,
) -> History:
    """``history`` as a run mixing implementations: every fault record's state says which
    implementation each validator ran (``state.implementations``), a first record gives the
    initial ones (unless not ``start_record``) and each (at, node, implementation) of
    ``upgrades`` is one more record, naming the kind it replaced (``from``) as the
    Nemesis records it."""
    t0 = time_s(history.chains[min(history.chains)], 1) - 1.0

    def step(at: float, kind: str, args: dict[str, Any]) -> dict[str, Any]:
        t = at - ACTION_S
        return {
            "format": 2,
            "kind": kind,
            "args": args,
            "height": None,
            "t_start": t,
            "t_end": at,
            "state": None,
        }

    added = [step(t0, "start", {})] if start_record else []
    added += [step(at, "upgrade", {"node": node, "to": impl}) for at, node, impl in upgrades or []]
    merged = sorted(
        [*(copy.deepcopy(r) for r in history.faults), *added], key=lambda r: r["t_start"]
    )
    kinds, state = dict(initial), FaultState().to_json()
    for seq, rec in enumerate(merged):
        if rec["kind"] == "upgrade":
            rec["args"]["from"] = kinds.get(rec["args"]["node"])
            kinds[rec["args"]["node"]] = rec["args"]["to"]
        state = rec["state"] if rec["state"] is not None else state
        rec["seq"] = seq
        rec["state"] = {**state, "implementations": dict(kinds)}
    data = copy.deepcopy(history.to_json())
    data["faults"] = merged
    return History.from_json(data)
