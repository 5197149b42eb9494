"""RabbitMQ through pika's asyncio adapter: awaitable channel operations and streamed publisher confirms.

pika is callback-based and not thread-safe, so everything here runs on the one event loop. It does not
reconnect by itself: the caller opens a new ``AmqpConnection`` after a loss (see ``routing.intake.worker``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from typing import Any

import pika
import pika.exceptions
from pika.adapters.asyncio_connection import AsyncioConnection
from pika.channel import Channel
from pika.spec import Basic, BasicProperties

from plumbing.bus.base import (
    EVENTS_EXCHANGE,
    INTAKE_EXCHANGE,
    INTAKE_QUEUE,
    REJECTED_EXCHANGE,
    REJECTED_QUEUE,
    IncomingMessage,
    OutgoingMessage,
    PublishError,
)


def _send_frames_together() -> None:
    """Make pika send what is waiting in one ``send()``, not one per frame.

    pika buffers each AMQP frame separately and sends them one system call each: three per published
    message (method, header, body), which made socket writes a quarter of the worker's time. Joining the
    waiting frames before pika's own send loop keeps its behaviour (partial sends, errors) unchanged.
    """
    from pika.adapters.utils.io_services_utils import _AsyncPlaintextTransport

    send_waiting = _AsyncPlaintextTransport._produce
    if getattr(send_waiting, "joins_frames", False):
        return

    def produce(self: Any) -> None:
        waiting = self._tx_buffers
        if len(waiting) > 1:
            joined = b"".join(waiting)
            waiting.clear()
            waiting.append(joined)
        send_waiting(self)

    produce.joins_frames = True  # type: ignore[attr-defined]
    _AsyncPlaintextTransport._produce = produce


_send_frames_together()


class ConnectionLost(Exception):
    """The broker connection or channel closed under us."""


def _settle(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def connection_parameters(url: str, *, name: str) -> pika.URLParameters:
    params = pika.URLParameters(url)
    params.heartbeat = 30
    params.blocked_connection_timeout = 60
    params.connection_attempts = 1
    params.client_properties = {"connection_name": name}
    return params


class AmqpChannel:
    """One pika channel whose operations are awaitable; publishes are confirmed as a stream."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._loop = asyncio.get_running_loop()
        self._waiting: set[asyncio.Future[Any]] = set()
        self._confirms: dict[int, asyncio.Future[None]] = {}
        self._returned: set[str] = set()
        self._published = 0
        self.closed: asyncio.Future[BaseException] = self._loop.create_future()
        channel.add_on_close_callback(self._on_close)
        channel.add_on_return_callback(self._on_return)

    @property
    def raw(self) -> Channel:
        return self._channel

    def _on_close(self, _channel: Channel, reason: BaseException) -> None:
        error = ConnectionLost(f"channel closed: {reason}")
        for future in [*self._waiting, *self._confirms.values()]:
            if not future.done():
                future.set_exception(error)
        self._waiting.clear()
        self._confirms.clear()
        if not self.closed.done():
            self.closed.set_result(reason)

    def _future(self) -> asyncio.Future[Any]:
        if self.closed.done():
            raise ConnectionLost("channel is closed")
        future: asyncio.Future[Any] = self._loop.create_future()
        self._waiting.add(future)
        future.add_done_callback(self._waiting.discard)
        return future

    async def call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a pika channel method that takes ``callback=`` and await its reply frame."""
        future = self._future()
        method(*args, callback=lambda frame: _settle(future, frame), **kwargs)
        return await future

    def ack(self, delivery_tag: int, *, multiple: bool = False) -> None:
        """Acknowledge on this channel; a closed channel is a lost connection (its tags died with it)."""
        self._settle_delivery(self._channel.basic_ack, delivery_tag, multiple=multiple)

    def nack(self, delivery_tag: int, *, requeue: bool = True) -> None:
        self._settle_delivery(self._channel.basic_nack, delivery_tag, requeue=requeue)

    def _settle_delivery(self, method: Callable[..., Any], delivery_tag: int, **kwargs: Any) -> None:
        # A delivery tag is only valid on the channel that delivered it: once that channel is closed the
        # broker has already requeued the delivery, so there is nothing to settle and nothing to retry here.
        if self.closed.done() or not self._channel.is_open:
            raise ConnectionLost("channel closed before the ack: its deliveries are redelivered")
        try:
            method(delivery_tag, **kwargs)
        except (pika.exceptions.ChannelWrongStateError, pika.exceptions.ConnectionWrongStateError) as exc:
            raise ConnectionLost(f"channel closed while acking: {exc}") from exc

    async def enable_confirms(self) -> None:
        future = self._future()
        self._channel.confirm_delivery(self._on_confirm, callback=lambda frame: _settle(future, frame))
        await future

    def _on_return(self, _ch: Channel, _method: Basic.Return, props: BasicProperties, _body: bytes) -> None:
        # A return always arrives before the confirm of the same message on this channel.
        if props.message_id:
            self._returned.add(props.message_id)

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        ok = isinstance(method, Basic.Ack)
        if method.multiple:
            # Tags are kept in the order published: take from the front (not a scan of every pending one).
            tags = list(itertools.takewhile(lambda tag: tag <= method.delivery_tag, self._confirms))
        else:
            tags = [method.delivery_tag]
        for tag in tags:
            future = self._confirms.pop(tag, None)
            if future is not None and not future.done():
                if ok:
                    future.set_result(None)
                else:
                    future.set_exception(PublishError(f"broker refused publish (nack, tag {tag})"))

    def publish(self, message: OutgoingMessage) -> asyncio.Future[None]:
        """Publish with ``mandatory``; the future resolves on the broker's confirm."""
        if self.closed.done():
            raise ConnectionLost("channel is closed")
        properties = BasicProperties(
            content_type=message.content_type,
            delivery_mode=2,
            message_id=message.message_id,
            type=message.type,
            headers=message.headers or None,
        )
        self._channel.basic_publish(
            message.exchange, message.routing_key, message.body, properties=properties, mandatory=True
        )
        self._published += 1
        future: asyncio.Future[None] = self._loop.create_future()
        self._confirms[self._published] = future
        return future

    async def publish_many(self, messages: list[OutgoingMessage]) -> None:
        """Publish all, then wait for all confirms (pipelined, not one round trip each)."""
        futures = [self.publish(m) for m in messages]
        await asyncio.gather(*futures)
        returned = [m.message_id for m in messages if m.message_id in self._returned]
        if returned:
            self._returned.difference_update(returned)
            raise PublishError(f"unroutable: {len(returned)} message(s), first {returned[0]}")

    async def close(self) -> None:
        if self._channel.is_open:
            self._channel.close()


