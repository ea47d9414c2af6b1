"""Coverage that steers: recipes that aim a drawn run at a property not yet reached.

Pure. The explorer picks an aim from the properties that never happened in the runs judged
so far (``aim_for``); ``steer`` then rewrites the drawn document so that this run is
likely to hit it — a lazy validator brought back just before its challenge's window ends
(its answer lands in the window's last block), a fault kind the random draw has not
injected, a forgery refused with a code not yet seen, a node killed in one epoch and
restarted in the next. Properties with no recipe are left to chance. The aim depends only
on runs at least ``STEER_LAG`` before this one, which are always judged before this run is
drawn whatever ``--jobs`` is, so a seed still gives the same runs for any job count.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from harness.contract.genesis import ConsensusParams
from harness.contract.keys import ValidatorKey
from harness.explore.generate import (
    SIGNATURE_FORGES,
    WIDE_WINDOW_FORGES,
    Doc,
    challenge_heights,
    draw_args,
    kinds_for,
    runnable,
    undo_step,
)
from harness.faults.kinds import KINDS
from harness.scenario.model import DEFAULT_REASON

STEER_LAG = 12  # the most testnets explore runs at once (--jobs): aims see no later run
STEER_EVERY = 2  # every second run (after the lag) is aimed; the rest stay random

Recipe = Callable[[Doc, random.Random, str], list[dict[str, Any]] | None]
# Recipes whose timing any other fault would spoil: the aimed run keeps none of the drawn
# steps (the rest keep those that do not name the recipe's target).
ALONE = frozenset({"lock_released"})


def aim_for(index: int, counts_before: Mapping[str, int], never: Iterable[str]) -> str | None:
    """The property run ``index`` aims at, or None for a random run.

    ``counts_before``: the property tally of runs ``0 .. index - STEER_LAG``; ``never``
    lists every property the backend can reach, in report order.
    """
    if index < STEER_LAG or index % STEER_EVERY:
        return None
    missing = [p for p in never if not counts_before.get(p) and p in _recipe_names()]
    if not missing:
        return None
    return missing[(index // STEER_EVERY) % len(missing)]


def steer(doc: Doc, aim: str, rng: random.Random, backend: str, seed: int | None = None) -> Doc:
    """``doc`` with the steps of ``aim``'s recipe on its weakest validator (the others'
    steps left as drawn); unchanged when the recipe does not fit this testnet. ``seed``:
    the testnet's key seed, for recipes that need to know who proposes when."""
    recipe = _recipe(aim, backend, seed)
    target = _weakest(doc)
    if recipe is None or target is None:
        return doc
    added = recipe(doc, rng, target)
    if not added:
        return doc
    kept = [] if aim in ALONE else [s for s in doc["steps"] if target not in _nodes(s)]
    out = dict(doc)
    out["steps"] = runnable(_in_protocol_order([*kept, *added], doc["cluster"]["clp"]))
    out["description"] = f"{doc['description']} Aimed at: {aim}."
    return out


def _weakest(doc: Doc) -> str | None:
    """The validator with the least stake, if it holds less than a third (a fault on it
    leaves the chain live)."""
    stakes = doc["cluster"].get("stakes") or [1] * int(doc["cluster"]["validators"])
    i = min(range(len(stakes)), key=lambda k: (stakes[k], k))
    return f"v{i}" if 3 * stakes[i] < sum(stakes) else None


def _nodes(step: Mapping[str, Any]) -> set[str]:
    """Every node a step names (node, via, validator, link ends, group members)."""
    out = {str(step[k]) for k in ("node", "from", "to", "via", "validator") if k in step}
    out |= {str(n) for n in step.get("link", [])} | {str(n) for n in step.get("nodes", [])}
    for group in step.get("groups", []):
        out |= {str(n) for n in group}
    return out


def _height_of(step: Mapping[str, Any], clp: Mapping[str, int], previous: float) -> float:
    at = step["at"]
    e = int(clp["epoch_length"])
    if "height" in at:
        return float(at["height"])
    if "epoch" in at:
        return float(int(at["epoch"]) * e + 1 + int(at.get("offset", 0)))
    if "challenge" in at:
        return float(int(at["challenge"]) + int(at.get("offset", 0)))
    return previous  # after_s: right after the step before it


def _in_protocol_order(steps: list[dict[str, Any]], clp: Mapping[str, int]) -> list[dict[str, Any]]:
    """Steps sorted by the height they fire at (a delay step stays behind its anchor)."""
    keyed, last = [], 0.0
    for i, step in enumerate(steps):
        last = _height_of(step, clp, last)
        keyed.append((last, i, step))
    return [s for _, _, s in sorted(keyed, key=lambda t: (t[0], t[1]))]


# ---- recipes ---------------------------------------------------------------------------


def _last_block(doc: Doc, rng: random.Random, target: str) -> list[dict[str, Any]] | None:
    """Lazy before a challenge, active again W - 1 blocks into its window: the target's
    answer can only be in the window's last block."""
    clp = doc["cluster"]["clp"]
    w = int(clp["response_window"])
    hs = [
        h for h in challenge_heights(clp["challenge_interval"], w, clp["epoch_length"], 0) if h >= 2
    ]
    if w < 2 or not hs:
        return None
    h = rng.choice(hs)
    return [
        {"at": {"height": h - 1}, "do": "lazy", "node": target},
        {"at": {"challenge": h, "offset": w - 1}, "do": "active", "node": target},
    ]


