"""§10.2 CLP determinism: every node that evaluated epoch e served the same ClpEpochResult."""

from __future__ import annotations

import json
from typing import Any

from harness.checks.analysis import Analysis
from harness.checks.history import History
from harness.checks.verdict import CheckResult, combine

NAME = "determinism"
MAX_DIFFS = 6


def json_diff(a: Any, b: Any, path: str = "") -> list[str]:
    """Paths at which two JSON values differ, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += json_diff(a.get(k), b.get(k), f"{path}.{k}" if path else k)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out += json_diff(x, y, f"{path}[{i}]")
        return out
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


def check(history: History, analysis: Analysis | None = None) -> CheckResult:
    a = analysis or Analysis(history)
    fails: list[str] = []
    passes: list[str] = []
    epochs = sorted({e for rs in history.results.values() for e in rs})
    compared = 0
    for e in epochs:
        served = {n: rs[e] for n, rs in sorted(history.results.items()) if e in rs}
        groups: dict[str, list[str]] = {}
        for n, r in served.items():
            groups.setdefault(json.dumps(r, sort_keys=True), []).append(n)
        if len(groups) > 1:
            ranked = sorted(groups.items(), key=lambda kv: -len(kv[1]))
            base_text, base_nodes = ranked[0]
            base = json.loads(base_text)
            for text, nodes in ranked[1:]:
                diffs = json_diff(base, json.loads(text))
                named = [_named(d, history) for d in diffs[:MAX_DIFFS]]
                fails.append(
                    f"epoch {e}: {', '.join(nodes)} serve a result that differs from "
                    f"{', '.join(base_nodes)}'s: {'; '.join(named)}"
                )
        elif len(served) >= 2:
            compared += 1
            passes.append(f"epoch {e}: identical on {', '.join(served)}")
        last = a.params.epoch_last_height(e)
        for n, chain in sorted(history.chains.items()):
            if len(chain) >= last and n not in served and n not in history.unreachable:
                fails.append(
                    f"epoch {e}: {n} finalized its last block {last} "
                    f"(head {len(chain)}) but serves no result for it"
                )
    if not fails and compared == 0:
        return CheckResult(NAME, "unknown", ["no epoch result was served by two nodes", *passes])
    return combine(NAME, fails, [], passes)


def _named(text: str, history: History) -> str:
    for address, name in history.names.items():
        text = text.replace(address, name)
    return text
