"""§10.1 Agreement: every node's finalized chain is a prefix of one chain."""

from __future__ import annotations

from collections.abc import Sequence

from harness.checks.analysis import Analysis, served_hash
from harness.checks.history import History
from harness.checks.verdict import CheckResult, combine
from harness.contract import formats as fmt

NAME = "agreement"


def _own_problems(node: str, chain: Sequence[object]) -> list[str]:
    """Breaks inside one node's chain: wrong height, content not matching its hash, bad links."""
    out = []
    prev: str | None = None
    for h, entry in enumerate(chain, start=1):
        block = entry.get("block") if isinstance(entry, dict) else None
        bad = fmt.block_problem(block, h)
        if bad is not None:
            out.append(f"{node} height {h}: malformed block ({bad})")
            break
        assert isinstance(block, dict)
        if fmt.block_hash(block).hex() != block["hash"]:
            out.append(f"{node} height {h}: block content does not hash to its hash")
        if prev is not None and block["parent_hash"] != prev:
            out.append(f"{node} height {h}: parent_hash does not link to its block {h - 1}")
        prev = block["hash"]
    return out


def check(history: History, analysis: Analysis | None = None) -> CheckResult:
    chains = history.chains
    fails: list[str] = []
    unknowns: list[str] = []
    passes: list[str] = []
    for node, problem in sorted(history.unreachable.items()):
        unknowns.append(f"{node}: could not be read completely ({problem})")
    for node in sorted(chains):
        fails += _own_problems(node, chains[node])
    readable = [n for n in sorted(chains) if chains[n]]
    if len(readable) < 2:
        return CheckResult(
            NAME,
            "fail" if fails else "unknown",
            [*fails, f"only {readable or 'no node'} served a chain: nothing to compare"],
        )
    top = max(len(chains[n]) for n in readable)
    for h in range(1, top + 1):
        by_hash: dict[str | None, list[str]] = {}
        for n in readable:
            if h <= len(chains[n]):
                by_hash.setdefault(served_hash(chains[n][h - 1]), []).append(n)
        if len(by_hash) > 1:
            groups = "; ".join(
                f"{', '.join(ns)} have {str(hx)[:16]}"
                for hx, ns in sorted(by_hash.items(), key=str)
            )
            fails.append(f"fork at height {h}: {groups}")
            break
    heads = ", ".join(f"{n}={len(chains[n])}" for n in readable)
    if not fails:
        passes.append(f"{len(readable)} chains agree block by block on heights 1..{top} ({heads})")
    # Unreadable nodes leave the verdict to what could be compared.
    return combine(NAME, fails, [], passes + unknowns)
