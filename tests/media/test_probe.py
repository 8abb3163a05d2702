"""The decode check of `probe`: media is judged by the audio ffmpeg decodes from it, as a conversion would decode it —
streamed WAVs (length left open in the header) are whole, a cut file lasts what is left of it, and a file whose own
header promises more than is there is truncated."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from voxhub.media.convert import encode_stream
from voxhub.media.probe import MediaInfo, MediaRejected, probe

RATE = 16000  # 16-bit mono: 32,000 bytes a second


def ffmpeg(*args: str, stdout: int | None = None) -> bytes:
    answer = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *args], stdout=stdout, check=True
    )
    return answer.stdout or b""


def tone(seconds: float) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}:sample_rate={RATE}"]


def decoded_seconds(path: Path) -> float:
    """How long the audio really lasts: every sample ffmpeg decodes, counted."""
    pcm = ffmpeg("-i", str(path), "-f", "s16le", "-ac", "1", "-ar", str(RATE), "-", stdout=subprocess.PIPE)
    return len(pcm) / 2 / RATE


def judged(path: Path) -> MediaInfo:
    return probe(str(path), size_bytes=path.stat().st_size)


def test_a_streamed_wav_with_an_open_ended_header_is_whole(tmp_path: Path) -> None:
    streamed = tmp_path / "streamed.wav"
    streamed.write_bytes(ffmpeg(*tone(4.4), "-c:a", "pcm_s16le", "-f", "wav", "pipe:1", stdout=subprocess.PIPE))
    assert streamed.read_bytes()[4:8] == b"\xff\xff\xff\xff"  # RIFF size unknown, as OpenAI's streamed WAV has it

    info = judged(streamed)

    assert info.audio_codec == "pcm_s16le" and info.sample_rate == RATE
    assert info.duration_s == pytest.approx(4.4, abs=0.05)


def test_the_wav_voxhub_streams_is_accepted_back(tmp_path: Path) -> None:
    samples = ffmpeg(*tone(3), "-f", "s16le", "-", stdout=subprocess.PIPE)
    chunks = (samples[start : start + 8820] for start in range(0, len(samples), 8820))  # odd-sized pieces, as spoken
    streamed = tmp_path / "speech.wav"
    streamed.write_bytes(b"".join(encode_stream(chunks, input_rate=RATE, fmt="wav")))

    assert judged(streamed).duration_s == pytest.approx(3.0, abs=0.05)


def test_a_wav_cut_short_lasts_what_decodes_of_it(tmp_path: Path) -> None:
    whole = tmp_path / "whole.wav"
    ffmpeg(*tone(3.4), "-c:a", "pcm_s16le", str(whole))
    cut = tmp_path / "cut.wav"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 5 | 1])  # ends inside a sample: the last packet is short

    info = judged(cut)

    assert decoded_seconds(cut) == pytest.approx(0.68, abs=0.01)
    assert info.duration_s == pytest.approx(decoded_seconds(cut), abs=0.01)


def test_a_long_wav_missing_its_last_kilobyte_is_accepted_at_its_length(tmp_path: Path) -> None:
    whole = tmp_path / "whole.wav"
    ffmpeg(*tone(96), "-c:a", "pcm_s16le", str(whole))
    cut = tmp_path / "cut.wav"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) - 1024])

    info = judged(cut)

    assert info.duration_s == pytest.approx(96 - 1024 / 2 / RATE, abs=0.01)


def test_an_mp3_cut_in_half_is_truncated(tmp_path: Path) -> None:
    whole = tmp_path / "whole.mp3"
    ffmpeg(*tone(20), "-c:a", "libmp3lame", "-b:a", "64k", str(whole))  # its header counts the frames of all 20 s
    cut = tmp_path / "cut.mp3"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])

    with pytest.raises(MediaRejected) as rejected:
        judged(cut)

    assert (rejected.value.code, rejected.value.reason) == ("corrupt_media", "truncated")
