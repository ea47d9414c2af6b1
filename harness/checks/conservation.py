"""§10.5 Conservation: sum(stakes) + burned == genesis total; no stake negative.

Checked on what the nodes serve — every epoch result, replayed on the genesis stakes, and
each node's final status — and on the independent recomputation.
"""

from __future__ import annotations

from typing import Any

from harness.checks.analysis import Analysis
from harness.checks.history import History
from harness.checks.verdict import CheckResult, combine

NAME = "conservation"


def _walk(
    node: str, results: dict[int, dict[str, Any]], genesis: dict[str, int], a: Analysis
) -> tuple[list[str], dict[int, tuple[dict[str, int], int]]]:
    """Apply each served result to the genesis stakes; every step must conserve stake."""
    total = sum(genesis.values())
    stakes, burned = dict(genesis), 0
    fails: list[str] = []
    after: dict[int, tuple[dict[str, int], int]] = {}
    for e in sorted(results):
        if e != len(after):
            fails.append(f"{node}: serves epoch {e} but not epoch {len(after)}")
            break
        r = results[e]
        vs = r.get("validators") if isinstance(r, dict) else None
        if not isinstance(vs, list):
            fails.append(f"{node} epoch {e}: no validator list")
            break
        slashed_sum = 0
        for v in vs:
            addr, cut = v.get("address"), v.get("slashed")
            if addr not in stakes or not isinstance(cut, int):
                fails.append(f"{node} epoch {e}: entry {v!r} names no genesis validator/amount")
                continue
            name = a.n(addr)
            if cut < 0 or cut > stakes[addr]:
                fails.append(f"{node} epoch {e}: {name} slashed {cut} of a stake of {stakes[addr]}")
            stakes[addr] -= cut
            slashed_sum += cut
            if "stake_after" in v and v["stake_after"] != stakes[addr]:
                fails.append(
                    f"{node} epoch {e}: {name} stake_after {v['stake_after']} != "
                    f"{stakes[addr] + cut} - {cut}"
                )
            if stakes[addr] < 0:
                fails.append(f"{node} epoch {e}: {name}'s stake is negative ({stakes[addr]})")
        if r.get("slashed_total") != slashed_sum:
            fails.append(
                f"{node} epoch {e}: slashed_total {r.get('slashed_total')} != sum of slashes "
                f"{slashed_sum}"
            )
        burned += slashed_sum
        served_burned = r.get("burned_total")
        if not isinstance(served_burned, int):
            fails.append(f"{node} epoch {e}: burned_total {served_burned!r} is not an integer")
            break
        if sum(stakes.values()) + served_burned != total:
            fails.append(
                f"{node} epoch {e}: stakes {sum(stakes.values())} + burned {served_burned} = "
                f"{sum(stakes.values()) + served_burned} != genesis total {total}"
            )
        elif served_burned != burned:
            fails.append(
                f"{node} epoch {e}: burned_total {served_burned} != slashes so far {burned}"
            )
        after[e] = (dict(stakes), served_burned)
    return fails, after


def check(history: History, analysis: Analysis | None = None) -> CheckResult:
    a = analysis or Analysis(history)
    genesis = history.genesis_stakes
    total = sum(genesis.values())
    fails: list[str] = []
    passes: list[str] = []
    decided = 0
    for node, results in sorted(history.results.items()):
        if not results:
            continue
        f, after = _walk(node, results, genesis, a)
        fails += f
        if not f:
            decided += 1
            last = max(after)
            passes.append(
                f"{node}: epochs 0..{last} conserve {total} (burned {after[last][1]} at the end)"
            )
        status = history.statuses.get(node) or {}
        last_result = status.get("last_epoch_result")
        st_stakes, st_burned = status.get("stakes"), status.get("burned")
        if isinstance(st_stakes, dict) and isinstance(st_burned, int):
            decided += 1
            negative = min(st_stakes.values(), default=0) < 0
            if sum(st_stakes.values()) + st_burned != total or negative:
                fails.append(
                    f"{node} final status: stakes {sum(st_stakes.values())} + burned {st_burned} "
                    f"!= {total} or a stake is negative"
                )
            e = last_result.get("epoch") if isinstance(last_result, dict) else None
            if e in after and (after[e][0] != st_stakes or after[e][1] != st_burned):
                diff = [
                    f"{a.n(x)} {st_stakes.get(x)} vs {after[e][0].get(x)}"
                    for x in sorted(set(st_stakes) | set(after[e][0]))
                    if st_stakes.get(x) != after[e][0].get(x)
                ]
                fails.append(
                    f"{node} final status disagrees with its epoch results up to {e}: "
                    f"{', '.join(diff) or f'burned {st_burned} vs {after[e][1]}'}"
                )
    ref = a.replay()
    for e, stakes in sorted(ref.stakes_after.items()):
        if sum(stakes.values()) + ref.burned_after[e] != total or min(stakes.values()) < 0:
            fails.append(f"recomputation epoch {e}: stake not conserved")
    if not fails and decided == 0:
        return CheckResult(NAME, "unknown", ["no node served an epoch result or stakes"])
    return combine(NAME, fails, [], passes)
