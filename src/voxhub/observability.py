"""Request ids, structured logs and Prometheus metrics for every request."""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
import re
import secrets
import sys
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxhub.errors import internal_error_response

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# Metrics this process observes in its own work (jobs run, webhooks delivered), apart from the per-app HTTP metrics:
# a Celery worker and an API process each export what they observed.
PROCESS_REGISTRY = CollectorRegistry()

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class StderrHandler(logging.StreamHandler):
    """Writes to the stderr of its making; once that is closed (a test's captured output, a CLI runner's, outlived by
    a server thread), to the stderr of the moment instead of failing. Not simply always the stderr of the moment:
    a Celery worker swaps sys.stderr for a proxy that logs what is written to it, which would loop back here."""

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self.stream, "closed", False):
            self.stream = sys.stderr
        super().emit(record)


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = StderrHandler()
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        formatter: logging.Formatter = JsonFormatter()
        formatter.converter = time.gmtime
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


class Metrics:
    """The HTTP metrics of one app, in their own registry so several apps can live in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "voxhub_http_requests_total",
            "HTTP requests by route template, method and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "voxhub_http_request_duration_seconds",
            "HTTP request latency by route template and method.",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        # The labelled children, looked up once per (method, route, status): `labels()` on every request costs
        # more than the increment itself. The label sets are bounded by the app's routes.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, elapsed_s: float) -> None:
        """Count one request and its latency."""
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
        children[0].inc()
        children[1].observe(elapsed_s)


# Request ids made here: a random prefix per process and a counter, unique without a system call per request.
_REQUEST_ID_PREFIX = secrets.token_hex(8)
_request_numbers = itertools.count(1)


def new_request_id() -> str:
    return f"{_REQUEST_ID_PREFIX}{next(_request_numbers):016x}"  # 32 hex digits, as a uuid4().hex


def _extra(scope: Scope) -> list[tuple[bytes, bytes]]:
    """Headers a dependency set for the answer (`request.state.response_headers`), whatever the endpoint returns
    (an endpoint's own Response would drop those set on FastAPI's `Response` parameter)."""
    extra = (scope.get("state") or {}).get("response_headers")
    return [(name.lower().encode(), value.encode()) for name, value in extra.items()] if extra else []


class RequestContextMiddleware:
    """Gives each request an id (kept from X-Request-ID when sane), logs and measures it. Plain ASGI, for speed."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.log = logging.getLogger("voxhub.http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else new_request_id()
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode()), *_extra(scope)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Answered here, not by Starlette's outermost error middleware, so that the 500 and the log line
            # with the traceback both carry the request id.
            if response_started:
                raise
            logging.getLogger("voxhub.errors").exception("unhandled error on %s %s", scope["method"], scope["path"])
            await internal_error_response(scope["path"])(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.observe(method, template, status, elapsed)
            self.log.info("%s %s %s %.1fms", method, scope["path"], status, elapsed * 1000)
            request_id_var.reset(token)
