"""Voices from hosted providers: ElevenLabs and Unreal Speech voices for the workspaces that stored a key for them in
the vault, the one engine that speaks a hosted voice, and ElevenLabs voice clones made from a workspace's upload —
with the speaker's consent stated, audited, and deleted at ElevenLabs when deleted here."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import replace
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from voxhub.apikeys.service import provider_credentials
from voxhub.audit import service as audit
from voxhub.context import AppContext
from voxhub.engines.base import EngineError, Synthesizer, Voice
from voxhub.engines.hosted import (
    HOSTED_PROVIDERS,
    ElevenLabsSynthesizer,
    HostedConfig,
    HostedProvider,
    OneVoice,
    UnrealSpeechSynthesizer,
    hosted_synthesizer,
    split_voice_id,
    voice_id,
)
from voxhub.errors import Conflict, EngineBusy, NotFound, Unprocessable, VoxhubError, field_errors
from voxhub.files import service as files
from voxhub.files.models import FileStatus
from voxhub.media.convert import ConvertFailed
from voxhub.media.pcm import decode_to_pcm
from voxhub.pagination import paginate
from voxhub.telemetry import traced_engine
from voxhub.voices.models import HostedVoice
from voxhub.workspaces.models import Role
from voxhub.workspaces.service import WorkspaceAccess

log = logging.getLogger(__name__)

CLONE_PROVIDER: HostedProvider = "elevenlabs"  # the provider voxhub clones voices with
MAX_SAMPLE_BYTES = 10 * 1024 * 1024  # ElevenLabs' limit for one sample file
MIN_SAMPLE_S = 5.0  # shorter than this, no provider makes a usable voice
LIST_TIMEOUT_S = 15.0  # for listing a provider's voices, which GET /api/v1/voices waits on


class ProviderRefused(VoxhubError):
    """A hosted provider said no for a reason retrying will not change (the key, the quota, the voice)."""

    status_code = 422
    code = "provider_error"


def provider_error(exc: EngineError) -> VoxhubError:
    """An adapter's error in voxhub's shape: transient ones are a 503 to retry, the rest a 422 that says not to."""
    details = {**exc.details, "retry": exc.transient}
    if exc.transient:
        return EngineBusy(exc.message, code=exc.code, details=details, headers={"Retry-After": "5"})
    return ProviderRefused(exc.message, code=exc.code, details=details)


def hosted_config(db: Session, *, ctx: AppContext, workspace_id: str, provider: HostedProvider) -> HostedConfig | None:
    """The workspace's key (and base URL) for `provider` from the vault, or None when it stored none."""
    stored = provider_credentials(db, keyring=ctx.keyring, workspace_id=workspace_id, provider=provider)
    if stored is None:
        return None
    key, base_url = stored
    return HostedConfig(
        provider=provider,
        api_key=key,
        base_url=base_url,
        timeout_s=ctx.settings.remote_timeout_s,
        workspace_id=workspace_id,
    )


def _engine(ctx: AppContext, config: HostedConfig) -> ElevenLabsSynthesizer | UnrealSpeechSynthesizer:
    ffmpeg = ctx.settings.ffmpeg_path

    def decode(data: bytes, rate: int) -> bytes:
        try:
            return decode_to_pcm(data, sample_rate=rate, ffmpeg=ffmpeg)
        except ConvertFailed as exc:
            raise EngineError(
                "synthesis_failed",
                f"{config.provider}'s audio could not be decoded: {exc.message}",
                details={"provider": config.provider},
            ) from exc

    return hosted_synthesizer(config, decode=decode)


def _required_engine(
    db: Session, *, ctx: AppContext, workspace_id: str, provider: HostedProvider
) -> ElevenLabsSynthesizer | UnrealSpeechSynthesizer:
    config = hosted_config(db, ctx=ctx, workspace_id=workspace_id, provider=provider)
    if config is None:
        raise Unprocessable(
            f"This workspace has no {provider} key: store one with PUT /api/v1/workspaces/{workspace_id}/"
            f"provider-keys/{provider}.",
            code="provider_key_not_found",
            details={"provider": provider},
        )
    return _engine(ctx, config)


def _clones(db: Session, *, workspace_id: str) -> list[HostedVoice]:
    return list(
        db.scalars(select(HostedVoice).where(HostedVoice.workspace_id == workspace_id).order_by(HostedVoice.id.desc()))
    )


