"""The sends a crash could repeat: made, or under way, their orders' states not yet written."""

from __future__ import annotations

import asyncio


class AtRisk:
    """The sends one handling made whose order's state is not yet written.

    The first takes one of ``ORDERSYNC_MAX_IN_FLIGHT`` places (later ones, of events
    released from the order's hold, share it: a handling waiting for a second place while
    holding one could wait forever); ``settle`` gives it back once the state is written.
    """

    def __init__(self, places: asyncio.Semaphore, sending: dict[str, str]) -> None:
        self._places = places
        self._sending = sending
        self._ids: list[str] = []
        self._holds = False

    @property
    def holds(self) -> bool:
        """Whether a send of this handling is under way or its state not yet written."""
        return self._holds

    async def add(self, event_id: str, tenant: str) -> None:
        if not self._holds:
            await self._places.acquire()
            self._holds = True
        self._ids.append(event_id)
        self._sending[event_id] = tenant

    def settle(self) -> None:
        for event_id in self._ids:
            self._sending.pop(event_id, None)
        self._ids.clear()
        if self._holds:
            self._places.release()
            self._holds = False
