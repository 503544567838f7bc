"""One lane per order, and a share of the sending slots per store.

An order's messages run one after another, different orders at once.

A lane is the chain of tasks started for one key. ``OrderLanes.start`` links the new
task behind the lane's tail before it returns, so the order of calls is the order of
running, whatever the event loop schedules first. A lane is forgotten as soon as its
last task finishes: the map holds only orders with work in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

T = TypeVar("T")


class OrderLanes:
    def __init__(self) -> None:
        self._tails: dict[bytes | None, asyncio.Task[object]] = {}

    def __len__(self) -> int:
        """Orders with work in flight."""
        return len(self._tails)

    def start(self, key: bytes | None, work: Callable[[], Awaitable[T]]) -> asyncio.Task[T]:
        """Run ``work()`` once every earlier task of ``key`` has finished (however it ended)."""
        previous = self._tails.get(key)
        task: asyncio.Task[T] = asyncio.ensure_future(_after(previous, work))
        self._tails[key] = task
        task.add_done_callback(lambda done: self._forget(key, done))
        return task

    def _forget(self, key: bytes | None, done: asyncio.Task[object]) -> None:
        if self._tails.get(key) is done:
            del self._tails[key]


async def _after(previous: asyncio.Task[object] | None, work: Callable[[], Awaitable[T]]) -> T:
    if previous is not None and not previous.done():
        # wait() neither raises the previous task's error nor cancels it if this one is
        await asyncio.wait([previous])
    return await work()


class SendingSlots:
    """At most ``total`` sends at once, at most ``per_store`` of them to one store.

    A send waits for its store's share first, then for its store to be ready (``ready``:
    not paused by a ``Retry-After`` or an open breaker), and only then takes a shared slot:
    a store that answers slowly, or may not be called for a while, holds its own share,
    while the other stores keep the rest of the slots.
    """

    def __init__(self, total: int, per_store: int) -> None:
        self.per_store = per_store
        self._total = asyncio.Semaphore(total)
        self._stores: dict[str, asyncio.Semaphore] = {}

    @asynccontextmanager
    async def hold(
        self, store: str, ready: Callable[[], Awaitable[None]] | None = None
    ) -> AsyncIterator[None]:
        share = self._stores.setdefault(store, asyncio.Semaphore(self.per_store))
        async with share:
            if ready is not None:
                await ready()
            async with self._total:
                yield
