"""Port picking: distinct, free, outside the kernel's ephemeral range, never a taken one."""

from __future__ import annotations

import itertools
import socket
from pathlib import Path

import pytest

from harness.cluster import ports


@pytest.fixture(autouse=True)
def _whole_range(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests pick from the range they set up: no xdist worker slice, no memory of
    the ports handed out before."""
    monkeypatch.delenv(ports.PORT_RANGE_ENV, raising=False)
    monkeypatch.setattr(ports, "_RECENT", ports.collections.deque(maxlen=8192))


def test_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    picked = ports.free_ports(30)
    assert len(set(picked)) == 30
    assert all(ports.LOWEST <= p < ports.ephemeral_low() for p in picked)
    for p in picked:
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))


def test_a_port_in_use_is_never_picked(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        monkeypatch.setattr(ports, "LOWEST", taken)
        monkeypatch.setattr(ports, "ephemeral_low", lambda default=0: taken + 8)
        for _ in range(5):
            ports._RECENT.clear()  # 7 candidates: each pick may use any of them again
            picked = ports.free_ports(2)
            assert taken not in picked
            assert all(taken < p < taken + 8 for p in picked)


def test_falls_back_to_the_kernel_when_there_is_no_room(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "ephemeral_low", lambda default=0: ports.LOWEST + 1)
    picked = ports.free_ports(3)
    assert len(set(picked)) == 3


def test_unreadable_range_file_gives_the_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(ports, "EPHEMERAL_RANGE", tmp_path / "missing")
    assert ports.ephemeral_low(default=12345) == 12345


def test_worker_slices_are_disjoint_and_below_the_ephemeral_range() -> None:
    slices = [ports.worker_range(i, 3) for i in range(3)]
    bounds = [tuple(int(x) for x in r.split("-")) for r in slices]
    assert bounds[0][0] == ports.LOWEST and bounds[-1][1] < ports.ephemeral_low()
    assert all(a[1] < b[0] for a, b in itertools.pairwise(bounds))


def test_worker_slices_divide_an_inherited_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ports.PORT_RANGE_ENV, "22000-26999")
    bounds = [tuple(int(x) for x in ports.worker_range(i, 4).split("-")) for i in range(4)]
    assert bounds[0][0] == 22000 and bounds[-1][1] <= 26999
    assert all(a[1] < b[0] for a, b in itertools.pairwise(bounds))


def test_the_range_variable_bounds_the_pick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ports.PORT_RANGE_ENV, "20000-20199")
    assert all(20000 <= p <= 20199 for p in ports.free_ports(40))
    for bad in ("20000", "x-y", "30000-20000", "80-90"):
        monkeypatch.setenv(ports.PORT_RANGE_ENV, bad)
        with pytest.raises(ports.PortsExhausted, match=ports.PORT_RANGE_ENV):
            ports.free_ports(1)


def test_a_port_handed_out_is_not_handed_out_again_by_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two testnets of one process (explore --jobs): the first one's killed node frees its
    port, and the second one must not get it before the node restarts."""
    monkeypatch.setenv(ports.PORT_RANGE_ENV, "21000-21099")
    first = set(ports.free_ports(25))
    second = set(ports.free_ports(25))
    assert not first & second


def test_a_testnet_needing_most_of_the_range_gets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """128 proxied validators need 16,513 of the 22,768 ports below the ephemeral range:
    more than a quarter of a range is served while the ports are free, not refused."""
    monkeypatch.setenv(ports.PORT_RANGE_ENV, "22000-22099")
    picked = ports.free_ports(90)
    assert len(set(picked)) == 90
    assert all(22000 <= p <= 22099 for p in picked)
    with pytest.raises(ports.PortsExhausted, match="needs 513 ports; 100 lie in the range"):
        ports.free_ports(ports.MAX_HELD + 1)
