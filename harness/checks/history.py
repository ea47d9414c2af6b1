"""What a run leaves behind: every node's chain and CLP results, and the fault log.

Collected only through the node contract (CLP_SPEC §9) and saved as JSON so that the
checkers can be re-run offline on exactly what was observed.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.checks.timeline import records as fault_records

if TYPE_CHECKING:  # the cluster package imports the node; only its type is needed here
    from harness.cluster.base import Cluster
    from harness.cluster.client import NodeClient

FORMAT_VERSION = 1
FETCH_CONCURRENCY = 16


class HistoryError(ValueError):
    """A saved history that cannot be read back; the message names the field."""


@dataclass(frozen=True)
class History:
    chain_id: str
    params: dict[str, int]
    genesis: list[dict[str, Any]]
    names: dict[str, str]
    chains: dict[str, list[dict[str, Any]]]
    results: dict[str, dict[int, dict[str, Any]]]
    statuses: dict[str, dict[str, Any]]
    faults: list[dict[str, Any]]
    consensus: dict[str, int] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)
    collected_at: float | None = None

    def name(self, address: str) -> str:
        """A validator's node name for evidence, or a short address."""
        return self.names.get(address, address[:8])

    @property
    def genesis_stakes(self) -> dict[str, int]:
        return {v["address"]: int(v["stake"]) for v in self.genesis}

    @property
    def public_keys(self) -> dict[str, bytes]:
        return {v["address"]: bytes.fromhex(v["public_key"]) for v in self.genesis}

    @property
    def address_of_name(self) -> dict[str, str]:
        return {n: a for a, n in self.names.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "chain_id": self.chain_id,
            "params": dict(self.params),
            "consensus": dict(self.consensus),
            "genesis": list(self.genesis),
            "names": dict(self.names),
            "chains": {n: list(c) for n, c in self.chains.items()},
            "results": {n: {str(e): r for e, r in rs.items()} for n, rs in self.results.items()},
            "statuses": dict(self.statuses),
            "faults": list(self.faults),
            "unreachable": dict(self.unreachable),
            "collected_at": self.collected_at,
        }

    @classmethod
    def from_json(cls, data: object) -> History:
        if not isinstance(data, dict):
            raise HistoryError("a history is a JSON object")
        if data.get("format", FORMAT_VERSION) != FORMAT_VERSION:
            raise HistoryError(f"format: version {data.get('format')!r} is not supported")
        for key, kind in (
            ("chain_id", str),
            ("params", dict),
            ("genesis", list),
            ("names", dict),
            ("chains", dict),
            ("results", dict),
            ("statuses", dict),
            ("faults", list),
        ):
            if not isinstance(data.get(key), kind):
                raise HistoryError(f"{key}: a {kind.__name__} is required")
        for i, v in enumerate(data["genesis"]):
            if not isinstance(v, dict) or not {"address", "public_key", "stake"} <= set(v):
                raise HistoryError(f"genesis[{i}]: address, public_key and stake are required")
        for node, chain in data["chains"].items():
            if not isinstance(chain, list):
                raise HistoryError(f"chains.{node}: a list of served blocks is required")
        results: dict[str, dict[int, dict[str, Any]]] = {}
        for node, per_epoch in data["results"].items():
            if not isinstance(per_epoch, dict):
                raise HistoryError(f"results.{node}: an object epoch -> result is required")
            try:
                results[node] = {int(e): r for e, r in per_epoch.items()}
            except ValueError as exc:
                raise HistoryError(f"results.{node}: epoch keys must be integers") from exc
        try:
            fault_records(data["faults"])
        except ValueError as exc:  # OldLog included: one clear line
            raise HistoryError(str(exc)) from exc
        collected = data.get("collected_at")
        return cls(
            chain_id=data["chain_id"],
            params=dict(data["params"]),
            genesis=list(data["genesis"]),
            names=dict(data["names"]),
            chains={n: list(c) for n, c in data["chains"].items()},
            results=results,
            statuses=dict(data["statuses"]),
            faults=list(data["faults"]),
            consensus=dict(data.get("consensus") or {}),
            unreachable=dict(data.get("unreachable") or {}),
            collected_at=float(collected) if isinstance(collected, int | float) else None,
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json()) + "\n")

    @classmethod
    def load(cls, path: Path) -> History:
        try:
            data = json.loads(path.read_text())
        except OSError as exc:
            raise HistoryError(f"{path}: cannot read ({exc.strerror})") from exc
        except json.JSONDecodeError as exc:
            raise HistoryError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from exc
        try:
            return cls.from_json(data)
        except HistoryError as exc:
            raise HistoryError(f"{path}: {exc}") from exc


