"""`voxhub transcribe` and `voxhub say`: the transcribe and synthesize pipelines on this machine, without a server,
database or queue, with a progress bar on stderr."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal, cast

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from voxhub.config import Settings
from voxhub.errors import VoxhubError
from voxhub.jobs.registry import PipelineError
from voxhub.media.probe import MediaRejected, ToolMissing, probe


@contextmanager
def _progress_bar(label: str) -> Iterator[Callable[[float, str | None], None]]:
    """A progress callback drawing a bar on stderr (nothing when stderr is not a terminal)."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        transient=True,
        disable=not sys.stderr.isatty(),
    ) as bar:
        task = bar.add_task(label, total=100)

        def update(pct: float, stage: str | None) -> None:
            bar.update(task, completed=pct, description=stage or None)

        yield update


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def transcribe(
    settings: Settings,
    file: Path,
    model: str | None,
    output_format: str,
    diarize: bool,
    language: str | None,
    output: Path | None,
) -> None:
    from voxhub.pipelines.transcribe import TranscribeParams, check_model, transcribe_file
    from voxhub.transcripts.formats import render

    try:
        params = TranscribeParams(model=model, diarize=diarize, language=language)
        check_model(settings, params)
        info = probe(str(file), ffprobe=settings.ffprobe_path, ffmpeg=settings.ffmpeg_path, decode=False)
        with tempfile.TemporaryDirectory(prefix="voxhub-") as scratch, _progress_bar("transcribing") as progress:
            transcript = transcribe_file(
                settings, file, Path(scratch), params, duration_s=info.duration_s, progress=progress
            )
    except ValidationError as exc:
        raise _fail(exc.errors()[0]["msg"]) from exc
    except (PipelineError, MediaRejected) as exc:
        raise _fail(f"{exc.message} ({exc.code})") from exc
    except (VoxhubError, ToolMissing) as exc:
        raise _fail(str(getattr(exc, "message", exc))) from exc
    text = render(transcript, output_format)
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"Wrote {output} ({transcript['language']}, {transcript['duration_s']:.1f} s).", err=True)


def say(
    settings: Settings,
    text: str,
    output: Path,
    voice: str | None,
    speed: float,
    language: str | None,
    output_format: str | None,
) -> None:
    from voxhub.pipelines.synthesize import SynthesizeParams, synthesize_file

    if text == "-":
        text = sys.stdin.read()
    fmt = output_format or output.suffix.lstrip(".").lower() or "mp3"
    try:
        params = SynthesizeParams(
            voice=voice, speed=speed, language=language, format=cast(Literal["mp3"], fmt)
        )  # validated here: an unknown format is refused
        with tempfile.TemporaryDirectory(prefix="voxhub-") as scratch, _progress_bar("synthesizing") as progress:
            made, _known, chosen = synthesize_file(settings, text, params, Path(scratch), progress=progress)
            output.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(made), output)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise _fail(f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}") from exc
    except PipelineError as exc:
        raise _fail(f"{exc.message} ({exc.code})") from exc
    except VoxhubError as exc:
        raise _fail(exc.message) from exc
    typer.echo(f"Wrote {output} (voice {chosen.id}).", err=True)


def register(app: typer.Typer, settings_factory: Callable[[], Settings]) -> None:
    @app.command("transcribe")
    def transcribe_command(
        file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Audio or video file.")],
        model: Annotated[str | None, typer.Option(help="Whisper model; default VOXHUB_ASR_MODEL.")] = None,
        output_format: Annotated[str, typer.Option("--format", "-f", help="json, txt, srt, vtt or tsv.")] = "txt",
        diarize: Annotated[bool, typer.Option("--diarize", help="Label speakers.")] = False,
        language: Annotated[str | None, typer.Option(help="Spoken language; detected when left out.")] = None,
        output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write; default stdout.")] = None,
    ) -> None:
        """Transcribe a file on this machine, without a server."""
        if output_format not in ("json", "txt", "srt", "vtt", "tsv"):
            raise _fail("--format must be json, txt, srt, vtt or tsv")
        transcribe(settings_factory(), file, model, output_format, diarize, language, output)

    @app.command("say")
    def say_command(
        text: Annotated[str, typer.Argument(help="Text to speak; '-' reads it from stdin.")],
        output: Annotated[
            Path, typer.Option("--output", "-o", help="Audio file to write; its extension is the format.")
        ],
        voice: Annotated[
            str | None, typer.Option(help="Voice id (see GET /api/v1/voices); default VOXHUB_TTS_VOICE.")
        ] = None,
        speed: Annotated[float, typer.Option(help="0.25 to 4.")] = 1.0,
        language: Annotated[str | None, typer.Option(help="Picks a voice for this language.")] = None,
        output_format: Annotated[
            str | None, typer.Option("--format", help="mp3, wav, flac, opus, aac or pcm; default from -o.")
        ] = None,
    ) -> None:
        """Speak text into an audio file on this machine, without a server."""
        say(settings_factory(), text, output, voice, speed, language, output_format)
