"""One API over every fault kind (Jepsen's nemesis): validate, inject, record the state.

``Nemesis.apply(kind, ...)`` takes the kind from the registry, injects it on the cluster,
moves the fault state by the kind's declared effect and appends a record to the FaultLog
(FAULTLOG format 2: what was asked, the height, the wall-time window of the effect and the
full fault state after it). The Nemesis holds the one current fault state of the run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from harness.cluster.base import Cluster
from harness.cluster.toxiproxy_api import ProxyApi
from harness.faults import kinds
from harness.faults.errors import FaultError, FieldError
from harness.faults.kinds.base import Context
from harness.faults.log import FORMAT, FaultLog, FaultRecord, OldLog
from harness.faults.state import FaultState

__all__ = ["FORMAT", "FaultError", "FaultLog", "FaultRecord", "FieldError", "Nemesis", "OldLog"]


class Nemesis:
    def __init__(self, cluster: Cluster, api: ProxyApi | None, log: FaultLog | None = None) -> None:
        self.cluster = cluster
        self.api = api
        self.log = log if log is not None else FaultLog()

    @property
    def state(self) -> FaultState:
        """The fault state now: the last record's (before the first: no fault, and the node
        kind each validator started as)."""
        state = self.log.state
        if not state.implementations:
            state = replace(state, implementations=self.cluster.implementations())
        return state

    async def apply(
        self, kind: str, args: Mapping[str, Any] | None = None, **fields: Any
    ) -> FaultRecord:
        """Validate, inject and record one fault; FaultError (FieldError) before any effect."""
        k = kinds.get(kind)
        req = k.request({**(args or {}), **fields}, self.cluster.names, len(self.log.records))
        before = self.state
        t_start = time.time()
        await k.inject(Context(self.cluster, self.api, before), req)
        t_end = time.time()
        after = k.effect(before, req)
        record = FaultRecord(
            req.seq,
            k.name,
            k.recorded_args(before, req),
            await self._height(after),
            t_start,
            t_end,
            after,
        )
        self.log.add(record)
        return record

    async def reset(self) -> FaultRecord:
        """Undo every fault (the ``reset`` kind): what the quiet period of a run does."""
        return await self.apply("reset")

    async def _height(self, state: FaultState) -> int | None:
        """The highest height a running node reports (stopped ones would only time out)."""
        up = [n for n in self.cluster.names if n not in state.killed and n not in state.paused]
        heights = await self.cluster.heights(up)
        known = [h for h in heights.values() if h is not None]
        return max(known) if known else None
