"""structlog JSON logging; ids are bound per unit of work through contextvars; no personal data in any line.

Every line, ours and the libraries' (SQLAlchemy, uvicorn, pika), passes ``redact_personal_data`` last before it is
rendered: customer fields by name, values that look like an email address or a phone number wherever they are
(a message, an exception's text), and the parameters and row details a database error quotes (docs/guarantees.md).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "[redacted]"
# Keys whose values are a customer's (or carry one): never logged, whatever they hold.
PERSONAL_KEYS = frozenset(
    {
        "name",
        "full_name",
        "customer_name",
        "phone",
        "telephone",
        "mobile",
        "caller",
        "email",
        "uprn",
        "address",
        "postcode",
        "customer",
        "parameters",
        "params",
    }
)
_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+")
# Ten to thirteen digits, single spaces allowed between them, an optional leading +: UK numbers as people write
# them, and UPRNs. Dates and times (with - or :) and ids with letters are left alone.
_PHONE = re.compile(r"(?<![\w.:/-])\+?\d(?:[ ]?\d){9,12}(?![\w:/-])")
# SQLAlchemy quotes a failed statement's parameters ("[parameters: (...)]", one line: reprs escape newlines) and
# PostgreSQL quotes the row or key ("DETAIL:  Failing row contains (...)", "Key (...)=(...)").
_SQL_PARAMETERS = re.compile(r"\[parameters: [^\n]*")
_DETAIL = re.compile(r"DETAIL: [^\n]*")
# A customer field quoted inside text (JSON or a Python repr in an error message): its value goes.
_QUOTED_FIELD = re.compile(
    r"""(["'](?:name|full_name|phone|telephone|mobile|caller|email|uprn|address|postcode)["']\s*:\s*)"""
    r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""",
    re.IGNORECASE,
)
_MAX_DEPTH = 8


def scrub(text: str) -> str:
    """A string without what looks like a customer's email, phone number or a database error's parameters."""
    if "[parameters: " in text:
        text = _SQL_PARAMETERS.sub("[parameters: [redacted]]", text)
    if "DETAIL: " in text:
        text = _DETAIL.sub("DETAIL: [redacted]", text)
    if ":" in text:
        text = _QUOTED_FIELD.sub(lambda m: f'{m.group(1)}"{REDACTED}"', text)
    if "@" in text:
        text = _EMAIL.sub(REDACTED, text)
    return _PHONE.sub(REDACTED, text)


def _clean(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if depth >= _MAX_DEPTH:
        return value if isinstance(value, int | float | bool | None) else REDACTED
    if isinstance(value, dict):
        return {k: REDACTED if _personal(k) else _clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v, depth + 1) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return scrub(str(value))  # anything else is rendered as text anyway: scrub that text


def _personal(key: object) -> bool:
    return isinstance(key, str) and key.lower() in PERSONAL_KEYS


def redact_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: run after ``format_exc_info`` (so a traceback is text) and before rendering."""
    for key, value in list(event_dict.items()):
        if key.startswith("_"):  # the stdlib bridge's own entries (_record, _from_structlog)
            continue
        event_dict[key] = REDACTED if _personal(key) else _clean(value, 0)
    return event_dict


def configure_logging(level: str = "INFO", *, json: bool = True, stream: TextIO | None = None) -> None:
    """Route both structlog and stdlib logging through one redacting JSON renderer on stderr (or ``stream``)."""
    out = stream or sys.stderr
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json
        # plain tracebacks: a rich one would print every local variable, customers' details among them
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,  # first, so bound ids reach every line
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    last: list[structlog.types.Processor] = [
        structlog.processors.format_exc_info,
        redact_personal_data,
        renderer,
    ]
    structlog.configure(
        processors=[*shared, *last],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(processors=[*shared, *last], foreign_pre_chain=shared)
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for noisy in ("pika", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
