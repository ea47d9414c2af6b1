"""§15.10 Link discipline: a node sends to a peer only over the connection it dialled.

On proxy ``vi_to_vj`` (node i dials j) the downstream bytes are what j wrote back over
i's connection, and §16.2-§16.3 allow j there only its handshake frames (2 and 4) and one
4-byte keepalive answer per keepalive i sent. The budget for that direction is generous
on purpose, since only a node that answers with traffic (consensus messages, status:
hundreds of bytes per second and more) should exceed it:

    connections x (handshake + first keepalive answer) + duration x answer rate

- handshake: twice the compact encoding of frames 2 and 4 for this chain's id (another
  node may encode JSON differently, §16.1);
- answer rate: four keepalives a second (the rule is at least one every 5 s, the
  reference sends one every 2 s);
- connections, bounded from the fault log: a few at the start, one more per minute for a
  spurious timeout, and, for every fault state touching either end of the link or the
  link itself, two (it breaks the connection, its end lets the dialler redial) plus one
  per second it lasted (redials while it holds);
- duration: from a minute before the first block (the nodes start and connect) to the
  moment the counters were read.
"""

from __future__ import annotations

import json
import math

from harness.checks.analysis import Analysis
from harness.checks.history import History
from harness.checks.timeline import NetState, segments
from harness.checks.verdict import CheckResult, combine
from harness.cluster.testnet import link_ends

NAME = "link_discipline"

FRAME_PREFIX = 4  # u32be length (§16.1)
KEY_HEX = 64  # 32 bytes in lowercase hex (§16.2 H32)
SIGNATURE_HEX = 128  # 64 bytes (§16.2 H64)
ENCODING_SLACK = 2  # another encoder's whitespace, key order, unknown fields
KEEPALIVE = FRAME_PREFIX  # a zero-length frame
ANSWERS_PER_S = 4.0
BASE_CONNECTIONS = 3
SPURIOUS_PER_MIN = 1.0
FAULT_CONNECTIONS = 2
REDIALS_PER_S = 1.0
STARTUP_S = 60.0


def handshake_bytes(chain_id: str) -> int:
    """The listener's frames 2 and 4 of §16.2 as the reference encodes them."""
    key = "0" * KEY_HEX
    hello = {"type": "hello", "chain_id": chain_id, "public_key": key, "nonce": key}
    auth = {"type": "auth", "signature": "0" * SIGNATURE_HEX}
    compact = [json.dumps(f, separators=(",", ":"), ensure_ascii=True) for f in (hello, auth)]
    return sum(FRAME_PREFIX + len(p.encode()) for p in compact)


def touches(state: NetState, src: str, dst: str) -> bool:
    """Whether a fault state may break or hold up the connections of link src -> dst."""
    ends = {src, dst}
    stopped = state.killed | state.paused | state.toxic | state.lossy | set(state.offsets)
    return bool(ends & stopped) or (src, dst) in state.down or (dst, src) in state.down


def connections_bound(history: History, first_s: float, until_s: float, link: str) -> float:
    """How many connections link ``link`` may have had from ``first_s`` to ``until_s``."""
    src, dst = link_ends(link)
    bound = BASE_CONNECTIONS + SPURIOUS_PER_MIN * (until_s - first_s) / 60
    nodes = sorted(set(history.names.values()) | set(history.chains) | {src, dst})
    for seg in segments(history.faults, nodes, first_s):
        if seg.index == 0 or not touches(seg.state, src, dst):
            continue
        end = min(seg.end_hi, until_s)
        bound += FAULT_CONNECTIONS + REDIALS_PER_S * max(0.0, end - seg.start_lo)
    return bound


def budget(history: History, first_s: float, until_s: float, link: str) -> tuple[int, str]:
    """The backward bytes allowed on ``link``, and how they were reckoned."""
    per_connection = ENCODING_SLACK * handshake_bytes(history.chain_id) + KEEPALIVE
    connections = connections_bound(history, first_s, until_s, link)
    seconds = until_s - first_s
    allowed = math.ceil(connections * per_connection + seconds * ANSWERS_PER_S * KEEPALIVE)
    how = (
        f"{connections:.0f} connections x {per_connection} B + {seconds:.0f} s of keepalive "
        f"answers x {ANSWERS_PER_S * KEEPALIVE:.0f} B/s"
    )
    return allowed, how


def budgets(history: History, analysis: Analysis | None = None) -> dict[str, int] | None:
    """Each counted link's budget for its backward bytes; None without the times to bound
    the run (no block, or counters without the moment they were read)."""
    a = analysis or Analysis(history)
    first_block = a.time_of(1)
    until = history.link_bytes_at
    if first_block is None or until is None:
        return None
    first = first_block - STARTUP_S
    return {link: budget(history, first, until, link)[0] for link in sorted(history.link_bytes)}


def check(history: History, analysis: Analysis | None = None) -> CheckResult:
    a = analysis or Analysis(history)
    links = history.link_bytes
    if not links:
        why = history.link_bytes_problem or "the history holds no link byte counters"
        return CheckResult(NAME, "unknown", [f"not applicable: {why}"])
    first_block = a.time_of(1)
    until = history.link_bytes_at
    if first_block is None or until is None:
        return CheckResult(
            NAME, "unknown", ["no block time or counter time to bound the run's duration"]
        )
    first = first_block - STARTUP_S
    fails: list[str] = []
    passes: list[str] = []
    worst: tuple[float, str] | None = None
    for link in sorted(links):
        back = links[link].get("downstream", 0)
        src, dst = link_ends(link)
        allowed, how = budget(history, first, until, link)
        if back > allowed:
            fails.append(
                f"{link}: {dst} wrote {back} bytes back over the connection {src} dialled, "
                f"over the budget of {allowed} ({how}); forward {src} wrote "
                f"{links[link].get('upstream', 0)}"
            )
        share = back / allowed if allowed else math.inf
        if worst is None or share > worst[0]:
            worst = (share, f"{link} {back} of {allowed} bytes")
    if not fails and worst is not None:
        passes.append(
            f"{len(links)} links: every backward direction within its budget of handshakes "
            f"and keepalive answers (the fullest: {worst[1]})"
        )
    return combine(NAME, fails, [], passes)
