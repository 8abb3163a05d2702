"""What the speech pipelines share: choosing an engine for a workspace (its stored provider key first) and decoding
any input to the 16 kHz mono WAV the recognisers and the diarizer read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session

from voxhub import engines
from voxhub.apikeys.service import provider_credentials
from voxhub.config import Settings
from voxhub.context import AppContext
from voxhub.engines.base import EngineError
from voxhub.engines.remote import RemoteConfig
from voxhub.jobs.registry import PipelineError
from voxhub.media import convert as ffmpeg

REMOTE_PROVIDER = "openai"  # the provider-key vault entry remote engines use (any OpenAI-compatible server)


def remote_for(db: Session, ctx: AppContext, workspace_id: str, capability: engines.Capability) -> RemoteConfig:
    """Remote engine settings, with the workspace's own `openai` provider key (and base URL) when it stored one."""
    stored = provider_credentials(db, keyring=ctx.keyring, workspace_id=workspace_id, provider=REMOTE_PROVIDER)
    if stored is None:
        return engines.remote_config(ctx.settings, capability)
    key, base_url = stored
    return engines.remote_config(ctx.settings, capability, api_key=key, base_url=base_url)


def decode_to_wav(
    settings: Settings, source: Path, target: Path, *, expected_s: float, on_progress: Callable[[float], None]
) -> Path:
    """Any accepted audio or video → 16 kHz mono 16-bit WAV."""
    spec = ffmpeg.ConvertSpec(format="wav", sample_rate=16000, channels=1)
    try:
        ffmpeg.convert(
            source, target, spec, expected_s=expected_s, on_progress=on_progress, ffmpeg=settings.ffmpeg_path
        )
    except ffmpeg.ConvertFailed as exc:
        raise PipelineError("conversion_failed", f"ffmpeg could not decode this input: {exc.message}") from exc
    return target


def pipeline_error(exc: EngineError) -> PipelineError:
    return PipelineError(exc.code, exc.message, transient=exc.transient)
