"""Log records: what a library logs as an error but retries is not one."""

from __future__ import annotations

import logging
import socketserver
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest


def test_a_coordinator_lookup_aiokafka_retries_is_not_an_error() -> None:
    from aiokafka import errors

    from streams.logs import RetriedLookups

    def record(error: Exception) -> logging.LogRecord:
        return logging.LogRecord(
            RetriedLookups.LOGGER, logging.ERROR, __file__, 1,
            "Group Coordinator Request failed: %s", (error,), None,
        )  # fmt: skip

    retried = record(errors.GroupCoordinatorNotAvailableError())
    assert RetriedLookups().filter(retried) is False  # at the default level: not written
    assert retried.levelno == logging.DEBUG
    given_up = record(errors.GroupAuthorizationFailedError())
    assert RetriedLookups().filter(given_up) is True and given_up.levelno == logging.ERROR


def test_a_warning_librdkafka_retries_past_while_the_broker_warms_up_is_debug() -> None:
    from streams.logs import WarmingBroker

    def record(message: str, level: int = logging.WARNING) -> logging.LogRecord:
        # confluent-kafka's own format: facility, client name, librdkafka's message
        return logging.LogRecord(
            "librdkafka", level, __file__, 1, "%s [%s] %s", ("GETPID", "rdkafka#producer-1",
            "[thrd:main]: Failed to acquire idempotence PID from broker 127.0.0.1:9092/1: "
            f"Broker: {message}"), None,
        )  # fmt: skip

    warming = record("Coordinator load in progress: retrying")
    assert WarmingBroker().filter(warming) is False and warming.levelno == logging.DEBUG
    refused = record("Cluster authorization failed")
    assert WarmingBroker().filter(refused) is True and refused.levelno == logging.WARNING


def test_librdkafka_writes_through_the_process_logging_not_stderr(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    from confluent_kafka import Producer

    from streams import topics
    from streams.settings import Settings

    # nothing listens on port 9: librdkafka reports the refused connection
    producer = Producer(
        topics.kafka_config(Settings.from_env({"ORDERSYNC_KAFKA_BOOTSTRAP": "127.0.0.1:9"}))
    )
    with caplog.at_level(logging.DEBUG, logger="librdkafka"):
        deadline = time.monotonic() + 10
        while not caplog.records and time.monotonic() < deadline:
            producer.poll(0.1)
    assert any("127.0.0.1:9" in r.getMessage() for r in caplog.records), caplog.records
    assert all(r.name == "librdkafka" for r in caplog.records)
    assert "rdkafka" not in capfd.readouterr().err


# -- at the commands' default level the libraries' own lines are left out ---------------
@contextmanager
def logging_like_the_commands(level: int) -> Iterator[list[logging.LogRecord]]:
    """The root logger at ``level`` and the libraries quieted, as ``ordersync`` sets them
    up; yields every record a handler on the root receives meanwhile."""
    from streams.logs import CHATTY, quiet_libraries

    root = logging.getLogger()
    saved = root.level, {name: logging.getLogger(name).level for name in CHATTY}
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    root.addHandler(handler)
    root.setLevel(level)
    quiet_libraries()
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        for name, name_level in saved[1].items():
            logging.getLogger(name).setLevel(name_level)


@contextmanager
def registry() -> Iterator[tuple[str, list[str]]]:
    """A schema registry with no subjects, on a free port: its URL and the paths asked."""
    asked: list[str] = []

    class Subjects(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            body = b"[]"
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Subjects)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", asked
    finally:
        server.shutdown()
        server.server_close()


def test_the_registry_clients_requests_are_left_out_but_at_debug() -> None:
    from streams.codec import Codec
    from streams.logs import CHATTY
    from streams.settings import Settings

    with registry() as (url, asked):
        settings = Settings.from_env({"ORDERSYNC_REGISTRY_URL": url})
        with logging_like_the_commands(logging.INFO) as at_info:
            assert Codec(settings).registry.get_subjects() == []
        with logging_like_the_commands(logging.DEBUG) as at_debug:
            assert Codec(settings).registry.get_subjects() == []
    # each run really asked the registry (a client keeps what it was answered)
    assert len(asked) == 2 and all(path.startswith("/subjects") for path in asked), asked
    assert at_info == [], [(r.name, r.getMessage()) for r in at_info]
    # the client logs each request under a name the commands quiet at their default level
    requests = [r for r in at_debug if f"{url}/subjects" in r.getMessage()]
    assert requests and {r.name for r in requests} <= set(CHATTY), at_debug


class WarmingKafka(socketserver.ThreadingTCPServer):
    """A broker still loading its coordinators: it answers ApiVersions and Metadata (itself
    the only broker, no topics) and every InitProducerId with COORDINATOR_LOAD_IN_PROGRESS,
    as a fresh Kafka does for a while. Older, non-flexible versions only, but ApiVersions."""

    daemon_threads = True
    APIS: ClassVar = {
        0: (0, 7),
        3: (0, 4),
        18: (0, 3),
        22: (0, 1),
    }  # Produce, Metadata, ApiVersions, PID
    COORDINATOR_LOAD_IN_PROGRESS = 14

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _KafkaConnection)
        self.port: int = self.server_address[1]
        self.pid_requests = 0

    def answer(self, key: int, version: int) -> bytes | None:
        i16, i32 = struct.Struct(">h").pack, struct.Struct(">i").pack
        if key == 18 and version >= 3:  # flexible: compact array, tagged fields
            apis = b"".join(i16(k) + i16(lo) + i16(hi) + b"\0" for k, (lo, hi) in self.APIS.items())
            return i16(0) + bytes([len(self.APIS) + 1]) + apis + i32(0) + b"\0"
        if key == 18:
            apis = b"".join(i16(k) + i16(lo) + i16(hi) for k, (lo, hi) in self.APIS.items())
            return i16(0) + i32(len(self.APIS)) + apis + (i32(0) if version >= 1 else b"")
        if key == 3:
            host = b"127.0.0.1"
            broker = i32(1) + i16(len(host)) + host + i32(self.port)
            return (
                (i32(0) if version >= 3 else b"")  # throttle time
                + i32(1) + broker + (i16(-1) if version >= 1 else b"")  # rack
                + (i16(-1) if version >= 2 else b"")  # cluster id
                + (i32(1) if version >= 1 else b"")  # controller
                + i32(0)  # topics
            )  # fmt: skip
        if key == 22:
            self.pid_requests += 1
            return i32(0) + i16(self.COORDINATOR_LOAD_IN_PROGRESS) + struct.pack(">qh", -1, -1)
        return None


