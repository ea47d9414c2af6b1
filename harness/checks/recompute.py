"""CLP_SPEC §4-§7 recomputed from the finalized blocks alone: the checkers' second opinion.

Pure: no I/O, no clock. Every block is re-verified on the way (hash, parent link, proposer,
commit certificate > 2/3 of the epoch committee's stake, each response against §5 in its
rule order with its Ed25519 signature); what does not hold is reported as a problem naming
the height, and the counters go on with what a node would have counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.checks import formats as fmt
from harness.checks.params import BPS_MAX, ClpParams


@dataclass
class Challenge:
    height: int
    epoch: int
    value: bytes
    deadline: int
    expected: tuple[str, ...]
    included: dict[str, int] = field(default_factory=dict)  # validator -> block height

    def responded(self, validator: str) -> bool:
        return validator in self.included


@dataclass
class _Counters:
    challenges: int = 0
    responses: int = 0
    missed: int = 0


@dataclass
class Recomputation:
    """Everything §6-§7 derive from one chain, plus what the blocks showed to be wrong."""

    height: int = 0
    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    challenges: dict[int, Challenge] = field(default_factory=dict)
    committees: dict[int, dict[str, int]] = field(default_factory=dict)
    stakes_after: dict[int, dict[str, int]] = field(default_factory=dict)
    burned_after: dict[int, int] = field(default_factory=dict)
    ejected_at: dict[str, int] = field(default_factory=dict)
    signers: dict[int, list[str]] = field(default_factory=dict)
    proposers: dict[int, str] = field(default_factory=dict)
    times_ms: dict[int, int] = field(default_factory=dict)
    hashes: dict[int, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def committee_of_height(self, height: int, params: ClpParams) -> dict[str, int]:
        return self.committees.get(params.epoch(height), {})


def evaluate_epoch(
    params: ClpParams,
    epoch: int,
    committee: Mapping[str, int],
    counters: Mapping[str, tuple[int, int]],
    streaks: Mapping[str, int],
    burned_before: int,
) -> dict[str, Any]:
    """§7 for one epoch: ``counters`` is validator -> (challenges, responses) of the epoch.

    Returns the ClpEpochResult JSON shape the nodes serve.
    """
    members = sorted(committee)

    def rate(a: str) -> int:
        ch, resp = counters.get(a, (0, 0))
        # Spec gap: §7 evaluates only validators with challenges > 0; nothing asked is no fault.
        return resp * BPS_MAX // ch if ch > 0 else BPS_MAX

    evaluated = [a for a in members if counters.get(a, (0, 0))[0] > 0]
    failing = [a for a in evaluated if rate(a) < params.min_response_rate_bps]
    committee_stake = sum(committee[a] for a in members)
    failing_stake = sum(committee[a] for a in failing)
    # §7: an epoch in which nobody fails is never systemic, whatever the threshold (0 too)
    systemic = (
        failing_stake > 0 and failing_stake * BPS_MAX >= committee_stake * params.systemic_fault_bps
    )
    slashed: dict[str, int] = {}
    ejected: list[str] = []
    deferred: list[str] = []
    if not systemic:
        for a in failing:
            stake = committee[a]
            amount = min(stake * params.slash_fraction_bps // BPS_MAX, stake)
            if not 0 <= amount <= stake:  # §7: validated before it is applied
                raise ValueError(f"slash {amount} of {a} is outside 0..={stake}")
            slashed[a] = amount
        after = {a: committee[a] - slashed.get(a, 0) for a in members}
        candidates = [
            a
            for a in evaluated
            if streaks.get(a, 0) >= params.max_consecutive_failures or after[a] < params.min_stake
        ]
        candidates.sort(key=lambda a: (-streaks.get(a, 0), after[a], a))
        cap = params.ejection_cap(len(members))
        ejected = sorted(candidates[:cap])
        deferred = candidates[cap:]
    validators = []
    for a in members:
        if a in ejected:
            status = "ejected"
        elif a in deferred:
            status = "ejection_deferred"
        elif a in failing and not systemic:
            status = "slashed"
        else:
            status = "active"
        ch, resp = counters.get(a, (0, 0))
        validators.append(
            {
                "address": a,
                "challenges": ch,
                "responses": resp,
                "rate_bps": rate(a),
                "slashed": slashed.get(a, 0),
                "status": status,
                "consecutive_failures": streaks.get(a, 0),
                "stake_after": committee[a] - slashed.get(a, 0),
                "governance_weight_bps": 0 if status == "ejected" else rate(a),
            }
        )
    total = sum(slashed.values())
    return {
        "epoch": epoch,
        "systemic": systemic,
        "validators": validators,
        "slashed_total": total,
        "ejected": ejected,
        "next_committee": [a for a in members if a not in ejected],
        "burned_total": burned_before + total,
        "governance_weight_total_bps": sum(v["governance_weight_bps"] for v in validators),
    }


class _Replay:
    def __init__(
        self,
        chain_id: str,
        params: ClpParams,
        genesis_stakes: Mapping[str, int],
        public_keys: Mapping[str, bytes],
        names: Mapping[str, str],
    ) -> None:
        self.chain_id = chain_id
        self.p = params
        self.keys = public_keys
        self.names = names
        self.stakes = dict(genesis_stakes)
        self.burned = 0
        self.streak: dict[str, int] = {a: 0 for a in genesis_stakes}
        self.counters: dict[str, _Counters] = {a: _Counters() for a in genesis_stakes}
        self.out = Recomputation()
        self.out.committees[0] = dict(genesis_stakes)
        self.on_chain: set[tuple[int, str]] = set()
        self.prev_hash: str | None = None
        self.prev_time = 0

    def n(self, address: str) -> str:
        return self.names.get(address, address[:8])

    def problem(self, height: int, text: str) -> None:
        self.out.problems.append(f"height {height}: {text}")

    def committee(self, height: int) -> dict[str, int]:
        return self.out.committees.get(self.p.epoch(height), {})

    def apply(self, h: int, entry: object) -> bool:
        """Apply the served entry at height h; False when it cannot be read at all."""
        if not isinstance(entry, dict):
            self.problem(h, "the served entry is not a JSON object")
            return False
        block = entry.get("block")
        bad = fmt.block_problem(block, h)
        if bad is not None:
            self.problem(h, f"malformed block: {bad}")
            return False
        assert isinstance(block, dict)
        if block["chain_id"] != self.chain_id:
            self.problem(h, f"chain id {block['chain_id']!r}, want {self.chain_id!r}")
        digest = fmt.block_hash(block)
        if digest.hex() != block["hash"]:
            self.problem(h, f"served hash {block['hash'][:16]} != content hash {digest.hex()[:16]}")
        if self.prev_hash is not None and block["parent_hash"] != self.prev_hash:
            parent = block["parent_hash"][:16]
            self.problem(h, f"parent_hash {parent} != hash of {h - 1} {self.prev_hash[:16]}")
        if block["time_ms"] < self.prev_time:
            self.problem(h, f"time_ms {block['time_ms']} is before its parent's {self.prev_time}")
        committee = self.committee(h)
        if block["proposer"] not in committee:
            self.problem(h, f"proposer {self.n(block['proposer'])} is not in the committee")
        self.out.proposers[h] = block["proposer"]
        self.out.times_ms[h] = block["time_ms"]
        self.out.hashes[h] = digest.hex()
        self.check_certificate(h, entry.get("certificate"), digest, committee)
        self.record_responses(h, block["responses"])
        self.finalize_challenge(h)
        if h % self.p.epoch_length == 0:
            self.close_epoch(h // self.p.epoch_length - 1)
        if self.p.should_generate(h):
            self.out.challenges[h] = Challenge(
                height=h,
                epoch=self.p.epoch(h),
                value=fmt.challenge_value(self.chain_id, h, digest),
                deadline=h + self.p.response_window,
                expected=tuple(sorted(committee)),
            )
        self.prev_hash = digest.hex()
        self.prev_time = block["time_ms"]
        self.out.height = h
        return True

    def check_certificate(
        self, h: int, cert: object, digest: bytes, committee: Mapping[str, int]
    ) -> None:
        """§8: precommits for this block from distinct members holding > 2/3 of the stake."""
        if not isinstance(cert, dict) or not isinstance(cert.get("votes"), list):
            self.problem(h, "no commit certificate with a list of votes")
            self.out.signers[h] = []
            return
        if cert.get("height") != h or cert.get("block_hash") != digest.hex():
            self.problem(h, f"certificate is for height {cert.get('height')!r}, another block")
        round_ = cert.get("round")
        signers: list[str] = []
        for vote in cert["votes"]:
            who = vote.get("validator") if isinstance(vote, dict) else None
            label = self.n(who) if isinstance(who, str) else repr(who)
            if not isinstance(vote, dict) or not fmt.is_address(who):
                self.problem(h, f"certificate vote of {label} is malformed")
                continue
            assert isinstance(who, str)
            if (
                vote.get("type") != "precommit"
                or vote.get("height") != h
                or vote.get("round") != round_
                or vote.get("block_hash") != digest.hex()
            ):
                self.problem(h, f"certificate vote of {label} is not a precommit for this block")
                continue
            if who in signers:
                self.problem(h, f"{label} signed the certificate twice")
                continue
            signers.append(who)
            if who not in committee:
                self.problem(h, f"certificate vote of {label}, who is not in the committee")
                continue
            sig = vote.get("signature")
            ok = (
                fmt.is_int(round_)
                and 0 <= round_ < 2**64
                and fmt.is_hex(sig, fmt.SIGNATURE_BYTES)
                and fmt.verify(
                    self.keys.get(who, b""),
                    fmt.precommit_sign_bytes(self.chain_id, h, round_, digest),
                    bytes.fromhex(sig),
                )
            )
            if not ok:
                self.problem(h, f"certificate vote of {label} has a bad signature")
                signers.remove(who)
        self.out.signers[h] = signers
        power = sum(committee.get(a, 0) for a in signers)
        total = sum(committee.values())
        if not 3 * power > 2 * total:
            self.problem(h, f"certificate signers hold {power} of {total} stake (need > 2/3)")

    def response_reason(self, b: int, r: dict[str, Any], seen: set[tuple[int, str]]) -> str | None:
        """§5 in order; the first failing rule is the reason."""
        bad = fmt.response_problem(r)
        if bad is not None:
            return f"MALFORMED ({bad})"
        h, v = r["challenge_height"], r["validator"]
        if not self.p.should_generate(h) or h >= b:
            return "UNKNOWN_CHALLENGE"
        if b > h + self.p.response_window:
            return "EXPIRED"
        challenge = self.out.challenges.get(h)
        if challenge is None:  # generated at h < b unless h was never applied
            return "UNKNOWN_CHALLENGE"
        if v not in challenge.expected:
            return "NOT_IN_COMMITTEE"
        if (h, v) in self.on_chain or (h, v) in seen:
            return "DUPLICATE"
        message = fmt.response_digest(self.chain_id, h, challenge.value, v)
        if not fmt.verify(self.keys.get(v, b""), message, bytes.fromhex(r["signature"])):
            return "BAD_SIGNATURE"
        return None

    def record_responses(self, b: int, responses: Sequence[dict[str, Any]]) -> None:
        keys = [(r["challenge_height"], r["validator"]) for r in responses]
        if keys != sorted(keys):
            self.problem(b, "responses are not sorted by (challenge height, validator)")
        seen: set[tuple[int, str]] = set()
        for r in responses:
            reason = self.response_reason(b, r, seen)
            label = f"({r['challenge_height']}, {self.n(r['validator'])})"
            if reason is not None:
                self.problem(b, f"includes response {label} that is invalid: {reason}")
                continue
            seen.add((r["challenge_height"], r["validator"]))
        for h, v in sorted(seen):
            self.on_chain.add((h, v))
            self.out.challenges[h].included[v] = b

    def finalize_challenge(self, b: int) -> None:
        """§6 (2): the challenge whose deadline is b, expected validators in address order."""
        challenge = self.out.challenges.get(b - self.p.response_window)
        if challenge is None:
            return
        for v in challenge.expected:
            c = self.counters.setdefault(v, _Counters())
            c.challenges += 1
            if challenge.responded(v):
                c.responses += 1
                self.streak[v] = 0
            else:
                c.missed += 1
                self.streak[v] = self.streak.get(v, 0) + 1

    def close_epoch(self, epoch: int) -> None:
        committee = self.out.committees.get(epoch, {})
        counters = {a: (self.counters[a].challenges, self.counters[a].responses) for a in committee}
        result = evaluate_epoch(self.p, epoch, committee, counters, self.streak, self.burned)
        for v in result["validators"]:
            self.stakes[v["address"]] -= v["slashed"]
        self.burned = result["burned_total"]
        for a in result["ejected"]:
            self.out.ejected_at[a] = epoch
        self.out.results[epoch] = result
        self.out.stakes_after[epoch] = dict(self.stakes)
        self.out.burned_after[epoch] = self.burned
        self.out.committees[epoch + 1] = {a: self.stakes[a] for a in result["next_committee"]}
        self.counters = {a: _Counters() for a in self.stakes}


def recompute(
    chain_id: str,
    params: ClpParams,
    genesis_stakes: Mapping[str, int],
    public_keys: Mapping[str, bytes],
    chain: Sequence[object],
    names: Mapping[str, str] | None = None,
) -> Recomputation:
    """Replay ``chain`` (served entries for heights 1..n) from genesis.

    Stops at the first entry that cannot be read at all.
    """
    replay = _Replay(chain_id, params, genesis_stakes, public_keys, names or {})
    for h, entry in enumerate(chain, start=1):
        if not replay.apply(h, entry):
            break
    return replay.out


RESULT_FIELDS = ("systemic", "slashed_total", "ejected", "next_committee", "burned_total")
VALIDATOR_FIELDS = ("challenges", "responses", "rate_bps", "slashed", "status")
EXTRA_VALIDATOR_FIELDS = ("consecutive_failures", "stake_after", "governance_weight_bps")


def compare_result(
    expected: Mapping[str, Any], served: object, names: Mapping[str, str]
) -> list[str]:
    """Field-by-field differences between a recomputed and a served ClpEpochResult.

    The spec's fields must match; the node's extra fields are compared when it serves them.
    """

    def n(a: str) -> str:
        return names.get(a, a[:8]) if isinstance(a, str) else repr(a)

    if not isinstance(served, dict):
        return ["the served result is not a JSON object"]
    diffs = []
    if served.get("epoch") != expected["epoch"]:
        diffs.append(f"epoch field {served.get('epoch')!r} != {expected['epoch']}")
    for key in (*RESULT_FIELDS, "governance_weight_total_bps"):
        if key == "governance_weight_total_bps" and key not in served:
            continue
        want, got = expected[key], served.get(key)
        if key in ("ejected", "next_committee") and isinstance(got, list):
            want, got = [n(a) for a in want], [n(a) for a in got]
        if got != want:
            diffs.append(f"{key}: served {got!r}, recomputed {want!r}")
    got_vs = served.get("validators")
    if not isinstance(got_vs, list):
        return [*diffs, "validators: not a list"]
    by_addr = {v.get("address"): v for v in got_vs if isinstance(v, dict)}
    want_addrs = [v["address"] for v in expected["validators"]]
    if [v.get("address") if isinstance(v, dict) else None for v in got_vs] != want_addrs:
        diffs.append(
            f"validators: served {[n(v.get('address', '?')) for v in got_vs]}, "
            f"recomputed {[n(a) for a in want_addrs]}"
        )
    for want in expected["validators"]:
        got = by_addr.get(want["address"])
        if got is None:
            continue
        for key in VALIDATOR_FIELDS + EXTRA_VALIDATOR_FIELDS:
            if key in EXTRA_VALIDATOR_FIELDS and key not in got:
                continue
            if got.get(key) != want[key]:
                diffs.append(
                    f"{n(want['address'])}.{key}: served {got.get(key)!r}, recomputed {want[key]!r}"
                )
    return diffs
