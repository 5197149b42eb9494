"""The intake poison corpus: messages that once crashed intake (issue 17) and their like, each with the code it
must be refused with on first delivery. Deliveries are kept as the broker would carry them (properties may be
bytes that are not UTF-8), so that one corpus serves the parser, the processor and the real broker."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pika
from hypothesis import strategies as st
from pika.spec import Basic

from plumbing.bus.amqp import incoming
from plumbing.bus.base import IncomingMessage
from routing.intake.contract import ErrorCode


@dataclass(frozen=True)
class Poison:
    name: str
    code: str
    routing_key: str | bytes
    body: bytes
    message_id: str | bytes
    type: str | bytes = "enquiry.v1"
    content_type: str | bytes = "application/json"
    extra: dict[str, Any] = field(default_factory=dict)

    def id_text(self) -> str:
        """The message_id as the hub stores it (bytes that are not UTF-8 read with U+FFFD)."""
        raw = self.message_id
        return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw

    def properties(self) -> pika.BasicProperties:
        return pika.BasicProperties(
            message_id=self.message_id,
            type=self.type,
            content_type=self.content_type,
            delivery_mode=2,
        )

    def delivery(self, tag: int = 1) -> IncomingMessage:
        """The message as the worker's consumer hands it to intake (through the same ``incoming``)."""
        return incoming(
            Basic.Deliver(delivery_tag=tag, routing_key=self.routing_key), self.properties(), self.body
        )


def good_body(tenant: str, **extra: Any) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "channel": "phone",
        "received_at": datetime.now(UTC).isoformat(),
        "service_code": "missed-bin",
        "text": "My bin was not emptied",
        "customer": {"name": "Pat Resident", "phone": "01257 000000"},
        **extra,
    }


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


def corpus(tenant: str) -> list[Poison]:
    """The six kinds of issue 17, its other bad input, and their neighbours; each with a fresh message_id."""
    key = f"{tenant}.phone"

    def mid(name: str) -> str:
        return f"poison-{name}-{uuid.uuid4().hex[:10]}"

    def body(**extra: Any) -> bytes:
        return json.dumps(good_body(tenant, **extra)).encode()

    lone = json.dumps(good_body(tenant)).replace("My bin", "My \\udfff bin").encode()  # "x\udfffy"
    return [
        Poison(
            "json nested 100,000 deep", ErrorCode.TOO_DEEP, key, b"[" * 100_000 + b"]" * 100_000, mid("deep")
        ),
        Poison(
            "attributes nested 400 deep", ErrorCode.TOO_DEEP, key, body(attributes=_nested(400)), mid("attrs")
        ),
        Poison(
            "integer beyond 64 bits", ErrorCode.OUT_OF_RANGE, key, body(attributes={"n": 2**64}), mid("int")
        ),
        Poison(
            "negative integer beyond 64 bits",
            ErrorCode.OUT_OF_RANGE,
            key,
            body(customer={"name": "Pat", "x": -(2**70)}),
            mid("negint"),
        ),
        Poison("lone surrogate", ErrorCode.BAD_ENCODING, key, lone, mid("surrogate")),
        Poison(
            "received_at year 1, extreme offset",
            ErrorCode.OUT_OF_RANGE,
            key,
            body(received_at="0001-01-01T00:00:00+23:59"),
            mid("year1"),
        ),
        Poison(
            "received_at year 9999, extreme offset",
            ErrorCode.OUT_OF_RANGE,
            key,
            body(received_at="9999-12-31T23:59:59-23:59"),
            mid("year9999"),
        ),
        Poison(
            "message_id not UTF-8",
            ErrorCode.BAD_ENCODING,
            key,
            body(),
            f"{mid('id')}-".encode() + b"\xff\xfe",
        ),
        Poison(
            "routing key not UTF-8", ErrorCode.BAD_ENCODING, key.encode() + b"\xc3\x28", body(), mid("key")
        ),
        Poison("type not UTF-8", ErrorCode.BAD_ENCODING, key, body(), mid("type"), type=b"enquiry.v1\xff"),
        Poison(
            "content_type not UTF-8",
            ErrorCode.BAD_ENCODING,
            key,
            body(),
            mid("ctype"),
            content_type=b"application/json\xe9",
        ),
        Poison(
            "received_at a number (not 1970)",
            ErrorCode.INVALID_FIELD,
            key,
            body(received_at=12345),
            mid("epoch"),
        ),
        Poison(
            "5 MB attributes",
            ErrorCode.TOO_LARGE,
            key,
            body(attributes={"blob": "x" * 5_000_000}),
            mid("blob"),
        ),
        Poison(
            "NaN", ErrorCode.OUT_OF_RANGE, key, body().replace(b'"text"', b'"n": NaN, "text"'), mid("nan")
        ),
        Poison(
            "1e999", ErrorCode.OUT_OF_RANGE, key, body().replace(b'"text"', b'"n": 1e999, "text"'), mid("inf")
        ),
        Poison(
            "one huge string", ErrorCode.TOO_LARGE, key, body(attributes={"s": "y" * 20_000}), mid("string")
        ),
        Poison(
            "80 kB of attributes in small strings",
            ErrorCode.TOO_LARGE,
            key,
            body(attributes={f"k{i}": "z" * 1000 for i in range(80)}),
            mid("attrsize"),
        ),
        Poison("17 levels", ErrorCode.TOO_DEEP, key, body(attributes=_nested(16)), mid("seventeen")),
    ]


