"""CLP value types (CLP_SPEC §2, §4, §5, §7). Integers only; every type is immutable."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from clp_node.chain.keys import SIGNATURE_BYTES, is_address

BPS_MAX = 10_000
_LOWER_HEX_RE = re.compile("[0-9a-f]*")


class ClpConfigError(ValueError):
    """A CLP parameter breaks a rule of CLP_SPEC §2; the message names the field."""


@dataclass(frozen=True)
class ClpConfig:
    """CLP parameters, frozen per chain at genesis."""

    epoch_length: int = 360
    challenge_interval: int = 10
    response_window: int = 5
    min_response_rate_bps: int = 5000
    slash_fraction_bps: int = 100
    max_consecutive_failures: int = 36
    min_stake: int = 1_000
    min_committee_size: int = 4
    systemic_fault_bps: int = 3334

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def production(cls) -> ClpConfig:
        return cls()

    @classmethod
    def test_profile(cls) -> ClpConfig:
        return cls(
            epoch_length=20,
            challenge_interval=2,
            response_window=4,
            min_response_rate_bps=5000,
            slash_fraction_bps=1000,
            max_consecutive_failures=12,
            min_stake=1_000,
            min_committee_size=4,
            systemic_fault_bps=3334,
        )

    def validate(self) -> None:
        """Raise ClpConfigError naming the first bad field; never fix a value silently."""
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ClpConfigError(f"{f.name} must be an integer, got {value!r}")
        if self.challenge_interval < 1:
            raise ClpConfigError(f"challenge_interval must be >= 1, got {self.challenge_interval}")
        if self.response_window < 2:
            raise ClpConfigError(f"response_window must be >= 2, got {self.response_window}")
        if self.epoch_length < self.challenge_interval + self.response_window:
            raise ClpConfigError(
                f"epoch_length must be >= challenge_interval + response_window "
                f"({self.challenge_interval + self.response_window}), got {self.epoch_length}"
            )
        for name in ("min_response_rate_bps", "slash_fraction_bps", "systemic_fault_bps"):
            value = getattr(self, name)
            if not 0 <= value <= BPS_MAX:
                raise ClpConfigError(f"{name} must be in 0..={BPS_MAX}, got {value}")
        if self.min_committee_size < 3:
            raise ClpConfigError(f"min_committee_size must be >= 3, got {self.min_committee_size}")
        if self.max_consecutive_failures < 1:
            raise ClpConfigError(
                f"max_consecutive_failures must be >= 1, got {self.max_consecutive_failures}"
            )
        if self.min_stake < 0:
            raise ClpConfigError(f"min_stake must be >= 0, got {self.min_stake}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClpConfig:
        """The parameters of a genesis ``clp`` table (§2): an unknown name is refused first,
        then a missing one (never filled with a default), then the values by validate()."""
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ClpConfigError(f"unknown CLP parameter(s): {', '.join(unknown)}")
        missing = [name for name in names if name not in data]
        if missing:
            raise ClpConfigError(f"missing CLP parameter(s): {', '.join(missing)}")
        return cls(**data)

    def to_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def epoch_of(self, height: int) -> int:
        """epoch(h) = (h - 1) // E for h >= 1 (§3)."""
        if height < 1:
            raise ValueError(f"height {height} has no epoch: epochs start at height 1")
        return (height - 1) // self.epoch_length

    def epoch_first_height(self, epoch: int) -> int:
        return epoch * self.epoch_length + 1

    def epoch_last_height(self, epoch: int) -> int:
        return (epoch + 1) * self.epoch_length

    def closes_epoch(self, height: int) -> int | None:
        """The epoch that committing ``height`` closes, or None (§3)."""
        if height >= 1 and height % self.epoch_length == 0:
            return height // self.epoch_length - 1
        return None


class ResponseRejectReason(StrEnum):
    """Why a response is not valid for inclusion, in the order the rules are checked (§5)."""

    MALFORMED = "MALFORMED"
    UNKNOWN_CHALLENGE = "UNKNOWN_CHALLENGE"
    EXPIRED = "EXPIRED"
    NOT_IN_COMMITTEE = "NOT_IN_COMMITTEE"
    DUPLICATE = "DUPLICATE"
    BAD_SIGNATURE = "BAD_SIGNATURE"


class MalformedResponse(ValueError):
    """A response whose fields are missing or of the wrong type or length."""


