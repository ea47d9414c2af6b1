"""Benchmark the Toxiproxy-compatible proxy against direct loopback TCP.

Measures, for the same echo server reached directly and through a proxy with
no toxics: p50/p99 round-trip time of small messages on one connection, and
echo throughput (MB/s of payload) of a bulk stream. Loopback only, bounded to
well under 30 s. The proxy server and the echo server each run in their own
process, like in a testnet; the client runs here.

    .venv/bin/python benchmarks/toxiproxy_bench.py [--official PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import signal
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.toxiproxy import testing

MESSAGE = b"x" * 64
ROUND_TRIPS = 3000
BULK_BYTES = 64 * 1024 * 1024
BULK_WRITE = 256 * 1024
STEP_TIMEOUT = 10.0
TOTAL_TIMEOUT = 30


class _Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


def _echo_main(report: Connection) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Echo, "127.0.0.1", 0)
        report.send(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


@contextmanager
def echo_server() -> Iterator[str]:
    """An echo server in its own process; yields its ``host:port``."""
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=_echo_main, args=(child,), daemon=True)
    process.start()
    try:
        if not parent.poll(STEP_TIMEOUT):
            raise RuntimeError("echo server did not start")
        yield f"127.0.0.1:{parent.recv()}"
    finally:
        process.terminate()
        process.join(5)


async def _connect(address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, _, port = address.rpartition(":")
    return await asyncio.open_connection(host, int(port))


async def round_trips(addresses: list[str]) -> list[list[float]]:
    """Seconds per 64-byte echo on one connection per address, samples interleaved.

    Alternating the paths sample by sample cancels out load from other
    processes drifting during the run (the machine may be shared).
    """
    connections = [await _connect(address) for address in addresses]
    samples: list[list[float]] = [[] for _ in addresses]
    try:
        for index in range(ROUND_TRIPS + 200):
            for (reader, writer), path_samples in zip(connections, samples, strict=True):
                started = time.perf_counter()
                writer.write(MESSAGE)
                await reader.readexactly(len(MESSAGE))
                if index >= 200:  # warm-up
                    path_samples.append(time.perf_counter() - started)
    finally:
        for _, writer in connections:
            writer.close()
    return samples


async def throughput(address: str) -> float:
    """MB/s of payload echoed back while writing and reading concurrently."""
    reader, writer = await _connect(address)
    block = b"\xab" * BULK_WRITE

    async def send() -> None:
        for _ in range(BULK_BYTES // BULK_WRITE):
            writer.write(block)
            await writer.drain()

    async def receive() -> None:
        remaining = BULK_BYTES
        while remaining:
            chunk = await reader.read(1 << 20)
            if not chunk:
                raise RuntimeError("connection closed during the bulk transfer")
            remaining -= len(chunk)

    try:
        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(send(), receive()), STEP_TIMEOUT)
        return BULK_BYTES / (time.perf_counter() - started) / 1e6
    finally:
        writer.close()


async def measure(addresses: list[str]) -> list[tuple[float, float, float]]:
    """(p50 µs, p99 µs, MB/s) per address; throughput is the best of two runs."""
    all_samples = await asyncio.wait_for(round_trips(addresses), 2 * STEP_TIMEOUT)
    rates: list[list[float]] = [[] for _ in addresses]
    for _ in range(2):
        for address, path_rates in zip(addresses, rates, strict=True):
            path_rates.append(await throughput(address))
    rows = []
    for samples, path_rates in zip(all_samples, rates, strict=True):
        p99 = statistics.quantiles(samples, n=100)[98]
        rows.append((statistics.median(samples) * 1e6, p99 * 1e6, max(path_rates)))
    return rows


def create_proxy(api_url: str, upstream: str) -> str:
    with httpx.Client(base_url=api_url) as api:
        response = api.post(
            "/proxies", json={"name": "bench", "listen": "127.0.0.1:0", "upstream": upstream}
        )
        response.raise_for_status()
        return str(response.json()["listen"])


def _out_of_time(signum: int, frame: object) -> None:
    raise TimeoutError(f"benchmark exceeded {TOTAL_TIMEOUT} s")


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    cli.add_argument("--official", metavar="PATH", help="benchmark an official toxiproxy-server")
    args = cli.parse_args()
    signal.signal(signal.SIGALRM, _out_of_time)
    signal.alarm(TOTAL_TIMEOUT)  # servers are still torn down by their context managers
    started = time.perf_counter()
    server = testing.official(args.official) if args.official else testing.in_subprocess()
    label = "official proxy" if args.official else "compatible proxy"
    with echo_server() as upstream, server as api_url:
        listen = create_proxy(api_url, upstream)
        direct, proxied = asyncio.run(measure([upstream, listen]))
        rows = [("direct loopback", direct), (label, proxied)]
    (_, (d50, d99, dmbs)), (_, (p50, p99, pmbs)) = rows
    print(
        f"{ROUND_TRIPS} interleaved round trips of {len(MESSAGE)} B per path; "
        f"{BULK_BYTES >> 20} MiB echoed (best of 2)\n"
    )
    print(f"{'path':<18}{'p50 RTT µs':>12}{'p99 RTT µs':>12}{'echo MB/s':>12}")
    for name, (r50, r99, mbs) in rows:
        print(f"{name:<18}{r50:>12.1f}{r99:>12.1f}{mbs:>12.1f}")
    print(f"{'added by proxy':<18}{p50 - d50:>+12.1f}{p99 - d99:>+12.1f}{pmbs / dmbs:>11.0%}")
    print(f"\n(total {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
