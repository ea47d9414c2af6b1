"""``docs/faults.md`` from the registry: every fault kind, its fields, CLI and effect.

``python -m harness.faults.docs > docs/faults.md`` rewrites it; a unit test fails when the
file and the registry disagree, so the reference cannot drift from the code.
"""

from __future__ import annotations

from harness.faults.kinds import GROUPS, KINDS, RENAMED
from harness.faults.kinds.base import Field

HEAD = """\
# Fault kinds

Generated from the registry `harness/faults/kinds/` by `python -m harness.faults.docs`
(a unit test keeps this file and the registry in step). Each kind is one module there: its
fields and their validation (the same for a scenario step and for `clp-testnet fault`),
its CLI spelling, how it is injected on each backend, and its effect on the fault state.

## The words

| word | means |
|---|---|
| `heal` | **links only**: every link is enabled again; toxics and everything else stay |
| `clear` | **toxics only**: every toxic is removed; disabled links stay as they are |
| `reset` | **everything**: links, toxics, packet loss and netem, paused and killed nodes, \
test hooks — what a run's quiet period does |

The same words mean the same in scenarios (`do = "heal"`), on the command line
(`clp-testnet fault heal`) and in code (`Nemesis.apply("heal")`, `Nemesis.reset()`).

## The fault log

Every fault appends one record (format 2) to the run's fault log (`faults.jsonl` beside a
testnet made by `init`; the `faults` of `history.json`): the kind and its arguments, the
highest chain height once it had taken effect, the wall-time window `t_start`..`t_end` of
the effect, and the **full fault state after it** — links down, toxics by link with their
attributes, killed and paused nodes, test hooks, packet loss and netem by node, and the
node kind each validator runs (`implementations`, e.g. `{"v0": "python", "v1": "rust"}`:
no fault, the record of a mixed testnet over time; an `upgrade` record's `args.from` names
the kind it replaced). The checkers read that state; they never replay kind names. A log
of an older version (no `"format": 2`) is refused with one error.

## Adding a kind

Write one module in `harness/faults/kinds/` defining `KIND` (a `FaultKind`: `fields`,
`effect`, `inject`, `undone_by`), run `python -m harness.faults.docs > docs/faults.md`,
and the registry walk tests (`tests/unit/faults/test_registry.py`,
`tests/integration/test_fault_kinds.py`) cover it: it parses from a scenario, runs from
the CLI, injects and undoes on the local backend, and moves the state as declared.
"""

GROUP_TITLES = {
    "links": "Links (the fault proxy's link matrix)",
    "toxics": "Toxics (Toxiproxy, on a node's outbound links or one link)",
    "processes": "Processes",
    "hooks": "Test hooks (the node's `/admin/faults`)",
    "network": "Below TCP (inside a node's container)",
    "all": "Everything",
}


def _field(f: Field) -> str:
    text = f"`{f.name}`"
    if f.required:
        text += " (required)"
    elif f.default is not None:
        text += f" = {f.default}"
    return f"{text}: {f.help}"


def render() -> str:
    out = [HEAD]
    for group in GROUPS:
        kinds = [k for k in KINDS.values() if k.group == group]
        if not kinds:
            continue
        out.append(f"## {GROUP_TITLES[group]}\n")
        out.append(
            "| kind | fields | what it does | fault state after it | undone by | backends | CLI |"
        )
        out.append("|---|---|---|---|---|---|---|")
        for k in kinds:
            fields = "<br>".join(_field(f) for f in k.fields) or "—"
            cli = f"`clp-testnet fault {k.cli_name}{' ' + k.example if k.example else ''}`"
            out.append(
                f"| `{k.name}` | {fields} | {k.summary} | {k.changes} | {k.undone_by or '—'} | "
                f"{', '.join(k.backends)} | {cli} |"
            )
        out.append("")
    out.append("## Old spellings\n")
    out.append("| old | use |")
    out.append("|---|---|")
    out += [f"| `{old}` | `{new}` |" for old, new in RENAMED.items()]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render(), end="")
