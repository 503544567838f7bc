"""The bench's own arithmetic: what it reports must not flatter (a zero denominator or an
event never answered is missing, not a figure), and its target lines say met or NOT met."""

from __future__ import annotations

from typing import Any

import pytest

from bench.markdown import _paced as paced_table
from bench.markdown import markdown
from bench.measure import (
    cpu_cost,
    delays,
    kafka_requests,
    ratio,
    records_per_event,
    requests_per_event,
    summary_ms,
    summed,
)
from bench.run import markdown_name, offered_rates, selected, var_name
from bench.targets import Target, targets


def test_ratio_with_a_zero_or_missing_denominator_is_missing() -> None:
    assert ratio(5, 0) is None
    assert ratio(5, None) is None
    assert ratio(None, 2) is None
    assert ratio(0, 4) == 0.0
    assert ratio(1, 3, 2) == 0.33


def test_summary_ranks_the_unanswered_above_every_answer() -> None:
    answered = [0.001 * n for n in range(1, 100)]  # 1..99 ms
    assert summary_ms(answered)["p99"] == 99.0
    censored = summary_ms(answered, unanswered=2)
    assert censored["p50"] is not None
    assert censored["p99"] is None and censored["max"] is None and censored["mean"] is None
    assert summary_ms([], unanswered=3)["p50"] is None
    assert summary_ms([]) == {}


def test_delays_count_the_events_never_answered() -> None:
    calls = [
        {"event_id": "a", "arrived_at": 10.002, "received_at": 10.005},
        {"event_id": "a", "arrived_at": 11.0, "received_at": 11.0},  # a repeat: the first counts
        {"event_id": "x", "arrived_at": 10.0, "received_at": 10.0},  # not measured
    ]
    found = delays(calls, {"a": 10.0, "b": 10.0}, {"a", "b"})
    assert found["measured"] == 2 and found["unanswered"] == 1
    assert found["platform_ms"]["p50"] == 3.0
    assert found["ordersync_ms"]["p50"] is None  # half the events have no figure


def test_cost_sums_the_workers_and_keeps_the_sandbox_out_of_the_product() -> None:
    cpu = {"worker": 1.0, "worker-20067": 1.0, "broker": 0.5, "history": 0.25, "sandbox": 3.0}
    cost = cpu_cost(cpu, 1000, raw_ms=0.5)
    assert cost["cpu_ms_per_event"] == {
        "worker": 2.0,
        "broker": 0.5,
        "history": 0.25,
        "sandbox": 3.0,
    }
    assert cost["raw_units"]["worker"] == 4.0
    assert cost["raw_units"]["product"] == 5.5  # 4 + 1 + 0.5, the sandbox apart
    missing = cpu_cost(cpu, 1000, raw_ms=None)["raw_units"]
    assert missing["worker"] is None and missing["product"] is None


def test_records_per_event_leave_out_what_the_publisher_wrote() -> None:
    ends = {
        "b1-u.orders.events": 1000,
        "b1-u.orders.outcomes": 1000,
        "b1-u.ordersync-worker-orders-changelog": 2000,
        "b1-u.orders.backlog": 10,
    }
    found = records_per_event(ends, "b1-u.", "b1-u.orders.events", published=1000, events=1000)
    assert found["total"] == 3.01
    assert found["per_topic"] == {
        "orders.backlog": 0.01,
        "orders.events": 0.0,
        "orders.outcomes": 1.0,
        "ordersync-worker-orders-changelog": 2.0,
    }
    assert records_per_event({}, "p.", "p.orders.events", 0, 0)["total"] is None


EXPOSITION = """# HELP ordersync_kafka_requests_total Kafka requests sent, by API.
# TYPE ordersync_kafka_requests_total counter
ordersync_kafka_requests_total{api="Produce",client="producer"} 30.0
ordersync_kafka_requests_total{api="Fetch",client="consumer"} 12.0
ordersync_kafka_requests_total{api="Fetch",client="changelog"} 3.0
# HELP ordersync_kafka_requests_created Kafka requests sent, by API.
# TYPE ordersync_kafka_requests_created gauge
ordersync_kafka_requests_created{api="Produce",client="producer"} 1.7e9
"""


def test_kafka_requests_by_api_and_missing_when_not_exposed() -> None:
    assert kafka_requests(EXPOSITION) == {"Produce": 30.0, "Fetch": 15.0}
    assert (
        kafka_requests("# HELP other_total x\n# TYPE other_total counter\nother_total 1\n") is None
    )
    assert summed([{"Produce": 1.0}, {"Produce": 2.0, "Fetch": 1.0}]) == {
        "Produce": 3.0,
        "Fetch": 1.0,
    }
    assert summed([{"Produce": 1.0}, None]) is None


def test_requests_per_event_between_two_reads() -> None:
    before, after = {"Produce": 10.0}, {"Produce": 30.0, "Fetch": 5.0, "Metadata": 1.0}
    assert requests_per_event(before, after, 100) == {
        "fetch": 0.05,
        "metadata": 0.01,
        "produce": 0.2,
    }
    assert requests_per_event(None, after, 100) == {"produce": None, "fetch": None}


def test_paced_rates_are_shares_of_the_capacity() -> None:
    assert offered_rates(1000.0, fixed=1000) == [("50%", 500), ("80%", 800)]
    assert offered_rates(2000.0, fixed=1000) == [("50%", 1000), ("80%", 1600), ("1000/s", 1000)]
    assert offered_rates(None) == []
    assert offered_rates(0.0) == []


