"""Traces and metrics through OpenTelemetry (OTLP over HTTP), off unless `VOXHUB_OTEL_ENDPOINT` is set.

Off, nothing here imports OpenTelemetry and every helper is a no-op that returns at once: the request path, the job
runner and the engines run exactly as before. On, one tracer and one meter per process export to
`{endpoint}/v1/traces` and `{endpoint}/v1/metrics` in batches, so Datadog, New Relic, Grafana or any OpenTelemetry
collector take them as they are:

- a server span per request (`GET /api/v1/workspaces/{workspace_id}/files`: method, route template, status), the
  caller's W3C `traceparent` honoured;
- a span per job run (`job transcribe`), a child span per stage of it (`stage transcribing`), and a span per engine
  call inside the stage (`engine asr.transcribe`: model, duration), each with the job and workspace ids;
- `http.server.request.duration` (histogram) and `voxhub.jobs.finished` (counter by job type and status).

Our own thin ASGI middleware and context managers rather than the contrib instrumentation packages: the route
template, workspace id and job stages are ours to name, the spans cost nothing when telemetry is off, and the
OpenTelemetry dependencies stay at the SDK and its exporter."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxhub import __version__
from voxhub.config import Settings

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import Counter, Histogram
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span as OtelSpan
    from opentelemetry.trace import Tracer

SERVICE_NAME = "voxhub"
E = TypeVar("E")


@dataclass
class _RunningJob:
    """The job a span belongs to, for the stage and engine spans made while it runs, and its open stage span.
    Held in a context variable that the pipeline's thread copies: both threads see the same object."""

    attributes: dict[str, str]
    stage: tuple[OtelSpan, object, int] | None = None  # the span, its context token, the thread that attached it


_running_job: contextvars.ContextVar[_RunningJob | None] = contextvars.ContextVar("otel_job", default=None)


class Span(Protocol):
    def set_attribute(self, key: str, value: Any) -> Any: ...


class _NoSpan:
    """What the helpers yield while telemetry is off."""

    def set_attribute(self, key: str, value: Any) -> None:
        return None


NO_SPAN = _NoSpan()


