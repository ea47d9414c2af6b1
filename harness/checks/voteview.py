"""The served votes as the vote checks read them: validly signed, with the nodes holding them.

Shared by ``equivocation`` and ``lock_discipline`` (protocol §15 items 8 and 9). A vote
whose signature is not its validator's (§9.2, under the genesis key) counts for nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from harness.checks.history import History
from harness.checks.timeline import records as fault_records
from harness.checks.votes import NOT_SERVED, NodeVotes, SignedVote

DOUBLE_SIGN = "double_sign"


@dataclass(frozen=True)
class DoubleSign:
    """A ``double_sign`` fault: its validator and the chain height once it was on."""

    node: str
    validator: str
    height: int
    stopped_after: bool = False  # its process was killed or paused later (the hook is lost)


class VoteView:
    def __init__(self, history: History) -> None:
        self.history = history
        self.nodes: dict[str, NodeVotes] = dict(history.votes or {})

    def not_applicable(self) -> str | None:
        """Why no vote check can be made on this history, or None."""
        if self.history.votes is None:
            return "the history has no votes (saved before they were collected)"
        if not self.nodes or all(v.problem == NOT_SERVED for v in self.nodes.values()):
            return f"no node serves /alpha/consensus/votes ({NOT_SERVED})"
        if not any(v.covered for v in self.nodes.values()):
            return "no node's votes were read: " + "; ".join(self.never_read())
        return None

    def read_notes(self) -> list[str]:
        """Context for a verdict: nodes whose votes were never read, or not at the end."""
        return self.never_read() + [
            f"{n}: votes not read at the end ({v.problem})"
            for n, v in sorted(self.nodes.items())
            if v.problem and v.problem != NOT_SERVED and v.covered
        ]

    def never_read(self) -> list[str]:
        """Nodes that serve votes (or may) whose votes were never read at all: less evidence,
        not none (a vote reaches every node), so context for a verdict, not a reason."""
        return [
            f"{n}: its votes were never read ({v.problem})"
            for n, v in sorted(self.nodes.items())
            if v.problem and v.problem != NOT_SERVED and not v.covered
        ]

    @cached_property
    def held(self) -> dict[SignedVote, set[str]]:
        """Every validly signed vote served, with the nodes that served it."""
        keys = self.history.public_keys
        chain_id = self.history.chain_id
        out: dict[SignedVote, set[str]] = {}
        bad: set[SignedVote] = set()
        for node, nv in self.nodes.items():
            for vote in nv.votes:
                if vote in bad:
                    continue
                if vote not in out:
                    if not vote.valid(chain_id, keys.get(vote.validator)):
                        bad.add(vote)
                        continue
                    out[vote] = set()
                out[vote].add(node)
        self.bad_signatures = len(bad)
        return out

    def node_of(self, validator: str) -> str | None:
        """The node that runs ``validator`` (its genesis name), if the run had it."""
        name = self.history.names.get(validator)
        return name if name in self.nodes else None

    def covers(self, validator: str, lo: int, hi: int) -> bool:
        """Whether ``validator``'s own node's votes of heights lo..=hi were read completely."""
        node = self.node_of(validator)
        if node is None:
            return False
        nv = self.nodes[node]
        return all(nv.covers(h) for h in range(max(lo, 1), hi + 1))

    def double_signs(self) -> list[DoubleSign]:
        """The ``double_sign`` faults of the fault log, in order."""
        by_name = self.history.address_of_name
        records = fault_records(self.history.faults)
        out = []
        for i, r in enumerate(records):
            if r.kind == DOUBLE_SIGN:
                node = str(r.args.get("node"))
                stopped = any(
                    node in later.state.killed or node in later.state.paused
                    for later in records[i + 1 :]
                )
                if node in by_name:
                    out.append(DoubleSign(node, by_name[node], int(r.height or 0), stopped))
        return out
