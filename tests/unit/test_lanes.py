"""An order's work runs in the order it was started; different orders run at once."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest

from streams.worker.lanes import OrderLanes


def test_one_orders_work_runs_in_start_order_even_when_the_first_is_slowest() -> None:
    async def scenario() -> list[str]:
        lanes = OrderLanes()
        ran: list[str] = []
        gates = {name: asyncio.Event() for name in ("a1", "a2", "a3")}

        async def work(name: str) -> str:
            await gates[name].wait()
            ran.append(name)
            return name

        tasks = [lanes.start(b"A", partial(work, n)) for n in ("a1", "a2", "a3")]
        # open the gates backwards: a lane must still finish a1, a2, a3
        for name in ("a3", "a2", "a1"):
            gates[name].set()
            await asyncio.sleep(0)
        assert [await t for t in tasks] == ["a1", "a2", "a3"]
        return ran

    assert asyncio.run(scenario()) == ["a1", "a2", "a3"]


def test_other_orders_do_not_wait_for_a_stuck_one() -> None:
    async def scenario() -> None:
        lanes = OrderLanes()
        stuck = asyncio.Event()
        blocked = lanes.start(b"A", stuck.wait)
        behind = lanes.start(b"A", lambda: asyncio.sleep(0, result="a2"))
        other = lanes.start(b"B", lambda: asyncio.sleep(0, result="b"))
        assert await asyncio.wait_for(other, timeout=5) == "b"
        await asyncio.sleep(0)
        assert not blocked.done() and not behind.done()
        assert len(lanes) == 1  # B is forgotten once done
        stuck.set()
        assert await asyncio.wait_for(behind, timeout=5) == "a2"

    asyncio.run(scenario())


def test_a_failed_task_does_not_stop_its_lane_and_lanes_are_forgotten() -> None:
    async def scenario() -> None:
        lanes = OrderLanes()

        async def fail() -> None:
            raise RuntimeError("boom")

        first = lanes.start(b"A", fail)
        second = lanes.start(b"A", lambda: asyncio.sleep(0, result="ran"))
        with pytest.raises(RuntimeError):
            await first
        assert await second == "ran"
        await asyncio.sleep(0)  # done callbacks run on the next loop turn
        assert len(lanes) == 0

    asyncio.run(scenario())
