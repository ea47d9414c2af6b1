"""LocalBackend: every validator a subprocess on 127.0.0.1, its log in a file.

A node is started by its command, as the node contract says (``clp-node --config PATH``;
another implementation's command through ``CLP_TESTNET_NODE_COMMAND``), never imported.
Processes run in their own session so that teardown can signal the whole group; the
backend stops everything on success, failure and Ctrl-C, leaving no process or bound port.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from harness.cluster.base import Cluster
from harness.cluster.ports import port_is_bound
from harness.cluster.process import signal_group
from harness.cluster.proxies import ProxyLayer
from harness.cluster.testnet import LOCAL_LAYOUT, TestnetError, TestnetManifest
from harness.cluster.toxiproxy_api import ProxyApi
from harness.node_kinds import NODE_COMMAND_ENV, node_kind

CONFIG_PLACEHOLDER = "{config}"
NODE_NICE_ENV = "CLP_TESTNET_NODE_NICE"
NODE_NICE = 5  # nodes yield to the harness and the proxy when the cores are all busy


def node_nice() -> int:
    """How much nicer than the harness a node runs (``CLP_TESTNET_NODE_NICE``, 0..19).

    On a loaded machine the harness must keep protocol time: a step due at height 3 is
    injected while the chain is at 3, not at 15, and the proxy forwards frames when they
    arrive. The nodes use nearly all the CPU, so they are the ones that wait.
    """
    raw = os.environ.get(NODE_NICE_ENV, "")
    try:
        value = int(raw) if raw.strip() else NODE_NICE
    except ValueError:
        raise TestnetError(f"{NODE_NICE_ENV}={raw!r}: want an integer 0..19") from None
    if not 0 <= value <= 19:
        raise TestnetError(f"{NODE_NICE_ENV}={raw!r}: want an integer 0..19")
    return value


def default_node_command() -> str:
    """``CLP_TESTNET_NODE_COMMAND``, else the contract's ``clp-node --config {config}``."""
    explicit = os.environ.get(NODE_COMMAND_ENV)
    if explicit:
        return explicit
    return f"clp-node --config {CONFIG_PLACEHOLDER}"


def kind_command(kind: str) -> str:
    """The local command template of node kind ``kind`` (harness.node_kinds)."""
    return node_kind(kind).command() or f"clp-node --config {CONFIG_PLACEHOLDER}"


