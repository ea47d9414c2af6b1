"""§10.3 Accountability: recomputing §4-§7 from the blocks gives exactly the served results.

The replay re-derives every challenge from its block's hash, re-verifies every response
(§5 in rule order, Ed25519 over the §5 digest) and every commit certificate, counts per
§6, evaluates per §7, and compares each node's served ClpEpochResult field by field.
"""

from __future__ import annotations

from harness.checks.analysis import Analysis
from harness.checks.history import History
from harness.checks.recompute import compare_result
from harness.checks.verdict import CheckResult, combine

NAME = "accountability"
MAX_PROBLEMS = 20


def check(history: History, analysis: Analysis | None = None) -> CheckResult:
    a = analysis or Analysis(history)
    p = a.params
    fails: list[str] = []
    unknowns: list[str] = []
    passes: list[str] = []
    ref = a.replay()
    for prob in ref.problems[:MAX_PROBLEMS]:
        fails.append(f"{a.reference_node}'s chain, {prob}")
    if len(ref.problems) > MAX_PROBLEMS:
        fails.append(f"... and {len(ref.problems) - MAX_PROBLEMS} more block problems")
    n_resp = sum(len(c.included) for c in ref.challenges.values())
    passes.append(
        f"replayed {ref.height} blocks of {a.reference_node}'s chain: {len(ref.challenges)} "
        f"challenges derived, {n_resp} responses and {len(ref.signers)} certificates verified"
    )
    checked = 0
    for node, results in sorted(history.results.items()):
        replay = a.replay(node)
        if replay is not ref:
            fails += [f"{node}'s own chain, {prob}" for prob in replay.problems[:MAX_PROBLEMS]]
        for e, served in sorted(results.items()):
            expected = replay.results.get(e)
            if expected is None:
                unknowns.append(
                    f"{node} serves epoch {e}, but its collected chain ends at "
                    f"{replay.height} < {p.epoch_last_height(e)}: not recomputed"
                )
                continue
            checked += 1
            diffs = compare_result(expected, served, history.names)
            if diffs:
                fails.append(f"{node} epoch {e}: " + "; ".join(diffs))
            for v in served.get("validators", []) if isinstance(served, dict) else []:
                if not isinstance(v, dict) or not v.get("slashed"):
                    continue
                mine = next(
                    (x for x in expected["validators"] if x["address"] == v["address"]), None
                )
                if mine is None or mine["rate_bps"] >= p.min_response_rate_bps:
                    fails.append(
                        f"{node} epoch {e}: {a.n(str(v.get('address')))} slashed {v['slashed']} "
                        f"but the chain shows rate {mine['rate_bps'] if mine else '?'} bps, "
                        f"not below the minimum {p.min_response_rate_bps} bps"
                    )
    for e, r in sorted(ref.results.items()):
        slashes = [
            f"{a.n(v['address'])} -{v['slashed']} "
            f"({v['responses']}/{v['challenges']}, {v['status']})"
            for v in r["validators"]
            if v["status"] != "active"
        ]
        flags = " systemic" if r["systemic"] else ""
        passes.append(f"epoch {e}{flags}: {', '.join(slashes) if slashes else 'nobody penalised'}")
    if checked:
        passes.insert(1, f"{checked} served epoch results match the recomputation field by field")
    elif not fails:
        unknowns.append("no node served an epoch result to compare with")
    return combine(NAME, fails, unknowns, passes)