# -- generated poison: a good body with one bad thing put somewhere in it ---------------------------------------

FIELDS = ("attributes", "customer", "location", "call", "text", "extra")


@st.composite
def generated(draw: st.DrawFn, tenant: str) -> Poison:
    """One generated poison message and the code it must get."""
    kind = draw(st.sampled_from(["deep", "int", "surrogate", "date", "nonfinite", "property"]))
    where = draw(st.sampled_from(FIELDS))
    body = good_body(tenant)
    code: str
    raw: bytes | None = None
    props: dict[str, Any] = {}
    if kind == "deep":
        body[where] = _nested(draw(st.integers(16, 600)))
        code = ErrorCode.TOO_DEEP
    elif kind == "int":
        big = draw(st.integers(min_value=2**63, max_value=2**300))
        body[where] = {"n": draw(st.sampled_from([big, -big - 1]))}
        code = ErrorCode.OUT_OF_RANGE
    elif kind == "surrogate":
        surrogate = f"\\u{draw(st.integers(0xD800, 0xDFFF)):04x}"
        raw = json.dumps({**body, where: {"s": "SURROGATE"}}).replace("SURROGATE", f"a{surrogate}b").encode()
        code = ErrorCode.BAD_ENCODING
    elif kind == "date":
        year = draw(st.one_of(st.integers(1, 1999), st.integers(2101, 9999)))
        offset = draw(st.sampled_from(["+00:00", "+23:59", "-23:59", "Z", "+05:30"]))
        body["received_at"] = f"{year:04d}-06-15T12:00:00{offset}"
        code = ErrorCode.OUT_OF_RANGE
    elif kind == "nonfinite":
        token = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-2e999"]))
        raw = json.dumps({**body, where: {"n": "TOKEN"}}).replace('"TOKEN"', token).encode()
        code = ErrorCode.OUT_OF_RANGE
    else:
        name = draw(st.sampled_from(["message_id", "type", "content_type"]))
        props[name] = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xe9t\xe9", b"\xed\xa0\x80"])) + b"-x"
        code = ErrorCode.BAD_ENCODING
    message_id: str | bytes = props.pop("message_id", f"gen-{uuid.uuid4().hex}")
    if isinstance(message_id, bytes):
        message_id = f"gen-{uuid.uuid4().hex}-".encode() + message_id
    return Poison(
        f"generated {kind}",
        code,
        f"{tenant}.phone",
        raw if raw is not None else json.dumps(body).encode(),
        message_id,
        **props,
    )