class _Telemetry:
    """The process's tracer and meter, and the instruments voxhub records."""

    def __init__(self, settings: Settings, *, process: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        endpoint = (settings.otel_endpoint or "").rstrip("/")
        # Resource.create also merges OTEL_RESOURCE_ATTRIBUTES (deployment.environment, host names) from the
        # environment, as every OpenTelemetry SDK does.
        resource = Resource.create(
            {"service.name": SERVICE_NAME, "service.version": __version__, "voxhub.process": process}
        )
        self.endpoint = endpoint
        self.tracer_provider: TracerProvider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
        reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics"))
        self.meter_provider: MeterProvider = MeterProvider(resource=resource, metric_readers=[reader])
        self.tracer: Tracer = self.tracer_provider.get_tracer("voxhub", __version__)
        meter = self.meter_provider.get_meter("voxhub", __version__)
        self.request_duration: Histogram = meter.create_histogram(
            "http.server.request.duration", unit="s", description="Duration of HTTP requests."
        )
        self.jobs_finished: Counter = meter.create_counter(
            "voxhub.jobs.finished", unit="{job}", description="Job runs that ended, by job type and status."
        )
        self.engine_duration: Histogram = meter.create_histogram(
            "voxhub.engine.duration", unit="s", description="Duration of speech and language engine calls."
        )

    def flush(self, timeout_ms: int) -> bool:
        spans = self.tracer_provider.force_flush(timeout_ms)
        metrics = self.meter_provider.force_flush(timeout_ms)
        return bool(spans and metrics)

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


_lock = threading.Lock()
_current: _Telemetry | None = None


def configure(settings: Settings, *, process: str) -> bool:
    """Start exporting (once per process and endpoint) when `settings.otel_endpoint` is set; True when on.
    An endpoint left unset leaves telemetry as it is: off, unless another part of this process turned it on."""
    global _current
    if not settings.otel_endpoint:
        return _current is not None
    with _lock:
        wanted = settings.otel_endpoint.rstrip("/")
        if _current is not None and _current.endpoint == wanted:
            return True
        if _current is not None:
            _current.shutdown()
        _current = _Telemetry(settings, process=process)
    return True


def enabled() -> bool:
    return _current is not None


def flush(timeout_ms: int = 10_000) -> bool:
    """Export every span and metric recorded so far (tests, and a worker before it exits)."""
    current = _current
    return current.flush(timeout_ms) if current is not None else True


def shutdown() -> None:
    """Flush and stop exporting; telemetry is off afterwards."""
    global _current
    with _lock:
        if _current is not None:
            _current.shutdown()
        _current = None


# ---- spans ----


def _with_job(attributes: dict[str, Any]) -> dict[str, Any]:
    job = _running_job.get()
    return {**job.attributes, **attributes} if job else attributes


@contextmanager
def span(name: str, attributes: dict[str, Any] | None = None) -> Iterator[Span]:
    """A span around the block, a child of the current one, carrying the running job's ids; an exception the block
    raises marks it as an error. Yields a no-op while telemetry is off."""
    current = _current
    if current is None:
        yield NO_SPAN
        return
    with current.tracer.start_as_current_span(name, attributes=_with_job(attributes or {})) as opened:
        yield opened


@contextmanager
def job_span(*, job_id: str, workspace_id: str, job_type: str, attempt: int) -> Iterator[Span]:
    """The span of one job run; the stage and engine spans made inside it (in any thread that copies this context)
    are its children and carry its job and workspace ids."""
    current = _current
    if current is None:
        yield NO_SPAN
        return
    job = _RunningJob({"voxhub.job.id": job_id, "voxhub.workspace.id": workspace_id, "voxhub.job.type": job_type})
    token = _running_job.set(job)
    try:
        attributes: dict[str, Any] = {**job.attributes, "voxhub.job.attempt": attempt}
        with current.tracer.start_as_current_span(f"job {job_type}", attributes=attributes) as opened:
            try:
                yield opened
            finally:
                _end_stage(job)
    finally:
        _running_job.reset(token)


def stage_begins(stage: str) -> None:
    """The running job moved on to `stage`: the last stage's span ends, and this one's opens as the current span of
    the calling (pipeline) thread, so the engine calls made during the stage are its children."""
    current, job = _current, _running_job.get()
    if current is None or job is None:
        return
    from opentelemetry import context, trace

    _end_stage(job)
    opened = current.tracer.start_span(f"stage {stage}", attributes=_with_job({"voxhub.job.stage": stage}))
    job.stage = (opened, context.attach(trace.set_span_in_context(opened)), threading.get_ident())


def _end_stage(job: _RunningJob) -> None:
    if job.stage is None:
        return
    from opentelemetry import context

    opened, token, thread = job.stage
    job.stage = None
    if thread == threading.get_ident():  # a context token is only good in the thread that made it
        context.detach(token)  # type: ignore[arg-type]
    opened.end()


def count_job_finished(job_type: str, status: str | None) -> None:
    current = _current
    if current is not None:
        current.jobs_finished.add(1, {"voxhub.job.type": job_type, "voxhub.job.status": status or "lost"})


# ---- engine calls ----

# The methods of the engine protocols (engines/base.py, llm.py, embed.py) that do the work.
ENGINE_CALLS = frozenset(
    {"transcribe", "transcribe_samples", "synthesize", "translate", "generate", "stream", "embed", "embed_passages"}
)


class _TracedEngine:
    """An engine whose working calls are spans `engine {capability}.{method}` with its model and the call's
    duration; everything else passes through. An iterator a call returns (speech being synthesized, a stream of
    tokens) keeps its span open until it is used up."""

    def __init__(self, engine: Any, telemetry: _Telemetry, *, capability: str, name: str, model: str | None) -> None:
        self._engine = engine
        self._telemetry = telemetry
        self._attributes = {
            "voxhub.engine.capability": capability,
            "voxhub.engine.name": name,
            "voxhub.engine.model": model or _model_of(engine),
        }

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._engine, attribute)
        if attribute not in ENGINE_CALLS or not callable(value):
            return value

        def traced(*args: Any, **kwargs: Any) -> Any:
            return self._call(attribute, value, args, kwargs)

        return traced

    def _call(self, method: str, call: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        name = f"engine {self._attributes['voxhub.engine.capability']}.{method}"
        opened = self._telemetry.tracer.start_span(name, attributes=_with_job(dict(self._attributes)))
        started = time.perf_counter()
        from opentelemetry import trace

        try:
            with trace.use_span(opened, end_on_exit=False):
                result = call(*args, **kwargs)
        except BaseException:
            self._end(opened, started, failed=True)
            raise
        if isinstance(result, Iterator):
            return self._follow(result, opened, started)
        self._end(opened, started)
        return result

    def _follow(self, results: Iterator[Any], opened: OtelSpan, started: float) -> Iterator[Any]:
        try:
            yield from results
        except GeneratorExit:  # the caller stopped reading: not a failure of the engine
            self._end(opened, started)
            raise
        except BaseException:
            self._end(opened, started, failed=True)
            raise
        self._end(opened, started)

    def _end(self, opened: OtelSpan, started: float, *, failed: bool = False) -> None:
        elapsed = time.perf_counter() - started
        opened.set_attribute("voxhub.engine.duration_ms", round(elapsed * 1000, 3))
        if failed:
            from opentelemetry.trace import Status, StatusCode

            opened.set_status(Status(StatusCode.ERROR))
        opened.end()
        self._telemetry.engine_duration.record(elapsed, self._attributes)


def _model_of(engine: Any) -> str:
    for attribute in ("model_id", "model_name", "model"):
        value = getattr(engine, attribute, None)
        if isinstance(value, str) and value:
            return value
    config = getattr(engine, "config", None)
    model = getattr(config, "model", None)
    return model if isinstance(model, str) and model else type(engine).__name__


def traced_engine(engine: E, *, capability: str, name: str, model: str | None = None) -> E:
    """`engine` itself while telemetry is off; on, the same engine with a span around each working call."""
    current = _current
    if current is None:
        return engine
    return cast(E, _TracedEngine(engine, current, capability=capability, name=name, model=model))


# ---- requests ----


class TelemetryMiddleware:
    """A server span per HTTP request, named by method and route template once routing has found it, with the
    status and the workspace id; the request's duration goes to `http.server.request.duration`. Added by create_app
    only when telemetry is on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        current = _current
        if scope["type"] != "http" or current is None:
            await self.app(scope, receive, send)
            return
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        method = scope["method"]
        opened = current.tracer.start_span(
            method,
            context=_incoming_context(scope),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": scope["path"]},
        )
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            with trace.use_span(opened, end_on_exit=False, record_exception=True, set_status_on_exception=True):
                await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", None)
            attributes: dict[str, Any] = {"http.request.method": method, "http.response.status_code": status}
            if route:
                attributes["http.route"] = route
                opened.update_name(f"{method} {route}")
            workspace_id = (scope.get("path_params") or {}).get("workspace_id")
            if workspace_id:
                opened.set_attribute("voxhub.workspace.id", str(workspace_id))
            opened.set_attributes(attributes)
            if status >= 500:
                opened.set_status(Status(StatusCode.ERROR))
            opened.end()
            current.request_duration.record(time.perf_counter() - started, attributes)


def _incoming_context(scope: Scope) -> Context | None:
    """The caller's trace (W3C `traceparent`/`tracestate`), so a traced client's span is this request's parent."""
    headers = {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in scope["headers"]
        if name in (b"traceparent", b"tracestate")
    }
    if not headers:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract(headers)
