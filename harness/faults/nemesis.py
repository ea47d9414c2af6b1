"""One API over the link matrix, the processes and the nodes' test hooks (Jepsen's nemesis).

Every fault is recorded in the FaultLog with wall time and the chain height at injection,
so checkers can tell which validators *had* to be penalised.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.cluster.base import Cluster
from harness.cluster.testnet import link_name
from harness.faults.toxiproxy_api import ToxiproxyApi


class FaultError(ValueError):
    """A fault request that names unknown nodes or makes no sense (e.g. one-group partition)."""


@dataclass(frozen=True)
class FaultRecord:
    time: float
    height: int | None
    action: str
    params: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FaultLog:
    records: list[FaultRecord] = field(default_factory=list)
    path: Path | None = None
    """Also append each record here as a JSON line, so faults injected by separate
    ``clp-testnet fault`` invocations leave one trail next to the testnet."""

    def add(self, record: FaultRecord) -> None:
        self.records.append(record)
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(json.dumps(record.to_json()) + "\n")

    def to_json(self) -> list[dict[str, Any]]:
        return [r.to_json() for r in self.records]


class Nemesis:
    def __init__(
        self, cluster: Cluster, api: ToxiproxyApi | None, log: FaultLog | None = None
    ) -> None:
        self.cluster = cluster
        self.api = api
        self.log = log if log is not None else FaultLog()
        self._seq = itertools.count()

    # ---- bookkeeping -------------------------------------------------------------------

    async def record(self, action: str, **params: Any) -> None:
        """Log a fault at the current height; public for faults done outside this object."""
        heights = await self.cluster.heights()
        known = [h for h in heights.values() if h is not None]
        self.log.add(FaultRecord(time.time(), max(known) if known else None, action, params))

    def check(self, names: Iterable[str]) -> list[str]:
        """The names as a list, if every one is a node; FaultError names the unknown ones."""
        names = list(names)
        unknown = [n for n in names if n not in self.cluster.names]
        if unknown:
            raise FaultError(f"unknown node(s): {', '.join(unknown)}")
        return names

    def _need_api(self) -> ToxiproxyApi:
        if self.api is None:
            raise FaultError("link faults need the fault proxy (testnet created without proxies)")
        return self.api

    async def _set_links(self, links: Iterable[tuple[str, str]], enabled: bool) -> None:
        api = self._need_api()
        for src, dst in links:
            await asyncio.to_thread(api.set_enabled, link_name(src, dst), enabled)

    def _links_from(
        self, nodes: Iterable[str] | None, targets: Iterable[str] | None = None
    ) -> list[tuple[str, str]]:
        srcs = list(nodes) if nodes is not None else self.cluster.names
        dsts = list(targets) if targets is not None else self.cluster.names
        return [(s, d) for s in srcs for d in dsts if s != d]

    # ---- link faults -------------------------------------------------------------------

    async def partition(self, groups: Sequence[Sequence[str]]) -> None:
        """Cut every link between different groups; nodes not named form one more group."""
        named = [n for g in groups for n in g]
        self.check(named)
        if len(set(named)) != len(named):
            raise FaultError("a node is in two partition groups")
        rest = [n for n in self.cluster.names if n not in named]
        all_groups = [list(g) for g in groups] + ([rest] if rest else [])
        if len(all_groups) < 2:
            raise FaultError("a partition needs at least two groups")
        group_of = {n: i for i, g in enumerate(all_groups) for n in g}
        cut = [(a, b) for a, b in self._links_from(None) if group_of[a] != group_of[b]]
        await self._set_links(cut, False)
        await self.record("partition", groups=all_groups)

    async def cut(self, src: str, dst: str) -> None:
        """One-way: src can no longer send to dst; dst still reaches src."""
        self.check([src, dst])
        await self._set_links([(src, dst)], False)
        await self.record("cut", src=src, dst=dst)

    async def isolate(self, node: str) -> None:
        self.check([node])
        links = self._links_from([node]) + self._links_from(None, [node])
        await self._set_links(links, False)
        await self.record("isolate", node=node)

    async def mute(self, node: str) -> None:
        """Cut every outbound link of ``node``: it hears the others but is not heard."""
        self.check([node])
        await self._set_links(self._links_from([node]), False)
        await self.record("mute", node=node)

    async def heal(self) -> None:
        """Enable every link and remove every toxic (Toxiproxy's /reset)."""
        api = self._need_api()
        await asyncio.to_thread(api.reset)
        await self.record("heal")

    async def _toxic(
        self,
        action: str,
        nodes: Sequence[str] | None,
        link: tuple[str, str] | None,
        type_: str,
        attributes: dict[str, int],
    ) -> None:
        api = self._need_api()
        if link is not None:
            self.check(link)
            links = [link]
        else:
            links = self._links_from(self.check(nodes or []))
        for src, dst in links:
            proxy = link_name(src, dst)
            name = f"{type_}_{next(self._seq)}"
            # upstream = data the dialling node (src) sends toward dst
            await asyncio.to_thread(api.add_toxic, proxy, type_, attributes, name, "upstream")
        await self.record(action, nodes=list(nodes or []), link=list(link or []), **attributes)

    async def latency(
        self,
        ms: int,
        jitter: int = 0,
        nodes: Sequence[str] | None = None,
        link: tuple[str, str] | None = None,
    ) -> None:
        """Delay what ``nodes`` send (all their outbound links), or one link."""
        await self._toxic("latency", nodes, link, "latency", {"latency": ms, "jitter": jitter})

    async def bandwidth(
        self, kb_per_s: int, nodes: Sequence[str] | None = None, link: tuple[str, str] | None = None
    ) -> None:
        await self._toxic("bandwidth", nodes, link, "bandwidth", {"rate": kb_per_s})

    async def timeout(
        self, ms: int, nodes: Sequence[str] | None = None, link: tuple[str, str] | None = None
    ) -> None:
        await self._toxic("timeout", nodes, link, "timeout", {"timeout": ms})

    async def reset_peer(
        self, ms: int = 0, nodes: Sequence[str] | None = None, link: tuple[str, str] | None = None
    ) -> None:
        await self._toxic("reset_peer", nodes, link, "reset_peer", {"timeout": ms})

    # ---- process faults ----------------------------------------------------------------

    async def kill(self, node: str) -> None:
        self.check([node])
        await self.record("kill", node=node)
        await self.cluster.kill(node)

    async def pause(self, node: str) -> None:
        self.check([node])
        await self.record("pause", node=node)
        await self.cluster.pause(node)

    async def resume(self, node: str) -> None:
        self.check([node])
        await self.cluster.resume(node)
        await self.record("resume", node=node)

    async def restart(self, node: str) -> None:
        self.check([node])
        await self.cluster.restart(node)
        await self.record("restart", node=node)

    # ---- node test hooks ---------------------------------------------------------------

    async def lazy(self, node: str, on: bool = True) -> None:
        """The validator keeps voting but stops sending CLP responses."""
        self.check([node])
        await self.cluster.client(node).set_faults(lazy=on)
        await self.record("lazy", node=node, on=on)

    async def clock_offset(self, node: str, ms: int) -> None:
        self.check([node])
        await self.cluster.client(node).set_faults(clock_offset_ms=ms)
        await self.record("clock_offset", node=node, ms=ms)

    async def clear(self) -> None:
        """Undo every fault: heal links, resume paused nodes, restart dead ones, hooks off."""
        if self.api is not None:
            await self.heal()
        for name in self.cluster.names:
            if self.cluster.is_running(name):
                await self.cluster.resume(name)
            else:
                await self.cluster.restart(name)
            await self.cluster.client(name).set_faults(lazy=False, clock_offset_ms=0)
        await self.record("clear")