def _fault(kind_name: str) -> Recipe:
    def recipe(doc: Doc, rng: random.Random, target: str) -> list[dict[str, Any]] | None:
        kind = KINDS[kind_name]
        names = [f"v{i}" for i in range(int(doc["cluster"]["validators"]))]
        e = int(doc["cluster"]["clp"]["epoch_length"])
        start = rng.randint(1, max(1, e - 2))
        args = draw_args(rng, kind, [target], names)
        out = [{"at": {"height": start}, "do": kind.name, **args}]
        end = start + rng.randint(1, max(1, e // 2))
        last = (int(doc["run"]["until_epoch"]) + 1) * e
        if kind.undone_by is not None and end <= last:  # else the quiet period undoes it
            out.append({"at": {"height": end}, **undo_step(kind, args)})
        return out

    return recipe


def _forged(forge: str) -> Recipe:
    def recipe(doc: Doc, rng: random.Random, target: str) -> list[dict[str, Any]] | None:
        clp = doc["cluster"]["clp"]
        k, w, e = clp["challenge_interval"], clp["response_window"], clp["epoch_length"]
        if forge in WIDE_WINDOW_FORGES and w < 3:
            return None
        hs = [h for h in challenge_heights(k, w, e, 0) if h >= 2 and h + 2 * w + k + 2 <= e]
        if not hs:
            return None
        h = rng.choice(hs)
        via = next(f"v{i}" for i in range(int(doc["cluster"]["validators"])) if f"v{i}" != target)
        step: dict[str, Any] = {
            "at": {"challenge": h, "offset": rng.randint(1, w)},
            "do": "post_response",
            "via": via,
            "forge": forge,
        }
        if forge not in SIGNATURE_FORGES:
            return [step]
        step["validator"] = target  # a lazy validator: no genuine answer races the forgery
        return [{"at": {"height": 1}, "do": "lazy", "node": target}, step]

    return recipe


def _restart_across_epoch(doc: Doc, rng: random.Random, target: str) -> list[dict[str, Any]] | None:
    if int(doc["run"]["until_epoch"]) < 1:
        return None
    e = int(doc["cluster"]["clp"]["epoch_length"])
    return [
        {"at": {"height": max(1, e - rng.randint(1, 3))}, "do": "kill", "node": target},
        {
            "at": {"epoch": 1, "offset": rng.randint(0, min(3, e - 1))},
            "do": "restart",
            "node": target,
        },
    ]


def proposers(seed: int, names: list[str]) -> list[str]:
    """The epoch-0 validators in proposer order (§16.6: addresses sorted ascending), with
    the keys a testnet of this seed gets."""
    return sorted(names, key=lambda n: ValidatorKey.of_testnet(seed, n).address)


# Late enough that the proposal lands after the test profile's propose timeout.
LOCK_LATE_MS = ConsensusParams.test_profile().timeout_propose_ms * 3 // 2


def _lock_split(seed: int | None) -> Recipe:
    """One validator locked on a block its round does not decide, the next round deciding
    another (tests/explore/lock-split-round.toml, generalised): at a height h of epoch 0
    with proposers P (round 0) and Q (round 1), X (neither) is muted and P -> Z is late past
    the propose timeout. Z prevotes nil; X alone sees the polka for P's block and locks on
    it; the others see a quorum of prevotes but no polka and precommit nil; in round 1 Q
    proposes a new block, and its polka moves X's lock. It needs X + Z to hold at least a
    third of the stake, and X and Z each less."""

    def recipe(doc: Doc, rng: random.Random, target: str) -> list[dict[str, Any]] | None:
        n, e = int(doc["cluster"]["validators"]), int(doc["cluster"]["clp"]["epoch_length"])
        if seed is None or n < 4 or e < 6:
            return None
        names = [f"v{i}" for i in range(n)]
        stakes = dict(zip(names, doc["cluster"].get("stakes") or [1] * n, strict=True))
        total = sum(stakes.values())
        order = proposers(seed, names)
        for h in rng.sample(range(4, e), e - 4):
            p, q = order[h % n], order[(h + 1) % n]
            pairs = [
                (x, z)
                for x in names
                for z in names
                if len({x, z, p}) == 3
                and x != q
                and 3 * (total - stakes[x] - stakes[z]) <= 2 * total
                and 3 * (total - stakes[z]) > 2 * total
                and 3 * (total - stakes[x]) > 2 * total
            ]
            if pairs:
                x, z = rng.choice(pairs)
                return [
                    {"at": {"height": h - 2}, "do": "mute", "node": x},
                    {"at": {"height": h - 1}, "do": "latency", "link": [p, z], "ms": LOCK_LATE_MS},
                    {"at": {"height": h + 2}, "do": "heal"},
                    {"at": {"after_s": 0}, "do": "clear"},
                ]
        return None

    return recipe


def _recipes(backend: str, seed: int | None = None) -> dict[str, Recipe]:
    out: dict[str, Recipe] = {
        "response_in_last_block": _last_block,
        "restart_across_epoch": _restart_across_epoch,
        "lock_released": _lock_split(seed),
    }
    for kind in kinds_for(backend):
        out[f"fault_{kind.name}"] = _fault(kind.name)
    out["equivocation"] = _fault("double_sign")  # its validator equivocates at once
    by_reason: dict[str, str] = {}
    for forge, reason in DEFAULT_REASON.items():
        by_reason.setdefault(reason, forge)
    for reason, forge in by_reason.items():
        out[f"forged_{reason}"] = _forged(forge)
    return out


def _recipe(aim: str, backend: str, seed: int | None = None) -> Recipe | None:
    return _recipes(backend, seed).get(aim)


def _recipe_names() -> set[str]:
    """Every property some backend has a recipe for (what ``aim_for`` may choose)."""
    return set(_recipes("local")) | set(_recipes("docker"))