class AmqpConnection:
    """An open connection; ``lost`` resolves when it closes for any reason."""

    def __init__(self, connection: AsyncioConnection, lost: asyncio.Future[BaseException]) -> None:
        self._connection = connection
        self.lost = lost

    @classmethod
    async def open(cls, url: str, *, name: str = "hub") -> AmqpConnection:
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[None] = loop.create_future()
        lost: asyncio.Future[BaseException] = loop.create_future()

        def on_open(_conn: Any) -> None:
            if not opened.done():
                opened.set_result(None)

        def on_open_error(_conn: Any, error: BaseException | str) -> None:
            if not opened.done():
                opened.set_exception(ConnectionLost(f"cannot connect to the broker: {error}"))

        def on_close(_conn: Any, reason: BaseException) -> None:
            if not lost.done():
                lost.set_result(reason)
            if not opened.done():
                opened.set_exception(ConnectionLost(f"connection closed while opening: {reason}"))

        connection = AsyncioConnection(
            connection_parameters(url, name=name),
            on_open_callback=on_open,
            on_open_error_callback=on_open_error,
            on_close_callback=on_close,
            custom_ioloop=loop,
        )
        await opened
        return cls(connection, lost)

    async def channel(self) -> AmqpChannel:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Channel] = loop.create_future()
        self._connection.channel(on_open_callback=lambda ch: _settle(future, ch))
        done, _ = await asyncio.wait({future, self.lost}, return_when=asyncio.FIRST_COMPLETED)
        if future not in done:
            raise ConnectionLost("connection lost while opening a channel")
        return AmqpChannel(future.result())

    async def close(self) -> None:
        if self._connection.is_open or self._connection.is_opening:
            self._connection.close()
        if not self.lost.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.lost), timeout=5)


