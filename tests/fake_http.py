"""A fake third-party HTTP API's plumbing: a real server on a free loopback port, in a daemon thread, that records
every request and answers through its subclass's `respond`."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl

Reply = tuple[int, str, bytes, dict[str, str]]  # status, content type ("" for none), body, extra headers


@dataclass(frozen=True)
class RecordedRequest:
    """One request a fake received, as it arrived."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def form(self) -> dict[str, Any]:
        """A form body in bracket notation (Stripe's), nested back: `metadata[plan]=pro` -> {"metadata": {"plan":
        "pro"}}, and `line_items[0][quantity]=1` -> {"line_items": [{"quantity": "1"}]}."""
        return decode_bracket_form(self.body.decode())


class LocalHTTPServer:
    """Serves `methods`; `respond` turns each recorded request into the answer. An exception in `respond` hangs up."""

    thread_name = "fake-http"
    methods: tuple[str, ...] = ("GET", "POST", "PATCH", "DELETE")

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def respond(self, request: RecordedRequest) -> Reply:
        raise NotImplementedError

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                request = RecordedRequest(
                    self.command, self.path, {key.lower(): value for key, value in self.headers.items()}, body
                )
                with fake._lock:
                    fake.requests.append(request)
                status, content_type, data, headers = fake.respond(request)
                self.send_response(status)
                if content_type:
                    self.send_header("content-type", content_type)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        for method in self.methods:
            setattr(Handler, f"do_{method}", Handler._serve)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def json_reply(status: int, body: Any) -> Reply:
    return status, "application/json", json.dumps(body).encode(), {}


def decode_bracket_form(body: str) -> dict[str, Any]:
    """Bracket notation back into nested dicts, with objects keyed 0, 1, … turned into lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        name, _, rest = key.partition("[")  # "line_items", "0][price_data][currency]"
        path = [name, *(part.rstrip("]") for part in rest.split("["))] if rest else [name]
        node = root
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(key.isdigit() for key in node):
        return [_lists(node[key]) for key in sorted(node, key=int)]
    return {key: _lists(value) for key, value in node.items()}
