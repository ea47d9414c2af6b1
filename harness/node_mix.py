"""Which node kind each validator runs: a mixed testnet (docs/scenarios.md, "nodes").

A mix is written either as one kind per validator (``["python", "rust", "python"]``) or as
a count per kind (``{python = 3, rust = 2}``, on the command line ``python:3,rust:2``). Counts
are dealt round-robin in the order written (python, rust, python, rust, python), so every
kind holds proposer slots early and a partition by kind cuts across the validator names.
A mix whose counts do not add up to a testnet's validators is a *pattern*: it is repeated
over v0..v{n-1} (the scenario suite runs on ``--mix python:3,rust:2`` whatever its sizes).
Pure: parsing and dealing only; the backends start what the manifest then records.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from harness.node_kinds import KINDS

NODE_MIX_ENV = "CLP_TESTNET_NODE_MIX"  # ``python:3,rust:2``: set by --mix, read at init


class MixError(ValueError):
    """A mix that cannot be used; the one-line message says why."""


def _kind(name: Any) -> str:
    if not isinstance(name, str) or name not in KINDS:
        raise MixError(f"unknown node kind {name!r}: choose from {', '.join(KINDS)}")
    return name


def deal(counts: Mapping[str, int]) -> list[str]:
    """The kinds of ``counts`` dealt round-robin in their order: {a: 3, b: 2} -> a b a b a."""
    left = dict(counts)
    out: list[str] = []
    while any(left.values()):
        for kind in counts:
            if left[kind] > 0:
                out.append(kind)
                left[kind] -= 1
    return out


def counts_of(raw: Mapping[str, Any]) -> dict[str, int]:
    """A checked ``kind = count`` table (counts >= 0, at least one validator)."""
    counts: dict[str, int] = {}
    for kind, count in raw.items():
        _kind(kind)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise MixError(f"{kind} = {count!r}: want a count >= 0")
        counts[kind] = count
    if sum(counts.values()) < 1:
        raise MixError("a mix needs at least one validator")
    return counts


def parse_mix(text: str) -> dict[str, int]:
    """``python:3,rust:2`` -> {"python": 3, "rust": 2}; MixError on anything else."""
    raw: dict[str, Any] = {}
    for part in text.split(","):
        kind, sep, count = part.strip().partition(":")
        if not sep or not count.strip().isdigit():
            raise MixError(f"--mix {text!r}: want KIND:COUNT,... e.g. python:3,rust:2")
        if kind.strip() in raw:
            raise MixError(f"--mix {text!r}: {kind.strip()} named twice")
        raw[kind.strip()] = int(count)
    return counts_of(raw)


def format_mix(counts: Mapping[str, int]) -> str:
    return ",".join(f"{k}:{v}" for k, v in counts.items())


def mix_nodes(value: Any, validators: int, exact: bool = True) -> list[str]:
    """The kind of each of ``validators`` validators from a list or a count table.

    ``exact``: the list or the counts must match the number of validators (a scenario file);
    otherwise counts are a pattern repeated over the validators (``--mix``).
    """
    if isinstance(value, Mapping):
        kinds = deal(counts_of(value))
        if exact and len(kinds) != validators:
            raise MixError(f"the counts add up to {len(kinds)}, want {validators} (the validators)")
    elif isinstance(value, Sequence) and not isinstance(value, str):
        kinds = [_kind(k) for k in value]
        if not kinds:
            raise MixError("want at least one node kind")
        if exact and len(kinds) != validators:
            raise MixError(f"want {validators} node kinds (one per validator), got {len(kinds)}")
    else:
        raise MixError(
            'want a list of node kinds (["python", "rust", ...]) or counts '
            f"({{ python = 3, rust = 2 }}), got {value!r}"
        )
    return [kinds[i % len(kinds)] for i in range(validators)]


def mix_from_env(validators: int) -> list[str] | None:
    """The ``--mix`` of this process (``CLP_TESTNET_NODE_MIX``) over ``validators``."""
    text = os.environ.get(NODE_MIX_ENV, "").strip()
    if not text:
        return None
    return mix_nodes(parse_mix(text), validators, exact=False)


def is_mixed(kinds: Sequence[str]) -> bool:
    return len(set(kinds)) > 1