REJECTED_QUEUE_ARGUMENTS: dict[str, Any] = {"x-queue-type": "quorum"}
# Every event is also kept a week in a stream: events are published `mandatory`, so with no partner listening
# they would be unroutable and the outbox would stall retrying them; the log also lets a partner catch up.
EVENTS_LOG_QUEUE = "hub.events.log"
EVENTS_LOG_ARGUMENTS: dict[str, Any] = {"x-queue-type": "stream", "x-max-age": "7D"}


def intake_queue_arguments(delivery_limit: int = 5) -> dict[str, Any]:
    """The intake queue's arguments; ``deploy/rabbitmq/definitions.json`` declares the same (a test checks)."""
    return {
        "x-queue-type": "quorum",
        # Poison messages (a crash on every try) leave after this many deliveries, not forever.
        "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": REJECTED_EXCHANGE,
        # At-least-once dead-lettering needs reject-publish overflow (RabbitMQ docs).
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


async def declare_topology(channel: AmqpChannel, *, delivery_limit: int = 5) -> None:
    """Exchanges and quorum queues of contract v1 (idempotent; run by every worker at start)."""
    raw = channel.raw
    await channel.call(raw.exchange_declare, exchange=INTAKE_EXCHANGE, exchange_type="topic", durable=True)
    await channel.call(raw.exchange_declare, exchange=EVENTS_EXCHANGE, exchange_type="topic", durable=True)
    await channel.call(raw.exchange_declare, exchange=REJECTED_EXCHANGE, exchange_type="fanout", durable=True)
    await channel.call(
        raw.queue_declare, queue=REJECTED_QUEUE, durable=True, arguments=dict(REJECTED_QUEUE_ARGUMENTS)
    )
    await channel.call(raw.queue_bind, queue=REJECTED_QUEUE, exchange=REJECTED_EXCHANGE, routing_key="#")
    await channel.call(
        raw.queue_declare, queue=INTAKE_QUEUE, durable=True, arguments=intake_queue_arguments(delivery_limit)
    )
    # '#' and not '*.*': a malformed routing key must reach us to be rejected, not vanish.
    await channel.call(raw.queue_bind, queue=INTAKE_QUEUE, exchange=INTAKE_EXCHANGE, routing_key="#")
    await channel.call(
        raw.queue_declare, queue=EVENTS_LOG_QUEUE, durable=True, arguments=dict(EVENTS_LOG_ARGUMENTS)
    )
    await channel.call(raw.queue_bind, queue=EVENTS_LOG_QUEUE, exchange=EVENTS_EXCHANGE, routing_key="#")


def _text(name: str, value: str | bytes | None, undecodable: list[str]) -> str | None:
    """pika hands a short string over as bytes when it is not UTF-8: keep it readable, and note it."""
    if isinstance(value, bytes):
        undecodable.append(name)
        return value.decode("utf-8", errors="replace")
    return value


def incoming(method: Basic.Deliver, props: BasicProperties, body: bytes) -> IncomingMessage:
    """One delivery as intake reads it; properties that were not UTF-8 are named in ``undecodable``."""
    bad: list[str] = []
    return IncomingMessage(
        routing_key=_text("routing_key", method.routing_key, bad) or "",
        body=body,
        message_id=_text("message_id", props.message_id, bad),
        content_type=_text("content_type", props.content_type, bad),
        type=_text("type", props.type, bad),
        user_id=_text("user_id", props.user_id, bad),
        correlation_id=_text("correlation_id", props.correlation_id, bad),
        reply_to=_text("reply_to", props.reply_to, bad),
        undecodable=tuple(bad),
        headers=dict(props.headers or {}),
        redelivered=bool(method.redelivered),
        delivery_tag=method.delivery_tag,
    )