def _clone_voice(row: HostedVoice) -> Voice:
    engine = ElevenLabsSynthesizer(HostedConfig(provider=CLONE_PROVIDER, api_key=""))
    made = engine.voice(row.provider_voice_id, name=row.name, language=row.language)
    return Voice(
        made.id, made.name, made.language, made.engine, made.sample_rate, f"cloned voice of {row.consented_by}"
    )


def workspace_voices(db: Session, *, ctx: AppContext, workspace_id: str) -> list[Voice]:
    """The hosted voices this workspace can speak with: its own clones first, then each provider it stored a key
    for. A provider that cannot list its voices right now is left out (and logged): local voices still answer."""
    found: dict[str, Voice] = {}
    clones = _clones(db, workspace_id=workspace_id)
    for provider in HOSTED_PROVIDERS:
        config = hosted_config(db, ctx=ctx, workspace_id=workspace_id, provider=provider)
        if config is None:
            continue
        if provider == CLONE_PROVIDER:
            for row in clones:
                voice = _clone_voice(row)
                found[voice.id] = voice
        try:
            # A list answers within seconds or not at all: a provider that hangs must not hold the page up.
            quick = replace(config, timeout_s=min(config.timeout_s, LIST_TIMEOUT_S))
            listed = _engine(ctx, quick).voices()
        except EngineError as exc:
            log.warning("listing %s voices for workspace %s failed: %s", provider, workspace_id, exc.message)
            continue
        for voice in listed:
            found.setdefault(voice.id, voice)
    return list(found.values())


def synthesizer_for(db: Session, *, ctx: AppContext, workspace_id: str, voice: str | None) -> Synthesizer | None:
    """The engine that speaks `voice` when it is a hosted voice (`elevenlabs:…`, `unrealspeech:…`), limited to that
    voice; None for any other voice. 422 when the workspace stored no key for the voice's provider."""
    split = split_voice_id(voice)
    if split is None:
        return None
    provider, provider_voice = split
    engine = _required_engine(db, ctx=ctx, workspace_id=workspace_id, provider=provider)
    clone = db.scalar(
        select(HostedVoice).where(
            HostedVoice.workspace_id == workspace_id,
            HostedVoice.provider == provider,
            HostedVoice.provider_voice_id == provider_voice,
        )
    )
    chosen = _clone_voice(clone) if clone is not None else engine.voice(provider_voice)
    # traced as the local engines are (a span per call, with the provider's name), when telemetry is on
    return traced_engine(
        OneVoice(engine, chosen), capability="tts", name=provider, model=getattr(engine, "model", None) or provider
    )


# ---- cloned voices ----


def list_clones(
    db: Session, *, workspace_id: str, cursor: str | None, limit: int
) -> tuple[list[HostedVoice], str | None]:
    """The workspace's cloned voices, newest first."""
    query = select(HostedVoice).where(HostedVoice.workspace_id == workspace_id)
    return paginate(db, query, HostedVoice.id, cursor=cursor, limit=limit)


