"""Helpers of the integration suite: real node processes on 127.0.0.1.

Every module starts its own cluster (module scope, one event loop per module) so that what
one module does to its testnet (kills, lazy validators, hostile input) cannot change what
another module asserts. Waits are in protocol time (``Cluster.clock``), never bare sleeps.

Everything a test asserts is read back through the node contract of CLP_SPEC §9 (REST and
JSON log lines); the only node-side code used here is the pure crypto that builds the
messages a real client would build (response signatures, handshake signatures).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from clp_node.chain.genesis import Genesis
from clp_node.chain.keys import ValidatorKey
from clp_node.clp.challenge import ChallengeGenerator
from clp_node.clp.types import ClpConfig
from clp_node.consensus.types import CommitCertificate, ValidatorSet
from harness.cluster.local import LocalBackend
from harness.cluster.testnet import init_testnet
from harness.contract.params import ClpParams


@asynccontextmanager
async def running_cluster(
    root: Path,
    validators: int = 5,
    clp: ClpConfig | None = None,
    seed: str = "it",
    node_command: str | None = None,
) -> AsyncIterator[LocalBackend]:
    """A direct-link (unproxied) testnet of ``validators`` nodes, torn down on any exit;
    ``node_command`` (a ``{config}`` template) starts another implementation."""
    params = ClpParams.from_dict(clp.to_dict()) if clp is not None else None
    manifest = init_testnet(root, validators=validators, clp=params, proxied=False, seed=seed)
    cluster = LocalBackend(manifest, node_command=node_command)
    try:
        async with cluster:
            yield cluster
    finally:
        cluster.stop_sync()  # no-op when stop() already reaped everything


# ---- diagnostics ---------------------------------------------------------------------------


def logs_hint(c: LocalBackend, names: Iterable[str] | None = None) -> str:
    """Appended to every assertion message: where to look when it fails."""
    return "; logs: " + ", ".join(f"{n}={c.log_path(n)}" for n in (names or c.names))


def log_events(c: LocalBackend, name: str, event: str) -> list[dict[str, Any]]:
    """Every JSON log line of ``name`` with this event, in file order (across restarts)."""
    out: list[dict[str, Any]] = []
    path = Path(c.log_path(name))
    if not path.exists():
        return out
    for line in path.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and rec.get("event") == event:
            out.append(rec)
    return out


# ---- chain reading -------------------------------------------------------------------------


def genesis_of(c: LocalBackend) -> Genesis:
    return Genesis.load(c.manifest.root / "genesis.json")


def key_of(c: LocalBackend, name: str) -> ValidatorKey:
    return ValidatorKey.load(c.manifest.node_dir(name) / "key.json")


def clp_config(c: LocalBackend) -> ClpConfig:
    return ClpConfig.from_dict(c.manifest.clp)


def challenge_heights(cfg: ClpConfig, lo: int, hi: int) -> list[int]:
    """Heights in lo..=hi that carry a challenge (§4 should_generate)."""
    gen = ChallengeGenerator(cfg, "unused")
    return [h for h in range(max(lo, 1), hi + 1) if gen.should_generate(h)]


async def fetch_blocks(
    c: LocalBackend, name: str, lo: int, hi: int, concurrency: int = 16
) -> dict[int, dict[str, Any]]:
    """GET /alpha/chain/block/{h} for h in lo..=hi; a missing block fails the test."""
    client = c.client(name)
    sem = asyncio.Semaphore(concurrency)

    async def one(h: int) -> tuple[int, dict[str, Any] | None]:
        async with sem:
            return h, await client.block(h)

    pairs = await asyncio.gather(*(one(h) for h in range(lo, hi + 1)))
    missing = [h for h, b in pairs if b is None]
    assert not missing, f"{name} serves no block at heights {missing}{logs_hint(c, [name])}"
    return {h: b for h, b in pairs if b is not None}


def responses_by_challenge(blocks: dict[int, dict[str, Any]]) -> dict[int, Counter[str]]:
    """challenge height -> validator -> how many times its response is on chain."""
    out: dict[int, Counter[str]] = {}
    for b in blocks.values():
        for r in b["block"]["responses"]:
            out.setdefault(r["challenge_height"], Counter())[r["validator"]] += 1
    return out


def response_inclusion(blocks: dict[int, dict[str, Any]]) -> dict[tuple[int, str], list[int]]:
    """(challenge height, validator) -> heights of the blocks that include that response."""
    out: dict[tuple[int, str], list[int]] = {}
    for h, b in sorted(blocks.items()):
        for r in b["block"]["responses"]:
            out.setdefault((r["challenge_height"], r["validator"]), []).append(h)
    return out


async def committee_stakes(c: LocalBackend, name: str, epoch: int) -> dict[str, int]:
    body = await c.client(name).committee(epoch)
    assert body is not None, f"{name} knows no committee for epoch {epoch}{logs_hint(c, [name])}"
    return {m["address"]: int(m["stake"]) for m in body["members"]}


def check_certificate(
    genesis: Genesis, height: int, entry: dict[str, Any], stakes: dict[str, int]
) -> list[str]:
    """The block's commit certificate is for this block and carries > 2/3 of the stake.

    Checked twice on purpose: by summing the signers' stake here (independent of node
    code), and by CommitCertificate.verify, which also checks every Ed25519 signature.
    """
    block, cert = entry["block"], entry["certificate"]
    problems = []
    if cert.get("height") != height or cert.get("block_hash") != block["hash"]:
        problems.append(
            f"h{height}: certificate is for {cert.get('height')}/{cert.get('block_hash')}"
        )
    signers = [v["validator"] for v in cert.get("votes", [])]
    if len(signers) != len(set(signers)):
        problems.append(f"h{height}: a signer appears twice: {signers}")
    outsiders = [s for s in signers if s not in stakes]
    if outsiders:
        problems.append(f"h{height}: signers outside the committee: {outsiders}")
    power = sum(stakes.get(s, 0) for s in set(signers))
    total = sum(stakes.values())
    if not 3 * power > 2 * total:
        problems.append(f"h{height}: signers hold {power} of {total} stake (need > 2/3)")
    keys = genesis.public_keys()
    vset = ValidatorSet({a: (keys[a], s) for a, s in stakes.items()})
    try:
        CommitCertificate.from_json(cert).verify(genesis.chain_id, vset)
    except Exception as exc:  # InvalidCertificate or a parse error: both are findings
        problems.append(f"h{height}: certificate does not verify: {exc}")
    return problems


def recompute_counters(
    cfg: ClpConfig,
    blocks: dict[int, dict[str, Any]],
    committee: Iterable[str],
    head: int,
) -> dict[str, tuple[int, int]]:
    """§6 for the epoch of ``head``: validator -> (challenges, responses) from blocks alone.

    A challenge counts once its deadline is at or before ``head``; at an epoch's last block
    the counters have been reset for the next epoch, so everything is (0, 0).
    """
    members = sorted(committee)
    out = {a: (0, 0) for a in members}
    if cfg.closes_epoch(head) is not None:
        return out
    epoch = cfg.epoch_of(head)
    incl = response_inclusion(blocks)
    for ch in challenge_heights(cfg, cfg.epoch_first_height(epoch), head):
        if ch + cfg.response_window > head:
            continue
        for a in members:
            challenges, responses = out[a]
            hit = any(ch < b <= ch + cfg.response_window for b in incl.get((ch, a), []))
            out[a] = (challenges + 1, responses + (1 if hit else 0))
    return out
