"""The resolved fault state of a testnet: what is broken right now, as plain values.

Every fault kind declares how it moves this state (``FaultKind.effect``); the Nemesis keeps
the current one and writes it, whole, into every fault-log record. Readers (the runner,
``clp-testnet check``, the checkers, the report) read it from the record and never replay
action names. Its JSON form is the ``state`` object of FAULTLOG format 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from harness.cluster.testnet import link_ends, link_name

HOOK_DEFAULTS: dict[str, Any] = {"lazy": False, "clock_offset_ms": 0}


@dataclass(frozen=True)
class Toxic:
    """One toxic on one proxy, as the Toxiproxy API describes it."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: Mapping[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": dict(self.attributes),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Toxic:
        return cls(
            str(raw["name"]),
            str(raw["type"]),
            str(raw.get("stream", "downstream")),
            float(raw.get("toxicity", 1.0)),
            {str(k): int(v) for k, v in dict(raw.get("attributes") or {}).items()},
        )


@dataclass(frozen=True)
class FaultState:
    """Links down (directed, by proxy name), toxics by link, processes stopped, hooks set,
    packet loss by node. Immutable: an effect returns a new state."""

    links_down: frozenset[str] = frozenset()
    toxics: Mapping[str, tuple[Toxic, ...]] = field(default_factory=dict)
    killed: frozenset[str] = frozenset()
    paused: frozenset[str] = frozenset()
    hooks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    packet_loss: Mapping[str, float] = field(default_factory=dict)
    netem: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # node -> qdisc params
    #: The node kind (harness.node_kinds) each validator runs now: not a fault, but the
    #: record of it over time (``upgrade`` changes it; the first record has the start's).
    implementations: Mapping[str, str] = field(default_factory=dict)

    # ---- building ----------------------------------------------------------------------

    def with_links(self, links: Iterable[tuple[str, str]], down: bool) -> FaultState:
        names = {link_name(s, d) for s, d in links}
        return replace(
            self, links_down=self.links_down | names if down else self.links_down - names
        )

    def with_toxics(self, added: Mapping[str, Toxic]) -> FaultState:
        toxics = {k: tuple(v) for k, v in self.toxics.items()}
        for link, toxic in added.items():
            toxics[link] = (*toxics.get(link, ()), toxic)
        return replace(self, toxics=toxics)

    def without_toxics(self) -> FaultState:
        return replace(self, toxics={})

    def with_process(self, node: str, killed: bool | None, paused: bool | None) -> FaultState:
        k, p = set(self.killed), set(self.paused)
        if killed is not None:
            (k.add if killed else k.discard)(node)
        if paused is not None:
            (p.add if paused else p.discard)(node)
        return replace(self, killed=frozenset(k), paused=frozenset(p))

    def with_hook(self, node: str, **values: Any) -> FaultState:
        """Set hook values; a node whose hooks are all back at their defaults drops out."""
        hooks = {k: dict(v) for k, v in self.hooks.items()}
        merged = {**HOOK_DEFAULTS, **hooks.get(node, {}), **values}
        if merged == HOOK_DEFAULTS:
            hooks.pop(node, None)
        else:
            hooks[node] = merged
        return replace(self, hooks=hooks)

    def without_hooks(self, node: str) -> FaultState:
        return replace(self, hooks={k: v for k, v in self.hooks.items() if k != node})

    def with_loss(self, node: str, probability: float) -> FaultState:
        loss = dict(self.packet_loss)
        if probability > 0:
            loss[node] = probability
        else:
            loss.pop(node, None)
        return replace(self, packet_loss=loss)

    def with_netem(self, node: str, params: Mapping[str, Any] | None) -> FaultState:
        netem = {k: dict(v) for k, v in self.netem.items() if k != node}
        if params:
            netem[node] = dict(params)
        return replace(self, netem=netem)

    def with_implementation(self, node: str, kind: str) -> FaultState:
        return replace(self, implementations={**self.implementations, node: kind})

    def healed(self) -> FaultState:
        """No fault at all, the nodes' kinds as they are (what ``reset`` leaves)."""
        return FaultState(implementations=dict(self.implementations))

    # ---- reading -----------------------------------------------------------------------

    @property
    def empty(self) -> bool:
        """No fault in force (the kinds the nodes run are no fault)."""
        return self == self.healed()

    def down_pairs(self) -> set[tuple[str, str]]:
        return {link_ends(n) for n in self.links_down}

    def lazy(self) -> set[str]:
        return {n for n, h in self.hooks.items() if h.get("lazy")}

    def clock_offsets(self) -> dict[str, int]:
        return {n: int(h.get("clock_offset_ms", 0)) for n, h in self.hooks.items()}

    # ---- JSON (FAULTLOG.md, format 2) --------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "links_down": sorted(self.links_down),
            "toxics": {k: [t.to_json() for t in v] for k, v in sorted(self.toxics.items()) if v},
            "killed": sorted(self.killed),
            "paused": sorted(self.paused),
            "hooks": {k: dict(v) for k, v in sorted(self.hooks.items())},
            "packet_loss": dict(sorted(self.packet_loss.items())),
            "netem": {k: dict(v) for k, v in sorted(self.netem.items())},
            "implementations": dict(sorted(self.implementations.items())),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> FaultState:
        """Raises ValueError/KeyError/TypeError on a malformed state."""
        if not isinstance(raw, Mapping):
            raise TypeError("state: an object is required")
        for link in raw.get("links_down", []):
            link_ends(link)
        return cls(
            links_down=frozenset(str(x) for x in raw.get("links_down", [])),
            toxics={
                str(k): tuple(Toxic.from_json(t) for t in v)
                for k, v in dict(raw.get("toxics") or {}).items()
            },
            killed=frozenset(str(x) for x in raw.get("killed", [])),
            paused=frozenset(str(x) for x in raw.get("paused", [])),
            hooks={str(k): dict(v) for k, v in dict(raw.get("hooks") or {}).items()},
            packet_loss={str(k): float(v) for k, v in dict(raw.get("packet_loss") or {}).items()},
            netem={str(k): dict(v) for k, v in dict(raw.get("netem") or {}).items()},
            implementations={
                str(k): str(v) for k, v in dict(raw.get("implementations") or {}).items()
            },
        )
