"""Fault injection for ``test_commit_timeout``: in the dispatch worker only, every offset
commit waits forever (as one did after a broker restart) and the timeout is shortened."""

import os
import sys

if "worker" in sys.orig_argv:
    import asyncio

    from faust.transport.drivers import aiokafka as faust_aiokafka

    import streams.faust_internals

    async def _never(self: object, offsets: object) -> bool:
        await asyncio.Event().wait()
        return True

    faust_aiokafka.AIOKafkaConsumerThread._commit = _never  # type: ignore[method-assign]
    streams.faust_internals.ConsumerThread.COMMIT_TIMEOUT_S = float(
        os.environ["ORDERSYNC_TEST_COMMIT_TIMEOUT_S"]
    )
