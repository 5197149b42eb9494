"""Real back-office receivers for the tests, on 127.0.0.1 only: a signed-webhook receiver, an Open311 server
that speaks enough GeoReport v2, and an SMTP server (aiosmtpd). Each can go down (its port closed) and come back
on the same port, or answer with an error, and counts what it accepted by idempotency key.

They check signatures with their own few lines of hmac, not the hub's code, so a mistake there cannot hide.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections import Counter
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _HttpReceiver:
    """A threaded HTTP server that can be stopped (connection refused) and started again on its port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.lock = threading.Lock()
        self.fail_with: int | None = None  # answer every request with this status while set
        self.accepted: list[dict[str, Any]] = []  # in arrival order
        self.by_key: Counter[str] = Counter()
        self.refused: list[tuple[int, str]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, bytes]:
        raise NotImplementedError

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    if receiver.fail_with is not None:
                        status, reply = receiver.fail_with, b'{"error": "unavailable"}'
                    else:
                        status, reply = receiver.handle(self, body)
                    if status >= 300:
                        receiver.refused.append((status, reply.decode()))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        for _ in range(50):  # the port was ours a moment ago; it may take a moment to be free again
            try:
                self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError(f"port {self.port} did not come free")
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class WebhookReceiver(_HttpReceiver):
    """Accepts a POST whose X-Hub-Signature matches and whose timestamp is within the replay window."""

    def __init__(self, secret: str, window_seconds: int = 300) -> None:
        super().__init__()
        self.secret, self.window = secret, window_seconds
        self.reject_keys: set[str] = set()  # answer 422 for these idempotency keys (a case it cannot take)

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, bytes]:
        header = handler.headers.get("X-Hub-Signature", "")
        fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
        timestamp = fields.get("t", "")
        expected = hmac.new(self.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        if not timestamp.isdigit() or not hmac.compare_digest(expected, fields.get("v1", "")):
            return 401, b'{"error": "bad signature"}'
        if abs(time.time() - int(timestamp)) > self.window:
            return 401, b'{"error": "outside the replay window"}'
        key = handler.headers.get("Idempotency-Key", "")
        document = json.loads(body)
        if key != document["idempotency_key"]:
            return 400, b'{"error": "key mismatch"}'
        if key in self.reject_keys:
            return 422, b'{"error": "we cannot take this case"}'
        self.by_key[key] += 1
        self.accepted.append(document)
        return 200, json.dumps({"case_id": f"WH-{len(self.accepted)}"}).encode()

    def order_of(self, reference: str) -> list[str]:
        return [d["type"] for d in self.accepted if d["reference"] == reference]


class Open311Receiver(_HttpReceiver):
    """POST /open311/v2/requests.json as a GeoReport v2 server: api_key, service_code, a request id back."""

    def __init__(self, api_key: str, service_codes: set[str], *, tokens: bool = False) -> None:
        super().__init__()
        self.api_key, self.service_codes, self.tokens = api_key, service_codes, tokens

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, bytes]:
        if handler.path != "/open311/v2/requests.json":
            return 404, b'[{"code": 404, "description": "no such method"}]'
        form = parse_qsl(body.decode(), keep_blank_values=True)
        params = dict(form)
        if params.get("api_key") != self.api_key:
            return 403, b'[{"code": 403, "description": "Invalid api_key"}]'
        if params.get("service_code") not in self.service_codes:
            return 400, b'[{"code": 400, "description": "Unknown service_code"}]'
        if not params.get("description"):
            return 400, b'[{"code": 400, "description": "description is required"}]'
        key = handler.headers.get("Idempotency-Key", "")
        self.by_key[key] += 1
        self.accepted.append({"form": form, "key": key})
        number = len(self.accepted)
        if self.tokens:
            return 200, json.dumps([{"token": f"TK-{number}"}]).encode()
        return 200, json.dumps([{"service_request_id": f"SR-{number}", "service_notice": ""}]).encode()


class SmtpReceiver:
    """aiosmtpd on its own thread; ``messages`` in arrival order."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[Message] = []
        self._controller: Controller | None = None

    def start(self) -> None:
        receiver = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                receiver.messages.append(message_from_bytes(envelope.content))
                return "250 OK"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def by_key(self) -> Counter[str]:
        return Counter(str(m["X-Hub-Idempotency-Key"]) for m in self.messages)
