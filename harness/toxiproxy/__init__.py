"""A Toxiproxy-compatible fault-injection proxy (HTTP API v2.12) in asyncio.

The official toxiproxy server is used where it can be installed; this one
speaks the same API (the shared TOXIPROXY_API.md contract) so the harness and
its tests run either way. ``python -m harness.toxiproxy --help`` runs it.
"""

from .server import VERSION, ToxiproxyServer, run, serve

__all__ = ["VERSION", "ToxiproxyServer", "run", "serve"]
