"""While ClickHouse refuses, the sink keeps its batch and retries; nothing is lost or doubled."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import fastavro
import pytest

import schemas
from streams.history import sink as sink_module
from streams.history.sink import HistorySink
from streams.history.store import HistoryStore
from streams.records import DispatchOutcome, Outcome, now_utc


class RefusingStore:
    """Refuses the first ``failures`` inserts, as an unreachable ClickHouse would."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.rows: dict[str | None, list[DispatchOutcome]] = {}

    def insert_outcomes(
        self, outcomes: Sequence[DispatchOutcome], dedup_token: str | None = None
    ) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("ClickHouse is unreachable")
        self.rows.setdefault(dedup_token, list(outcomes))  # a repeated token is dropped

    def existing_outcome_ids(self, terminals: Sequence[DispatchOutcome]) -> set[str]:
        held = {o.outcome_id for rows in self.rows.values() for o in rows}
        return held & {o.outcome_id for o in terminals}


def outcome(n: int) -> DispatchOutcome:
    return DispatchOutcome(
        event_id=f"e{n}", tenant="t", integration="i", platform="sandbox", erp_order_id="1",
        platform_order_id="p", sequence=n, event_type="SHIPPED", action="SHIP",
        outcome=Outcome.SENT, reason_code="DELIVERED", attempt=1,
        occurred_at=now_utc(), decided_at=now_utc(),
    )  # fmt: skip


def test_refused_batches_are_kept_and_written_once_when_clickhouse_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sleeps: list[float] = []

    async def no_wait(seconds: float) -> None:
        sleeps.append(seconds)

    monkeypatch.setattr(sink_module.asyncio, "sleep", no_wait)
    store = RefusingStore(failures=4)
    sink = HistorySink(store, codec=None)  # type: ignore[arg-type]
    batch = [outcome(n) for n in range(3)]
    offsets = [("orders.outcomes", 0, n) for n in range(3)]
    asyncio.run(sink.write(batch, offsets))
    assert sink.failures == 4 and sink.rows_written == 3
    assert sleeps == [0.2, 0.4, 0.8, 1.6]  # backing off, not spinning
    # the same batch again (a crash before the commit) carries the same token: no double rows
    asyncio.run(sink.write(batch, offsets))
    assert [len(rows) for rows in store.rows.values()] == [3]


def test_a_terminal_outcome_decided_twice_is_kept_once() -> None:
    store = RefusingStore(failures=0)
    sink = HistorySink(store, codec=None)  # type: ignore[arg-type]
    first = replace(outcome(1), outcome_id="00000000-0000-0000-0000-000000000001")
    replay = replace(first, reason_code="ALREADY_DONE")  # the same event, decided again
    progress = replace(outcome(2), outcome=Outcome.RETRY_SCHEDULED)
    asyncio.run(
        sink.write([first, progress], [("orders.outcomes", 0, 0), ("orders.outcomes", 0, 1)])
    )
    asyncio.run(
        sink.write([replay, progress], [("orders.outcomes", 0, 7), ("orders.outcomes", 0, 8)])
    )
    written = [o for rows in store.rows.values() for o in rows]
    assert [o.reason_code for o in written if o.terminal] == ["DELIVERED"]
    assert sink.repeated_terminals == 1
    assert sum(1 for o in written if not o.terminal) == 2  # progress records are never dropped


def test_a_terminal_outcome_read_back_from_avro_is_kept_once_in_clickhouse(
    tmp_path: Path,
) -> None:
    """The history reads outcomes from Avro, where the id comes back as a uuid.UUID."""
    parsed = fastavro.parse_schema(schemas.schema(schemas.DISPATCH_OUTCOME))

    def through_avro(o: DispatchOutcome) -> DispatchOutcome:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, o.to_avro())
        buf.seek(0)
        return DispatchOutcome.from_avro(fastavro.schemaless_reader(buf, parsed, parsed))

    store = HistoryStore(f"chdb://{tmp_path / 'clickhouse'}")
    store.migrate()
    sink = HistorySink(store, codec=None)  # type: ignore[arg-type]
    first = replace(outcome(1), outcome_id="6f1d3c1e-0000-4000-8000-000000000001")
    replay = replace(first, reason_code="ALREADY_DONE")
    asyncio.run(sink.write([through_avro(first)], [("orders.outcomes", 0, 9)]))
    asyncio.run(sink.write([through_avro(replay)], [("orders.outcomes", 0, 22)]))
    rows = store.query("SELECT reason_code FROM status_send_history")
    store.close()
    assert rows == [{"reason_code": "DELIVERED"}]
    assert sink.repeated_terminals == 1


def test_the_fault_file_makes_the_sink_refuse_until_it_is_removed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fault = tmp_path / "refuse"
    fault.touch()
    store = RefusingStore(failures=0)
    sink = HistorySink(store, codec=None, refuse_while=fault)  # type: ignore[arg-type]

    async def lift_after_three(seconds: float) -> None:
        if sink.failures == 3:
            fault.unlink()

    monkeypatch.setattr(sink_module.asyncio, "sleep", lift_after_three)
    asyncio.run(sink.write([outcome(1)], [("orders.outcomes", 0, 0)]))
    assert sink.failures == 3 and sink.rows_written == 1


def test_two_tenants_events_with_the_same_id_keep_both_terminal_outcomes() -> None:
    """Event ids come from each tenant's ERP: the same id in two tenants is two events."""

    class Message:
        origin = ("orders.events", 0, 7)
        resend_of = None

    acme = replace(outcome(1), tenant="acme", event_id="same-id").stamped(Message())
    globex = replace(outcome(1), tenant="globex", event_id="same-id").stamped(Message())
    assert acme.outcome_id != globex.outcome_id
    store = RefusingStore(failures=0)
    sink = HistorySink(store, codec=None)  # type: ignore[arg-type]
    asyncio.run(sink.write([acme, globex], [("orders.outcomes", 0, 1), ("orders.outcomes", 0, 2)]))
    assert sorted(o.tenant for rows in store.rows.values() for o in rows) == ["acme", "globex"]
    assert sink.repeated_terminals == 0


@pytest.mark.parametrize(
    "order_id",
    ["p'1", "p\\'1", "p\\", "linha\nnova\r\t", "nul\0byte", "ação-ç", "x') OR 1=1 --"],
)
def test_a_repeated_terminal_is_found_whatever_its_order_id_holds(
    tmp_path: Path, order_id: str
) -> None:
    """The lookup writes the ids into its statement: each must come back as itself."""
    store = HistoryStore(f"chdb://{tmp_path / 'clickhouse'}")
    store.migrate()
    first = replace(outcome(1), platform_order_id=order_id, tenant=f"t{order_id}")
    other = replace(outcome(2), platform_order_id=order_id + "x")
    store.insert_outcomes([first, other], "one")
    found = store.existing_outcome_ids([first, replace(outcome(3), platform_order_id=order_id)])
    store.close()
    assert found == {first.outcome_id}
