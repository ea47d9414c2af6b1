"""Port picking: distinct, free, outside the kernel's ephemeral range, never a taken one."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from harness.cluster import ports


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
