"""The sandbox platform server: records every call, and behaves like a real platform on cue.

One server hosts many stores under ``/stores/{store}/``. Real platforms answer in
100–800 ms and meter each store; the sandbox answers at once unless told otherwise:

- ``POST /_model`` ``{"store": S | "*", "latency": {"median_ms": 150, "p99_ms": 1000},
  "bucket": {"capacity": 40, "drain_per_s": 2}}``: store S's (or every store's) answer
  latency drawn from a lognormal distribution (defaults: median 150 ms, p99 1 s), and a
  leaky bucket of ``capacity`` requests draining at ``drain_per_s`` (Nuvemshop's model).
  A metered store answers every call with ``x-rate-limit-limit``, ``-remaining`` and
  ``-reset`` (ms until the bucket is empty), and a call that would overflow the bucket with
  429 and ``Retry-After`` (whole seconds until there is room). ``null`` removes either;
  ``DELETE /_model`` removes every model.
- ``POST /_faults`` ``{"store": S, "kind": "fail" | "slow" | "hang", "status": 503,
  "count": 2, "delay_ms": 0}``: the next ``count`` calls to store S (``-1`` = until
  cleared) fail with ``status`` (after ``delay_ms``), answer slowly (``delay_ms`` more, then
  normally), or hang (no answer within any client's timeout). Without ``kind``: ``status``
  0 with a delay slows the store, another status fails it; a 429 says ``Retry-After:
  retry_after_s`` (default 1). ``DELETE /_faults`` clears every fault.
- ``GET /_received[?store=S]``: the calls accepted, oldest first, each with when it arrived
  and when it was answered (``arrived_at``, ``received_at``); ``GET /_stats[?store=S]``:
  counts of calls, duplicates (same event and action twice), faults served and 429s;
  ``GET /_duplicates``: each repeated call, with when the first one was received.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiohttp import web

HANG_S = 3600.0
Z99 = 2.3263  # the standard normal's 99th percentile


@dataclass
class Fault:
    status: int
    remaining: int  # -1: until cleared
    delay_ms: float
    retry_after_s: int = 1


@dataclass(frozen=True)
class Latency:
    """Lognormal answer times with the given median and 99th percentile."""

    median_ms: float = 150.0
    p99_ms: float = 1000.0

    def draw(self, rng: random.Random) -> float:
        if self.median_ms <= 0:
            return 0.0
        sigma = max(math.log(max(self.p99_ms, self.median_ms) / self.median_ms) / Z99, 0.0)
        return rng.lognormvariate(math.log(self.median_ms), sigma) / 1000


class LeakyBucket:
    """``capacity`` requests, draining at ``drain_per_s``: a request that would overflow it
    is refused, and costs nothing."""

    def __init__(self, capacity: float, drain_per_s: float) -> None:
        self.capacity = capacity
        self.drain_per_s = drain_per_s
        self.level = 0.0
        self._at = time.monotonic()

    def _drain(self) -> None:
        now = time.monotonic()
        self.level = max(0.0, self.level - (now - self._at) * self.drain_per_s)
        self._at = now

    def admit(self) -> tuple[bool, dict[str, str]]:
        """(admitted, the rate headers of the answer)."""
        self._drain()
        admitted = self.level + 1 <= self.capacity
        if admitted:
            self.level += 1
        headers = {
            "x-rate-limit-limit": str(int(self.capacity)),
            "x-rate-limit-remaining": str(max(0, int(self.capacity - self.level))),
            "x-rate-limit-reset": str(int(self.level / self.drain_per_s * 1000)),
        }
        if not admitted:
            room_in = (self.level + 1 - self.capacity) / self.drain_per_s
            headers["Retry-After"] = str(max(1, math.ceil(room_in)))
        return admitted, headers


@dataclass(frozen=True)
class Bucket:
    capacity: float = 40
    drain_per_s: float = 2


@dataclass(frozen=True)
class StoreModel:
    latency: Latency | None = None
    bucket: Bucket | None = None  # each store gets a bucket of its own of this size


class SandboxPlatform:
    def __init__(self, seed: int | None = None) -> None:
        self.received: list[dict[str, Any]] = []
        self.seen: dict[tuple[str, str], float] = {}  # -> when it was first received
        self.duplicates = 0
        self.repeated: list[dict[str, Any]] = []
        self.faults: dict[str, Fault] = {}
        self.faults_served = 0
        self.models: dict[str, StoreModel] = {}
        self.default_model = StoreModel()
        self.buckets: dict[str, tuple[Bucket, LeakyBucket]] = {}
        self.rate_limited: Counter[str] = Counter()
        self.per_store: Counter[str] = Counter()
        self.rng = random.Random(seed)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/stores/{store}/orders/{order}/actions/{action}", self.action)
        app.router.add_get("/_received", self.list_received)
        app.router.add_get("/_duplicates", self.list_duplicates)
        app.router.add_get("/_stats", self.stats)
        app.router.add_post("/_faults", self.set_fault)
        app.router.add_delete("/_faults", self.clear_faults)
        app.router.add_post("/_model", self.set_model)
        app.router.add_delete("/_model", self.clear_models)
        app.router.add_get("/health", self.health)
        return app

    def _model(self, store: str) -> StoreModel:
        return self.models.get(store, self.default_model)

    def _bucket(self, store: str, spec: Bucket) -> LeakyBucket:
        held = self.buckets.get(store)
        if held is None or held[0] != spec:
            held = self.buckets[store] = (spec, LeakyBucket(spec.capacity, spec.drain_per_s))
        return held[1]

    async def action(self, request: web.Request) -> web.Response:
        arrived_at = time.time()
        store = request.match_info["store"]
        model = self._model(store)
        headers: dict[str, str] = {}
        if model.bucket is not None:
            admitted, headers = self._bucket(store, model.bucket).admit()
            if not admitted:
                self.rate_limited[store] += 1
                return web.json_response(
                    {"code": 429, "message": "Too Many Requests"}, status=429, headers=headers
                )
        if model.latency is not None:
            await asyncio.sleep(model.latency.draw(self.rng))
        fault = self.faults.get(store)
        if fault is not None:
            if fault.delay_ms:
                await asyncio.sleep(fault.delay_ms / 1000)
            if fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    del self.faults[store]
            if fault.status:
                self.faults_served += 1
                if fault.status == 429:
                    headers["Retry-After"] = str(fault.retry_after_s)
                # like many real APIs, the error echoes what it was given: credentials
                # included, so ordersync's redaction is exercised on every fault
                echo = {
                    "authorization": request.headers.get("Authorization", ""),
                    "path": request.path_qs,
                }
                return web.json_response(
                    {"code": "FAULT", "message": f"injected {fault.status}", "request": echo},
                    status=fault.status,
                    headers=headers,
                )
        body = await request.json()
        key = (str(body.get("event_id")), request.match_info["action"])
        call = {
            "store": store,
            "order": request.match_info["order"],
            "action": request.match_info["action"],
            "event_id": body.get("event_id"),
            "sequence": body.get("sequence"),
            "platform_status": body.get("platform_status"),
            "authorized": request.headers.get("Authorization", "").startswith("Bearer "),
            "arrived_at": arrived_at,  # before the store's answer time
            "received_at": time.time(),  # as it answers
        }
        if key in self.seen:
            self.duplicates += 1
            self.repeated.append(call | {"first_received_at": self.seen[key]})
            return web.json_response({"code": "ALREADY_DONE"}, status=409, headers=headers)
        self.seen[key] = call["received_at"]
        self.received.append(call)
        self.per_store[store] += 1
        return web.json_response({"ok": True}, status=200, headers=headers)

    async def list_received(self, request: web.Request) -> web.Response:
        store = request.query.get("store")
        calls = [c for c in self.received if store is None or c["store"] == store]
        return web.json_response(calls)

    async def list_duplicates(self, request: web.Request) -> web.Response:
        return web.json_response(self.repeated)

    async def stats(self, request: web.Request) -> web.Response:
        store = request.query.get("store")
        if store is not None:
            return web.json_response(
                {"received": self.per_store[store], "rate_limited": self.rate_limited[store]}
            )
        return web.json_response(
            {
                "received": len(self.received),
                "duplicates": self.duplicates,
                "faults_served": self.faults_served,
                "rate_limited": sum(self.rate_limited.values()),
            }
        )

    async def set_fault(self, request: web.Request) -> web.Response:
        body = await request.json()
        kind = body.get("kind")
        status = int(body.get("status", 503))
        delay_ms = float(body.get("delay_ms", 0))
        if kind == "slow":
            status = 0
        elif kind == "hang":
            status, delay_ms = 0, HANG_S * 1000
        elif kind not in (None, "fail"):
            raise web.HTTPBadRequest(text=f"kind: expected fail, slow or hang, got {kind!r}")
        self.faults[str(body["store"])] = Fault(
            status=status,
            remaining=int(body.get("count", -1)),
            delay_ms=delay_ms,
            retry_after_s=int(body.get("retry_after_s", 1)),
        )
        return web.json_response({"ok": True})

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.faults.clear()
        return web.json_response({"ok": True})

    async def set_model(self, request: web.Request) -> web.Response:
        body = await request.json()
        store = str(body.get("store", "*"))
        latency, bucket = self._model(store).latency, self._model(store).bucket
        try:
            if "latency" in body:
                latency = None if body["latency"] is None else Latency(**body["latency"])
            if "bucket" in body:
                bucket = None if body["bucket"] is None else Bucket(**body["bucket"])
        except TypeError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        model = StoreModel(latency, bucket)
        if store == "*":
            self.default_model = model
        else:
            self.models[store] = model
        return web.json_response({"ok": True})

    async def clear_models(self, request: web.Request) -> web.Response:
        self.models.clear()
        self.buckets.clear()
        self.default_model = StoreModel()
        return web.json_response({"ok": True})

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})


def serve(port: int, host: str = "127.0.0.1") -> None:
    web.run_app(SandboxPlatform().app(), host=host, port=port, print=None, access_log=None)
