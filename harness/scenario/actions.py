"""A scenario's actions on a running cluster: faults through the Nemesis, plus assertions.

Faults go through ``Nemesis.apply`` (the registry's kinds), so every one lands in the fault
log the checkers read, and the Nemesis's fault state says which nodes are live. The
executor records the outcome of every in-run assertion (``expect_stalled``,
``expect_progress``, ``post_response``).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any

from harness.cluster.base import Cluster, WaitTimeout
from harness.cluster.client import NodeClient, NodeUnavailable
from harness.contract.formats import response_digest as response_message
from harness.contract.keys import ValidatorKey
from harness.faults.errors import FaultError
from harness.faults.nemesis import Nemesis
from harness.scenario.model import BAD_SIGNATURE, DUPLICATE, EXPIRED, Action, Step
from harness.scenario.results import ExpectationOutcome
from harness.scenario.triggers import is_challenge_height


@dataclass(frozen=True)
class Forgery:
    """A forged response that was posted: checked later to be absent from every new block."""

    step: str
    via: str
    body: dict[str, Any]
    posted_above: int  # the via node's height before the post
    # A signature forgery answered DUPLICATE: right by §5's order (rule 5 before rule 6)
    # only if the validator's own response to the challenge is on chain or was held by the
    # node; judged after the window, from the chain (see ``check_forgeries``).
    duplicate_pending: tuple[str, str] | None = None  # (what, detail) of the post


class ActionError(RuntimeError):
    """An action could not be carried out (the harness's problem, not the node's)."""


class ActionExecutor:
    def __init__(self, cluster: Cluster, nemesis: Nemesis, seed: int) -> None:
        self.cluster = cluster
        self.nemesis = nemesis
        self.rng = random.Random(f"{seed}/actions")
        self.seed = seed
        self.outcomes: list[ExpectationOutcome] = []  # the in-run assertions
        self.forgeries: list[Forgery] = []

    # ---- what the runner asks (from the Nemesis's fault state) --------------------------

    def live(self) -> list[str]:
        """Running and not paused."""
        st = self.nemesis.state
        return [
            n
            for n in self.cluster.names
            if self.cluster.is_running(n) and n not in st.paused and n not in st.killed
        ]

    def unfaulted(self) -> list[str]:
        """Live and with no disabled link to or from it: nodes that must keep up."""
        touched = {n for link in self.nemesis.state.down_pairs() for n in link}
        return [n for n in self.live() if n not in touched]

    async def run(self, step: Step) -> None:
        a = step.action
        if a.is_fault:
            try:
                await self.nemesis.apply(a.kind, a.args)
            except FaultError as exc:
                raise ActionError(f"{step.label}: {exc}") from exc
            return
        handler = getattr(self, f"_do_{a.kind}", None)
        if handler is None:
            raise ActionError(f"{step.label}: no handler for action {a.kind!r}")
        await handler(a, step)

    # ---- assertions --------------------------------------------------------------------

    async def _do_expect_stalled(self, a: Action, step: Step) -> None:
        """The chain must not advance by more than one block for a budget of N blocks."""
        assert a.blocks is not None
        names = list(a.nodes or self.live())
        c = self.cluster
        start = top_height(await c.heights(names))
        budget = c.clock.blocks(a.blocks)
        deadline = time.monotonic() + budget
        top = start
        while time.monotonic() < deadline and top - start <= 1:
            await asyncio.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
            top = max(top, top_height(await c.heights(names)))
        passed = top - start <= 1
        waited = budget - max(0.0, deadline - time.monotonic())
        self.outcomes.append(
            ExpectationOutcome(
                f"{step.label} expect_stalled {a.blocks} blocks ({', '.join(names)})",
                passed,
                f"highest height {start} -> {top} in {waited:.1f}s "
                f"(budget of {a.blocks} blocks = {budget:.1f}s)",
            )
        )

    async def _do_expect_progress(self, a: Action, step: Step) -> None:
        """Each named node advances by at least N blocks within the budget of N blocks."""
        assert a.blocks is not None
        names = list(a.nodes or self.live())
        c = self.cluster
        start = await c.heights(names)
        target = {n: (h or 0) + a.blocks for n, h in start.items()}
        budget = c.clock.blocks(a.blocks)

        async def advanced() -> dict[str, int | None] | None:
            now = await c.heights(names)
            ok = all((now[n] or 0) >= target[n] for n in names)
            return now if ok else None

        what = f"{step.label} expect_progress {a.blocks} blocks ({', '.join(names)})"
        try:
            now = await c.wait_for(advanced, budget, what)
            self.outcomes.append(ExpectationOutcome(what, True, _moves(start, now)))
        except WaitTimeout:
            now = await c.heights(names)
            self.outcomes.append(
                ExpectationOutcome(what, False, f"{_moves(start, now)} within {budget:.1f}s")
            )

    async def _do_post_response(self, a: Action, step: Step) -> None:
        assert a.via is not None and a.forge is not None
        forger = Forger(self, a)
        body, note = await forger.build()
        client = self.cluster.client(a.via)
        try:
            resp = await client.post_response(body)
        except NodeUnavailable as exc:
            raise ActionError(f"{step.label}: {a.via} did not take the post: {exc}") from exc
        try:
            answer = resp.json()
        except ValueError:
            answer = resp.text
        code = answer.get("error") if isinstance(answer, dict) else None
        passed = resp.status_code == 400 and code == a.expect_reason
        what = f"{step.label} post_response forge={a.forge} via {a.via}"
        detail = f"want 400 {a.expect_reason}, got {resp.status_code} {code or answer}; {note}"
        if not passed and resp.status_code == 400 and code == EXPIRED and a.forge == "duplicate":
            passed, detail = await self._closed_in_flight(client, body, detail)
        pending = None
        if resp.status_code == 400 and code == DUPLICATE and a.expect_reason == BAD_SIGNATURE:
            pending = (what, detail)  # §5 puts DUPLICATE first if a genuine one exists
        else:
            self.outcomes.append(ExpectationOutcome(what, passed, detail))
        self.forgeries.append(Forgery(step.label, a.via, body, forger.head, pending))

    async def _closed_in_flight(
        self, client: NodeClient, body: dict[str, Any], detail: str
    ) -> tuple[bool, str]:
        """A re-posted on-chain response refused as EXPIRED: right (§5 rule 3 comes before
        rule 5) when the window had closed by the time the node judged it, which a head read
        after the answer bounds from above; a loaded machine can take the two blocks of
        margin the forgery left."""
        window = self.cluster.manifest.clp_config().response_window
        until = int(body["challenge_height"]) + window
        try:
            after = await client.height()
        except NodeUnavailable as exc:
            return False, f"{detail}; its head could not be read after: {exc}"
        if after + 1 > until:
            return True, (
                f"{detail}; the window closed while the post was in flight (head {after} "
                f"after the answer): EXPIRED (§5 rule 3) rightly comes before DUPLICATE"
            )
        return False, f"{detail}; head {after} after the answer, so block {after + 1} <= {until}"

    async def check_forgeries(self) -> None:
        """No forged response reached a block after it was posted (its window has passed)."""
        c = self.cluster
        window = c.manifest.clp_config().response_window
        for f in self.forgeries:
            hi = f.posted_above + window + 1
            what = f"{f.step} forged response never on chain"
            try:
                await c.wait_for_height(hi, [f.via])
                onchain = await _responses(c.client(f.via), f.posted_above + 1, hi)
                found = [h for h, r in onchain if _same_response(r, f.body)]
                if f.duplicate_pending is not None:
                    self.outcomes.append(await self._judge_duplicate(f, window))
                self.outcomes.append(
                    ExpectationOutcome(
                        what,
                        not found,
                        f"in block(s) {found}"
                        if found
                        else f"absent from blocks {f.posted_above + 1}..{hi} of {f.via}",
                    )
                )
            except (WaitTimeout, NodeUnavailable) as exc:
                self.outcomes.append(
                    ExpectationOutcome(what, False, f"could not read the chain: {exc}")
                )

    async def _judge_duplicate(self, f: Forgery, window: int) -> ExpectationOutcome:
        """A signature forgery refused as DUPLICATE passes when the claimed validator's own
        response to that challenge reached the via node's chain within its window: the node
        held one (on chain or pooled), and rule 5 rightly comes before rule 6."""
        assert f.duplicate_pending is not None
        h = int(f.body["challenge_height"])
        what, detail = f.duplicate_pending
        onchain = await _responses(self.cluster.client(f.via), h + 1, h + window)
        genuine = [
            b
            for b, r in onchain
            if isinstance(r, dict)
            and r.get("challenge_height") == h
            and r.get("validator") == f.body.get("validator")
            and not _same_response(r, f.body)
        ]
        if genuine:
            return ExpectationOutcome(
                what,
                True,
                f"{detail}; the validator's own response to {h} is in block {genuine[0]}: "
                "DUPLICATE (§5 rule 5) rightly comes before BAD_SIGNATURE",
            )
        return ExpectationOutcome(
            what, False, f"{detail}; and no genuine response to {h} reached the chain"
        )


def top_height(heights: dict[str, int | None]) -> int:
    """The highest height any node answered with (0 when none answered)."""
    return max((h for h in heights.values() if h is not None), default=0)


async def _responses(client: NodeClient, lo: int, hi: int) -> list[tuple[int, dict[str, Any]]]:
    """(height, response) for every response in ``client``'s blocks lo..=hi."""
    out = []
    for h in range(max(1, lo), hi + 1):
        block = await client.block(h)
        out += [(h, r) for r in (block or {}).get("block", {}).get("responses", [])]
    return out