@dataclass(frozen=True)
class ClpChallenge:
    height: int
    epoch: int
    value: bytes
    deadline: int
    expected: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "epoch": self.epoch,
            "value": self.value.hex(),
            "deadline": self.deadline,
            "expected": list(self.expected),
        }


@dataclass(frozen=True, order=True)
class ClpResponse:
    """A validator's signed answer to the challenge at ``challenge_height``.

    Ordering is by (challenge_height, validator), the order a block lists responses in.
    """

    challenge_height: int
    validator: str
    signature: bytes

    def key(self) -> tuple[int, str]:
        return (self.challenge_height, self.validator)

    def to_json(self) -> dict[str, Any]:
        return {
            "challenge_height": self.challenge_height,
            "validator": self.validator,
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_json(cls, data: object) -> ClpResponse:
        """Parse untrusted JSON; any defect raises MalformedResponse (reason MALFORMED)."""
        if not isinstance(data, dict):
            raise MalformedResponse("a response is a JSON object")
        missing = [k for k in ("challenge_height", "validator", "signature") if k not in data]
        if missing:
            raise MalformedResponse(f"missing field(s): {', '.join(missing)}")
        height = data["challenge_height"]
        if not isinstance(height, int) or isinstance(height, bool) or height < 0:
            raise MalformedResponse("challenge_height must be a non-negative integer")
        if height >= 2**64:
            raise MalformedResponse("challenge_height must fit in 64 bits")
        validator = data["validator"]
        if not is_address(validator):
            raise MalformedResponse("validator must be 40 lowercase hex characters")
        sig_hex = data["signature"]
        if not isinstance(sig_hex, str) or len(sig_hex) != SIGNATURE_BYTES * 2:
            raise MalformedResponse(f"signature must be {SIGNATURE_BYTES * 2} hex characters")
        # Hex is lowercase (§0): bytes.fromhex alone would take uppercase and spaces.
        if _LOWER_HEX_RE.fullmatch(sig_hex) is None:
            raise MalformedResponse("signature is not lowercase hex")
        signature = bytes.fromhex(sig_hex)
        return cls(challenge_height=height, validator=validator, signature=signature)


class ValidatorStatus(StrEnum):
    ACTIVE = "active"
    SLASHED = "slashed"
    EJECTION_DEFERRED = "ejection_deferred"
    EJECTED = "ejected"


@dataclass(frozen=True)
class ValidatorClpStatus:
    """A validator's CLP record: counters for the current epoch plus the running streak."""

    address: str
    challenges: int = 0
    responses: int = 0
    missed: int = 0
    consecutive_failures: int = 0

    @property
    def rate_bps(self) -> int:
        """Responses per challenge in basis points; 10000 while nothing was asked."""
        if self.challenges == 0:
            return BPS_MAX
        return self.responses * BPS_MAX // self.challenges

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "challenges": self.challenges,
            "responses": self.responses,
            "missed": self.missed,
            "consecutive_failures": self.consecutive_failures,
            "rate_bps": self.rate_bps,
        }


@dataclass(frozen=True)
class ValidatorEpochOutcome:
    address: str
    challenges: int
    responses: int
    rate_bps: int
    slashed: int
    status: ValidatorStatus
    consecutive_failures: int
    stake_after: int
    governance_weight_bps: int

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "challenges": self.challenges,
            "responses": self.responses,
            "rate_bps": self.rate_bps,
            "slashed": self.slashed,
            "status": self.status.value,
            "consecutive_failures": self.consecutive_failures,
            "stake_after": self.stake_after,
            "governance_weight_bps": self.governance_weight_bps,
        }


@dataclass(frozen=True)
class ClpEpochResult:
    """What closing an epoch decided (§7); served identically by every node."""

    epoch: int
    systemic: bool
    validators: tuple[ValidatorEpochOutcome, ...]
    slashed_total: int
    ejected: tuple[str, ...]
    next_committee: tuple[str, ...]
    burned_total: int
    governance_weight_total_bps: int

    def slashes(self) -> dict[str, int]:
        return {v.address: v.slashed for v in self.validators if v.slashed > 0}

    def to_json(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "systemic": self.systemic,
            "validators": [v.to_json() for v in self.validators],
            "slashed_total": self.slashed_total,
            "ejected": list(self.ejected),
            "next_committee": list(self.next_committee),
            "burned_total": self.burned_total,
            "governance_weight_total_bps": self.governance_weight_total_bps,
        }
