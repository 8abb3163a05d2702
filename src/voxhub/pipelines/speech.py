"""What the speech pipelines share: choosing an engine for a workspace (its stored provider key first), decoding
any input to the 16 kHz mono WAV the recognisers and the diarizer read, the clock of a job's stages, and the small
helpers of the pipelines that publish files (a name from a title, a blob fetched to scratch)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from voxhub import engines
from voxhub.apikeys.service import provider_credentials
from voxhub.config import Settings
from voxhub.context import AppContext
from voxhub.engines.base import EngineError
from voxhub.engines.remote import RemoteConfig
from voxhub.jobs.context import JobContext
from voxhub.jobs.registry import PipelineError
from voxhub.media import convert as ffmpeg
from voxhub.media.probe import MediaInfo

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


@dataclass
class Clock:
    """Seconds per stage, and how many of them were spent inside the engines (model calls, synthesis)."""

    stages: dict[str, float] = field(default_factory=dict)
    engine_s: float = 0.0

    def add(self, stage: str, seconds: float) -> None:
        self.stages[stage] = round(self.stages.get(stage, 0.0) + seconds, 3)


# What a text output (captions, a script, chapters) is known to be, so it is stored without probing.
TEXT_FILE = MediaInfo(duration_s=0.0, container="text", audio_codec="", sample_rate=0, channels=0, bit_rate=None)


def slug(title: str, *, default: str) -> str:
    """A file name's stem from a title: lower-case letters and digits joined by dashes, at most 60 characters."""
    kept = "".join(ch.lower() if ch.isalnum() else "-" for ch in title)
    return "-".join(part for part in kept.split("-") if part)[:60] or default


def download(ctx: JobContext, key: str, target: Path) -> None:
    """A blob's bytes into `target` on this machine, written aside and renamed: never half a file."""
    local = ctx.app.store.local_path(key)
    partial = target.with_suffix(".part")
    with partial.open("wb") as handle:
        if local is not None:
            handle.write(local.read_bytes())
        else:
            for chunk in ctx.app.store.open(key):
                handle.write(chunk)
    partial.replace(target)
