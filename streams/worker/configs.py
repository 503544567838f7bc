"""Every integration config, read in full from the compacted topic and kept current.

Each dispatch worker reads all of ``integrations.config`` (one partition) from the
beginning (``streams.compacted``), so a change applied by ``integrations apply``
reaches every worker within milliseconds and without a restart. ``ready`` is set once
the reader has caught up with what the topic held at start-up; the route agent waits
for it so no event is judged against a half-loaded view.

(A Faust GlobalTable with this topic as its changelog was tried first: in
faust-streaming 0.15.3 it stalls the group's assignment when the changelog name is
not the table's default, and it stops applying records written by another producer
once recovery ends.)
"""

from __future__ import annotations

import asyncio
import logging

import schemas
from streams import compacted, topics
from streams.codec import Codec
from streams.errors import DecodeError
from streams.records import IntegrationConfig
from streams.settings import Settings

log = logging.getLogger(__name__)


class IntegrationConfigs:
    def __init__(self, settings: Settings, codec: Codec) -> None:
        self.settings = settings
        self.codec = codec
        self.topic = settings.topic(topics.CONFIG)
        self._configs: dict[str, IntegrationConfig] = {}
        self.ready = asyncio.Event()
        self.records_read = 0

    def get(self, integration_id: str) -> IntegrationConfig | None:
        return self._configs.get(integration_id)

    def tenant_of(self, integration_id: str) -> str:
        config = self._configs.get(integration_id)
        return config.tenant if config is not None else ""

    def all(self) -> list[IntegrationConfig]:
        return sorted(self._configs.values(), key=lambda c: c.integration_id)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        self.records_read += 1
        if key is None:
            log.warning("ignoring a config record without a key on %s", self.topic)
            return
        integration_id = key.decode("utf-8", errors="replace")
        if value is None:
            self._configs.pop(integration_id, None)
            log.info("integration %s removed", integration_id)
            return
        try:
            config = IntegrationConfig.from_avro(
                self.codec.decode(value, schemas.INTEGRATION_CONFIG)
            )
        except DecodeError as exc:
            # keep the last good config rather than guessing; the error is in the log
            log.error("integration %s: undecodable config ignored: %s", integration_id, exc)
            return
        self._configs[integration_id] = config
        log.info("integration %s applied", integration_id)

    async def run(self) -> None:
        await compacted.follow(self.settings.kafka_bootstrap, self.topic, self.apply, self._loaded)

    def _loaded(self) -> None:
        log.info("integration configs loaded: %d", len(self._configs))
        self.ready.set()
