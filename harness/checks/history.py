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

from harness.checks.linkbytes import DIRECTIONS, LinkBytes, collect_link_bytes
from harness.checks.timeline import records as fault_records
from harness.checks.votes import NodeVotes, VoteCollector

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
    # Bytes per fault-proxy link and direction (linkbytes.py), when the time they were read;
    # or why there are none. A history saved before they were collected has neither.
    link_bytes: LinkBytes = field(default_factory=dict)
    link_bytes_at: float | None = None
    link_bytes_problem: str | None = None
    # node -> its /alpha/clp/answers body (§11), None when it answered 404; a node missing
    # here was not asked (unreachable, or a history saved before answers were collected)
    answers: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    # The votes each node served (votes.py); None in a history saved before they were read.
    votes: dict[str, NodeVotes] | None = None

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
            "link_bytes": {n: dict(d) for n, d in self.link_bytes.items()},
            "link_bytes_at": self.link_bytes_at,
            "link_bytes_problem": self.link_bytes_problem,
            "answers": dict(self.answers),
            "votes": None
            if self.votes is None
            else {n: v.to_json() for n, v in sorted(self.votes.items())},
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
        links = data.get("link_bytes")
        links_at = data.get("link_bytes_at")
        problem = data.get("link_bytes_problem")
        answers = data.get("answers") or {}
        if not isinstance(answers, dict) or not all(
            a is None or isinstance(a, dict) for a in answers.values()
        ):
            raise HistoryError("answers: an object node -> answers body or null is required")
        raw_votes = data.get("votes")
        if raw_votes is not None and not isinstance(raw_votes, dict):
            raise HistoryError("votes: an object node -> served votes is required")
        node_votes: dict[str, NodeVotes] | None = None
        if raw_votes is not None:
            node_votes = {}
            for n, raw in raw_votes.items():
                try:
                    node_votes[str(n)] = NodeVotes.from_json(raw)
                except ValueError as exc:
                    raise HistoryError(f"votes.{n}: {exc}") from exc
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
            link_bytes=_link_bytes({} if links is None else links),
            link_bytes_at=float(links_at) if isinstance(links_at, int | float) else None,
            link_bytes_problem=str(problem) if problem is not None else None,
            answers=dict(answers),
            votes=node_votes,
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


def _link_bytes(raw: object) -> LinkBytes:
    """``link_bytes`` of a saved history: link -> direction -> a non-negative integer."""
    if not isinstance(raw, dict):
        raise HistoryError("link_bytes: an object link -> direction -> bytes is required")
    out: LinkBytes = {}
    for link, per in raw.items():
        if not isinstance(per, dict) or not set(per) <= set(DIRECTIONS):
            raise HistoryError(f"link_bytes.{link}: an object with {' and '.join(DIRECTIONS)}")
        for direction, n in per.items():
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise HistoryError(f"link_bytes.{link}.{direction}: a byte count is required")
        out[str(link)] = dict(per)
    return out


@dataclass
class _NodeData:
    chain: list[dict[str, Any]] = field(default_factory=list)
    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    status: dict[str, Any] | None = None
    answers: dict[str, Any] | None = None
    answered: bool = False  # the answers were asked for and came (a body or a 404)
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
    try:  # optional (§11): without it only the inclusion check is not applicable
        out.answers = await get(client.clp_answers())
        out.answered = True
    except Exception:  # a node that cannot say is treated as one that was not asked
        pass
    return out


async def collect_history(
    cluster: Cluster, faults: list[dict[str, Any]], votes: VoteCollector | None = None
) -> History:
    """Fetch every node's view concurrently; nodes that do not answer are noted as such.

    ``votes``: what a collector read during the run; it reads once more here."""
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
    votes = votes or VoteCollector(names)
    await votes.poll(cluster)
    # After the nodes' views: reading the counters closes every proxied connection once.
    links = await collect_link_bytes(cluster)
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
        link_bytes=links.bytes,
        link_bytes_at=links.at,
        link_bytes_problem=links.problem,
        answers={n: d.answers for n, d in zip(names, data, strict=True) if d.answered},
        votes=votes.nodes,
    )
