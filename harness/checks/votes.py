"""The signed votes the nodes served (protocol §11 ``/alpha/consensus/votes``).

A node keeps only two epochs of votes, so a long run is read incrementally
(``VoteCollector.poll``, every so often while the run goes on) and once more at the end.
What each node served is kept apart, with the heights whose votes it held *completely*
when read (``covered``: from its ``oldest`` to its finalized head at that moment), so the
checkers can tell a vote nobody signed from a vote nobody collected.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.contract.formats import (
    HASH_BYTES,
    PRECOMMIT_CODE,
    PREVOTE_CODE,
    SIGNATURE_BYTES,
    is_address,
    is_hex,
    is_int,
    verify,
    vote_sign_bytes,
)

if TYPE_CHECKING:
    from harness.cluster.base import Cluster
    from harness.cluster.client import NodeClient

TYPE_CODES = {"prevote": PREVOTE_CODE, "precommit": PRECOMMIT_CODE}
MAX_HEIGHTS = 256  # per request (§11)
NOT_SERVED = "does not serve /alpha/consensus/votes (404)"


@dataclass(frozen=True)
class SignedVote:
    """One served vote; ``block_hash`` None is nil. Ordered as §11 serves them."""

    height: int
    round: int
    code: int  # the §9.2 type byte
    validator: str
    block_hash: str | None
    signature: str

    @property
    def order(self) -> tuple[int, int, int, str, str, str]:
        """The §11 order: (height, round, type, validator, block hash), nil first."""
        return (
            self.height,
            self.round,
            self.code,
            self.validator,
            self.block_hash or "",
            self.signature,
        )

    @property
    def type(self) -> str:
        return "prevote" if self.code == PREVOTE_CODE else "precommit"

    @property
    def step(self) -> tuple[int, int, int, str]:
        """(height, round, type, validator): one vote allowed per step."""
        return (self.height, self.round, self.code, self.validator)

    def valid(self, chain_id: str, public_key: bytes | None) -> bool:
        """Whether the signature is the validator's over the §9.2 sign bytes."""
        if public_key is None:
            return False
        value = None if self.block_hash is None else bytes.fromhex(self.block_hash)
        message = vote_sign_bytes(chain_id, self.code, self.height, self.round, value)
        return verify(public_key, message, bytes.fromhex(self.signature))

    def describe(self) -> str:
        value = "nil" if self.block_hash is None else self.block_hash[:12]
        return f"{self.type} {self.height}/{self.round} for {value} (sig {self.signature[:12]})"

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "height": self.height,
            "round": self.round,
            "block_hash": self.block_hash,
            "validator": self.validator,
            "signature": self.signature,
        }

    @classmethod
    def from_json(cls, raw: object) -> SignedVote:
        """A served vote; ValueError naming the field that is wrong."""
        if not isinstance(raw, dict):
            raise ValueError("a vote is an object")
        if raw.get("type") not in TYPE_CODES:
            raise ValueError("type: prevote or precommit")
        for key in ("height", "round"):
            if not is_int(raw.get(key)) or raw[key] < 0:
                raise ValueError(f"{key}: a non-negative integer")
        h = raw.get("block_hash")
        if h is not None and not is_hex(h, HASH_BYTES):
            raise ValueError("block_hash: 64 hex characters or null")
        if not is_address(raw.get("validator")):
            raise ValueError("validator: 40 hex characters")
        if not is_hex(raw.get("signature"), SIGNATURE_BYTES):
            raise ValueError("signature: 128 hex characters")
        return cls(
            raw["height"],
            raw["round"],
            TYPE_CODES[raw["type"]],
            raw["validator"],
            h,
            raw["signature"],
        )


@dataclass
class NodeVotes:
    """What one node served: its votes, the height ranges it held completely, or why not."""

    votes: set[SignedVote] = field(default_factory=set)
    covered: list[tuple[int, int]] = field(default_factory=list)
    problem: str | None = None

    def covers(self, height: int) -> bool:
        return any(a <= height <= b for a, b in self.covered)

    def to_json(self) -> dict[str, Any]:
        return {
            "votes": [v.to_json() for v in sorted(self.votes, key=lambda v: v.order)],
            "covered": [list(r) for r in self.covered],
            "problem": self.problem,
        }

    @classmethod
    def from_json(cls, raw: object) -> NodeVotes:
        if not isinstance(raw, dict):
            raise ValueError("an object with votes, covered and problem")
        votes = raw.get("votes") or []
        covered = raw.get("covered") or []
        if not isinstance(votes, list) or not isinstance(covered, list):
            raise ValueError("votes and covered are lists")
        out = cls(problem=None if raw.get("problem") is None else str(raw["problem"]))
        for i, v in enumerate(votes):
            try:
                out.votes.add(SignedVote.from_json(v))
            except ValueError as exc:
                raise ValueError(f"votes[{i}]: {exc}") from exc
        for r in covered:
            if not (isinstance(r, list) and len(r) == 2 and all(is_int(x) for x in r)):
                raise ValueError("covered: [from, to] pairs of integers")
            out.covered.append((r[0], r[1]))
        return out


class VoteCollector:
    """Reads every node's votes from where the last read left off (see the module doc)."""

    def __init__(self, names: list[str]) -> None:
        self.nodes = {n: NodeVotes() for n in names}
        self._next = dict.fromkeys(names, 1)  # the first height not yet read completely

    async def poll(self, cluster: Cluster) -> None:
        """One read of every node that serves votes; a node that does not answer now is
        read again next time (its heights are then covered later, or not at all)."""
        await asyncio.gather(*(self._poll_node(cluster.client(n), n) for n in self.nodes))

    async def _poll_node(self, client: NodeClient, name: str) -> None:
        node = self.nodes[name]
        if node.problem == NOT_SERVED:
            return
        try:
            head = int((await client.head())["height"])
            first = self._next[name]
            while first <= head + 1:
                last = min(first + MAX_HEIGHTS - 1, head + 1)
                body = await client.consensus_votes(first, last)
                if body is None:
                    node.problem = NOT_SERVED
                    return
                for raw in body.get("votes", []):
                    node.votes.add(SignedVote.from_json(raw))
                oldest = int(body.get("oldest", first))
                done = min(last, head)  # the height being decided is read again next time
                if max(first, oldest) <= done:
                    _add_range(node.covered, max(first, oldest), done)
                first = last + 1
            self._next[name] = head + 1
            node.problem = None
        except Exception as exc:  # a node down now (killed, paused) is read again later
            node.problem = f"{type(exc).__name__}: {exc}"[:300]


def _add_range(ranges: list[tuple[int, int]], a: int, b: int) -> None:
    """Merge [a, b] into sorted, disjoint ``ranges``."""
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted([*ranges, (a, b)]):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    ranges[:] = merged
