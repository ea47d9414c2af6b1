"""A deliberately broken node for the conform tests: the real node behind a rewriting proxy.

``python conform_stub_node.py [--corrupt-epoch] [--no-hooks] --config PATH`` starts
``clp-node`` on a private API port and serves the configured API address itself,
forwarding every request. ``--corrupt-epoch`` adds 1 to ``slashed_total`` of every served
epoch result (a node with a wrong §7 result); ``--no-hooks`` answers /admin/faults with
404 (a node without the optional test hooks).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import tomli_w
from aiohttp import ClientSession, web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serve(args: argparse.Namespace) -> None:
    config = Path(args.config)
    doc = tomllib.loads(config.read_text())
    host, _, port = doc["listen"]["api"].rpartition(":")
    inner_port = free_port()
    doc["listen"]["api"] = f"127.0.0.1:{inner_port}"
    inner = config.with_name("node.inner.toml")
    inner.write_text(tomli_w.dumps(doc))
    node = subprocess.Popen([sys.executable, "-m", "clp_node.cli", "--config", str(inner)])
    upstream = f"http://127.0.0.1:{inner_port}"
    session = ClientSession()

    async def forward(request: web.Request) -> web.StreamResponse:
        path = request.rel_url.path_qs
        if args.no_hooks and request.path.startswith("/admin/"):
            return web.json_response({"error": "NOT_FOUND", "detail": "no hooks"}, status=404)
        body = await request.read()
        async with session.request(request.method, upstream + path, data=body) as resp:
            data = await resp.read()
            if args.corrupt_epoch and request.path.startswith("/alpha/clp/epoch/") and resp.ok:
                result = json.loads(data)
                result["slashed_total"] += 1
                data = json.dumps(result).encode()
            return web.Response(body=data, status=resp.status, content_type=resp.content_type)

    while node.poll() is None:  # serve the API only once the real node answers, as it does
        try:
            async with session.get(upstream + "/health") as resp:
                if resp.ok:
                    break
        except OSError:
            pass
        await asyncio.sleep(0.1)
    app = web.Application(client_max_size=1024**2)
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, int(port), reuse_address=True).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        while not stop.is_set() and node.poll() is None:
            await asyncio.wait([asyncio.ensure_future(stop.wait())], timeout=0.2)
    finally:
        node.terminate()
        node.wait(10)
        await session.close()
        await runner.cleanup()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    p.add_argument("--corrupt-epoch", action="store_true")
    p.add_argument("--no-hooks", action="store_true")
    asyncio.run(serve(p.parse_args()))


if __name__ == "__main__":
    main()
