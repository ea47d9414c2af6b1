"""A parsed scenario: plain frozen values, so the runner never looks at raw TOML.

Node names are the ones ``clp-testnet init`` writes (v0..v{n-1}); the runner maps them to
addresses through the testnet manifest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.contract.genesis import ConsensusParams
from harness.contract.params import ClpParams as ClpConfig

TRIGGER_KINDS = ("height", "epoch", "challenge", "after_s")

# action -> (required fields, optional fields). "node | link" actions take exactly one of them.
LINK_TOXICS = ("latency", "bandwidth", "timeout", "reset_peer")
PROCESS_ACTIONS = ("kill", "pause", "resume", "restart")
HOOK_ACTIONS = ("lazy", "active")
ACTION_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "partition": (("groups",), ()),
    "cut": (("from", "to"), ()),
    "isolate": (("node",), ()),
    "mute": (("node",), ()),
    "heal": ((), ()),
    "latency": (("ms",), ("node", "link", "jitter")),
    "bandwidth": (("rate_kb",), ("node", "link")),
    "timeout": (("ms",), ("node", "link")),
    "reset_peer": ((), ("node", "link", "ms")),
    "clear": ((), ()),
    "kill": (("node",), ()),
    "pause": (("node",), ()),
    "resume": (("node",), ()),
    "restart": (("node",), ()),
    "lazy": (("node",), ()),
    "active": (("node",), ()),
    "clock_offset": (("node", "ms"), ()),
    "post_response": (("via", "forge"), ("expect_reason", "validator")),
    "expect_stalled": (("blocks",), ("nodes",)),
    "expect_progress": (("blocks",), ("nodes",)),
}
ACTIONS = tuple(ACTION_FIELDS)

FORGES = (
    "bad_signature",
    "replay",
    "duplicate",
    "expired",
    "unknown_challenge",
    "not_in_committee",
    "malformed",
)
REASONS = (
    "MALFORMED",
    "UNKNOWN_CHALLENGE",
    "EXPIRED",
    "NOT_IN_COMMITTEE",
    "DUPLICATE",
    "BAD_SIGNATURE",
)
# The §5 code each forgery earns when the file names none.
DEFAULT_REASON = {
    "bad_signature": "BAD_SIGNATURE",
    "replay": "BAD_SIGNATURE",
    "duplicate": "DUPLICATE",
    "expired": "EXPIRED",
    "unknown_challenge": "UNKNOWN_CHALLENGE",
    "not_in_committee": "NOT_IN_COMMITTEE",
    "malformed": "MALFORMED",
}
STATUSES = ("active", "slashed", "ejection_deferred", "ejected")


@dataclass(frozen=True)
class Trigger:
    """When a step fires: a protocol height (height/epoch/challenge) or a delay (after_s)."""

    kind: str
    value: int | float
    offset: int = 0

    def describe(self) -> str:
        if self.kind == "after_s":
            return f"{self.value}s after the previous step"
        text = f"{self.kind} {self.value}"
        return f"{text} + {self.offset}" if self.offset else text


@dataclass(frozen=True)
class Action:
    """One fault or assertion; only the fields its kind takes are set (see ACTION_FIELDS)."""

    kind: str
    node: str | None = None
    nodes: tuple[str, ...] | None = None
    groups: tuple[tuple[str, ...], ...] = ()
    src: str | None = None
    dst: str | None = None
    link: tuple[str, str] | None = None
    ms: int | None = None
    jitter: int = 0
    rate_kb: int | None = None
    via: str | None = None
    forge: str | None = None
    expect_reason: str | None = None
    validator: str | None = None
    blocks: int | None = None

    def describe(self) -> str:
        parts = [self.kind]
        if self.groups:
            parts.append(" | ".join(",".join(g) for g in self.groups))
        if self.src is not None:
            parts.append(f"{self.src}->{self.dst}")
        if self.node is not None:
            parts.append(self.node)
        if self.link is not None:
            parts.append(f"link {self.link[0]}->{self.link[1]}")
        if self.nodes is not None:
            parts.append(",".join(self.nodes))
        for name in ("ms", "rate_kb", "blocks"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value}")
        if self.jitter:
            parts.append(f"jitter={self.jitter}")
        if self.forge is not None:
            parts.append(f"via {self.via} forge={self.forge} want {self.expect_reason}")
        return " ".join(parts)


@dataclass(frozen=True)
class Step:
    index: int
    line: int
    trigger: Trigger
    action: Action

    @property
    def label(self) -> str:
        return f"steps[{self.index}]"


@dataclass(frozen=True)
class Expectation:
    """What one epoch's result must say; None means "not asserted"."""

    epoch: int
    line: int = 0
    slashed: frozenset[str] | None = None
    ejected: frozenset[str] | None = None
    deferred: frozenset[str] | None = None
    systemic: bool | None = None
    committee: frozenset[str] | None = None
    stakes: Mapping[str, int] | None = None
    statuses: Mapping[str, str] | None = None


@dataclass(frozen=True)
class QuietSpec:
    blocks: int = 8


@dataclass(frozen=True)
class ClusterSpec:
    validators: int
    stakes: tuple[int, ...] | None = None
    clp: Mapping[str, int] = field(default_factory=dict)
    consensus: Mapping[str, int] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [f"v{i}" for i in range(self.validators)]

    def clp_config(self) -> ClpConfig:
        """The test profile of CLP_SPEC §2 with this scenario's overrides."""
        return replace(ClpConfig.test_profile(), **dict(self.clp))

    def consensus_params(self) -> ConsensusParams:
        return replace(ConsensusParams.test_profile(), **dict(self.consensus))


@dataclass(frozen=True)
class Scenario:
    name: str
    file: Path
    cluster: ClusterSpec
    until_epoch: int
    description: str = ""
    steps: tuple[Step, ...] = ()
    expects: tuple[Expectation, ...] = ()
    quiet: QuietSpec = QuietSpec()
