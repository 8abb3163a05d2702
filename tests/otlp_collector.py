"""An OpenTelemetry collector at the edge: a real HTTP server speaking OTLP/HTTP (protobuf), as Grafana Alloy, the
Datadog agent or New Relic's endpoint do, that decodes what it receives into spans and metric points to look at."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tests.fake_http import LocalHTTPServer, RecordedRequest, Reply


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs if isinstance(pair, KeyValue)}


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str  # "" for a root span
    kind: int
    attributes: dict[str, Any]
    resource: dict[str, Any]


@dataclass(frozen=True)
class ReceivedPoint:
    """One data point of a metric (a sum's value, or a histogram's count)."""

    metric: str
    attributes: dict[str, Any]
    value: float
    resource: dict[str, Any]


class FakeCollector(LocalHTTPServer):
    """POST /v1/traces and /v1/metrics on a free loopback port; everything received is kept, decoded."""

    thread_name = "fake-otlp-collector"
    methods = ("POST",)

    def __init__(self) -> None:
        super().__init__()
        self.spans: list[ReceivedSpan] = []
        self.points: list[ReceivedPoint] = []
        self.content_types: set[str] = set()

    def respond(self, request: RecordedRequest) -> Reply:
        body = request.body
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        self.content_types.add(request.headers.get("content-type", ""))
        if request.path == "/v1/traces":
            self._traces(body)
            answer = ExportTraceServiceResponse().SerializeToString()
        elif request.path == "/v1/metrics":
            self._metrics(body)
            answer = ExportMetricsServiceResponse().SerializeToString()
        else:
            return 404, "", b"", {}
        return 200, "application/x-protobuf", answer, {}

    def _traces(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        with self._lock:
            for resource_spans in request.resource_spans:
                resource = attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append(
                            ReceivedSpan(
                                name=span.name,
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent_span_id=span.parent_span_id.hex(),
                                kind=span.kind,
                                attributes=attributes(span.attributes),
                                resource=resource,
                            )
                        )

    def _metrics(self, body: bytes) -> None:
        request = ExportMetricsServiceRequest.FromString(body)
        with self._lock:
            for resource_metrics in request.resource_metrics:
                resource = attributes(resource_metrics.resource.attributes)
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        kind = metric.WhichOneof("data")
                        for point in getattr(metric, kind).data_points:
                            value = point.count if kind == "histogram" else (point.as_int or point.as_double)
                            self.points.append(
                                ReceivedPoint(metric.name, attributes(point.attributes), float(value), resource)
                            )

    def spans_named(self, name: str) -> list[ReceivedSpan]:
        with self._lock:
            return [span for span in self.spans if span.name == name]

    def wait_for(self, found: Callable[[], Any], *, timeout: float = 30.0, what: str = "") -> Any:
        """Poll until `found()` is truthy (a span exported by another process arrives in its own time)."""
        deadline = time.monotonic() + timeout
        while True:
            result = found()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the collector never received {what}; it has {sorted({s.name for s in self.spans})}"
                )
            time.sleep(0.05)
