"""§10.6 Committee safety: never below min_committee_size through ejections; an ejected
validator signs no vote and proposes no block after its ejection."""

from __future__ import annotations

from typing import Any

from harness.checks.analysis import Analysis
from harness.checks.history import History
from harness.checks.verdict import CheckResult, combine

NAME = "committee_safety"


def committees(history: History, a: Analysis) -> tuple[dict[int, list[str]], dict[str, int]]:
    """committee(e) from genesis and the served next_committee (the replay where none is served)."""
    out = {0: sorted(history.genesis_stakes)}
    ejected_at: dict[str, int] = {}
    served: dict[int, dict[str, Any]] = {}
    for node in sorted(history.results):
        for e, r in history.results[node].items():
            served.setdefault(e, r)
    for e, r in a.replay().results.items():
        served.setdefault(e, r)
    for e in sorted(served):
        if e not in out:
            break
        r = served[e]
        out[e + 1] = sorted(r.get("next_committee") or [])
        for x in r.get("ejected") or []:
            ejected_at.setdefault(x, e)
    return out, ejected_at


def check(history: History, analysis: Analysis | None = None) -> CheckResult:
    a = analysis or Analysis(history)
    p = a.params
    fails: list[str] = []
    passes: list[str] = []
    comms, ejected_at = committees(history, a)
    floor = p.min_committee_size
    for e in sorted(comms):
        if e == 0:
            continue
        before, now = comms[e - 1], comms[e]
        gone = sorted(set(before) - set(now))
        if len(now) < floor and len(now) < len(before):
            fails.append(
                f"committee of epoch {e} has {len(now)} members (below min_committee_size "
                f"{floor}) after ejecting {[a.n(x) for x in gone]}"
            )
        cap = p.ejection_cap(len(before))
        if len(gone) > cap:
            fails.append(f"epoch {e - 1} ejected {len(gone)} validators, above the cap {cap}")
        if set(now) - set(before):
            gained = [a.n(x) for x in sorted(set(now) - set(before))]
            fails.append(f"committee of epoch {e} gained {gained}")
    sizes = ", ".join(f"e{e}={len(c)}" for e, c in sorted(comms.items()))
    passes.append(f"committee sizes {sizes} (floor {floor})")
    blocks = 0
    for node, chain in sorted(history.chains.items()):
        for h, entry in enumerate(chain, start=1):
            e = p.epoch_of(h)
            members = comms.get(e)
            if members is None or not isinstance(entry, dict):
                continue
            blocks += 1
            block = entry.get("block") or {}
            votes = (entry.get("certificate") or {}).get("votes") or []
            signers = [v.get("validator") for v in votes if isinstance(v, dict)]
            for who, role in [(block.get("proposer"), "proposed")] + [
                (s, "signed a vote in the certificate of") for s in signers
            ]:
                if who in members:
                    continue
                if who in ejected_at and ejected_at[who] < e:
                    fails.append(
                        f"{a.n(str(who))} (ejected at the close of epoch {ejected_at[who]}) {role} "
                        f"block {h} of epoch {e} ({node}'s copy)"
                    )
                else:
                    fails.append(f"{a.n(str(who))} {role} block {h} but is not in committee {e}")
            if len(fails) > 20:
                break
    if ejected_at:
        passes.append(
            "ejected: "
            + ", ".join(f"{a.n(x)} after epoch {e}" for x, e in sorted(ejected_at.items()))
            + f"; none of them proposed or voted afterwards in {blocks} blocks"
        )
    else:
        passes.append(f"nobody was ejected; {blocks} blocks proposed and signed by members")
    return combine(NAME, fails, [], passes)
