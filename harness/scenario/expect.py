"""``[[expect]]`` entries against the epoch results the nodes serve (names ↔ addresses).

Every node must serve the same result for the epoch; then each asserted key is compared
on its own, so the results JSON says exactly which part of an expectation failed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from harness.cluster.base import Cluster
from harness.cluster.client import NodeUnavailable
from harness.scenario.model import Expectation
from harness.scenario.results import ExpectationOutcome


def _show(names: Iterable[str]) -> str:
    items = sorted(names)
    return "{" + ", ".join(items) + "}" if items else "{}"


def compare(
    exp: Expectation,
    index: int,
    result: Mapping[str, Any],
    name_of: Mapping[str, str],
    stakes_after: Mapping[str, int],
) -> list[ExpectationOutcome]:
    """One outcome per asserted key of ``exp`` against one served ``ClpEpochResult``."""
    label = f"expect[{index}] epoch {exp.epoch}"
    outcomes = []
    by_name = {name_of.get(v["address"], v["address"]): v for v in result.get("validators", [])}

    def names_where(pred: Any) -> frozenset[str]:
        return frozenset(n for n, v in by_name.items() if pred(v))

    sets = {
        "slashed": (exp.slashed, names_where(lambda v: int(v.get("slashed", 0)) > 0)),
        "ejected": (
            exp.ejected,
            frozenset(name_of.get(a, a) for a in result.get("ejected", [])),
        ),
        "deferred": (exp.deferred, names_where(lambda v: v.get("status") == "ejection_deferred")),
        "committee": (
            exp.committee,
            frozenset(name_of.get(a, a) for a in result.get("next_committee", [])),
        ),
    }
    for key, (want, got) in sets.items():
        if want is not None:
            outcomes.append(
                ExpectationOutcome(
                    f"{label} {key}", want == got, f"want {_show(want)}, got {_show(got)}"
                )
            )
    if exp.systemic is not None:
        got_systemic = bool(result.get("systemic"))
        outcomes.append(
            ExpectationOutcome(
                f"{label} systemic",
                exp.systemic == got_systemic,
                f"want {str(exp.systemic).lower()}, got {str(got_systemic).lower()}",
            )
        )
    for name, want_stake in sorted((exp.stakes or {}).items()):
        got_stake = stakes_after.get(name)
        outcomes.append(
            ExpectationOutcome(
                f"{label} stake of {name}",
                got_stake == want_stake,
                f"want {want_stake}, got {got_stake}",
            )
        )
    for name, want_status in sorted((exp.statuses or {}).items()):
        got_status = by_name.get(name, {}).get("status", "absent (not in the epoch's committee)")
        outcomes.append(
            ExpectationOutcome(
                f"{label} status of {name}",
                got_status == want_status,
                f"want {want_status}, got {got_status}",
            )
        )
    return outcomes


async def evaluate(cluster: Cluster, expects: Iterable[Expectation]) -> list[ExpectationOutcome]:
    """Fetch each expectation's epoch result from every node and compare."""
    name_of = {n.address: n.name for n in cluster.manifest.nodes}
    genesis = {n.name: n.stake for n in cluster.manifest.nodes}
    outcomes: list[ExpectationOutcome] = []
    for i, exp in enumerate(expects):
        label = f"expect[{i}] epoch {exp.epoch}"
        served: dict[str, dict[str, Any] | None] = {}
        for n in cluster.names:
            try:
                served[n] = await cluster.client(n).epoch_result(exp.epoch)
            except NodeUnavailable:
                served[n] = None
        missing = [n for n, r in served.items() if r is None]
        if missing:
            outcomes.append(
                ExpectationOutcome(f"{label} served", False, f"not served by {', '.join(missing)}")
            )
            continue
        distinct: list[dict[str, Any]] = []
        for r in served.values():
            if r not in distinct and r is not None:
                distinct.append(r)
        if len(distinct) != 1:
            groups = [[n for n, r in served.items() if r == d] for d in distinct]
            outcomes.append(
                ExpectationOutcome(
                    f"{label} served",
                    False,
                    "nodes disagree: " + " vs ".join(",".join(g) for g in groups),
                )
            )
            continue
        result = distinct[0]
        stakes = await stakes_after(cluster, exp.epoch, genesis, name_of) if exp.stakes else {}
        outcomes += compare(exp, i, result, name_of, stakes)
    return outcomes


async def stakes_after(
    cluster: Cluster, epoch: int, genesis: Mapping[str, int], name_of: Mapping[str, str]
) -> dict[str, int]:
    """Stakes after ``epoch``: the served committee of epoch+1 for its members; for the
    others (ejected) the genesis stake minus everything the served results slashed."""
    client = cluster.client(cluster.names[0])
    out = dict(genesis)
    for e in range(epoch + 1):
        r = await client.epoch_result(e)
        for v in (r or {}).get("validators", []):
            name = name_of.get(v["address"], v["address"])
            out[name] = out.get(name, 0) - int(v.get("slashed", 0))
    committee = await client.committee(epoch + 1)
    for m in (committee or {}).get("members", []):
        out[name_of.get(m["address"], m["address"])] = int(m["stake"])
    return out
