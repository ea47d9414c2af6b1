"""The Toxiproxy HTTP API (v2.12 behaviour) on aiohttp, and ``ToxiproxyServer`` to run it.

Responses mirror Toxiproxy byte for byte where clients look: compact JSON,
``{"error", "status"}`` error bodies, 201 for created proxies but 200 for a
created toxic, 204 with no body for deletes and reset, Go's plain-text 404 for
unknown paths and 403 for browser user agents.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from . import schema
from .errors import ApiError
from .metrics import CONTENT_TYPE
from .proxies import ProxyCollection

VERSION = "2.12.0"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(value: object, status: int = 200) -> web.Response:
    body = json.dumps(value, separators=(",", ":")).encode()
    return web.Response(body=body, status=status, content_type="application/json")


def _error(error: ApiError) -> web.Response:
    body = json.dumps(error.to_json(), separators=(",", ":")) + "\n"
    return web.Response(text=body, status=error.status, content_type="application/json")


@web.middleware
async def _middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Route misses as gorilla/mux answers them; browsers refused; ApiError rendered."""
    miss = request.match_info.http_exception
    if isinstance(miss, web.HTTPMethodNotAllowed):
        return web.Response(status=405)
    if miss is not None:
        return web.Response(status=404, text="404 page not found\n")
    if request.headers.get("User-Agent", "").startswith("Mozilla/"):
        return web.Response(status=403, text="User agent not allowed\n")
    try:
        return await handler(request)
    except ApiError as error:
        return _error(error)


