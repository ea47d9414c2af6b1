"""A parsed scenario: plain frozen values, so the runner never looks at raw TOML.

Node names are the ones ``clp-testnet init`` writes (v0..v{n-1}); the runner maps them to
addresses through the testnet manifest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.contract.genesis import ConsensusParams
from harness.contract.params import ClpParams as ClpConfig
from harness.faults.kinds import KINDS

TRIGGER_KINDS = ("height", "epoch", "challenge", "after_s")

# The fault kinds come from the registry (harness.faults.kinds); the scenario adds its
# assertions: action -> (required fields, optional fields).
ASSERTION_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "post_response": (("via", "forge"), ("expect_reason", "validator")),
    "expect_stalled": (("blocks",), ("nodes",)),
    "expect_progress": (("blocks",), ("nodes",)),
}
ACTIONS = (*KINDS, *ASSERTION_FIELDS)

FORGES = (
    "bad_signature",
    "replay",
    "duplicate",
    "expired",
    "unknown_challenge",
    "not_in_committee",
    "malformed",
)
DUPLICATE = "DUPLICATE"
EXPIRED = "EXPIRED"
BAD_SIGNATURE = "BAD_SIGNATURE"
REASONS = (
    "MALFORMED",
    "UNKNOWN_CHALLENGE",
    EXPIRED,
    "NOT_IN_COMMITTEE",
    DUPLICATE,
    BAD_SIGNATURE,
)
# The §5 code each forgery earns when the file names none.
DEFAULT_REASON = {
    "bad_signature": BAD_SIGNATURE,
    "replay": BAD_SIGNATURE,
    "duplicate": DUPLICATE,
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
    """One fault (a registry kind with its validated ``args``) or one assertion (only the
    fields its kind takes are set, see ASSERTION_FIELDS)."""

    kind: str
    args: Mapping[str, Any] = field(default_factory=dict)
    nodes: tuple[str, ...] | None = None
    via: str | None = None
    forge: str | None = None
    expect_reason: str | None = None
    validator: str | None = None
    blocks: int | None = None

    @property
    def is_fault(self) -> bool:
        return self.kind in KINDS

    def describe(self) -> str:
        if self.is_fault:
            return KINDS[self.kind].describe(self.args)
        parts = [self.kind]
        if self.nodes is not None:
            parts.append(",".join(self.nodes))
        if self.blocks is not None:
            parts.append(f"blocks={self.blocks}")
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
    #: The node kind of each validator (``nodes``: a mixed testnet); None: every validator
    #: runs the run's one node (``--node``) or its ``--mix``. The file wins over both.
    nodes: tuple[str, ...] | None = None

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
