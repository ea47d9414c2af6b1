"""``host:port`` strings: parsing, binding listeners, and Go-style error messages.

Toxiproxy reports a proxy's ``listen`` as the address actually bound
(``localhost:0`` becomes ``127.0.0.1:41234``), and a failed bind as a 500 whose
text is Go's ``listen tcp 127.0.0.1:3310: bind: address already in use``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket


class AddressError(Exception):
    """A listen address that cannot be bound; the message is what the API returns."""


def split_host_port(address: str) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port`` too); raise AddressError with Go's wording."""
    host, sep, port_text = address.rpartition(":")
    if not sep:
        raise AddressError(f"listen tcp: address {address}: missing port in address")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise AddressError(f"listen tcp: address {address}: too many colons in address")
    if not port_text.isdigit() or int(port_text) > 65535:
        raise AddressError(f"listen tcp: address {address}: invalid port")
    return host, int(port_text)


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def resolve(address: str) -> tuple[str, int]:
    """Resolve a listen address to one IP, preferring IPv4 as Go does for ``localhost``.

    An empty address means ``127.0.0.1:0`` here (Go would listen on every interface).
    """
    host, port = split_host_port(address or "127.0.0.1:0")
    if host == "":
        return "0.0.0.0", port
    if _is_ip(host):
        return host, port
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise AddressError(f"listen tcp: lookup {host}: no such host") from exc
    v4 = [info for info in infos if info[0] == socket.AF_INET]
    chosen = (v4 or infos)[0]
    return str(chosen[4][0]), port


async def bind(address: str) -> tuple[socket.socket, str]:
    """Bind and listen on ``address``; return the socket and its real ``host:port``."""
    host, port = await resolve(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(socket.SOMAXCONN)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise AddressError(f"listen tcp {join_host_port(host, port)}: bind: {reason}") from exc
    bound = sock.getsockname()
    return sock, join_host_port(str(bound[0]), int(bound[1]))


async def same_listen(current: str, wanted: str) -> bool:
    """Whether ``wanted`` names the address ``current`` (a rewritten listen) already is."""
    if current == wanted:
        return True
    try:
        return await resolve(current) == await resolve(wanted)
    except AddressError:
        return False
