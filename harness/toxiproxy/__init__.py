"""A Toxiproxy-compatible fault-injection proxy (HTTP API v2.12) in asyncio.

The official toxiproxy server is used where it can be installed; this one
speaks the same API (see docs in /work/shared/TOXIPROXY_API.md) so the harness
and its tests run either way.
"""

from .server import VERSION, ToxiproxyServer, run, serve

__all__ = ["VERSION", "ToxiproxyServer", "run", "serve"]
