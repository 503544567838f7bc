"""HTTP client throughput against a local server: httpx, ordersync's store client, aiohttp.

    .venv/bin/python -m bench.http_transport [--requests 5000] [--concurrency 32]

Runs the server in a separate process (so client and server do not share one event loop),
then sends the same POSTs with each client and prints requests/s for each, best of
``--rounds``, with the client's CPU time per request in that round. Writes ``bench/results/http_transport.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import multiprocessing
import platform
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from aiohttp import web

from connectors.http import make_client

RESULTS = Path(__file__).resolve().parent / "results" / "http_transport.json"
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


def serve(port: int) -> None:
    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/orders/{order}/actions/{action}", ok)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def drive(send: Callable[[int], Awaitable[int]], requests: int, concurrency: int) -> float:
    counter = iter(range(requests))

    async def worker() -> None:
        for n in counter:
            status = await send(n)
            assert status == 200, status

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return requests / (time.perf_counter() - started)


async def httpx_default(base: str, requests: int, concurrency: int) -> float:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits) as client:

        async def send(n: int) -> int:
            response = await client.post(f"orders/{n}/actions/invoice", json={"n": n})
            return response.status_code

        return await drive(send, requests, concurrency)


async def store_client(base: str, requests: int, concurrency: int) -> float:
    async with make_client(
        base, timeout_s=10, allowed=LOOPBACK, max_connections=concurrency
    ) as client:

        async def send(n: int) -> int:
            response = await client.request("POST", f"orders/{n}/actions/invoice", json={"n": n})
            return response.status_code

        return await drive(send, requests, concurrency)


async def aiohttp_raw(base: str, requests: int, concurrency: int) -> float:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send(n: int) -> int:
            async with session.post(
                f"{base}/orders/{n}/actions/invoice", json={"n": n}
            ) as response:
                await response.read()
                return response.status

        return await drive(send, requests, concurrency)


CLIENTS: dict[str, Callable[[str, int, int], Coroutine[Any, Any, float]]] = {
    "httpx (own pool)": httpx_default,
    "ordersync store client (aiohttp)": store_client,
    "aiohttp (reference)": aiohttp_raw,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    server = multiprocessing.Process(target=serve, args=(port,), daemon=True)
    server.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    results: dict[str, Any] = {}
    cpu_us: dict[str, Any] = {}
    try:
        for name, client in CLIENTS.items():
            rounds = []
            for _ in range(args.rounds):
                cpu = time.process_time()
                rate = asyncio.run(client(base, args.requests, args.concurrency))
                rounds.append((rate, (time.process_time() - cpu) / args.requests * 1e6))
            rate, per_request = max(rounds)
            results[name] = round(rate, 1)
            cpu_us[name] = round(per_request, 1)
            print(
                f"{name:<40} {results[name]:>9.1f} requests/s, {cpu_us[name]:>6.1f} µs CPU "
                f"per request (best of {args.rounds})"
            )
    finally:
        server.terminate()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "requests": args.requests,
                "concurrency": args.concurrency,
                "rounds": args.rounds,
                "requests_per_s": results,
                "client_cpu_us_per_request": cpu_us,
                "machine": {
                    "cpu_count": multiprocessing.cpu_count(),
                    "processor": platform.processor(),
                },
                "versions": {"httpx": httpx.__version__, "aiohttp": aiohttp.__version__},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
