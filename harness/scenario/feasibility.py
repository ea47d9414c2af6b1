"""Steps that can never fire before ``run.until_epoch``: refused when the file is read.

A run judges the epochs up to ``run.until_epoch``; its steps are what happens in them.
The one height allowed past the last judged epoch is the first of the next one, where
scenarios heal ("the partition heals at the start of epoch 2"). A step any later has no
part in what the run judges and only makes the run wait, silently, for minutes; the file
is wrong, so say so at once, naming the step and the heights.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.contract.params import ClpParams as ClpConfig
from harness.scenario.model import Step
from harness.scenario.triggers import trigger_height


def unreachable_step(
    steps: Iterable[Step], until_epoch: int, cfg: ClpConfig
) -> tuple[Step, str] | None:
    """The first step that cannot fire within ``until_epoch``, and why; else None."""
    last = cfg.epoch_last_height(until_epoch)
    limit = last + 1  # the first height of the next epoch
    for step in steps:
        height = trigger_height(step.trigger, cfg)
        if height is not None and height > limit:
            return step, (
                f"{step.trigger.describe()} is height {height}, past the run: "
                f"run.until_epoch = {until_epoch} ends at height {last} (epoch_length "
                f"{cfg.epoch_length}) and a step may fire at height {limit} at the latest; "
                "raise until_epoch or move the step"
            )
    return None
