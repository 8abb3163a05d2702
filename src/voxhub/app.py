"""create_app(settings): the FastAPI factory that wires settings, database, routers, errors and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from voxhub import __version__, console
from voxhub.accounts.routes import auth as auth_routes
from voxhub.accounts.routes import browser as browser_routes
from voxhub.accounts.routes import me as me_routes
from voxhub.activity.routes import router as activity_routes
from voxhub.apikeys.routes import router as apikey_routes
from voxhub.audit.routes import router as audit_routes
from voxhub.billing.routes import admin as billing_admin_routes
from voxhub.billing.routes import public as billing_public_routes
from voxhub.billing.routes import router as billing_routes
from voxhub.body_limit import BodySizeLimitMiddleware
from voxhub.config import Settings
from voxhub.context import AppContext
from voxhub.db import Database, schema_state
from voxhub.dubbing.routes import router as dub_routes
from voxhub.errors import document_body_errors, error_response, install_error_handlers, responses
from voxhub.files import tus
from voxhub.files.routes import router as file_routes
from voxhub.files.routes import upload_file
from voxhub.files.tus import router as tus_routes
from voxhub.headers import SecurityHeadersMiddleware
from voxhub.insights.routes import router as insights_routes
from voxhub.jobs import metrics as job_metrics
from voxhub.jobs.executors import make_executor
from voxhub.jobs.metrics import JobStateCollector
from voxhub.jobs.routes import admin as admin_routes
from voxhub.jobs.routes import job_types as job_type_routes
from voxhub.jobs.routes import router as job_routes
from voxhub.labels.routes import router as label_routes
from voxhub.notify.email_routes import router as email_routes
from voxhub.notify.routes import router as webhook_routes
from voxhub.observability import Metrics, RequestContextMiddleware
from voxhub.openai_compat.embeddings import router as openai_embedding_routes
from voxhub.openai_compat.routes import create_transcription, create_translation
from voxhub.openai_compat.routes import router as openai_routes
from voxhub.periodic import PeriodicRunner
from voxhub.pipelines import register_all as register_pipelines
from voxhub.podcasts.routes import router as podcast_routes
from voxhub.search.chat_routes import router as conversation_routes
from voxhub.search.routes import router as search_routes
from voxhub.search.vectors import ensure_pgvector
from voxhub.shares.routes import public as shared_routes
from voxhub.shares.routes import router as share_routes
from voxhub.storage.routes import put_blob
from voxhub.storage.routes import router as blob_routes
from voxhub.tasks import PERIODIC_TASKS
from voxhub.telemetry import TelemetryMiddleware
from voxhub.telemetry import configure as configure_telemetry
from voxhub.transcripts.routes import router as transcript_routes
from voxhub.transcripts.routes import voices_router as voices_routes
from voxhub.voices.routes import router as cloned_voice_routes
from voxhub.workspaces.routes import invitations as invitation_routes
from voxhub.workspaces.routes import router as workspace_routes

DESCRIPTION = """
voxhub is a self-hosted backend for AI audio products: accounts, workspaces, API keys, uploads,
jobs running speech models, credits and webhooks.

Authenticate with `Authorization: Bearer <access token>` (from `/api/v1/auth/login`) or
`Authorization: Bearer vx_…` (an API key). Every error has the shape
`{"error": {"code": "…", "message": "…", "details": {…}}}`.
"""


# Swagger UI (Apache-2.0) and ReDoc (MIT), as the `fastapi-offline` package ships them.
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
DOCS_ASSETS_URL = "/docs/assets"


def install_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc with every script, style and icon served by voxhub itself: they work offline."""
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} — API docs",
            swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
            # No badge fetched from the online validator.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} — API reference",
            redoc_js_url=f"{root}{DOCS_ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    telemetry = configure_telemetry(settings, process="api")  # off unless VOXHUB_OTEL_ENDPOINT is set
    database = Database(settings)
    register_pipelines()
    ctx = AppContext.from_settings(settings)
    ctx.queue = executor = make_executor(settings, database, ctx)
    metrics = Metrics()
    metrics.registry.register(JobStateCollector(database))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # With Celery, periodic work belongs to `voxhub beat`; running it here too would do it twice.
        local = not settings.queue_url
        runner = PeriodicRunner(database, ctx, PERIODIC_TASKS) if settings.run_periodic_tasks and local else None
        ensure_pgvector(database.engine)
        executor.start()
        if runner:
            runner.start()
        yield
        if runner:
            runner.stop()
        executor.stop()
        ctx.close()
        database.dispose()

    app = FastAPI(
        title="voxhub",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, from files shipped with voxhub rather than a CDN
        redoc_url=None,
    )
    install_docs(app)
    app.state.settings = settings
    app.state.db = database
    app.state.ctx = ctx
    app.state.metrics = metrics

    install_error_handlers(app)
    routers = (
        auth_routes,
        browser_routes,
        me_routes,
        workspace_routes,
        invitation_routes,
        apikey_routes,
        audit_routes,
        activity_routes,
        file_routes,
        tus_routes,
        blob_routes,
        job_routes,
        job_type_routes,
        admin_routes,
        webhook_routes,
        email_routes,
        transcript_routes,
        insights_routes,
        podcast_routes,
        dub_routes,
        label_routes,
        search_routes,
        conversation_routes,
        share_routes,
        shared_routes,
        voices_routes,
        cloned_voice_routes,
        openai_routes,
        openai_embedding_routes,
        billing_public_routes,
        billing_routes,
        billing_admin_routes,
    )
    for router in routers:
        app.include_router(router)

    @app.get("/healthz", tags=["operations"], summary="Liveness")
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Readiness", responses=responses(503))
    def readyz() -> JSONResponse:
        """The database answers and its schema is current."""
        try:
            with database.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            state = schema_state(database.engine)
        except Exception as exc:  # any failure to reach the database means not ready
            return error_response(503, "database_unavailable", f"The database cannot be reached: {type(exc).__name__}")
        if state != "current":
            return error_response(
                503, "migrations_pending", "The database schema is not current; run `voxhub migrate`."
            )
        return JSONResponse({"status": "ready", "database": "ok", "migrations": "current"})

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}},
    )
    def prometheus_metrics(request: Request) -> Response:
        """Requests by route and status, and a latency histogram, in the Prometheus text format."""
        body = generate_latest(metrics.registry) + generate_latest(job_metrics.REGISTRY)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    console.install(app, settings)
    document_body_errors(app)

    origins = [origin.strip() for origin in settings.cors_origins.split(",") if origin.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    # The upload routes stream files under the file-size limits they enforce themselves.
    uploads = (upload_file, tus.tus_create, tus.tus_upload_patch, put_blob, create_transcription, create_translation)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_body_kb * 1024, exempt=uploads)
    if telemetry:
        app.add_middleware(TelemetryMiddleware)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    app.add_middleware(SecurityHeadersMiddleware, settings=settings)  # outermost: every answer, the proxy's scheme
    return app
