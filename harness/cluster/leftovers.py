"""What a stopped testnet left behind: live processes and listening ports, seen from /proc.

Teardown is judged from the kernel's side, not the backend's bookkeeping: the pids the
backend started (told apart from a reused pid by their start time), any other member of
their sessions, any process whose command line names the testnet directory, and any
listening TCP socket on one of the manifest's ports. Linux only, like the local backend.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.cluster.local import LocalBackend
from harness.cluster.testnet import TestnetManifest

TCP_LISTEN = "0A"


@dataclass(frozen=True)
class ProcessId:
    """A pid plus its start time in clock ticks: a reused pid has a later start time."""

    pid: int
    start_ticks: int


@dataclass(frozen=True)
class ProcStat:
    pid: int
    state: str
    session: int
    start_ticks: int


def proc_stat(pid: int) -> ProcStat | None:
    """Fields of /proc/<pid>/stat; None once the process is gone (or was never there)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = text.rsplit(")", 1)[1].split()
    return ProcStat(pid, fields[0], int(fields[3]), int(fields[19]))


def process_id(pid: int) -> ProcessId | None:
    stat = proc_stat(pid)
    return ProcessId(pid, stat.start_ticks) if stat is not None else None


def is_alive(pid: ProcessId) -> bool:
    """Still the same process and not a zombie (a zombie holds no socket, file or memory)."""
    stat = proc_stat(pid.pid)
    return stat is not None and stat.start_ticks == pid.start_ticks and stat.state != "Z"


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def all_pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def tracked_processes(cluster: LocalBackend) -> list[ProcessId]:
    """The nodes and the fault-proxy servers the backend runs now (call while it runs)."""
    pids = [p.pid for p in cluster.procs.values()]
    if cluster.proxies is not None:
        pids.extend(cluster.proxies.pids)
    return [pid for pid in map(process_id, pids) if pid is not None]


def manifest_ports(manifest: TestnetManifest) -> dict[int, str]:
    """Every port the testnet listens on, with what listens there."""
    ports = {}
    for n in manifest.nodes:
        ports[n.api_port] = f"{n.name} API"
        ports[n.p2p_port] = f"{n.name} P2P"
    for link in manifest.links:
        ports[link.listen_port] = f"link {link.name}"
    for port in manifest.toxiproxy_ports:
        ports[port] = "toxiproxy API"
    return ports


def listening_sockets(ports: Iterable[int]) -> dict[int, int]:
    """port -> socket inode of every TCP (v4 or v6) socket listening on one of ``ports``."""
    wanted = set(ports)
    found: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            port = int(cols[1].rsplit(":", 1)[1], 16)
            if cols[3] == TCP_LISTEN and port in wanted:
                found[port] = int(cols[9])
    return found


def socket_owners(inodes: Iterable[int]) -> dict[int, int]:
    """inode -> pid of a process holding that socket open."""
    targets = {f"socket:[{i}]": i for i in inodes}
    owners: dict[int, int] = {}
    if not targets:
        return owners
    for pid in all_pids():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link in targets:
                owners[targets[link]] = pid
    return owners


def processes_mentioning(text: str) -> dict[int, str]:
    """pid -> command line of every live process (but this one) whose command line has ``text``."""
    out = {}
    for pid in all_pids():
        if pid == os.getpid():
            continue
        line = cmdline(pid)
        stat = proc_stat(pid)
        if text in line and stat is not None and stat.state != "Z":
            out[pid] = line
    return out


def find_leftovers(manifest: TestnetManifest, tracked: Iterable[ProcessId] = ()) -> list[str]:
    """One line per thing of this testnet still alive or listening; empty when it was clean.

    A port held by a process that is none of these (another testnet that was handed the
    same free port, say) is not a leftover of this one and is not listed.
    """
    tracked = list(tracked)
    problems: list[str] = []
    seen: set[int] = set()
    for proc in tracked:
        if is_alive(proc):
            seen.add(proc.pid)
            problems.append(f"process {proc.pid} still running: {cmdline(proc.pid)}")
    # Children a node or the proxy started live in its session even if the leader is gone.
    leaders = {p.pid for p in tracked if proc_stat(p.pid) is None or is_alive(p)}
    for pid in all_pids():
        stat = proc_stat(pid)
        if stat is None or pid in seen or stat.state == "Z":
            continue
        if stat.session in leaders and pid != os.getpid():
            seen.add(pid)
            problems.append(f"process {pid} of session {stat.session} left: {cmdline(pid)}")
    for pid, line in processes_mentioning(str(manifest.root)).items():
        if pid not in seen:
            seen.add(pid)
            problems.append(f"process {pid} names the testnet dir: {line}")
    ports = manifest_ports(manifest)
    bound = listening_sockets(ports)
    owners = socket_owners(bound.values())
    for port, inode in sorted(bound.items()):
        owner = owners.get(inode)
        if owner is not None and owner not in seen:
            continue  # a live process that is not this testnet's
        who = f"pid {owner}: {cmdline(owner)}" if owner is not None else "owner unknown"
        problems.append(f"port {port} ({ports[port]}) still listening ({who})")
    return problems


def foreign_listeners(manifest: TestnetManifest, tracked: Iterable[ProcessId] = ()) -> list[str]:
    """Ports of the manifest that an unrelated process listens on (why a start may fail)."""
    ours = {p.pid for p in tracked}
    ports = manifest_ports(manifest)
    bound = listening_sockets(ports)
    owners = socket_owners(bound.values())
    return [
        f"port {port} ({ports[port]}) is held by pid {owners[inode]}: {cmdline(owners[inode])}"
        for port, inode in sorted(bound.items())
        if inode in owners and owners[inode] not in ours
    ]
