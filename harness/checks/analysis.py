"""What several checkers share, computed once per history: the reference chain and its replay."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any, TypeVar

from harness.checks.history import History
from harness.checks.recompute import Recomputation, recompute
from harness.contract.params import ClpParams

T = TypeVar("T")


def served_hash(entry: object) -> str | None:
    if isinstance(entry, dict) and isinstance(entry.get("block"), dict):
        h = entry["block"].get("hash")
        return h if isinstance(h, str) else None
    return None


class Analysis:
    def __init__(self, history: History) -> None:
        self.history = history
        self.params = ClpParams.from_dict(history.params)
        self._replays: dict[tuple[str | None, ...], Recomputation] = {}
        self._memo: dict[str, Any] = {}

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per history for every checker that asks by ``key`` (the
        split's divergences serve the split check and liveness)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]  # type: ignore[no-any-return]

    def n(self, address: str) -> str:
        return self.history.name(address)

    @cached_property
    def reference_node(self) -> str | None:
        """The node with the longest chain (ties: first by name): the chain others extend."""
        chains = self.history.chains
        if not chains:
            return None
        return max(sorted(chains), key=lambda n: len(chains[n]))

    @property
    def reference_chain(self) -> list[dict[str, Any]]:
        node = self.reference_node
        return self.history.chains[node] if node is not None else []

    def replay(self, node: str | None = None) -> Recomputation:
        """§4-§7 recomputed over ``node``'s chain (default: the reference chain)."""
        chain = self.history.chains.get(node, []) if node else self.reference_chain
        key = tuple(served_hash(e) for e in chain)
        ref = self.reference_chain
        ref_key = tuple(served_hash(e) for e in ref)
        if key == ref_key[: len(key)]:  # a prefix of the reference: its replay covers it
            chain, key = ref, ref_key
        if key not in self._replays:
            h = self.history
            self._replays[key] = recompute(
                h.chain_id, self.params, h.genesis_stakes, h.public_keys, chain, h.names
            )
        return self._replays[key]

    def time_of(self, height: int) -> float | None:
        """Proposal time of a block of the reference chain, in wall seconds."""
        t = self.replay().times_ms.get(height)
        return t / 1000 if t is not None else None
