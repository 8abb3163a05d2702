"""media.convert: any accepted audio or video → mp3, wav, flac, opus, aac or m4a, trimmed and loudness-normalised."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from voxhub.jobs.context import JobContext
from voxhub.jobs.registry import JobType, PipelineError
from voxhub.media import convert as ffmpeg


class FileInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_id: str = Field(min_length=1, max_length=36)


class ConvertParams(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt option is refused, not silently replaced by its default

    format: Literal["mp3", "wav", "flac", "opus", "aac", "m4a"] = "mp3"
    sample_rate: int | None = Field(default=None, ge=8000, le=192000)
    channels: int | None = Field(default=None, ge=1, le=2)
    bitrate_kbps: int | None = Field(default=None, ge=8, le=512)
    start_s: float | None = Field(default=None, ge=0)
    end_s: float | None = Field(default=None, gt=0)
    normalize: bool = Field(default=False, description="EBU R128 loudness normalisation to target_lufs.")
    target_lufs: float = Field(default=-16.0, ge=-70, le=-5, description="-16 suits podcasts, -23 broadcast.")

    @field_validator("end_s")
    @classmethod
    def _after_start(cls, end_s: float | None, info: ValidationInfo) -> float | None:
        # A field validator (not a model one), so the error names params.end_s.
        start_s = info.data.get("start_s")
        if end_s is not None and start_s is not None and end_s <= start_s:
            raise ValueError("end_s must be after start_s")
        return end_s


def run(ctx: JobContext, job_input: FileInput, params: ConvertParams) -> dict[str, Any]:
    ctx.progress(0, "preparing")
    source_file = ctx.input_file(job_input.file_id)
    duration, stem = source_file.duration_s, source_file.stem
    start = params.start_s or 0.0
    end = min(params.end_s, duration) if params.end_s is not None else duration
    if duration and start >= duration:
        raise PipelineError("trim_out_of_range", f"start_s {start:g} is past the end of the input ({duration:.2f} s).")
    source = ctx.open_input(job_input.file_id)
    target = ctx.scratch / ffmpeg.output_name(stem, params.format)
    spec = ffmpeg.ConvertSpec(
        format=params.format,
        sample_rate=params.sample_rate,
        channels=params.channels,
        bitrate_kbps=params.bitrate_kbps,
        start_s=params.start_s,
        end_s=params.end_s,
        target_lufs=params.target_lufs if params.normalize else None,
    )
    ctx.progress(1, "converting")

    def on_progress(fraction: float) -> None:
        if fraction >= 0:
            ctx.progress(1 + fraction * 94)
        ctx.check_canceled()

    try:
        written = ffmpeg.convert(
            source,
            target,
            spec,
            expected_s=max(0.0, end - start),
            on_progress=on_progress,
            ffmpeg=ctx.app.settings.ffmpeg_path,
        )
    except ffmpeg.ConvertFailed as exc:
        raise PipelineError("conversion_failed", f"ffmpeg could not convert this input: {exc.message}") from exc
    ctx.progress(95, "storing")
    output = ctx.write_output(target.name, target, ffmpeg.content_type(params.format), known=written)
    ctx.logger.info("converted to %s: %s bytes", params.format, output.size_bytes)
    return {
        "file_id": output.id,
        "format": params.format,
        "duration_s": (output.media or {}).get("duration_s"),
        "size_bytes": output.size_bytes,
    }


JOB_TYPE = JobType(
    name="media.convert",
    queue="media",
    input_model=FileInput,
    params_model=ConvertParams,
    run=run,
    timeout_s=1800,
    description="Convert, trim and loudness-normalise audio with ffmpeg.",
)
