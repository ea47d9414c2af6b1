"""Bugs planted in a scratch copy of the node, none caught by the 13 shipped scenarios.

Each is a patch (file, text before, text after) applied to a temporary copy of
``clp_node/``; the explorer must find it from a fixed seed within ``runs`` runs and shrink
it. ``why`` says which draw exposes it, so the budget can be judged.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Planted:
    name: str
    why: str
    file: str
    before: str
    after: str
    seed: int
    runs: int  # the budget: explore --seed SEED --runs RUNS finds it
    max_steps: int  # ... and shrinks it to at most this many steps
    shrink_budget: int = 8


PLANTED = [
    Planted(
        name="systemic-guard-off-by-one",
        why="`failing_stake < 0` for `<= 0`: with systemic_fault_bps = 0 (an edge of its "
        "range) an epoch in which nobody fails is called systemic (CLP_SPEC §7 says never); "
        "the shipped scenarios all keep the test profile's 3334",
        file="clp_node/clp/penalty.py",
        before="        if failing_stake <= 0:\n",
        after="        if failing_stake < 0:\n",
        seed=2,
        runs=6,
        max_steps=2,
    ),
    Planted(
        name="replay-counters-not-reset",
        why="replay after a restart skips the per-epoch counter reset, so a node whose "
        "stored chain had crossed an epoch boundary counts the earlier epoch's challenges "
        "in the next one; the shipped restarts all happen before the first epoch closes",
        file="clp_node/consensus_driver.py",
        before="        head = self.store.head_height()\n"
        "        try:\n"
        "            for start in range(1, head + 1, 256):\n"
        "                for stored in self.store.range(start, min(start + 255, head)):\n"
        "                    self._apply(Block.from_json(stored.block), replay=True)\n",
        after="        head = self.store.head_height()\n"
        "        agg = self.state.clp.aggregator\n"
        "        agg.start_epoch = lambda committee: None  # type: ignore[method-assign]\n"
        "        try:\n"
        "            for start in range(1, head + 1, 256):\n"
        "                for stored in self.store.range(start, min(start + 255, head)):\n"
        "                    self._apply(Block.from_json(stored.block), replay=True)\n"
        "            del agg.start_epoch\n",
        seed=2,
        runs=3,
        max_steps=2,
    ),
    Planted(
        name="ejection-order-hash-seed",
        why="ties in the ejection order broken by hash(address), which differs per "
        "process: shows only when the cap binds (more candidates than the cap) and two "
        "candidates tie on failures and stake; the shipped scenarios never bind the cap",
        file="clp_node/clp/penalty.py",
        before="                    stake_after(a),\n                    a,\n",
        after="                    stake_after(a),\n                    hash(a),\n",
        seed=6,
        runs=8,
        # each candidate exposes it only when the nodes' hash orders disagree, so fewer
        # candidates are kept: more runs to shrink, a looser bound
        max_steps=6,
        shrink_budget=16,
    ),
]


@dataclass(frozen=True)
class PlantedForCheck:
    """A bug that one shipped scenario shows to one checker, with no exploring: the test
    runs ``scenario`` on the patched node (the check fails) and on the real one (it passes)."""

    name: str
    why: str
    file: str
    before: str
    after: str
    scenario: str
    check: str
    # what the failing check's evidence must say (empty: the check's own test asserts it)
    evidence: tuple[str, ...] = ()
    # other checks the bug may fail as well, and why (none: this check alone catches it)
    also: tuple[str, ...] = ()


PLANTED_FOR_CHECKS = [
    PlantedForCheck(
        name="listener-answers-over-inbound",
        why="after each keepalive answer the listener also writes a status frame back over "
        "the connection its peer dialled (§16.3: nothing but keepalive answers after the "
        "handshake); the reference dialler drops such a link and redials, so every link "
        "churns, and only the proxy's byte counters show who broke the rule",
        file="clp_node/net/node.py",
        before="                    writer.write(KEEPALIVE_FRAME)\n",
        after="                    writer.write(KEEPALIVE_FRAME)\n"
        '                    status = b\'{"type":"status","height":0}\'\n'
        "                    writer.write(len(status).to_bytes(4, 'big') + status)\n",
        scenario="scenarios/happy-path.toml",
        check="link_discipline",
        # the churn slows the chain below the liveness budget; liveness names no link,
        # only link_discipline names the direction and the bytes
        also=("liveness",),
    ),
    PlantedForCheck(
        name="signed-vote-log-lost-on-restart",
        why="the signed-vote log is never written, so a node restarted in the middle of a "
        "height restores nothing and signs its votes of that height again: the old round-0 "
        "proposal is now untimely (or its own new proposal is a new block), so its new vote "
        "differs from the one it sent before the crash. No block shows it; only the votes do",
        file="clp_node/votelog.py",
        before="            recorded = self.store.record_signed(\n"
        "                height, round_, slot, _digest(message), encode_consensus(message)\n"
        "            )\n",
        after="            recorded = _digest(message)\n",
        scenario="tests/explore/crash-restart-mid-round.toml",
        check="equivocation",
        evidence=("v4 (", "signed 2 different", "held by"),
    ),
    PlantedForCheck(
        name="lock-forgotten-on-a-fresh-proposal",
        why="Tendermint's amnesia: a validator prevotes a fresh proposal (no proof-of-lock "
        "round) whatever it is locked on. The honest others still hold the chain safe and "
        "live, so no block shows it; its own prevote against its lock does",
        file="clp_node/consensus/core.py",
        before="self._locked_round == -1 or self._locked_hash == p.block_hash",
        after="True",
        scenario="tests/explore/lock-split-round.toml",
        check="lock_discipline",
        evidence=("v1 precommitted", "then prevoted", "with no polka for it in rounds 0..0"),
    ),
]


# Caught only by the inclusion check: every validator proposes in 4 of its 5 windows, so
# nobody's rate falls below the minimum and no other check sees the dropped responses.
PLANTED_INCLUSION = PlantedForCheck(
    name="peers-responses-dropped",
    why="a node drops the CLP responses its peers gossip instead of pooling them, so a "
    "response is included only when its own validator proposes in its window: each "
    "validator misses the challenges whose window it does not propose in, while connected "
    "to every proposer of that window for seconds (§15.11)",
    file="clp_node/responses.py",
    before='        """A ``clp_response`` frame from a peer."""\n',
    after='        """A ``clp_response`` frame from a peer."""\n        return\n',
    scenario="tests/explore/inclusion-slow-blocks.toml",
    check="inclusion",
)