def _moves(start: dict[str, int | None], now: dict[str, int | None]) -> str:
    return ", ".join(f"{n} {start[n]}->{now.get(n)}" for n in start)


def _same_response(onchain: Any, forged: dict[str, Any]) -> bool:
    if not isinstance(onchain, dict):
        return False
    return all(
        onchain.get(k) == forged.get(k) for k in ("challenge_height", "validator", "signature")
    )


class Forger:
    """Builds one hostile ``POST /alpha/clp/response`` body from what the chain serves.

    Keys come from the testnet directory (``vN/key.json``); the crypto is the message a
    real client signs (CLP_SPEC §5), so a refusal is the node's judgement, not a typo.
    """

    def __init__(self, ex: ActionExecutor, a: Action) -> None:
        assert a.via is not None
        self.ex = ex
        self.a = a
        self.via: str = a.via
        self.c = ex.cluster
        self.client = ex.cluster.client(a.via)
        self.cfg = ex.cluster.manifest.clp_config()
        self.chain_id = ex.cluster.manifest.chain_id
        self.head = 0

    def key(self, name: str) -> ValidatorKey:
        return ValidatorKey.load(self.c.manifest.node_dir(name) / "key.json")

    async def build(self) -> tuple[dict[str, Any], str]:
        self.head = await self.client.height()
        forge = self.a.forge
        if forge == "duplicate":
            return await self._duplicate()
        if forge == "expired":
            return await self._expired()
        if forge == "unknown_challenge":
            return self._unknown_challenge()
        if forge == "malformed":
            at = self.head - self.head % self.cfg.challenge_interval
            name = self.a.validator or self.c.names[0]
            bad: dict[str, Any] = {"challenge_height": str(at), "validator": self.c.address(name)}
            return bad | {"sig": "zz"}, "challenge_height as a string, no signature"
        ch = await self._open_challenge()
        h, value = int(ch["height"]), bytes.fromhex(ch["value"])
        if forge == "not_in_committee":
            if self.a.validator is not None:
                key, who = self.key(self.a.validator), self.a.validator
            else:
                key, who = ValidatorKey.from_seed_text(f"{self.ex.seed}/outsider"), "outsider"
            sig = key.sign(response_message(self.chain_id, h, value, key.address))
            body: dict[str, Any] = {
                "challenge_height": h,
                "validator": key.address,
                "signature": sig.hex(),
            }
            return body, f"signed by {who} for open challenge {h}"
        name = await self._free_validator(ch)
        address = self.c.address(name)
        if forge == "bad_signature":
            sig = self.ex.rng.randbytes(64)
            note = f"random signature for ({h}, {name})"
        else:  # replay: a signature over another chain's message
            other = f"{self.chain_id}-replayed"
            sig = self.key(name).sign(response_message(other, h, value, address))
            note = f"{name}'s signature for challenge {h} on chain {other!r}"
        return {"challenge_height": h, "validator": address, "signature": sig.hex()}, note

    async def _open_challenge(self) -> dict[str, Any]:
        """A challenge open on ``via`` with at least two blocks of its window left."""

        async def found() -> dict[str, Any] | None:
            st = await self.client.clp_status()
            for ch in sorted(st["active_challenges"], key=lambda x: -x["height"]):
                if ch["deadline"] >= st["height"] + 2:
                    self.head = int(st["height"])
                    return dict(ch)
            return None

        budget = self.c.clock.blocks(self.cfg.epoch_length)
        return await self.c.wait_for(found, budget, f"an open challenge on {self.a.via}")

    async def _free_validator(self, ch: dict[str, Any]) -> str:
        """The validator the forged response claims to be: one with no answer yet for ch."""
        if self.a.validator is not None:
            return self.a.validator
        expected = set(ch.get("expected", []))
        onchain = await _responses(self.client, int(ch["height"]) + 1, self.head)
        answered = {
            r.get("validator") for _, r in onchain if r.get("challenge_height") == ch["height"]
        }
        candidates = [n for n in self.c.names if self.c.address(n) in expected - answered]
        for preferred in (sorted(self.ex.nemesis.state.lazy()), self._cut_off()):
            for n in preferred:
                if n in candidates:
                    return n
        if candidates:
            return candidates[-1]
        return self.c.names[-1]

    def _cut_off(self) -> list[str]:
        return sorted({s for s, _ in self.ex.nemesis.state.down_pairs()})

    async def _duplicate(self) -> tuple[dict[str, Any], str]:
        """Re-post a response that is on chain while its window is still open."""
        w = self.cfg.response_window
        for _ in range(4 * w):
            self.head = await self.client.height()
            for h, r in reversed(await _responses(self.client, self.head - 1, self.head)):
                if r["challenge_height"] + w >= self.head + 2:
                    until = r["challenge_height"] + w
                    return dict(r), f"on chain in block {h}, window open until {until}"
            await self.c.wait_for_height(self.head + 1, [self.via])
        raise ActionError(f"no on-chain response with an open window appeared on {self.a.via}")

    async def _expired(self) -> tuple[dict[str, Any], str]:
        """Re-post a genuine on-chain response whose window has closed."""
        w = self.cfg.response_window
        need = 2 * w + 3
        if self.head < need:
            await self.c.wait_for_height(need, [self.via])
            self.head = await self.client.height()
        for h, r in await _responses(self.client, self.head - 3 * w - 4, self.head):
            if r["challenge_height"] + w + 1 < self.head:
                closed = r["challenge_height"] + w
                return dict(r), f"on chain in block {h}; window closed at {closed}"
        raise ActionError(f"no old on-chain response found on {self.a.via} below {self.head}")

    def _unknown_challenge(self) -> tuple[dict[str, Any], str]:
        """A response for a challenge height far in the future (h >= b)."""
        k = self.cfg.challenge_interval
        h = self.head + 10 * self.cfg.epoch_length
        h -= h % k
        while not is_challenge_height(h, self.cfg):
            h += k
        name = self.a.validator or self.c.names[0]
        value = self.ex.rng.randbytes(32)
        sig = self.key(name).sign(response_message(self.chain_id, h, value, self.c.address(name)))
        body = {"challenge_height": h, "validator": self.c.address(name), "signature": sig.hex()}
        return body, f"challenge height {h} is in the future (head {self.head})"
