"""An order's state is stored only once its changelog write is with the broker."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from streams.worker.orderstate import OrderRecord, OrderStates


class SlowChangelogTable(dict[bytes, bytes]):
    """Stands for ``ConfirmedTable``: each assignment leaves a pending changelog write."""

    last_write: asyncio.Future[Any] | None = None

    def __setitem__(self, key: bytes, value: bytes) -> None:
        super().__setitem__(key, value)
        self.last_write = asyncio.get_running_loop().create_future()


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


def test_the_worker_table_hands_back_the_write_of_each_assignment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real table, Kafka aside: an assignment's changelog send is what ``put`` awaits.

    Faust sends a table's changelog from ``on_key_set`` through ``send_changelog``; a hook
    anywhere else is never called, and ``put`` would return before the broker has the state.
    """
    import faust

    from streams.faust_internals import ConfirmedTable

    sent: list[tuple[int | None, bytes, bytes]] = []

    def send_changelog(
        self: faust.Table, partition: int | None, key: bytes, value: bytes, *args: Any
    ) -> Any:
        sent.append((partition, key, value))
        return SimpleNamespace(message=SimpleNamespace(partition=partition))

    monkeypatch.setattr(faust.Table, "send_changelog", send_changelog)
    monkeypatch.setattr(faust.Table, "partition_for_key", lambda self, key: 3)
    app = faust.App("confirmed-table-test", broker="kafka://localhost:1")
    table = ConfirmedTable(app, name="orders", key_type=bytes, value_type=bytes, partitions=12)
    table[b"acme/s1/K1"] = b"state"
    assert sent == [(3, b"acme/s1/K1", b"state")]
    assert table.last_write is not None
    assert table.last_write.message.partition == 3  # type: ignore[attr-defined]
