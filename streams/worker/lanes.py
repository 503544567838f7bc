"""One lane per order: an order's messages run one after another, different orders at once.

A lane is the chain of tasks started for one key. ``OrderLanes.start`` links the new
task behind the lane's tail before it returns, so the order of calls is the order of
running, whatever the event loop schedules first. A lane is forgotten as soon as its
last task finishes: the map holds only orders with work in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
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
