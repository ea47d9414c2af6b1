"""Checks start-up would fail on, run before anything starts: ``check-config`` runs them too.

Each failure is a ``NodeError`` naming the config file and the field, so ``clp-node``
prints one line and exits 2 instead of a traceback from deep inside asyncio.
"""

from __future__ import annotations

import socket

from clp_node.config import HostPort, NodeConfig


class NodeError(RuntimeError):
    """The node cannot start with this configuration; the message says why."""


def check_listen(config: NodeConfig) -> None:
    """Both listen addresses resolve to a local address we may bind, and are free now."""
    for field, where in (("listen.p2p", config.p2p_listen), ("listen.api", config.api_listen)):
        _check_bindable(config.source, field, where)


def _check_bindable(source: str, field: str, where: HostPort) -> None:
    try:
        infos = socket.getaddrinfo(where.host, where.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise NodeError(f"{source}: {field}: cannot resolve host {where.host!r} ({exc})") from exc
    family, kind, proto, _name, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        # As the listeners themselves do; without it a port in TIME_WAIT would look taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            raise NodeError(
                f"{source}: {field}: cannot listen on {where} ({exc.strerror or exc})"
            ) from exc
