"""The wire format through the real registry: Confluent framing, golden bytes, bad bytes."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest

import schemas
from streams.codec import Codec
from streams.errors import DecodeError
from streams.settings import Settings

pytestmark = pytest.mark.integration

CONFIG = {
    "integration_id": "loja-1",
    "tenant": "acme",
    "platform": "vtex",
    "platform_version": None,
    "store_url": "https://x.vtexcommercestable.com.br",
    "credentials_ref": "VTEX_KEY",
    "fulfillment_mode": False,
    "send_order_updates": True,
    "send_cancellations": True,
    "send_delivery_info": False,
    "enabled": True,
    "rate_limit_per_s": None,
    "status_map": {"10": "invoiced"},
}
CONFIG_BODY = bytes.fromhex(
    "0c6c6f6a612d310861636d650876746578004668747470733a2f2f782e76746578636f6d6d6572636573"
    "7461626c652e636f6d2e62720210565445585f4b45590001010001000204313010696e766f6963656400"
    # version 2's fields, at their defaults: no ERP NF-e hosts, no pack attachment, issues NF-e
    "000001"
)
AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
EVENT = {
    "event_id": "3f0c2a8e-8f4b-4c1e-9a57-2b8c9d0e1f23",
    "tenant": "acme",
    "integration": "loja-1",
    "erp_order_id": "E1",
    "platform_order_id": "P1",
    "sequence": 3,
    "occurred_at": AT,
    "producer": "erp",
    "event_type": "CANCELED",
    "cancellation": {"reason": "x", "cancelled_at": AT},
}
EVENT_BODY = bytes.fromhex(
    "4833663063326138652d386634622d346331652d396135372d3262386339643065316632330861636d65"
    "0c6c6f6a612d310445310450310680b883cec368066572700800000002027880b883cec36800"
)


def test_golden_bytes_with_confluent_framing(settings: Settings) -> None:
    codec = Codec(settings)
    topic = settings.topic("integrations.config")
    data = codec.encode(topic, schemas.INTEGRATION_CONFIG, CONFIG)
    magic, schema_id = struct.unpack(">bI", data[:5])
    assert magic == 0
    assert data[5:] == CONFIG_BODY
    # the id is the registry's, under the topic's value subject
    registered = codec.registry.get_latest_version(f"{topic}-value")
    assert registered.schema_id == schema_id
    assert codec.decode(data, schemas.INTEGRATION_CONFIG) == CONFIG | {
        "nfe_xml_hosts": [],
        "nfe_attach_to_pack": False,
        "seller_issues_nfe": True,
    }

    event = codec.encode(settings.topic("orders.events"), schemas.ORDER_EVENT, EVENT)
    assert event[5:] == EVENT_BODY
    decoded = codec.decode(event, schemas.ORDER_EVENT)
    assert decoded["cancellation"] == {"reason": "x", "cancelled_at": AT}
    assert decoded["invoice"] is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (None, "NOT_FRAMED"),
        (b"", "NOT_FRAMED"),
        (b'{"json": true}', "NOT_FRAMED"),
        (b"\x00\x7f\xff\xff\xf0" + EVENT_BODY, "UNKNOWN_SCHEMA"),
        (b"\x00" * 1_000_001, "OVERSIZED"),
    ],
)
def test_bad_bytes_are_classified(settings: Settings, data: bytes | None, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        Codec(settings).decode(data, schemas.ORDER_EVENT)
    assert caught.value.reason_code == reason


def test_truncated_body_is_undecodable(settings: Settings) -> None:
    codec = Codec(settings)
    data = codec.encode(settings.topic("orders.events"), schemas.ORDER_EVENT, EVENT)
    with pytest.raises(DecodeError) as caught:
        codec.decode(data[:20], schemas.ORDER_EVENT)
    assert caught.value.reason_code == "UNDECODABLE"


def test_prepare_asks_the_registry_before_the_first_record(settings: Settings) -> None:
    writer = Codec(settings)
    events = settings.topic("orders.events")
    writer.encode(events, schemas.ORDER_EVENT, EVENT)  # a producer registered the schema
    codec = Codec(settings)
    outcomes = settings.topic("orders.outcomes")
    never_written = settings.topic("orders.unwritten")
    codec.prepare(
        writes=[(outcomes, schemas.DISPATCH_OUTCOME)],
        reads=[(events, schemas.ORDER_EVENT), (never_written, schemas.ORDER_EVENT)],
    )
    assert (outcomes, schemas.DISPATCH_OUTCOME) in codec._schema_ids
    # the events' writer schema is cached: decoding asks the registry nothing more
    codec.registry = None  # type: ignore[assignment]
    data = writer.encode(events, schemas.ORDER_EVENT, EVENT)
    assert str(codec.decode(data, schemas.ORDER_EVENT)["event_id"]) == EVENT["event_id"]
