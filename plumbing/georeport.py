"""Render Open311 documents as XML or JSON, the way GeoReport v2 clients expect them.

The two formats differ in shape, not only in syntax: a JSON list is a bare array, while XML wraps it in a
root element with one child per item (``<services><service>…``). The names of those children follow the
standard and mySociety's extension; they are what FixMyStreet and other clients parse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

XML_MEDIA_TYPE = "text/xml; charset=utf-8"
JSON_MEDIA_TYPE = "application/json; charset=utf-8"
FORMATS = ("xml", "json")

# The element each item of a list is wrapped in, by the list's own element name.
ITEM_TAGS = {
    "services": "service",
    "attributes": "attribute",
    "values": "value",
    "service_requests": "request",
    "service_request_updates": "request_update",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "keys": "key",
}


# Characters XML 1.0 cannot carry at all; text stored from other channels may hold them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


_URL_UNSAFE = re.compile(r"""[\s<>"'`{}|\\^\x00-\x1f\x7f]""")


def safe_http_url(value: str, limit: int = 2000) -> bool:
    """An absolute http(s) address with a host and nothing that could be markup or break out of an attribute."""
    if len(value) > limit or _URL_UNSAFE.search(value):
        return False
    scheme, _, rest = value.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return scheme.lower() in ("http", "https") and bool(host) and "@" not in host


def w3c(moment: datetime | None) -> str | None:
    """UTC, to the second, with its zone: ``2026-11-22T10:04:05Z``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return _NOT_XML.sub("", str(value))


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _fill(ET.SubElement(element, key), item)
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
        tag = ITEM_TAGS.get(element.tag, "item")
        for item in value:
            _fill(ET.SubElement(element, tag), item)
    else:
        element.text = _text(value)


def to_xml(root: str, document: Any) -> bytes:
    element = ET.Element(root)
    _fill(element, document)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(
        element, encoding="utf-8", xml_declaration=False
    )


def to_json(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def render(fmt: str, root: str, document: Any) -> tuple[bytes, str]:
    """The body and media type of ``document`` in ``fmt``; ``root`` names the XML root element."""
    if fmt == "json":
        return to_json(document), JSON_MEDIA_TYPE
    return to_xml(root, document), XML_MEDIA_TYPE


def errors_document(status: int, descriptions: Sequence[str]) -> list[dict[str, Any]]:
    return [{"code": status, "description": d} for d in descriptions]