class _KafkaConnection(socketserver.BaseRequestHandler):
    server: WarmingKafka

    def handle(self) -> None:
        pending = b""
        while True:
            while len(pending) < 4 or len(pending) < 4 + int.from_bytes(pending[:4], "big"):
                chunk = self.request.recv(65536)
                if not chunk:
                    return
                pending += chunk
            size = int.from_bytes(pending[:4], "big")
            request, pending = pending[4 : 4 + size], pending[4 + size :]
            key, version, correlation = struct.unpack(">hhi", request[:8])
            body = self.server.answer(key, version)
            if body is not None:
                answer = struct.pack(">i", correlation) + body
                self.request.sendall(struct.pack(">i", len(answer)) + answer)


def test_librdkafkas_retries_while_the_broker_warms_up_are_left_out_but_at_debug() -> None:
    from confluent_kafka import Producer

    from streams import topics
    from streams.logs import LIBRDKAFKA
    from streams.settings import Settings

    broker = WarmingKafka()
    threading.Thread(target=broker.serve_forever, daemon=True).start()
    settings = Settings.from_env({"ORDERSYNC_KAFKA_BOOTSTRAP": f"127.0.0.1:{broker.port}"})
    # what librdkafka hands the logger, before the process's filter decides on it
    said: list[str] = []

    class Probe(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            said.append(record.getMessage())
            return True

    def run(level: int) -> list[logging.LogRecord]:
        said.clear()
        with logging_like_the_commands(level) as records:
            producer = Producer(topics.kafka_config(settings, {"enable.idempotence": True}))
            deadline = time.monotonic() + 20
            while sum("retrying" in m for m in said) < 2 and time.monotonic() < deadline:
                producer.poll(0.1)
            del producer
        return records

    LIBRDKAFKA.filters.insert(0, Probe())
    try:
        at_info = run(logging.INFO)
        retried_at_info = [m for m in said if "idempotence PID" in m and m.endswith("retrying")]
        at_debug = run(logging.DEBUG)
    finally:
        del LIBRDKAFKA.filters[0]
        broker.shutdown()
        broker.server_close()
    # librdkafka did log, under the logger the configuration names, each PID it retried
    assert broker.pid_requests >= 4 and len(retried_at_info) >= 2, said
    assert "Coordinator load in progress" in retried_at_info[0]
    assert [r for r in at_info if r.name == "librdkafka"] == [], at_info
    shown = [r for r in at_debug if r.name == "librdkafka" and "idempotence PID" in r.getMessage()]
    assert len(shown) >= 2 and {r.levelno for r in shown} == {logging.DEBUG}
