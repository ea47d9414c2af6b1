"""What a run exercised: "sometimes" properties read from its history and its schedule.

Pure: a run's scenario document and its saved history (``history.json``) in, the set of
properties it hit out. Summed over an exploration, the properties that never happened say
what it did not try.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from harness.checks.history import History, HistoryError
from harness.checks.inclusion import explained_misses
from harness.explore.generate import Doc
from harness.faults.kinds import KINDS
from harness.scenario.model import DEFAULT_REASON, REASONS

PROPERTIES: dict[str, str] = {
    "epoch_evaluated": "an epoch was evaluated",
    "slash": "a validator was slashed",
    "ejection": "a validator was ejected",
    "deferred_ejection": "an ejection was deferred",
    "systemic_epoch": "an epoch was systemic",
    "response_in_last_block": "a response was included in the last block of its window",
    "ejection_cap_binding": "more ejection candidates than the cap",
    "ejection_tie": "ejection candidates tied in the order",
    "smallest_quorum": "a certificate signed by exactly the smallest quorum",
    "restart_across_epoch": "a node killed in one epoch and restarted in a later one",
    "ejected_while_partitioned": "a validator ejected while cut off or down",
    "round_gt0_commit": "a block committed in a round > 0",
    "one_way_cut_with_traffic": "a one-way cut held while the chain went on (the link had traffic)",
    "miss_network_explained": "a validator answered, and the fault log shows its response "
    "could not reach a proposer of the window in time",
    "equivocation": "an equivocation detected (two votes of one validator for one step)",
    "lock_released": "a lock released by a newer polka (a later vote for another value)",
    **{f"forged_{r}": f"a forged response refused with {r}" for r in REASONS},
    **{f"fault_{k}": f"fault kind {k} injected" for k in KINDS},
}


def _epoch(h: int, e: int) -> int:
    return (h - 1) // e


def observe(doc: Doc, history: Mapping[str, Any] | None) -> set[str]:
    """The properties one run hit (schedule-only ones when there is no history)."""
    hit: set[str] = set()
    for step in doc.get("steps", []):
        if step.get("do") == "post_response":
            hit.add(f"forged_{step.get('expect_reason') or DEFAULT_REASON[step['forge']]}")
    if not history:
        return hit
    clp = history.get("params", {})
    e = int(clp.get("epoch_length", 20))
    w = int(clp.get("response_window", 4))
    names = history.get("names", {})
    for rec in history.get("faults", []):
        if rec.get("kind") in KINDS:
            hit.add(f"fault_{rec['kind']}")
    hit |= _restarts(history.get("faults", []), e)
    down = _ever_down(history.get("faults", []))
    chain = _longest(history.get("chains", {}))
    hit |= _blocks(chain, history.get("genesis", []), e, w)
    if _one_way_cut_with_traffic(history.get("faults", []), len(chain)):
        hit.add("one_way_cut_with_traffic")
    if _explained_miss(history):
        hit.add("miss_network_explained")
    hit |= _votes(history.get("votes") or {}, history.get("genesis", []))
    for result in _results(history):
        hit.add("epoch_evaluated")
        if result.get("systemic"):
            hit.add("systemic_epoch")
        vals = result.get("validators", [])
        if any(int(v.get("slashed", 0)) > 0 for v in vals):
            hit.add("slash")
        if result.get("ejected"):
            hit.add("ejection")
            if any(names.get(a, a) in down for a in result["ejected"]):
                hit.add("ejected_while_partitioned")
        cands = [v for v in vals if v.get("status") in ("ejected", "ejection_deferred")]
        if any(v.get("status") == "ejection_deferred" for v in vals):
            hit |= {"deferred_ejection", "ejection_cap_binding"}
        keys = [(v.get("consecutive_failures"), v.get("stake_after")) for v in cands]
        if len(keys) != len(set(keys)) and any(v.get("status") == "ejected" for v in cands):
            hit.add("ejection_tie")
    return hit


def _votes(served: Mapping[str, Any], genesis: list[Mapping[str, Any]]) -> set[str]:
    """The vote properties, from the votes every node served (a polka weighed with the
    genesis stakes: coverage only asks whether it happened, the checks judge)."""
    steps: dict[tuple[Any, ...], set[Any]] = {}
    prevoters: dict[tuple[Any, ...], set[str]] = {}
    for node in served.values():
        for v in (node or {}).get("votes", []):
            step = (v["height"], v["round"], v["type"], v["validator"])
            steps.setdefault(step, set()).add(v["block_hash"])
            if v["type"] == "prevote" and v["block_hash"] is not None:
                prevoters.setdefault((v["height"], v["round"], v["block_hash"]), set()).add(
                    v["validator"]
                )
    hit = set()
    if any(len(values) > 1 for values in steps.values()):
        hit.add("equivocation")
    stakes = {g["address"]: int(g["stake"]) for g in genesis}
    total = sum(stakes.values())

    def polka(h: int, r: int, b: str) -> bool:
        return 3 * sum(stakes.get(a, 0) for a in prevoters.get((h, r, b), ())) > 2 * total

    # A lock on a value precommitted at (h, r) is released when the validator later votes
    # another value with a newer polka behind it: a prevote at r2 after a polka in r..r2-1
    # (Tendermint's unlock), or a precommit at r2 on that round's own polka (a relock).
    votes_of: dict[tuple[Any, ...], list[tuple[int, str, set[Any]]]] = {}
    for (h, r, kind, who), values in steps.items():
        votes_of.setdefault((h, who), []).append((r, kind, values))
    for (h, r, kind, who), values in steps.items():
        if kind != "precommit":
            continue
        for locked in values - {None}:
            for r2, kind2, later in votes_of.get((h, who), []):
                newer = range(r, r2) if kind2 == "prevote" else range(r2, r2 + 1)
                if r2 > r and any(polka(h, x, b) for b in later - {None, locked} for x in newer):
                    hit.add("lock_released")
    return hit


def _results(history: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """One served result per epoch (the first node's that has it)."""
    by_epoch: dict[str, Mapping[str, Any]] = {}
    for _node, rs in sorted(history.get("results", {}).items()):
        for ep, r in rs.items():
            if isinstance(r, Mapping):
                by_epoch.setdefault(str(ep), r)
    return [by_epoch[k] for k in sorted(by_epoch, key=int)]


def _longest(chains: Mapping[str, list[Any]]) -> list[Any]:
    return max(chains.values(), key=len, default=[])


def _restarts(records: Iterable[Mapping[str, Any]], e: int) -> set[str]:
    killed_at: dict[str, int] = {}
    for rec in records:
        node = rec.get("args", {}).get("node")
        h = rec.get("height")
        if h is None or node is None:
            continue
        if rec.get("kind") == "kill":
            killed_at[node] = int(h)
        elif (
            rec.get("kind") == "restart"
            and node in killed_at
            and _epoch(max(int(h), 1), e) > _epoch(max(killed_at[node], 1), e)
        ):
            return {"restart_across_epoch"}
    return set()


def _ever_down(records: Iterable[Mapping[str, Any]]) -> set[str]:
    """Nodes that were killed, paused, or had a link down at some point."""
    out: set[str] = set()
    for rec in records:
        st = rec.get("state", {})
        out |= set(st.get("killed", [])) | set(st.get("paused", []))
        for link in st.get("links_down", []):
            out |= set(str(link).split("_to_"))
    return out


def _one_way_cut_with_traffic(records: list[Mapping[str, Any]], head: int) -> bool:
    """A state with a -> b down but b -> a up, held while at least two blocks were
    committed (from its record's height to the next record's, or the chain's end)."""
    recs = sorted(
        (r for r in records if isinstance(r, Mapping)), key=lambda r: r.get("t_start", 0.0)
    )
    for i, rec in enumerate(recs):
        down = set(rec.get("state", {}).get("links_down", []))
        one_way = any(f"{b}_to_{a}" not in down for a, _, b in (x.partition("_to_") for x in down))
        start = rec.get("height")
        end = recs[i + 1].get("height") if i + 1 < len(recs) else head
        if one_way and isinstance(start, int) and isinstance(end, int) and end - start >= 2:
            return True
    return False


def _explained_miss(history: Mapping[str, Any]) -> bool:
    """Some answered response missed its window where the fault log explains it
    (``inclusion.explained_misses``); never for a history without answers."""
    if not any(body is not None for body in (history.get("answers") or {}).values()):
        return False
    try:
        return bool(explained_misses(History.from_json(dict(history))))
    except (HistoryError, ValueError, KeyError, TypeError):
        return False


def _blocks(chain: list[Any], genesis: list[Mapping[str, Any]], e: int, w: int) -> set[str]:
    hit: set[str] = set()
    stake = {g["address"]: int(g["stake"]) for g in genesis if "address" in g}
    total = sum(stake.values())
    for entry in chain:
        if not isinstance(entry, Mapping):
            continue
        block = entry.get("block", entry)
        h = int(block.get("height", entry.get("height", 0)))
        for r in block.get("responses", []):
            if h == int(r.get("challenge_height", -1)) + w:
                hit.add("response_in_last_block")
        cert = entry.get("certificate") or {}
        if int(cert.get("round", 0)) > 0:
            hit.add("round_gt0_commit")
        if h <= e and total:  # epoch 0: the genesis committee's stakes
            powers = [stake.get(v.get("validator", ""), 0) for v in cert.get("votes", [])]
            if (
                powers
                and sum(powers) * 3 > 2 * total
                and (sum(powers) - min(powers)) * 3 <= 2 * total
            ):
                hit.add("smallest_quorum")
    return hit


def tally(hits: Iterable[set[str]]) -> Counter[str]:
    out: Counter[str] = Counter()
    for h in hits:
        out.update(h)
    return out


def summary(counts: Mapping[str, int], runs: int, backend_kinds: Iterable[str]) -> dict[str, Any]:
    """Counts per property and the ones that never happened (kinds the backend cannot
    inject are left out of "never")."""
    possible = set(backend_kinds)
    relevant = [p for p in PROPERTIES if not p.startswith("fault_") or p[6:] in possible]
    return {
        "runs": runs,
        "counts": {p: int(counts.get(p, 0)) for p in relevant},
        "never": [p for p in relevant if not counts.get(p)],
    }