class Api:
    """Request handlers over a ProxyCollection; mutations are serialized by one lock."""

    def __init__(self, proxies: ProxyCollection, proxy_metrics: bool = False) -> None:
        self.proxies = proxies
        self.proxy_metrics = proxy_metrics
        self._lock = asyncio.Lock()

    def routes(self) -> list[web.RouteDef]:
        proxy, toxic = "/proxies/{proxy}", "/proxies/{proxy}/toxics/{toxic}"
        table: list[tuple[str, str, Handler]] = [
            ("POST", "/reset", self.reset),
            ("GET", "/proxies", self.proxy_index),
            ("POST", "/proxies", self.proxy_create),
            ("POST", "/populate", self.populate),
            ("GET", proxy, self.proxy_show),
            ("POST", proxy, self.proxy_update),
            ("PATCH", proxy, self.proxy_update),
            ("DELETE", proxy, self.proxy_delete),
            ("GET", f"{proxy}/toxics", self.toxic_index),
            ("POST", f"{proxy}/toxics", self.toxic_create),
            ("GET", toxic, self.toxic_show),
            ("POST", toxic, self.toxic_update),
            ("PATCH", toxic, self.toxic_update),
            ("DELETE", toxic, self.toxic_delete),
            ("GET", "/version", self.version),
        ]
        if self.proxy_metrics:  # the official server has /metrics only with a metrics flag
            table.append(("GET", "/metrics", self.metrics))
        return [web.route(method, path, handler) for method, path, handler in table]

    async def reset(self, request: web.Request) -> web.StreamResponse:
        async with self._lock:
            await self.proxies.reset()
        return web.Response(status=204)

    async def proxy_index(self, request: web.Request) -> web.StreamResponse:
        return _json({proxy.name: proxy.to_json() for proxy in self.proxies.all()})

    async def proxy_create(self, request: web.Request) -> web.StreamResponse:
        spec = schema.proxy_create(await request.read())
        async with self._lock:
            proxy = await self.proxies.create(spec)
        return _json(proxy.to_json(), status=201)

    async def populate(self, request: web.Request) -> web.StreamResponse:
        try:
            specs = schema.populate(await request.read())
            async with self._lock:
                created = await self.proxies.populate(specs)
        except ApiError as error:
            return _json({**error.to_json(), "proxies": None}, status=error.status)
        return _json({"proxies": [proxy.to_json() for proxy in created]}, status=201)

    async def proxy_show(self, request: web.Request) -> web.StreamResponse:
        return _json(self.proxies.get(request.match_info["proxy"]).to_json())

    async def proxy_update(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        async with self._lock:
            proxy = self.proxies.get(request.match_info["proxy"])
            current = schema.ProxyInput(proxy.name, proxy.listen, proxy.upstream, proxy.enabled)
            spec = schema.proxy_update(raw, current)
            await proxy.update(spec.listen, spec.upstream, spec.enabled)
        return _json(proxy.to_json())

    async def proxy_delete(self, request: web.Request) -> web.StreamResponse:
        async with self._lock:
            await self.proxies.delete(request.match_info["proxy"])
        return web.Response(status=204)

    async def toxic_index(self, request: web.Request) -> web.StreamResponse:
        proxy = self.proxies.get(request.match_info["proxy"])
        return _json([toxic.to_json() for toxic in proxy.toxics.all()])

    async def toxic_create(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        async with self._lock:
            proxy = self.proxies.get(request.match_info["proxy"])
            toxic = proxy.toxics.add(raw)
        return _json(toxic.to_json())

    async def toxic_show(self, request: web.Request) -> web.StreamResponse:
        proxy = self.proxies.get(request.match_info["proxy"])
        return _json(proxy.toxics.get(request.match_info["toxic"]).to_json())

    async def toxic_update(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        async with self._lock:
            proxy = self.proxies.get(request.match_info["proxy"])
            toxic = await proxy.toxics.update(request.match_info["toxic"], raw)
        return _json(toxic.to_json())

    async def toxic_delete(self, request: web.Request) -> web.StreamResponse:
        async with self._lock:
            proxy = self.proxies.get(request.match_info["proxy"])
            await proxy.toxics.remove(request.match_info["toxic"])
        return web.Response(status=204)

    async def version(self, request: web.Request) -> web.StreamResponse:
        return web.Response(
            text=json.dumps({"version": VERSION}) + "\n",
            headers={"Content-Type": "application/json;charset=utf-8"},
        )

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=self.proxies.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE}
        )


class ToxiproxyServer:
    """A Toxiproxy-compatible server in the running event loop.

    ``await start(host, port)`` (port 0 picks a free one, see ``port``/``url``);
    ``await stop()`` closes the API, every proxy listener and every connection.
    ``proxy_metrics`` serves the byte counters at ``GET /metrics`` (``-proxy-metrics``).
    """

    def __init__(self, proxy_metrics: bool = False) -> None:
        self.proxies = ProxyCollection()
        self.proxy_metrics = proxy_metrics
        self.host = ""
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 8474) -> None:
        app = web.Application(middlewares=[_middleware])
        app.add_routes(Api(self.proxies, self.proxy_metrics).routes())
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound = runner.addresses[0]
        self.host, self.port = str(bound[0]), int(bound[1])

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        await self.proxies.clear()


async def serve(
    host: str,
    port: int,
    announce: Callable[[str], None] = print,
    initial: Sequence[schema.ProxyInput] = (),
    proxy_metrics: bool = False,
) -> None:
    """Run until SIGINT or SIGTERM; ``announce`` gets a line with the API URL once listening.

    ``initial`` proxies (toxiproxy-server's ``-config``) exist before the API answers.
    """
    server = ToxiproxyServer(proxy_metrics)
    if initial:
        await server.proxies.populate(list(initial))
    try:
        await server.start(host, port)
    except BaseException:
        await server.stop()
        raise
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    announce(f"Toxiproxy-compatible API listening on {server.url}")
    try:
        await stopping.wait()
    finally:
        await server.stop()


def run(
    host: str,
    port: int,
    initial: Sequence[schema.ProxyInput] = (),
    proxy_metrics: bool = False,
) -> None:
    """Blocking entry point for ``clp-testnet toxiproxy`` and ``python -m harness.toxiproxy``."""
    asyncio.run(serve(host, port, lambda line: print(line, flush=True), initial, proxy_metrics))
