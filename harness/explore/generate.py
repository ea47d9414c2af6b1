"""Draw a testnet and a fault schedule in protocol time from a seed (pure: no I/O, no clock).

A draw is a scenario *document*: the dict a ``scenarios/`` TOML file holds, with no
``[[expect]]`` (the checkers are the oracle). Parameters come from CLP_SPEC §2's valid
ranges and lean on their edges; fault kinds, their fields and their undo come from the
fault registry, so a new kind is explored without touching this module.

Two modes: ``live`` keeps more than 2/3 of the stake connected (every fault hits a set
holding less than 1/3), ``stall`` may take more than 1/3 away; its faults are undone by a
wall-time step (``after_s``), because a stalled chain reaches no height trigger.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from harness.contract.params import BPS_MAX
from harness.faults.errors import FieldError
from harness.faults.kinds import KINDS
from harness.faults.kinds.base import FaultKind
from harness.scenario.model import FORGES

Doc = dict[str, Any]
MODES = ("live", "stall")
MAX_EPOCH_LENGTH = 16  # short epochs keep a run to tens of seconds
BASE_STAKE = 100_000

# Ranges for the registry's integer fields, by (kind, field) then by field; a field not
# listed draws from its own bounds (lo .. hi, or lo + 1000 without one).
INT_RANGES: dict[tuple[str, str] | str, tuple[int, int]] = {
    ("latency", "ms"): (20, 900),
    ("latency", "jitter"): (0, 100),
    ("timeout", "ms"): (0, 1500),
    ("reset_peer", "ms"): (0, 500),
    ("slow_close", "ms"): (0, 500),
    ("bandwidth", "rate_kb"): (1, 200),
    ("limit_data", "bytes"): (0, 200_000),
    ("slicer", "average_size"): (1, 2000),
    ("slicer", "size_variation"): (0, 100),
    ("slicer", "delay_us"): (0, 2000),
    ("clock_offset", "ms"): (-2000, 2000),
    "delay_ms": (0, 300),
    "jitter_ms": (0, 50),
}
# Draws of one fault's fields before its kind takes them: a rule across fields (the slicer's
# variation below its average size) refuses few.
DRAW_TRIES = 50
# Forgeries judged by their signature: the validator they claim must have no genuine
# answer on chain, or DUPLICATE (rule 5) rightly comes first: they claim a lazy validator.
SIGNATURE_FORGES = ("bad_signature", "replay")
# Forgeries the forger builds on a challenge (or response) with two blocks of its window
# left: a 2-block window has that only at its own height, if at all.
WIDE_WINDOW_FORGES = ("duplicate", "not_in_committee", *SIGNATURE_FORGES)
# Kinds that only take faults away (some kind's undo, or every fault's): a schedule reaches
# them as undo steps. A setting kind undoes itself (back to neutral: ``clock_offset``); a
# kind with no undo that is no undo either (``double_sign``) is a one-shot step.
UNDO_ONLY = frozenset(
    k.undone_by for k in KINDS.values() if k.undone_by and k.undone_by != k.name
) | frozenset(k.name for k in KINDS.values() if k.group == "all")


def kinds_for(backend: str) -> list[FaultKind]:
    """The registry's fault kinds the generator draws on ``backend``: not the undo-only
    ones, nor those that name a node implementation (``upgrade``: a mixed run's)."""
    return [
        k
        for k in KINDS.values()
        if backend in k.backends
        and k.name not in UNDO_ONLY
        and not any(f.type == "implementation" and f.required for f in k.fields)
    ]


def _edge_or(rng: random.Random, edges: Sequence[int], lo: int, hi: int, p: float = 0.6) -> int:
    return rng.choice(list(edges)) if rng.random() < p else rng.randint(lo, hi)


def challenge_heights(k: int, w: int, e: int, epoch: int) -> list[int]:
    """§4 challenge heights of one epoch (written here from the spec, like the checkers)."""
    first, last = epoch * e + 1, (epoch + 1) * e
    return [h for h in range(first, last + 1) if h % k == 0 and (h - 1) // e == (h + w - 1) // e]


def draw_clp(rng: random.Random, n: int) -> dict[str, int]:
    k = _edge_or(rng, (1, 2), 1, 3)
    w = _edge_or(rng, (2,), 2, 4)
    e = _edge_or(rng, (k + w,), k + w, max(k + w, MAX_EPOCH_LENGTH), p=0.3)
    per_epoch = len(challenge_heights(k, w, e, 0))
    return {
        "epoch_length": e,
        "challenge_interval": k,
        "response_window": w,
        "min_response_rate_bps": _edge_or(rng, (0, 1, 4999, 5000, 5001, 9999, BPS_MAX), 0, BPS_MAX),
        "slash_fraction_bps": _edge_or(rng, (0, 1, 1000, 5000, BPS_MAX), 0, BPS_MAX),
        "max_consecutive_failures": rng.randint(1, 2 * per_epoch + 1),
        "min_stake": _edge_or(rng, (1, 1000, BASE_STAKE - 1, BASE_STAKE), 1, 2 * BASE_STAKE),
        "min_committee_size": rng.choice([3, 3, n, rng.randint(3, max(3, n))]),
        "systemic_fault_bps": _edge_or(rng, (0, 1, 3333, 3334, 3335, BPS_MAX), 0, BPS_MAX),
    }


def draw_stakes(rng: random.Random, n: int, clp: dict[str, int]) -> tuple[list[int], str]:
    """Stakes and the name of their shape; the shapes put a set exactly on a threshold."""
    shape = rng.choice(("equal", "random", "two_thirds", "systemic"))
    if shape == "equal":
        return [BASE_STAKE] * n, shape
    if shape == "random":
        return [rng.randint(1000, 2 * BASE_STAKE) for _ in range(n)], shape
    k = rng.randint(1, n - 1)  # the first k validators hold exactly the share
    unit = rng.randint(1, 20)
    if shape == "two_thirds":
        inside, outside = 2 * 30_000 * unit, 30_000 * unit
    else:
        share = min(max(clp["systemic_fault_bps"], 1), BPS_MAX - 1)
        inside, outside = share * 10 * unit, (BPS_MAX - share) * 10 * unit
    return _split(rng, inside, k) + _split(rng, outside, n - k), shape


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    """``parts`` positive integers summing to ``total`` (total >= parts)."""
    if parts == 1:
        return [total]
    if rng.random() < 0.5 and total % parts == 0:
        return [total // parts] * parts  # equal: ties
    cuts = sorted(rng.sample(range(1, total), parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]


def minority(rng: random.Random, names: list[str], stakes: list[int]) -> list[str]:
    """A non-empty set holding less than 1/3 of the stake, or [] when none exists."""
    total = sum(stakes)
    order = list(range(len(names)))
    rng.shuffle(order)
    chosen: list[int] = []
    held = 0
    for i in order:
        if (held + stakes[i]) * 3 < total and rng.random() < 0.7:
            chosen.append(i)
            held += stakes[i]
    if not chosen:
        small = min(order, key=lambda i: stakes[i])
        if stakes[small] * 3 < total:
            chosen = [small]
    return sorted(names[i] for i in chosen)


def still_live(
    lazy: list[str], faulty: list[str], names: list[str], stakes: list[int]
) -> list[str]:
    """The lazy validators to keep so that ``faulty`` stays under 1/3 of the stake in force.

    A lazy validator keeps voting but may be slashed to nothing (slash 100 %) or ejected at
    the first epoch's end; counted with no stake, the faulty set must still hold less than
    a third, or faulting it stalls the chain where the schedule expects it to go on. The
    last lazy validators are dropped until it holds."""
    stake = dict(zip(names, stakes, strict=True))
    held = sum(stake[n] for n in faulty)
    kept = list(lazy)
    while kept and 3 * held >= sum(stakes) - sum(stake[n] for n in kept if n not in faulty):
        kept.pop()
    return kept


def draw_args(
    rng: random.Random, kind: FaultKind, targets: list[str], names: list[str]
) -> dict[str, Any]:
    """Field values for ``kind``, on ``targets`` (the nodes the fault may touch), drawn
    again until the kind takes them (its rules across fields, e.g. the slicer's)."""
    for _ in range(DRAW_TRIES):
        args = _draw_fields(rng, kind, targets, names)
        try:
            kind.request(args, names)
        except FieldError:
            continue
        return args
    raise AssertionError(f"no {kind.name} fault the kind takes in {DRAW_TRIES} draws")


def _draw_fields(
    rng: random.Random, kind: FaultKind, targets: list[str], names: list[str]
) -> dict[str, Any]:
    args: dict[str, Any] = {}
    fields = {f.name: f for f in kind.fields}
    others = [n for n in names if n not in targets] or [n for n in names if n != targets[0]]
    if "node" in fields and "link" in fields:  # a toxic: one node's links, or one link
        if rng.random() < 0.5:
            args["node"] = rng.choice(targets)
        else:
            args["link"] = [rng.choice(targets), rng.choice(others)]
    for f in kind.fields:
        if f.name in args or (f.name in ("node", "link") and ("node" in args or "link" in args)):
            continue
        if f.type == "node":
            if f.name == "to":
                args[f.name] = rng.choice(others)
            else:
                args[f.name] = rng.choice(targets)
        elif f.type == "nodes":
            args[f.name] = sorted(rng.sample(targets, rng.randint(1, len(targets))))
        elif f.type == "groups":
            args[f.name] = _groups(rng, targets, names)
        elif f.type == "int":
            lo, hi = (
                INT_RANGES.get((kind.name, f.name))
                or INT_RANGES.get(f.name)
                or (
                    int(f.lo or 0),
                    int(f.hi) if f.hi is not None else int(f.lo or 0) + 1000,
                )
            )
            args[f.name] = rng.randint(lo, hi)
        elif f.type == "probability":
            args[f.name] = round(rng.uniform(0.1, 1.0), 2)
        elif f.required:
            raise AssertionError(f"no generator for field type {f.type!r}")
    return args


def _groups(rng: random.Random, targets: list[str], names: list[str]) -> list[list[str]]:
    """The targets cut off from the rest; sometimes split among themselves too."""
    if len(targets) > 1 and rng.random() < 0.3:
        cut = rng.randint(1, len(targets) - 1)
        return [targets[:cut], targets[cut:]]
    if len(targets) == len(names):
        return [targets[:1], targets[1:]]
    return [list(targets)]


def undo_step(kind: FaultKind, args: dict[str, Any]) -> dict[str, Any]:
    """The registry's undo of a fault, as a step without its trigger."""
    assert kind.undone_by is not None
    undo = KINDS[kind.undone_by]
    fields = kind.undo_args(args, undo)
    if undo.name == kind.name:  # a setting kind (clock offset, netem): back to neutral
        for f in undo.fields:
            if f.type == "int":
                fields[f.name] = 0
            elif f.type == "probability":
                fields[f.name] = 0.0
    return {"do": undo.name, **fields}


MIX_SHAPES = ("one_kind", "minority", "even_stake")
MIX_P = 0.4  # how often a run with mixes drawn is a mixed (or other-kind) testnet


def draw_mix(rng: random.Random, stakes: list[int], kinds: Sequence[str]) -> tuple[list[str], str]:
    """A node kind per validator and the name of its shape: all of one kind, one validator
    of another kind (a 1-of-n minority), or the stake split as evenly as it goes between two
    kinds (greedy, heaviest first: each to the lighter side)."""
    shape = rng.choice(MIX_SHAPES)
    n = len(stakes)
    if shape == "one_kind":
        return [rng.choice(list(kinds))] * n, shape
    major, minor = rng.sample(list(kinds), 2)
    if shape == "minority":
        out = [major] * n
        out[rng.randrange(n)] = minor
        return out, shape
    out = [major] * n
    held = {major: 0, minor: 0}
    for i in sorted(range(n), key=lambda k: (-stakes[k], k)):
        side = minor if held[minor] < held[major] else major
        out[i] = side
        held[side] += stakes[i]
    return out, shape


def draw(seed: int, index: int, backend: str = "local", kinds: Sequence[str] | None = None) -> Doc:
    """Run ``index`` of exploration ``seed``: the same pair always gives the same document.

    ``kinds``: node kinds (two or more) to draw mixed testnets of, sometimes
    (``draw_mix``); from a stream of its own, so the rest of the draw is the same with or
    without them."""
    rng = random.Random(f"clp-explore:{seed}:{index}")
    n = rng.choice([3, 4, 4, 5, 5, 5, 6, 7, rng.randint(3, 10)])
    names = [f"v{i}" for i in range(n)]
    clp = draw_clp(rng, n)
    stakes, shape = draw_stakes(rng, n, clp)
    mode = rng.choice(MODES) if rng.random() < 0.3 else "live"
    until = rng.choice([0, 1, 1, 1])
    steps = draw_steps(rng, names, stakes, clp, until, mode, backend)
    cluster: Doc = {"validators": n, "stakes": stakes, "clp": clp}
    mixed = ""
    if kinds is not None and len(kinds) > 1:
        mix_rng = random.Random(f"clp-explore-mix:{seed}:{index}")
        if mix_rng.random() < MIX_P:
            cluster["nodes"], mix_shape = draw_mix(mix_rng, stakes, kinds)
            mixed = f", nodes {mix_shape}"
    return {
        "name": f"explore-{seed}-{index}",
        "description": (
            f"Generated by clp-testnet explore --seed {seed} (run {index}): {n} validators, "
            f"{shape} stakes{mixed}, {mode} mode, {len(steps)} steps."
        ),
        "cluster": cluster,
        "run": {"until_epoch": until},
        "steps": steps,
        "quiet": {"blocks": 4},
    }


def draw_steps(
    rng: random.Random,
    names: list[str],
    stakes: list[int],
    clp: dict[str, int],
    until: int,
    mode: str,
    backend: str,
) -> list[dict[str, Any]]:
    """Faults and their undos in protocol time, overlapping, sorted by height."""
    e, w = clp["epoch_length"], clp["response_window"]
    last = (until + 1) * e
    faulty = minority(rng, names, stakes)
    calm = [n for n in names if n not in faulty]
    timed: list[tuple[int, int, dict[str, Any]]] = []
    kinds = kinds_for(backend)
    if faulty:
        groups = sorted({k.group for k in kinds})
        for _ in range(rng.randint(1, 4)):
            group = rng.choice(groups)  # by group first: processes as often as links
            kind = rng.choice([k for k in kinds if k.group == group])
            start, end = _window(rng, clp, until)
            args = draw_args(rng, kind, faulty, names)
            timed.append((start, len(timed), {"at": {"height": start}, "do": kind.name, **args}))
            if kind.undone_by is not None and end <= last:
                undo = undo_step(kind, args)
                timed.append((end, len(timed), {"at": {"height": end}, **undo}))
    if len(names) > 3 and rng.random() < 0.3:
        # ejection pressure: several validators lazy from the start tie in their failure
        # streaks; lazy nodes keep voting, so even more than 1/3 of them leaves the chain live
        n = len(names)
        cap = max(0, min((n - 1) // 3, n - clp["min_committee_size"]))
        k = rng.choice([max(2, cap + 1), max(2, cap + 1), rng.randint(2, n - 1)])
        chosen = sorted(rng.sample(names, min(k, n - 1)))
        for node in still_live(chosen, faulty, names, stakes):
            timed.append((1, -2, {"at": {"height": 1}, "do": "lazy", "node": node}))
    lazy: str | None = None  # claimed by signature forgeries, so no genuine answer races them
    for _ in range(rng.choice([0, 0, 1, 2])):
        heights = [
            h
            for ep in range(until + 1)
            for h in challenge_heights(clp["challenge_interval"], w, e, ep)
        ]
        if not heights or not calm:
            continue
        forge = rng.choice(FORGES)
        early = [h for h in heights if h >= 2 and h + 2 * w + clp["challenge_interval"] + 2 <= e]
        if forge in SIGNATURE_FORGES and (not faulty or not early):
            forge = rng.choice([f for f in FORGES if f not in SIGNATURE_FORGES])
        if forge in WIDE_WINDOW_FORGES and w < 3:
            forge = rng.choice(["malformed", "expired", "unknown_challenge"])
        if forge in SIGNATURE_FORGES and lazy is None:
            lazy = rng.choice(faulty)
            timed.append((1, -1, {"at": {"height": 1}, "do": "lazy", "node": lazy}))
        # a signature forgery stays in epoch 0, where the lazy validator is surely in the
        # committee (NOT_IN_COMMITTEE, rule 4, would rightly come first after an ejection)
        h = rng.choice(early if forge in SIGNATURE_FORGES else heights)
        off = rng.randint(1, w)
        step: dict[str, Any] = {"at": {"challenge": h, "offset": off}, "do": "post_response"}
        step |= {"via": rng.choice(calm), "forge": forge}
        if forge in SIGNATURE_FORGES:
            step["validator"] = lazy
        timed.append((h + off, len(timed), step))
    if lazy is not None:  # it stays lazy: no undo wakes it, no restart drops its hook
        wake = ("active", "kill", "restart")
        timed = [t for t in timed if not (t[2]["do"] in wake and t[2].get("node") == lazy)]
    steps = [s for _, _, s in sorted(timed, key=lambda t: (t[0], t[1]))]
    if mode == "stall":
        steps += _stall(rng, names, clp, until, backend)
    return runnable(steps)


def runnable(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps without those that cannot act on a stopped node: a hook, a kill or a pause
    of a node that is killed or paused at that point (its REST API does not answer), and a
    resume of a node that is not paused. A restart is always possible."""
    killed: set[str] = set()
    paused: set[str] = set()
    out = []
    for step in steps:
        do, node = step["do"], step.get("node")
        kind = KINDS.get(do)
        if node is not None and kind is not None and do != "restart":
            down = node in killed or node in paused
            if do == "resume":
                if node not in paused:
                    continue
                paused.discard(node)
            elif down and kind.group in ("hooks", "processes"):
                continue
            elif do == "kill":
                killed.add(node)
            elif do == "pause":
                paused.add(node)
        elif do == "restart":
            killed.discard(str(node))
            paused.discard(str(node))
        out.append(step)
    return out


def _window(rng: random.Random, clp: dict[str, int], until: int) -> tuple[int, int]:
    """A fault's start and end height: at a height, an epoch boundary, or in a window."""
    e = clp["epoch_length"]
    last = (until + 1) * e
    how = rng.choice(("height", "boundary", "window"))
    if how == "boundary" and until >= 1:
        start = rng.randint(max(1, e - 2), e)
        end = rng.randint(e + 1, last + 2)
    elif how == "window":
        hs = challenge_heights(clp["challenge_interval"], clp["response_window"], e, 0)
        start = rng.choice(hs) if hs else 1
        end = start + rng.randint(1, clp["response_window"] + 1)
    else:
        start = rng.randint(1, max(1, last - 2))
        end = start + rng.randint(1, e)
    return start, end


def _stall(
    rng: random.Random, names: list[str], clp: dict[str, int], until: int, backend: str
) -> list[dict[str, Any]]:
    """One fault that may take more than 1/3 of the stake away, undone after a delay."""
    e = clp["epoch_length"]
    h = rng.randint(1, max(1, (until + 1) * e - 1))
    choices = [k for k in kinds_for(backend) if k.group in ("links", "processes")]
    kind = rng.choice(choices)
    size = rng.randint(1, max(1, len(names) // 2))
    targets = sorted(rng.sample(names, size))
    args = draw_args(rng, kind, targets, names)
    out = [{"at": {"height": h}, "do": kind.name, **args}]
    if kind.undone_by is not None:
        delay = float(rng.randint(1, 4))
        out.append({"at": {"after_s": delay}, **undo_step(kind, args)})
    return out
