"""History: JSON round trip, clear errors for bad files, collection through the contract."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.checks import run_checks
from harness.checks.history import History, HistoryError, collect_history
from harness.checks.verdict import CheckResult
from harness.cluster.client import NodeUnavailable

from .history_builder import Built


def test_save_and_load(tmp_path: Path, quiet: Built) -> None:
    path = tmp_path / "history.json"
    quiet.history.save(path)
    assert History.load(path) == quiet.history


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "a history is a JSON object"),
        ({"format": 9}, "format: version 9"),
        ({"chain_id": "x"}, "params: a dict is required"),
    ],
)
def test_malformed_documents_are_refused(data: Any, message: str) -> None:
    with pytest.raises(HistoryError, match=message):
        History.from_json(data)


def test_bad_fields_are_named(quiet: Built) -> None:
    good = quiet.history.to_json()
    for edit, message in [
        (lambda d: d.update(results={"v0": {"one": {}}}), "results.v0: epoch keys"),
        (lambda d: d["faults"].append({"action": "heal"}), r"faults\[0\]: not a format-2"),
        (
            lambda d: d["faults"].append({"format": 2, "kind": "heal"}),
            r"faults\[0\]: malformed",
        ),
        (lambda d: d["genesis"].append({"address": "x"}), r"genesis\[5\]"),
        (lambda d: d["chains"].update(v0={}), "chains.v0"),
    ]:
        data = json.loads(json.dumps(good))
        edit(data)
        with pytest.raises(HistoryError, match=message):
            History.from_json(data)


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="cannot read"):
        History.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(HistoryError, match="line 1: not valid JSON"):
        History.load(bad)


def test_verdict_is_one_of_three() -> None:
    with pytest.raises(ValueError, match="verdict"):
        CheckResult("x", "maybe", [])  # type: ignore[arg-type]
    r = CheckResult("x", "fail", ["why"])
    assert CheckResult.from_json(r.to_json()) == r and r.failed


class _FakeClient:
    """Serves one built history's view of a node; ``down`` raises like an unreachable node."""

    def __init__(
        self, built: Built, name: str, down: bool = False, head_at: int | None = None
    ) -> None:
        self.chain = built.history.chains[name]
        self.head_at = head_at
        self.results = built.history.results[name]
        self.status = built.history.statuses[name]
        self.answers = built.history.answers.get(name)
        votes = built.history.votes
        self.votes = [] if votes is None else [v.to_json() for v in votes[name].votes]
        self.down = down
        self.calls = 0

    async def _hit(self) -> None:
        self.calls += 1
        if self.down:
            raise NodeUnavailable("connection refused")

    async def head(self) -> dict[str, Any]:
        await self._hit()
        return {"height": min(len(self.chain), self.head_at or len(self.chain))}

    async def block(self, h: int) -> dict[str, Any] | None:
        await self._hit()
        return self.chain[h - 1] if 1 <= h <= len(self.chain) else None

    async def epoch_result(self, e: int) -> dict[str, Any] | None:
        await self._hit()
        return self.results.get(e)

    async def clp_status(self) -> dict[str, Any]:
        await self._hit()
        return self.status

    async def clp_answers(self) -> dict[str, Any] | None:
        await self._hit()
        return self.answers

    async def consensus_votes(self, first: int, last: int) -> dict[str, Any] | None:
        await self._hit()
        held = [v for v in self.votes if first <= v["height"] <= last]
        return {"from": first, "to": last, "oldest": 1, "votes": held}