def get_clone(db: Session, *, workspace_id: str, voice_id: str) -> HostedVoice:
    """One of the workspace's cloned voices, or 404 `voice_not_found` (another workspace's included)."""
    row = db.get(HostedVoice, voice_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound("Voice not found.", code="voice_not_found")
    return row


def clone_voice(
    db: Session,
    *,
    ctx: AppContext,
    access: WorkspaceAccess,
    name: str,
    file_id: str,
    consent: bool,
    consented_by: str,
    description: str,
    language: str,
) -> HostedVoice:
    """A voice cloned at ElevenLabs from one of the workspace's uploads, kept as this workspace's voice. Only with
    consent stated (`consent` true and who gave it); the clone, its sample and the consent are in the audit log.

    The provider is called before the row is written (its voice id is needed); a row that cannot be written deletes
    the new voice there again, so no clone is left at the provider that voxhub does not know of."""
    access.require(Role.MEMBER)
    if not consent or not consented_by.strip():
        raise Unprocessable(
            "Cloning a voice needs the speaker's consent: send consent: true and who consented (consented_by).",
            code="consent_required",
            details=field_errors(("consent", "must be true"), ("consented_by", "who consented to the clone")),
        )
    file = files.get_file(db, workspace_id=access.workspace_id, file_id=file_id)
    media = file.media or {}
    if file.status != FileStatus.READY.value or not media.get("audio_codec"):
        raise Unprocessable("The sample must be an uploaded audio file that is ready.", code="sample_unusable")
    if float(media.get("duration_s") or 0.0) < MIN_SAMPLE_S:
        raise Unprocessable(
            f"The sample must be at least {MIN_SAMPLE_S:.0f} s of speech.",
            code="sample_too_short",
            details={"duration_s": media.get("duration_s"), "min_duration_s": MIN_SAMPLE_S},
        )
    if file.size_bytes > MAX_SAMPLE_BYTES:
        raise Unprocessable(
            f"The sample is larger than ElevenLabs takes ({MAX_SAMPLE_BYTES // (1024 * 1024)} MB).",
            code="sample_too_large",
            details={"size_bytes": file.size_bytes, "max_bytes": MAX_SAMPLE_BYTES},
        )
    engine = _required_engine(db, ctx=ctx, workspace_id=access.workspace_id, provider=CLONE_PROVIDER)
    assert isinstance(engine, ElevenLabsSynthesizer)
    with tempfile.TemporaryDirectory(prefix="voxhub-clone-") as scratch:
        sample = Path(scratch) / (Path(file.filename).name or "sample")
        local = ctx.store.local_path(file.storage_key)
        with sample.open("wb") as handle:
            if local is not None:
                handle.write(local.read_bytes())
            else:
                for chunk in ctx.store.open(file.storage_key):
                    handle.write(chunk)
        try:
            provider_voice = engine.clone(
                name=name.strip(),
                description=description,
                samples=[sample],
                labels={"language": language, "source": "voxhub"},
            )
        except EngineError as exc:
            raise provider_error(exc) from exc
    row = HostedVoice(
        workspace_id=access.workspace_id,
        provider=CLONE_PROVIDER,
        provider_voice_id=provider_voice,
        name=name.strip(),
        description=description,
        language=language,
        sample_file_id=file.id,
        consented_by=consented_by.strip(),
        created_by=access.user.id if access.user else None,
        created_by_api_key=access.api_key_id,
    )
    try:
        with db.begin_nested():
            db.add(row)
            db.flush()
    except Exception as exc:
        _forget_at_provider(engine, provider_voice)
        if isinstance(exc, IntegrityError):
            raise Conflict("ElevenLabs answered with a voice this workspace has already.", code="voice_exists") from exc
        raise
    audit.record(
        db,
        actor=access.actor,
        action="voice.cloned",
        workspace_id=access.workspace_id,
        target_type="voice",
        target_id=row.id,
        summary={
            "name": row.name,
            "provider": row.provider,
            "provider_voice_id": provider_voice,
            "sample_file_id": file.id,
            "consent": True,
            "consented_by": row.consented_by,
        },
    )
    return row


def _forget_at_provider(engine: ElevenLabsSynthesizer, provider_voice: str) -> None:
    try:
        engine.delete(provider_voice)
    except EngineError as exc:
        log.error("voice %s is left at %s: %s", provider_voice, engine.name, exc.message)


def delete_clone(db: Session, *, ctx: AppContext, access: WorkspaceAccess, voice_id: str) -> None:
    """Delete a cloned voice here and at the provider. The provider goes first: if it cannot be reached the voice
    stays in both places and the call can be repeated; one the provider no longer has counts as deleted there."""
    access.require(Role.MEMBER)
    row = get_clone(db, workspace_id=access.workspace_id, voice_id=voice_id)
    config = hosted_config(db, ctx=ctx, workspace_id=access.workspace_id, provider=CLONE_PROVIDER)
    if config is None:
        raise Unprocessable(
            "The workspace's ElevenLabs key is gone, so the voice cannot be deleted there: store the key again first.",
            code="provider_key_not_found",
            details={"provider": CLONE_PROVIDER},
        )
    engine = _engine(ctx, config)
    assert isinstance(engine, ElevenLabsSynthesizer)
    try:
        engine.delete(row.provider_voice_id)
    except EngineError as exc:
        raise provider_error(exc) from exc
    db.delete(row)
    audit.record(
        db,
        actor=access.actor,
        action="voice.deleted",
        workspace_id=access.workspace_id,
        target_type="voice",
        target_id=row.id,
        summary={"name": row.name, "provider": row.provider, "provider_voice_id": row.provider_voice_id},
    )


def voice_id_of(row: HostedVoice) -> str:
    """The id a synthesis request names this cloned voice by."""
    return voice_id(row.provider, row.provider_voice_id)