def node_argv(command: str, config: Path) -> list[str]:
    """The argv of ``command`` (a shell-quoted template with ``{config}``) for one node."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise TestnetError(f"node command {command!r}: {exc}") from exc
    if not words or not any(CONFIG_PLACEHOLDER in w for w in words):
        raise TestnetError(
            f"node command {command!r} must name the config as {CONFIG_PLACEHOLDER}, "
            f"e.g. 'clp-node --config {CONFIG_PLACEHOLDER}'"
        )
    if "/" not in words[0]:
        words[0] = program_path(words[0])
    return [w.replace(CONFIG_PLACEHOLDER, str(config)) for w in words]


def program_path(name: str) -> str:
    """The file a bare program name starts: the script of the environment the harness runs
    from first (its own node, whether that virtualenv is activated or not, whatever else
    PATH holds), else the one on PATH; absolute, so a node started with another PATH or
    working folder runs the same file. A name found nowhere stays, and starting it says so.
    """
    beside = Path(sys.executable).with_name(name)
    if beside.is_file():
        return str(beside.absolute())
    found = shutil.which(name)
    return str(Path(found).absolute()) if found else name


class LocalBackend(Cluster):
    def __init__(
        self,
        manifest: TestnetManifest,
        log_dir: Path | None = None,
        toxiproxy_server: str | None = None,
        node_command: str | None = None,
    ) -> None:
        super().__init__(manifest)
        self.node_command = node_command or default_node_command()
        node_argv(self.node_command, manifest.config_path(manifest.nodes[0].name))
        #: A mixed testnet's own command per node (its kind's), over ``node_command``.
        self.node_commands: dict[str, str] = {
            name: kind_command(kind) for name, kind in manifest.implementations.items()
        }
        self.nice = node_nice()
        self.log_dir = log_dir or manifest.root / "logs"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, IO[bytes]] = {}
        self.proxies: ProxyLayer | None = (
            ProxyLayer(manifest, self.log_dir, toxiproxy_server) if manifest.proxied else None
        )
        self._stopped = False

    def api_url(self, name: str) -> str:
        return self.manifest.node(name).api_url

    def log_path(self, name: str) -> str:
        return str(self.log_dir / f"{name}.log")

    def fault_api(self) -> ProxyApi | None:
        return self.proxies.api if self.proxies is not None else None

    async def start(self, hold_links: bool = False) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._stopped = False
        # A second Ctrl-C cancels stop() half-way; exiting must still leave nothing behind.
        atexit.register(self.stop_sync)
        if self.proxies is not None:
            await self.proxies.start(enabled=not hold_links)
        for name in self.names:
            self._spawn(name)
        await self.wait_for(self._all_healthy, timeout=30.0, what="every node's /health")

    async def _all_healthy(self) -> bool:
        heights = await self.heights()
        return all(h is not None for h in heights.values())

    def _spawn(self, name: str) -> None:
        proc = self.procs.get(name)
        if proc is not None and proc.poll() is None:
            raise RuntimeError(f"{name} is already running")
        log = open(self.log_path(name), "ab")  # noqa: SIM115 - held for the process's life
        self._logs[name] = log
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        argv = node_argv(self.command_of(name), self.manifest.config_path(name))
        try:
            self.procs[name] = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
        except OSError as exc:
            log.close()
            self._logs.pop(name, None)
            raise TestnetError(f"cannot start {name} with {shlex.join(argv)}: {exc}") from exc
        with contextlib.suppress(OSError):  # a process that already ended has no priority
            ours = os.getpriority(os.PRIO_PROCESS, 0)
            os.setpriority(os.PRIO_PROCESS, self.procs[name].pid, min(19, ours + self.nice))

    def command_of(self, name: str) -> str:
        """The command template that starts ``name``: its kind's in a mixed testnet."""
        return self.node_commands.get(name, self.node_command)

    async def upgrade(
        self,
        name: str,
        kind: str,
        keep_data: bool,
        command: str | None = None,
        image: str | None = None,
    ) -> None:
        template = command or kind_command(kind)
        node_argv(template, self.manifest.config_path(name))  # refused before anything stops
        if self.is_running(name):
            await self.kill(name)
        if not keep_data:  # another implementation's store: start empty, re-sync from peers
            shutil.rmtree(self.manifest.node_dir(name) / LOCAL_LAYOUT.data_dir, ignore_errors=True)
        self.node_commands[name] = template
        await self.restart(name)

    def is_running(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def pid(self, name: str) -> int | None:
        proc = self.procs.get(name)
        return proc.pid if proc is not None and proc.poll() is None else None

    async def kill(self, name: str) -> None:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        signal_group(proc.pid, signal.SIGKILL)
        await asyncio.to_thread(proc.wait, 10)
        self._close_log(name)

    async def pause(self, name: str) -> None:
        proc = self.procs.get(name)
        if proc is not None and proc.poll() is None:
            signal_group(proc.pid, signal.SIGSTOP)

    async def resume(self, name: str) -> None:
        proc = self.procs.get(name)
        if proc is not None and proc.poll() is None:
            signal_group(proc.pid, signal.SIGCONT)

    async def restart(self, name: str) -> None:
        if self.is_running(name):
            await self.kill(name)
        node = self.manifest.node(name)
        # The old process's sockets must be gone before the new one binds them.
        deadline = time.monotonic() + 10
        while (
            port_is_bound(node.api_port) or port_is_bound(node.p2p_port)
        ) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self._spawn(name)

        async def healthy() -> bool:
            return (await self.heights([name]))[name] is not None

        await self.wait_for(healthy, timeout=30.0, what=f"{name} to answer after restart")

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for proc in self.procs.values():
            if proc.poll() is None:
                signal_group(proc.pid, signal.SIGCONT)
                signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for proc in self.procs.values():
            remaining = max(0.1, deadline - time.monotonic())
            try:
                await asyncio.to_thread(proc.wait, remaining)
            except subprocess.TimeoutExpired:
                signal_group(proc.pid, signal.SIGKILL)
                await asyncio.to_thread(proc.wait, 5)
        for name in list(self._logs):
            self._close_log(name)
        if self.proxies is not None:
            await self.proxies.stop()
        await self.close_clients()
        self.detach()

    def detach(self) -> None:
        """Let the processes outlive this program (``up --detach``): no stop at exit."""
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop_sync)

    def stop_sync(self) -> None:
        """Last-resort teardown from a signal handler or atexit: no event loop needed."""
        for proc in self.procs.values():
            if proc.poll() is None:
                signal_group(proc.pid, signal.SIGKILL)
        if self.proxies is not None:
            self.proxies.stop_sync()

    def _close_log(self, name: str) -> None:
        log = self._logs.pop(name, None)
        if log is not None:
            log.close()
