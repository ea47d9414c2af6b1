"""Delta debugging of a failing scenario document (pure: the oracle is passed in).

``shrink`` tries smaller documents, most promising first: fewer steps (ddmin over the
steps), fewer validators, fewer epochs, smaller parameters, a shorter quiet period; a
candidate is kept when ``fails(candidate)`` says the same check still fails. Each call of
the oracle is one real run, so the number of calls is bounded by ``budget``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

from harness.explore.generate import Doc, runnable

Oracle = Callable[[Doc], bool]


def with_steps(doc: Doc, steps: list[dict[str, Any]]) -> Doc:
    out = copy.deepcopy(doc)
    out["steps"] = runnable(copy.deepcopy(steps))  # a cut never leaves a step that cannot act
    return out


def _nodes_named(step: dict[str, Any]) -> set[str]:
    """Every node name a step mentions (in any field)."""
    found: set[str] = set()

    def walk(v: Any) -> None:
        if isinstance(v, str) and v.startswith("v") and v[1:].isdigit():
            found.add(v)
        elif isinstance(v, list | tuple):
            for x in v:
                walk(x)

    for k, v in step.items():
        if k not in ("at", "do", "forge", "expect_reason"):
            walk(v)
    return found


def drop_last_validator(doc: Doc) -> Doc | None:
    """The testnet without its last validator, and without the steps that name it; None
    when that would leave fewer than 3 validators or an invalid committee floor."""
    cluster = doc["cluster"]
    n = int(cluster["validators"])
    if n <= 3:
        return None
    gone = f"v{n - 1}"
    out = copy.deepcopy(doc)
    c = out["cluster"]
    c["validators"] = n - 1
    if "stakes" in c:
        c["stakes"] = c["stakes"][: n - 1]
    if isinstance(c.get("nodes"), list):  # a drawn mix: one kind per validator
        c["nodes"] = c["nodes"][: n - 1]
    clp = c.get("clp", {})
    if clp.get("min_committee_size", 3) > n - 1:
        clp["min_committee_size"] = n - 1
    out["steps"] = [
        s for s in out["steps"] if gone not in _nodes_named(s) and _still_splits(s, n - 1)
    ]
    return out


def _still_splits(step: dict[str, Any], n: int) -> bool:
    """False for a partition whose one named group now holds every validator: the node that
    made up the other side is gone, and a partition wants two sides."""
    groups = step.get("groups")
    if not isinstance(groups, list):
        return True
    named = {v for g in groups if isinstance(g, list) for v in g}
    return len(groups) + (len(named) < n) >= 2


def fewer_epochs(doc: Doc) -> Doc | None:
    """One epoch less (steps past the new end dropped); None at epoch 0."""
    until = int(doc["run"]["until_epoch"])
    if until == 0:
        return None
    out = copy.deepcopy(doc)
    out["run"]["until_epoch"] = until - 1
    e = int(out["cluster"].get("clp", {}).get("epoch_length", 20))
    last = until * e
    out["steps"] = [s for s in out["steps"] if _step_height(s, e) <= last]
    return out


def _step_height(step: dict[str, Any], e: int) -> int:
    at = step["at"]
    if "height" in at:
        return int(at["height"])
    if "epoch" in at:
        return int(at["epoch"]) * e + 1 + int(at.get("offset", 0))
    if "challenge" in at:
        return int(at["challenge"]) + int(at.get("offset", 0))
    return 0  # after_s: follows its predecessor


def ddmin(items: list[Any], fails: Callable[[list[Any]], bool]) -> list[Any]:
    """Zeller's ddmin: a 1-minimal subsequence of ``items`` for which ``fails`` holds
    (``fails(items)`` is assumed). Keeps the order of the items; tries no items first,
    since a failure at a parameter edge needs no fault at all."""
    if items and fails([]):
        return []
    n = 2
    while len(items) >= 2:
        size = max(1, len(items) // n)
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        reduced = False
        for i in range(len(chunks)):
            complement = [x for j, c in enumerate(chunks) if j != i for x in c]
            if fails(chunks[i]):
                items, n, reduced = chunks[i], 2, True
                break
            if len(chunks) > 2 and fails(complement):
                items, n, reduced = complement, max(n - 1, 2), True
                break
            if len(chunks) == 2 and fails(complement):
                items, n, reduced = complement, 2, True
                break
        if not reduced:
            if n >= len(items):
                break
            n = min(len(items), 2 * n)
    return items


def simplifications(doc: Doc) -> Iterator[Doc]:
    """Smaller neighbours of ``doc``, biggest cut first."""
    for f in (fewer_epochs, drop_last_validator):
        smaller = f(doc)
        if smaller is not None:
            yield smaller
    if doc.get("quiet", {}).get("blocks", 4) > 2:
        out = copy.deepcopy(doc)
        out["quiet"] = {"blocks": 2}
        yield out


class Budget:
    """Counts oracle calls; past the limit every call answers "does not fail"."""

    def __init__(self, oracle: Oracle, limit: int) -> None:
        self.oracle = oracle
        self.limit = limit
        self.calls = 0
        self.seen: dict[str, bool] = {}

    def __call__(self, doc: Doc) -> bool:
        key = repr(doc)
        if key in self.seen:
            return self.seen[key]
        if self.calls >= self.limit:
            return False
        self.calls += 1
        self.seen[key] = self.oracle(doc)
        return self.seen[key]


def _steps_oracle(oracle: Oracle, doc: Doc) -> Callable[[list[Any]], bool]:
    return lambda steps: oracle(with_steps(doc, steps))


def shrink(doc: Doc, fails: Oracle, budget: int = 16) -> tuple[Doc, int]:
    """The smallest failing document found within ``budget`` oracle calls, and the calls."""
    oracle = Budget(fails, budget)
    best = copy.deepcopy(doc)
    changed = True
    while changed and oracle.calls < budget:
        changed = False
        steps = ddmin(list(best["steps"]), _steps_oracle(oracle, best))
        if len(steps) < len(best["steps"]):
            best, changed = with_steps(best, steps), True
        for smaller in simplifications(best):
            if oracle(smaller):
                best, changed = smaller, True
                break
    return best, oracle.calls
