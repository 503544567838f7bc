"""The Quix Streams peer of the benchmark: ordersync's job, written as a Quix user would.

For each OrderEvent on ``--input`` it decodes the Confluent-framed Avro value through the
schema registry, calls the sandbox platform once, synchronously, with ``requests``, and
produces a JSON outcome (event_id, outcome SENT/FAILED, http_status, latency_ms) to
``--output``. No ordersync code is used: it is what a user might write instead of ordersync.

It runs in its own venv (see ``bench/peers/quix_env.py``) and follows the Quix Streams docs:

- "Processing & Transforming Data" (docs/processing.md): one ``Application``, topics from
  ``app.topic()``, a ``StreamingDataFrame`` from ``app.dataframe()``, a custom function in
  ``.apply()`` (the docs' tool for producing a new value from each message; ``.update()`` is
  for side effects whose result is dropped, and we need the HTTP result downstream), then
  ``.to_topic()`` ("Writing Data to Kafka Topics") and ``app.run()``;
- "Schema Registry", Avro section (docs/advanced/schema-registry.md): ``AvroDeserializer``
  given only a ``SchemaRegistryClientConfig``, so the writer schema is fetched by the id in
  each message's Confluent frame; "Serialization and Deserialization": the deserializer
  instance is passed as ``value_deserializer`` to ``app.topic()``;
- the docs have no page on calling an external HTTP service per message; their Sinks page
  (docs/connectors/sinks/README.md) covers writing to external systems, but a sink is
  terminal and we must produce an outcome afterwards, so the call is a plain blocking
  ``requests`` call inside the ``.apply()`` function, one message at a time.

``Application.run()`` installs its own SIGINT/SIGTERM handlers and stops cleanly on either;
the default at-least-once guarantee commits offsets every ``commit_interval`` (5 s).

    python bench/peers/quix_peer.py --bootstrap HOST:PORT --registry URL --input TOPIC \\
        --output TOPIC --sandbox URL --group GROUP
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

import requests
from quixstreams import Application
from quixstreams.models import SchemaRegistryClientConfig
from quixstreams.models.serializers.avro import AvroDeserializer

ACTIONS = {
    "INVOICE_AUTHORIZED": "INVOICE",
    "PICKING_STARTED": "START_HANDLING",
    "SHIPPED": "SHIP_WITH_TRACKING",
    "DELIVERED": "DELIVER",
    "CANCELED": "CANCEL",
    "STATUS_CHANGED": "UPDATE_STATUS",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    for flag in ("--bootstrap", "--registry", "--input", "--output", "--sandbox", "--group"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout, seconds")
    args = parser.parse_args()

    # no stateful step, but Quix still makes a state directory (default: ./state in the cwd)
    state_dir = tempfile.TemporaryDirectory(prefix="quix-peer-state-")
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=state_dir.name,
    )
    registry = SchemaRegistryClientConfig(url=args.registry)
    events = app.topic(
        args.input,
        key_deserializer="str",
        value_deserializer=AvroDeserializer(schema_registry_client_config=registry),
    )
    outcomes = app.topic(args.output, key_serializer="str", value_serializer="json")

    session = requests.Session()  # keep-alive connections to the platform
    sandbox = args.sandbox.rstrip("/")

    def call_platform(event: dict[str, Any]) -> dict[str, Any]:
        action = ACTIONS[event["event_type"]]
        url = (
            f"{sandbox}/stores/{event['integration']}/orders/"
            f"{event['platform_order_id']}/actions/{action.lower()}"
        )
        body = {"event_id": str(event["event_id"]), "sequence": event["sequence"], "action": action}
        started = time.monotonic()
        status: int | None = None
        sent = False
        try:
            response = session.post(url, json=body, timeout=args.timeout)
        except requests.RequestException:
            pass  # FAILED, no status: connection refused, reset or timed out
        else:
            status = response.status_code
            # a repeat of a call the platform already took counts as sent
            sent = status == 200 or (status == 409 and "ALREADY_DONE" in response.text)
        return {
            "event_id": body["event_id"],
            "outcome": "SENT" if sent else "FAILED",
            "http_status": status,
            "latency_ms": round((time.monotonic() - started) * 1000, 3),
        }

    sdf = app.dataframe(events)
    sdf = sdf.apply(call_platform)
    sdf = sdf.to_topic(outcomes)
    with state_dir:
        app.run()


if __name__ == "__main__":
    main()