@dataclass
class _NodeData:
    chain: list[dict[str, Any]] = field(default_factory=list)
    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    status: dict[str, Any] | None = None
    problem: str | None = None


async def _collect_node(client: NodeClient, epoch_length: int, sem: asyncio.Semaphore) -> _NodeData:
    """One node's chain 1..head, its evaluated epochs and its final CLP status."""
    out = _NodeData()

    async def get(coro: Any) -> Any:
        async with sem:
            return await coro

    async def extend_to(head: int) -> None:
        start = len(out.chain) + 1
        blocks = await asyncio.gather(*(get(client.block(h)) for h in range(start, head + 1)))
        for h, b in enumerate(blocks, start=start):
            if b is None:
                raise LookupError(f"served no block at height {h} below its head {head}")
            out.chain.append(b)

    # Chain first, results after: a result missing for an epoch the chain closed is then
    # the node's fault, never the collector's; the chain is extended to every result.
    try:
        await extend_to(int((await get(client.head()))["height"]))
        closed = len(out.chain) // epoch_length
        found = await asyncio.gather(*(get(client.epoch_result(e)) for e in range(closed)))
        out.results = {e: r for e, r in enumerate(found) if r is not None}
        e = closed
        while (r := await get(client.epoch_result(e))) is not None:  # evaluated meanwhile
            out.results[e] = r
            e += 1
        await extend_to(max((e + 1) * epoch_length for e in out.results) if out.results else 0)
        out.status = await get(client.clp_status())
    except Exception as exc:  # any failure to answer is recorded, never a crash
        out.problem = f"{type(exc).__name__}: {exc}"
    return out


async def collect_history(cluster: Cluster, faults: list[dict[str, Any]]) -> History:
    """Fetch every node's view concurrently; nodes that do not answer are noted as such."""
    genesis_path = cluster.manifest.root / "genesis.json"
    try:
        genesis = json.loads(genesis_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise HistoryError(f"{genesis_path}: cannot read the genesis ({exc})") from exc
    params = dict(genesis.get("clp", {}))
    epoch_length = int(params.get("epoch_length", 360))
    sem = asyncio.Semaphore(FETCH_CONCURRENCY)
    names = list(cluster.names)
    # The moment the heads are read, not when collection ends: a slow collection (many
    # nodes, a loaded machine) must not look like the chain stalling after its last block.
    started = time.time()
    data = await asyncio.gather(
        *(_collect_node(cluster.client(n), epoch_length, sem) for n in names)
    )
    validators = [
        {k: v[k] for k in ("address", "public_key", "stake", "name") if k in v}
        for v in genesis.get("validators", [])
    ]
    return History(
        chain_id=str(genesis.get("chain_id", "")),
        params=params,
        genesis=validators,
        names={v["address"]: v.get("name", v["address"][:8]) for v in validators},
        chains={n: d.chain for n, d in zip(names, data, strict=True)},
        results={n: d.results for n, d in zip(names, data, strict=True)},
        statuses={n: d.status for n, d in zip(names, data, strict=True) if d.status is not None},
        faults=list(faults),
        consensus=dict(genesis.get("consensus", {})),
        unreachable={n: d.problem for n, d in zip(names, data, strict=True) if d.problem},
        collected_at=started,
    )
