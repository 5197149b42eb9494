"""``hub worker``: the AMQP intake consumer, the outbox relay and the dispatcher's housekeeping.

One event loop, one pika connection (pika is not thread-safe), two channels: one consumes, one publishes
with confirms. Deliveries are processed in batches: one transaction per batch, then one ``multiple`` ack.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

import asyncpg
import structlog
from asyncpg.exceptions import OperatorInterventionError as OperatorIntervention
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from hub.runtime import Hub
from plumbing.bus.amqp import AmqpChannel, AmqpConnection, ConnectionLost, declare_topology, incoming
from plumbing.bus.base import INTAKE_QUEUE, IncomingMessage, Publisher
from plumbing.bus.outbox import relay_all
from plumbing.db.scope import ALL_PARTNERS, set_scope
from plumbing.heartbeat import beat
from routing.dispatch.rebuild import rebuild_live_state
from routing.intake.contract import ErrorCode, Rejection
from routing.live.base import OUTAGES

log = structlog.get_logger(__name__)


def _is_storage_outage(exc: BaseException) -> bool:
    """A database, Redis or network failure (retry the same batch later), not a problem with the messages.

    Looked for down the chain of causes: the drivers' errors arrive wrapped (SQLAlchemy around asyncpg, a task
    around redis-py), and taking an outage for a bad message would refuse good messages as unprocessable.
    """
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, (OperationalError, InterfaceError, *OUTAGES)):
            return True
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        # a lost connection, or the server shutting down or starting up (57P01–57P03)
        if isinstance(seen, (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OperatorIntervention)):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__ or seen.__context__
    return False


def _backoff(attempt: int, cap: float = 10.0) -> float:
    return min(cap, 0.2 * 2**attempt) * (0.5 + random.random() / 2)


class Worker:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.stop = asyncio.Event()
        self.outbox_dirty = asyncio.Event()
        self.amqp_ready = asyncio.Event()  # set once the topology is declared and consuming has begun
        self.processed = 0

    async def run(self) -> None:
        """Run until ``stop`` is set: intake, relay and housekeeping side by side."""
        log.info("worker.start", embedded=self.hub.settings.embedded)
        # Trusted hub-wide work (batch intake, dispatcher, relay, rebuild): every partner, said explicitly.
        set_scope(ALL_PARTNERS)
        tasks = [asyncio.create_task(self._housekeeping(), name="housekeeping")]
        if self.hub.settings.heartbeat_file is not None:  # liveness (plumbing/heartbeat.py)
            tasks.append(
                asyncio.create_task(
                    beat(self.hub.settings.heartbeat_file, self.hub.settings.heartbeat_seconds),
                    name="heartbeat",
                )
            )
        if self.hub.settings.amqp_url:
            tasks.append(asyncio.create_task(self._amqp_loop(), name="amqp"))
        else:
            assert self.hub.memory_bus is not None
            bus = self.hub.memory_bus
            tasks.append(
                asyncio.create_task(bus.consume(self._handle_embedded, self.hub.settings.intake_batch_size))
            )
            tasks.append(asyncio.create_task(self._relay_loop(bus), name="relay"))
        try:
            await self.stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            # Bounded: a task stuck in I/O must not keep the process from stopping (nothing is lost by
            # leaving: deliveries are acked only after their commit, so unacked ones come back).
            _done, pending = await asyncio.wait(tasks, timeout=5)
            for _ in range(3):
                if not pending:
                    break
                # A task still running after its cancellation swallowed it (a library catching CancelledError):
                # cancel again rather than leave it running in the loop after the worker has "stopped".
                log.warning("worker.stop_slow", tasks=sorted(t.get_name() for t in pending))
                for task in pending:
                    task.cancel()
                _done, pending = await asyncio.wait(pending, timeout=1)
            log.info("worker.stop", processed=self.processed)

    # -- intake ---------------------------------------------------------------------------------------

    async def _process_with_retry(self, batch: list[IncomingMessage]) -> None:
        """Commit the batch; through a database outage keep the messages (unacked) and try again."""
        attempt = 0
        while True:
            try:
                await self.hub.intake.process(batch)
                self.processed += len(batch)
                self.outbox_dirty.set()
                return
            except Exception as exc:
                if not _is_storage_outage(exc) or self.stop.is_set():
                    raise
                attempt += 1
                log.warning("intake.storage_unavailable", error=str(exc)[:200], attempt=attempt)
                await asyncio.sleep(_backoff(attempt))

    async def _handle_embedded(self, batch: list[IncomingMessage]) -> None:
        """The embedded bus's batches: nothing to ack, but a failing batch is halved and its culprit refused alike."""
        await self._settle(None, batch)

    async def _amqp_loop(self) -> None:
        attempt = 0
        url = self.hub.settings.amqp_url
        assert url
        while not self.stop.is_set():
            connection: AmqpConnection | None = None
            relay: asyncio.Task[None] | None = None
            try:
                connection = await AmqpConnection.open(url, name="hub-worker")
                publisher = await connection.channel()
                await publisher.enable_confirms()
                await declare_topology(publisher, delivery_limit=self.hub.settings.intake_delivery_limit)
                consumer = await connection.channel()
                await consumer.call(consumer.raw.basic_qos, prefetch_count=self.hub.settings.amqp_prefetch)
                attempt = 0
                relay = asyncio.create_task(self._relay_loop(publisher))
                log.info("amqp.connected")
                # The relay's channel is watched too: without it the events would silently stop flowing.
                await self._consume(connection, consumer, also_closing=publisher.closed)
            except (TimeoutError, ConnectionLost, OSError) as exc:
                attempt += 1
                log.warning("amqp.disconnected", error=str(exc)[:200], attempt=attempt)
            except Exception as exc:  # pika raises many types; never let the worker die on one
                attempt += 1
                log.exception("amqp.error", error=str(exc)[:200], attempt=attempt)
            finally:
                if relay is not None:
                    relay.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await relay
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close()
            if not self.stop.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_backoff(attempt)):
                        await self.stop.wait()

    async def _consume(
        self,
        connection: AmqpConnection,
        channel: AmqpChannel,
        also_closing: asyncio.Future[BaseException] | None = None,
    ) -> None:
        deliveries: asyncio.Queue[IncomingMessage] = asyncio.Queue()
        channel.raw.basic_consume(
            INTAKE_QUEUE,
            on_message_callback=lambda _ch, method, props, body: deliveries.put_nowait(
                incoming(method, props, body)
            ),
            auto_ack=False,
        )
        settings = self.hub.settings
        stop_wait = asyncio.create_task(self.stop.wait())
        self.amqp_ready.set()
        try:
            while True:
                getter = asyncio.create_task(deliveries.get())
                waits: set[asyncio.Future[Any]] = {getter, stop_wait, connection.lost, channel.closed}
                if also_closing is not None:
                    waits.add(also_closing)
                done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                # Stop wins even when deliveries are waiting: under a backlog there always are, and a stop
                # that only took effect on an empty queue would never take effect (what is not acked here
                # is redelivered once the connection closes).
                if stop_wait in done or getter not in done:
                    getter.cancel()
                    if stop_wait in done:
                        return
                    raise ConnectionLost("broker connection or channel closed")
                batch = [getter.result()]
                loop = asyncio.get_running_loop()
                # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancellation that arrives
                # just as the awaited item does, and this loop runs thousands of times a second under load.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(loop.time() + settings.intake_batch_wait_ms / 1000):
                        while len(batch) < settings.intake_batch_size:
                            batch.append(
                                deliveries.get_nowait() if deliveries.qsize() else await deliveries.get()
                            )
                await self._settle(channel, batch)
        finally:
            self.amqp_ready.clear()
            stop_wait.cancel()

    async def _settle(self, channel: AmqpChannel | None, batch: list[IncomingMessage]) -> None:
        """Ack after commit. A batch that fails for its content is split in halves until the culprit is alone.

        Intake's parser refuses every malformed message it knows with a code (``routing.intake.contract``), so a
        batch failing here is a fault nobody foresaw: halving costs the batch about log2(n) extra transactions
        per culprit, where retrying message by message cost n. The culprit, alone and still failing, is refused
        with ``unprocessable`` (a rejection row, ``enquiry.rejected``, the rejected queue) and acked: never a
        redelivery loop. Only if even that refusal fails is it left to the broker's delivery limit.

        A channel that closed meanwhile (the broker or the network dropped the connection) is not a fault of the
        batch: its delivery tags died with it and the broker redelivers the messages, so ``ConnectionLost``
        goes straight up to reconnect; re-processing the batch would only ack dead tags.

        With no channel (the embedded bus) there is nothing to ack, and no connection to lose.
        """
        try:
            await self._process_with_retry(batch)
            if channel is not None:
                channel.ack(batch[-1].delivery_tag, multiple=True)
            return
        except ConnectionLost:
            raise
        except Exception as exc:
            if self.stop.is_set():
                raise
            log.exception("intake.batch_failed", size=len(batch))
            failure = exc
        if len(batch) == 1:
            await self._refuse(channel, batch[0], failure)
        else:
            await self._settle_apart(channel, batch)

    async def _settle_apart(self, channel: AmqpChannel | None, batch: list[IncomingMessage]) -> None:
        """Settle a failed batch's halves in order (so that a ``multiple`` ack covers only settled tags)."""
        middle = len(batch) // 2
        for half in (batch[:middle], batch[middle:]):
            try:
                await self._process_with_retry(half)
            except ConnectionLost:
                raise
            except Exception as exc:
                if self.stop.is_set():
                    raise
                if len(half) == 1:
                    await self._refuse(channel, half[0], exc)
                else:
                    await self._settle_apart(channel, half)
            else:
                if channel is not None:
                    channel.ack(half[-1].delivery_tag, multiple=True)

    async def _refuse(
        self, channel: AmqpChannel | None, message: IncomingMessage, failure: Exception
    ) -> None:
        """The culprit, alone and still failing: refused with ``unprocessable`` and acked."""
        log.warning(
            "intake.message_failed",
            message_id=message.message_id,
            redelivered=message.redelivered,
            error=type(failure).__name__,
        )
        try:
            await self.hub.intake.refuse(
                [message],
                Rejection(
                    ErrorCode.UNPROCESSABLE,
                    f"the hub could not store this message ({type(failure).__name__}); it is refused, not retried",
                ),
            )
        except ConnectionLost:
            raise
        except Exception:
            # Redelivered up to the queue's delivery limit, then dead-lettered by the broker.
            log.exception("intake.refusal_failed", message_id=message.message_id)
            if channel is not None:
                channel.nack(message.delivery_tag, requeue=True)
            return
        self.outbox_dirty.set()
        if channel is not None:
            channel.ack(message.delivery_tag)

    # -- publishing and housekeeping ------------------------------------------------------------------

    async def _relay_loop(self, publisher: Publisher) -> None:
        """Publish the outbox soon after each commit, and sweep every 100 ms for rows other processes wrote."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.1):  # not wait_for: see _consume
                    await self.outbox_dirty.wait()
            self.outbox_dirty.clear()
            try:
                await relay_all(self.hub.sessionmaker, publisher)
            except ConnectionLost:
                raise
            except Exception as exc:
                log.warning("outbox.relay_failed", error=str(exc)[:200])
                await asyncio.sleep(0.5)

    async def _housekeeping(self) -> None:
        """Expire offers, open rings and gates (routing's clock), and rebuild the live state when lost."""
        rounds = 0
        while True:
            rounds += 1
            try:
                if not await self.hub.live.is_built():
                    await rebuild_live_state(self.hub.dispatcher)
                while await self.hub.dispatcher.expire_offers():
                    pass
                if rounds % 25 == 0:  # every 5 s: offers the live state lost through a failure
                    await self.hub.dispatcher.recover_lost_offers()
                await self.hub.dispatcher.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("housekeeping.failed", error=str(exc)[:200])
            await asyncio.sleep(0.2)
