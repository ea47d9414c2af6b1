"""Protocol time to heights (CLP_SPEC §3, §4): pure arithmetic, no cluster, no clock.

A step's trigger names a moment of the protocol; the runner only ever waits for a
height, so every protocol trigger becomes one here. ``after_s`` is the one wall-time
trigger and has no height.
"""

from __future__ import annotations

from harness.contract.params import ClpParams as ClpConfig
from harness.scenario.model import Trigger


def is_challenge_height(height: int, cfg: ClpConfig) -> bool:
    """§4 should_generate (the chain id plays no part in which heights carry a challenge)."""
    return cfg.should_generate(height)


def challenge_heights(cfg: ClpConfig, lo: int, hi: int) -> list[int]:
    """Challenge heights in lo..=hi."""
    return [h for h in range(max(lo, 1), hi + 1) if is_challenge_height(h, cfg)]


def trigger_error(trigger: Trigger, cfg: ClpConfig) -> tuple[str, str] | None:
    """(key, why) when a well-typed trigger cannot happen under ``cfg``; None when it can."""
    if trigger.kind == "epoch" and not 0 <= trigger.offset < cfg.epoch_length:
        return "offset", (
            f"want an offset in 0..{cfg.epoch_length - 1} (inside the epoch, "
            f"epoch_length {cfg.epoch_length}), got {trigger.offset}"
        )
    if trigger.kind == "challenge":
        h = int(trigger.value)
        if not is_challenge_height(h, cfg):
            near = challenge_heights(cfg, max(1, h - 2 * cfg.challenge_interval), h + 6)
            return "challenge", (
                f"want a challenge height (h % {cfg.challenge_interval} == 0 and its "
                f"{cfg.response_window}-block window inside one {cfg.epoch_length}-block "
                f"epoch; nearby: {', '.join(map(str, near[:4]))}), got {h}"
            )
        if not 0 <= trigger.offset <= cfg.response_window:
            return "offset", (
                f"want an offset in 0..{cfg.response_window} (inside the response window), "
                f"got {trigger.offset}"
            )
    return None


def trigger_height(trigger: Trigger, cfg: ClpConfig) -> int | None:
    """The chain height at which the step fires; None for a wall-time delay."""
    if trigger.kind == "height":
        return int(trigger.value)
    if trigger.kind == "epoch":
        return cfg.epoch_first_height(int(trigger.value)) + trigger.offset
    if trigger.kind == "challenge":
        return int(trigger.value) + trigger.offset
    if trigger.kind == "after_s":
        return None
    raise ValueError(f"unknown trigger kind {trigger.kind!r}")
