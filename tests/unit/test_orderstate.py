"""An order's state is stored only once its changelog write is with the broker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streams.worker.orderstate import OrderRecord, OrderStates


class SlowChangelogTable(dict[bytes, bytes]):
    """Stands for ``ConfirmedTable``: each write leaves a pending changelog delivery."""

    last_write: asyncio.Future[Any] | None = None

    async def write(self, key: bytes, value: bytes) -> asyncio.Future[Any]:
        self[key] = value
        self.last_write = asyncio.get_running_loop().create_future()
        return self.last_write


def test_put_returns_only_after_the_changelog_write_is_confirmed() -> None:
    async def scenario() -> list[str]:
        table = SlowChangelogTable()
        states = OrderStates(table)
        steps: list[str] = []
        record = OrderRecord()
        record.record_delivery("e1", "SHIP", "SHIP", 3)

        async def save() -> None:
            await states.put(b"acme/s1/K1", record)
            steps.append("put returned")

        task = asyncio.create_task(save())
        await asyncio.sleep(0)  # let put run up to its wait
        steps.append("write pending")
        assert table.last_write is not None
        table.last_write.set_result(None)
        await task
        assert states.get(b"acme/s1/K1").delivered == {"SHIP": 3}
        return steps

    assert asyncio.run(scenario()) == ["write pending", "put returned"]


def test_a_failed_changelog_write_is_logged_not_raised(caplog: Any) -> None:
    async def scenario() -> None:
        table = SlowChangelogTable()
        states = OrderStates(table)
        task = asyncio.create_task(states.put(b"k", OrderRecord()))
        await asyncio.sleep(0)
        assert table.last_write is not None
        table.last_write.set_exception(ConnectionError("broker gone"))
        await task

    asyncio.run(scenario())
    assert "changelog write" in caplog.text


def test_the_worker_table_hands_back_the_delivery_of_each_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real table, Kafka aside: a write stores the value and queues one changelog
    record, on the handled event's partition, whose delivery ``put`` awaits; Faust's own
    changelog send is not made as well."""
    import faust

    from streams.faust_internals import ConfirmedTable, RecordSender

    queued: list[tuple[str, bytes | None, bytes | None, int | None]] = []
    faust_sent: list[bytes] = []

    async def queue(
        self: RecordSender, topic: str, key: bytes, value: bytes, headers: Any, partition: int
    ) -> Any:
        queued.append((topic, key, value, partition))
        return "delivery"

    monkeypatch.setattr(RecordSender, "queue", queue)
    monkeypatch.setattr(
        faust.Table, "send_changelog", lambda self, p, key, *a: faust_sent.append(key)
    )
    monkeypatch.setattr(faust.Table, "partition_for_key", lambda self, key: 3)
    app = faust.App("confirmed-table-test", broker="kafka://localhost:1")
    table = ConfirmedTable(app, name="orders", key_type=bytes, value_type=bytes, partitions=12)
    delivery = asyncio.run(table.write(b"acme/s1/K1", b"state"))
    assert delivery == "delivery"
    assert queued == [("confirmed-table-test-orders-changelog", b"acme/s1/K1", b"state", 3)]
    assert table.get(b"acme/s1/K1") == b"state"
    assert faust_sent == []