def test_only_runs_the_scenarios_named_and_what_they_need() -> None:
    assert selected("") == selected(" ") and "peers" in selected("")
    assert selected("uniform1") == ["uniform1"]
    assert selected("isolation,idle") == ["idle", "uniform1", "isolation"]
    with pytest.raises(SystemExit):
        selected("uniform3")


def test_a_stack_beside_the_default_gets_its_own_directory_and_table() -> None:
    assert var_name(20_000) == "bench"
    assert var_name(24_000) == "bench-24000"
    assert markdown_name(quick=False, partial=False) == "latest.md"
    assert markdown_name(quick=True, partial=False) == "latest-quick.md"
    assert markdown_name(quick=True, partial=True) == "latest-quick.md"
    assert markdown_name(quick=False, partial=True) == "latest-partial.md"


def test_target_lines() -> None:
    assert (
        Target("worker (raw units)", 2.5, 3).line()
        == "met      worker (raw units): 2.5 (target ≤ 3)"
    )
    below = Target("throughput share", 0.85, 0.9, at_most=False)
    assert below.line() == "NOT met  throughput share: 0.85 (target ≥ 0.9)"
    missing = Target("p99 (ms)", None, 50, note="unanswered")
    assert not missing.met
    assert missing.line() == "NOT met  p99 (ms): missing (target ≤ 50) (unanswered)"
    assert missing.as_json() == {
        "name": "p99 (ms)",
        "figure": None,
        "limit": 50,
        "op": "<=",
        "met": False,
        "note": "unanswered",
    }


def result_of_uniform1(units: dict[str, float | None]) -> dict[str, Any]:
    cost = {
        "events": 10,
        "settled": True,
        "cpu_ms_per_event": dict.fromkeys(units, 0.1),
        "raw_units": units,
        "raw_client_cpu_ms_per_request": 0.07,
        "records_per_event": {"total": 3.0, "per_topic": {"orders.outcomes": 1.0}},
        "requests_per_event": {"worker": {"produce": None, "fetch": None}, "history": {}},
    }
    return {
        "finished_at": "now",
        "run": {"quick": True, "only": ["uniform1"], "port_base": 24000},
        "scenarios": {
            "uniform1": {
                "events": 10,
                "workers": 1,
                "stores": 100,
                "platform_median_ms": 0,
                "throughput_eps": 500.0,
                "unanswered": 0,
                "peak_rss_mb": {"worker": 100.0},
                "cost": cost,
            }
        },
        "cost": {"uniform1": cost},
        "raw_client": {},
        "comparisons": {},
        "settings": {"fixed_rate_eps": 1000},
        "machine": {"cores": 2, "cpu": "test"},
    }


def test_only_the_targets_of_what_ran_and_missing_is_not_met() -> None:
    result = result_of_uniform1({"worker": 2.0, "broker": 1.5, "history": None, "product": None})
    found = {t.name: t for t in targets(result)}
    assert set(found) == {
        f"uniform1: {part} CPU per event (raw units)"
        for part in ("worker", "broker", "history", "product")
    }
    assert found["uniform1: worker CPU per event (raw units)"].met
    assert not found["uniform1: broker CPU per event (raw units)"].met
    assert not found["uniform1: history CPU per event (raw units)"].met


def test_a_paced_family_without_its_fixed_rate_misses_that_target() -> None:
    run = {
        "ordersync_ms": {"p50": 5.0, "p99": 40.0},
        "latency_ms": {"p50": 5.0},
        "platform_ms": {"p50": 0.5},
    }
    result = {
        "scenarios": {"uniformpaced": {"runs": {"50%": run, "80%": run}}},
        "settings": {"fixed_rate_eps": 1000},
    }
    found = {t.name: t for t in targets(result)}
    fixed = found["uniformpaced at 1000 events/s: publish → platform answer p50 (ms)"]
    assert fixed.figure is None and not fixed.met
    assert found["uniformpaced at 50 %: ordersync's part p99 (ms)"].met


def test_the_table_shows_only_what_ran() -> None:
    result = result_of_uniform1({"worker": 2.0, "broker": 0.5, "history": 0.2, "product": 2.7})
    table = markdown(result, targets(result))
    assert "## Throughput" in table and "## CPU per event" in table
    assert "## Paced" not in table and "## Black Friday" not in table and "## Idle" not in table
    assert "Raw units: missing" in table  # the raw client's figure is not in this result


def test_a_paced_run_shows_each_process_cost_per_call_and_missing_without_it() -> None:
    def run(cost: dict[str, Any] | None) -> dict[str, Any]:
        measured = {
            "offered_share": 0.5, "capacity_eps": 800.0, "offered_eps": 400, "measured": 4000,
            "unanswered": 0, "ordersync_ms": {"p50": 5.0, "p99": 40.0},
            "latency_ms": {"p50": 5.0, "p99": 41.0}, "platform_ms": {"p50": 0.5, "p99": 1.0},
        }  # fmt: skip
        return measured | ({"cost": cost} if cost is not None else {})

    cost = {
        "calls": 4000,
        **cpu_cost({"worker": 4.8, "broker": 1.2, "history": 0.8}, 4000, 0.3),
        "requests_per_event": {"worker": {"produce": 0.02, "fetch": 0.25}, "history": None},
    }
    scenarios = {"uniformpaced": {"runs": {"50%": run(cost), "80%": run(None)}}}
    rows = [line for line in paced_table(scenarios) if "uniformpaced " in line]
    assert rows[0].endswith("| 1.2 / 0.3 / 0.2 (4 / 1 / 0.67) | 0.02 / 0.25 |")
    assert rows[1].endswith(
        "| missing / missing / missing (missing / missing / missing) | missing / missing |"
    )
