"""``ordersync demo`` (what ``make demo`` runs): the whole product on this machine.

Starts the stack, the sandbox platform, a dispatch worker and the history process;
applies ``samples/integrations.yaml``; publishes a fresh set of order events (each
order through invoice, picking, shipping and delivery or cancellation); waits until
every event has a terminal outcome in ClickHouse and prints the summary.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import threading
import uuid
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from streams.local import LocalRun
from streams.local.stack import Stack
from streams.records import EventType, IntegrationConfig, now_utc
from streams.settings import Settings
from streams.topics import ensure_topics

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
DEMO_SECRET = "demo-token-not-a-real-secret"


def demo_events(integrations: list[str], orders_per_integration: int = 5) -> list[dict[str, Any]]:
    """Order lives: invoice, picking, shipped, then delivered (or cancelled, every 5th)."""
    events: list[dict[str, Any]] = []
    start = now_utc()
    run = uuid.uuid4().hex[:6]
    for integration in integrations:
        for n in range(orders_per_integration):
            order = f"{run}-{n:04d}"
            base = {
                "tenant": "acme",
                "integration": integration,
                "erp_order_id": f"ERP-{order}",
                "platform_order_id": f"PED-{order}",
                "producer": "eccosys-demo",
            }
            at = start + timedelta(minutes=n)
            life: list[tuple[EventType, dict[str, Any]]] = [
                (
                    EventType.INVOICE_AUTHORIZED,
                    {
                        "invoice": {
                            "number": f"{1000 + n}",
                            "series": "1",
                            "access_key": "3526" + f"{n:040d}",
                            "issued_at": at,
                            "total_cents": 15990,
                            "items": [
                                {"sku": "CAM-AZ-M", "quantity": 1, "unit_price_cents": 15990}
                            ],
                            "xml_url": None,
                            "xml": None,
                        }
                    },
                ),
                (EventType.PICKING_STARTED, {"status": {"code": "20", "name": "Em separação"}}),
            ]
            if n % 5 == 4:
                life.append(
                    (
                        EventType.CANCELED,
                        {"cancellation": {"reason": "Cliente desistiu", "cancelled_at": at}},
                    )
                )
            else:
                life.append(
                    (
                        EventType.SHIPPED,
                        {
                            "shipment": {
                                "carrier": "Correios",
                                "service": "SEDEX",
                                "tracking_code": f"QB{n:09d}BR",
                                "tracking_url": None,
                                "shipped_at": at,
                            }
                        },
                    )
                )
                life.append(
                    (
                        EventType.DELIVERED,
                        {
                            "delivery": {
                                "delivered_at": at,
                                "receiver": "Maria",
                                "tracking_events": [],
                            }
                        },
                    )
                )
            for sequence, (event_type, payload) in enumerate(life, start=1):
                event = (
                    base
                    | {
                        "event_id": str(uuid.uuid4()),
                        "sequence": sequence,
                        "occurred_at": at,
                        "event_type": event_type.value,
                        "invoice": None,
                        "shipment": None,
                        "delivery": None,
                        "cancellation": None,
                        "status": None,
                    }
                    | payload
                )
                events.append(event)
    return events


def run_demo(settings: Settings, oneshot: bool) -> int:
    stack = Stack(settings)
    print("starting Kafka and the schema registry (first run downloads them from Maven Central)...")
    stack.up()
    ensure_topics(settings)
    log_dir = settings.var_dir / "log"
    # the sandbox platform listens on loopback, which store URLs may not use by default
    settings = replace(settings, allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))
    local = LocalRun(settings, log_dir, {"ORDERSYNC_SECRET_LOJA_CENTRO_TOKEN": DEMO_SECRET})
    try:
        print("starting the sandbox platform, the history process and a dispatch worker...")
        local.launch()
        # the registry client and the connectors take a second to import: while the
        # children start, not before
        from streams.ops.integrations import apply_configs, load_configs
        from streams.ops.publish import publish_records

        # the worker reads the configs topic as it starts: written meanwhile, they are there
        configs = load_configs(SAMPLES / "integrations.yaml", settings.allowed_networks)
        configs = [_on_port(c, settings.sandbox_port) for c in configs]
        apply_configs(settings, configs)
        local.wait_ready()
        names = [c.integration_id for c in configs if isinstance(c, IntegrationConfig)]
        _wait_for_configs(local, names)
        events = demo_events(names)
        report = publish_records(settings, events)
        if report.delivery_errors:
            print("publishing failed:", *report.delivery_errors, sep="\n  ")
            return 1
        print(
            f"published {report.published} events for {len(names)} integrations; waiting for outcomes..."
        )
        result = local.wait_for_terminal(report.event_ids, timeout_s=180)
        _print_summary(local, report.event_ids, result)
        if oneshot:
            return 0
        print("running; press Ctrl-C to stop")
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait()
        return 0
    finally:
        local.stop()


def _on_port(config: IntegrationConfig | str, port: int) -> IntegrationConfig | str:
    if isinstance(config, str):
        return config
    return replace(config, store_url=config.store_url.replace(":8070/", f":{port}/"))


def _wait_for_configs(local: LocalRun, names: list[str]) -> None:
    from streams.local.stack.process import wait_until

    def held() -> bool:
        ids = {c["integration_id"] for c in local.worker_api("/api/integrations")}
        return set(names) <= ids

    wait_until(held, 60, "the worker to load the integrations", 0.25)


def _print_summary(local: LocalRun, event_ids: list[str], result: dict[str, Any]) -> None:
    latest = result["events"]
    by_outcome = Counter(row["outcome"] for row in latest.values())
    by_reason = Counter((row["outcome"], row["reason_code"]) for row in latest.values())
    print()
    print("Histórico de Envio de Situação — resumo (lido do ClickHouse)")
    print(f"  eventos publicados:        {len(event_ids)}")
    print(f"  eventos com resultado:     {len(latest)}")
    for outcome, count in sorted(by_outcome.items()):
        print(f"  {outcome:<26} {count}")
    print("  por motivo:")
    for (outcome, reason), count in sorted(by_reason.items()):
        print(f"    {outcome:<14} {reason:<32} {count}")
    print()
    print(f"report:       {local.history_url}/#token={local.token}")
    print(f"history API:  {local.history_url}/api/summary  (Authorization: Bearer {local.token})")
    print(f"worker API:   {local.worker_url}/api/integrations")
    print(f"metrics:      {local.worker_url}/metrics  {local.history_url}/metrics")
    print(f"sandbox:      {local.sandbox_url}/_received")


def main(settings: Settings) -> int:
    return run_demo(settings, oneshot=os.environ.get("DEMO_ONESHOT", "") not in ("", "0"))