async def test_collect_history_through_the_contract(tmp_path: Path, isolated: Built) -> None:
    (tmp_path / "genesis.json").write_text(json.dumps(isolated.net.genesis.to_json()))
    names = isolated.net.names
    clients = {n: _FakeClient(isolated, n, down=(n == "v2")) for n in names}
    cluster = SimpleNamespace(
        manifest=SimpleNamespace(root=tmp_path),
        names=names,
        client=lambda n: clients[n],
        fault_api=lambda: None,  # direct links: no byte counters
    )
    faults = isolated.history.faults
    h = await collect_history(cluster, faults)  # type: ignore[arg-type]
    assert list(h.unreachable) == ["v2"] and "connection refused" in h.unreachable["v2"]
    assert h.chains["v2"] == [] and "v2" not in h.statuses
    assert h.chains["v0"] == isolated.history.chains["v0"]
    assert h.results["v1"] == isolated.history.results["v1"]
    assert h.names == isolated.history.names and h.faults == faults
    assert h.params == isolated.history.params and h.consensus == isolated.history.consensus
    assert h.collected_at is not None
    assert h.answers == {n: isolated.history.answers[n] for n in names if n != "v2"}
    assert h.link_bytes == {} and h.link_bytes_problem is not None
    assert "no fault proxy" in h.link_bytes_problem
    # synthetic blocks are years old, so only liveness (which reads the collection time)
    # differs; without a fault proxy link discipline is not applicable
    verdicts = {r.name: r.verdict for r in run_checks(h)}
    assert verdicts.pop("link_discipline") == "unknown"
    assert verdicts.pop("split") == "unknown"  # one implementation
    verdicts.pop("liveness")
    assert set(verdicts.values()) == {"pass"}, [
        r.to_json() for r in run_checks(h) if r.verdict != "pass"
    ]


async def test_chain_is_extended_to_results_evaluated_meanwhile(
    tmp_path: Path, isolated: Built
) -> None:
    """The head was read at 50, the node had evaluated epoch 3 by the time results were read."""
    (tmp_path / "genesis.json").write_text(json.dumps(isolated.net.genesis.to_json()))
    clients = {n: _FakeClient(isolated, n, head_at=50) for n in isolated.net.names}
    cluster = SimpleNamespace(
        manifest=SimpleNamespace(root=tmp_path),
        names=isolated.net.names,
        client=clients.get,
        fault_api=lambda: None,
    )
    h = await collect_history(cluster, [])  # type: ignore[arg-type]
    assert sorted(h.results["v3"]) == [0, 1, 2, 3]
    assert len(h.chains["v3"]) == 80 and not h.unreachable


def test_a_crashing_checker_is_unknown_not_hidden(
    monkeypatch: pytest.MonkeyPatch, quiet: Built
) -> None:
    import harness.checks as checks

    def broken(history: History, analysis: object = None) -> CheckResult:
        raise KeyError("boom")

    monkeypatch.setattr(checks, "CHECKERS", [("agreement", broken), *checks.CHECKERS[1:]])
    results = checks.run_checks(quiet.history)
    assert results[0] == CheckResult("agreement", "unknown", ["checker error: KeyError: 'boom'"])
    others = [r.verdict for r in results[1:] if r.name != "split"]  # split: one implementation
    assert others == ["pass"] * (len(checks.CHECKERS) - 2)


async def test_collect_history_needs_the_genesis(tmp_path: Path) -> None:
    cluster = SimpleNamespace(manifest=SimpleNamespace(root=tmp_path), names=[], client=None)
    with pytest.raises(HistoryError, match="genesis"):
        await collect_history(cluster, [])  # type: ignore[arg-type]


async def test_votes_are_read_incrementally_and_a_node_without_them_is_noted(
    tmp_path: Path, quiet: Built
) -> None:
    """Two reads (heads 20, then 45) cover 1..45 without asking for a height twice; a node
    answering 404 is not read again."""
    from harness.checks.votes import NOT_SERVED, VoteCollector

    names = quiet.net.names
    clients = {n: _FakeClient(quiet, n, head_at=20) for n in names}
    asked: list[tuple[int, int]] = []
    real = clients["v0"].consensus_votes

    async def spy(first: int, last: int) -> dict[str, Any] | None:
        asked.append((first, last))
        return await real(first, last)

    async def not_served(first: int, last: int) -> None:
        return None

    clients["v0"].consensus_votes = spy  # type: ignore[method-assign]
    clients["v4"].consensus_votes = not_served  # type: ignore[method-assign]
    cluster = SimpleNamespace(names=names, client=clients.get)
    collector = VoteCollector(names)
    await collector.poll(cluster)  # type: ignore[arg-type]
    for c in clients.values():
        c.head_at = None
    await collector.poll(cluster)  # type: ignore[arg-type]
    assert asked == [(1, 21), (21, 46)]
    v0 = collector.nodes["v0"]
    assert v0.covered == [(1, 45)] and v0.problem is None
    assert quiet.history.votes is not None and v0.votes == quiet.history.votes["v0"].votes
    assert collector.nodes["v4"].problem == NOT_SERVED and not collector.nodes["v4"].votes
