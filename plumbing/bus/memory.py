"""The in-process bus of the embedded hub: an intake queue and event subscribers, no broker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from plumbing.bus.base import EVENTS_EXCHANGE, IncomingMessage, OutgoingMessage


class MemoryBus:
    def __init__(self) -> None:
        self.intake: asyncio.Queue[IncomingMessage] = asyncio.Queue()
        self.rejected: list[OutgoingMessage] = []

    async def publish_many(self, messages: list[OutgoingMessage]) -> None:
        for message in messages:
            if message.exchange != EVENTS_EXCHANGE:  # events have no consumer in the embedded hub
                self.rejected.append(message)
                del self.rejected[:-1000]  # the embedded hub keeps the latest rejections only

    async def consume(self, handler: Callable[[list[IncomingMessage]], object], batch_size: int) -> None:
        """Feed batches from the intake queue to ``handler`` until cancelled."""
        while True:
            batch = [await self.intake.get()]
            while len(batch) < batch_size and not self.intake.empty():
                batch.append(self.intake.get_nowait())
            result = handler(batch)
            if asyncio.iscoroutine(result):
                await result
