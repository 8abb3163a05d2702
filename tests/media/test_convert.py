"""A conversion reports what it wrote: the facts taken from ffmpeg's own output are the ones ffprobe reads from the
file (voxhub stores them instead of probing every job's output again)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from voxhub.media import convert as ffmpeg
from voxhub.media.probe import probe


@pytest.fixture(scope="module")
def stereo_tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("convert") / "tone.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=5", "-ac", "2", "-ar",
         "44100", str(source)],
        check=True,
    )  # fmt: skip
    return source


@pytest.mark.parametrize("fmt", ["mp3", "wav", "flac", "opus", "aac", "m4a"])
@pytest.mark.parametrize(
    "spec",
    [{}, {"sample_rate": 16000, "channels": 1, "start_s": 1.0, "end_s": 3.5}],
    ids=["as-is", "trimmed-mono-16k"],
)
def test_what_a_conversion_reports_is_what_ffprobe_reads(
    stereo_tone: Path, tmp_path: Path, fmt: str, spec: dict[str, float]
) -> None:
    target = tmp_path / ffmpeg.output_name("out", fmt)

    written = ffmpeg.convert(
        stereo_tone, target, ffmpeg.ConvertSpec(format=fmt, **spec), expected_s=5, on_progress=lambda _: None
    )

    assert written is not None, "ffmpeg's output block was not understood: every job's output would be probed"
    read = probe(str(target), size_bytes=target.stat().st_size, decode=False)
    assert (written.container, written.audio_codec, written.sample_rate, written.channels) == (
        read.container,
        read.audio_codec,
        read.sample_rate,
        read.channels,
    )
    # ffprobe counts an encoder's padding into mp3 and aac durations; the audio itself is what ffmpeg wrote
    assert written.duration_s == pytest.approx(read.duration_s, abs=0.1)
    assert written.duration_s == pytest.approx(2.5 if spec else 5.0, abs=0.1)  # an aac frame at 16 kHz: 64 ms
