"""What a dub's media steps give users: the audio taken out as it was, lines sped up without chipmunk pitch, the
original lowered exactly where asked, a mix at broadcast loudness, and one file whose tracks players label and
switch between."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voxhub.media import dub
from voxhub.media.audio import measure_loudness
from voxhub.media.probe import MediaRejected

RATE = 48000
VIDEO_S = 4.0


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True)


def _probe(path: Path) -> dict[str, Any]:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _samples(path: Path, *, channels: int) -> np.ndarray:
    """Every sample as float, one column per channel, at the file's own rate."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", str(channels), "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype="<f4").reshape(-1, channels)


def _rms_db(samples: np.ndarray, start_s: float, end_s: float) -> float:
    span = samples[int(start_s * RATE) : int(end_s * RATE)]
    return float(20 * np.log10(np.sqrt(np.mean(span.astype(np.float64) ** 2))))


def _tone(target: Path, *, seconds: float, channels: int = 2, frequency: int = 440, rate: int = RATE) -> Path:
    _ffmpeg("-f", "lavfi", "-i", f"sine=frequency={frequency}:duration={seconds}:sample_rate={rate}",
            "-ac", str(channels), "-c:a", "pcm_s16le", str(target))  # fmt: skip
    return target


def _srt(target: Path, *cues: tuple[float, float, str]) -> Path:
    def stamp(seconds: float) -> str:
        millis = round(seconds * 1000)
        return f"{millis // 3600000:02}:{millis // 60000 % 60:02}:{millis // 1000 % 60:02},{millis % 1000:03}"

    blocks = [f"{n}\n{stamp(start)} --> {stamp(end)}\n{text}\n" for n, (start, end, text) in enumerate(cues, 1)]
    target.write_text("\n".join(blocks), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dub")


@pytest.fixture(scope="module")
def video(media: Path) -> Path:
    """A 4-second picture with 48 kHz stereo sound, as a phone or an editor would hand it over."""
    target = media / "source.mp4"
    _ffmpeg("-f", "lavfi", "-i", f"testsrc=size=160x120:rate=10:duration={VIDEO_S}",
            "-f", "lavfi", "-i", f"sine=frequency=440:duration={VIDEO_S}:sample_rate={RATE}",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2", str(target))  # fmt: skip
    return target


@pytest.fixture(scope="module")
def tracks(media: Path) -> dict[str, Path]:
    """A dubbed and an original track a little longer than the picture, and subtitles in both languages."""
    dubbed = _tone(media / "dubbed.wav", seconds=VIDEO_S + 0.7, frequency=660)
    original = _tone(media / "original.wav", seconds=VIDEO_S + 0.7, channels=1)
    pt = _srt(media / "pt.srt", (0.5, 1.8, "Olá, mundo."), (2.0, 3.5, "Até já!"))
    en = _srt(media / "en.srt", (0.5, 1.8, "Hello, world."), (2.0, 3.5, "See you!"))
    return {"dubbed": dubbed, "original": original, "pt": pt, "en": en}


def _streams(path: Path, codec_type: str) -> list[dict[str, Any]]:
    return [s for s in _probe(path)["streams"] if s["codec_type"] == codec_type]


def _duration(path: Path) -> float:
    return float(_probe(path)["format"]["duration"])


@pytest.mark.parametrize(
    ("code", "tag"),
    [("pt", "por"), ("pt-BR", "por"), ("EN_us", "eng"), ("fr", "fre"), ("fra", "fre"), ("de", "ger"), ("zh-Hans",
     "chi"), ("es", "spa"), ("ca", "cat"), ("gl", "glg"), ("ja", "jpn"), ("por", "por"), ("xx", "und"), ("", "und")],
)  # fmt: skip
def test_language_codes_become_the_tags_players_show(code: str, tag: str) -> None:
    assert dub.language_tag(code) == tag


def test_extracted_audio_keeps_the_sources_rate_and_channels(video: Path, tmp_path: Path) -> None:
    target = tmp_path / "mix.wav"

    rate = dub.extract_audio(video, target)

    (stream,) = _streams(target, "audio")
    assert (rate, int(stream["sample_rate"]), stream["channels"], stream["codec_name"]) == (RATE, RATE, 2, "pcm_s16le")
    assert _duration(target) == pytest.approx(VIDEO_S, abs=0.04)


def test_extracted_audio_for_recognition_is_16k_mono(video: Path, tmp_path: Path) -> None:
    target = tmp_path / "asr.wav"

    assert dub.extract_audio(video, target, sample_rate=16000, channels=1) == 16000

    (stream,) = _streams(target, "audio")
    assert (int(stream["sample_rate"]), stream["channels"]) == (16000, 1)


def test_a_file_with_no_sound_is_refused_clearly(media: Path, tmp_path: Path) -> None:
    silent_film = tmp_path / "picture.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=1", "-c:v", "libx264", str(silent_film))

    with pytest.raises(MediaRejected) as refused:
        dub.extract_audio(silent_film, tmp_path / "none.wav")
    assert refused.value.reason == "no_audio_stream"


@pytest.mark.parametrize("tempo", [1.05, 1.2])
def test_a_stretched_line_is_shorter_by_the_tempo_and_keeps_its_pitch(tmp_path: Path, tempo: float) -> None:
    line = _tone(tmp_path / "line.wav", seconds=3.0, channels=1, frequency=300, rate=22050)
    target = tmp_path / "fast.wav"

    dub.stretch(line, target, tempo=tempo)

    (stream,) = _streams(target, "audio")
    assert (int(stream["sample_rate"]), stream["channels"], stream["codec_name"]) == (22050, 1, "pcm_s16le")
    assert stream["duration_ts"] == round(3.0 * 22050 / tempo)  # to the sample the fit loop asked for
    samples = _samples(target, channels=1)[:, 0]
    spectrum = np.abs(np.fft.rfft(samples[2205:-2205]))
    peak_hz = np.argmax(spectrum) * 22050 / (len(samples) - 4410)
    assert peak_hz == pytest.approx(300, rel=0.02)  # sped up, not pitched up


def test_the_bed_is_lowered_by_the_asked_decibels_only_inside_the_ducked_span(media: Path, tmp_path: Path) -> None:
    original = _tone(media / "bed.wav", seconds=8.0)
    target = tmp_path / "ducked.wav"
    gains = [(2.0, 0.0), (2.0, -15.0), (3.0, -15.0), (3.0, -6.0), (4.0, -6.0), (4.2, 0.0)]  # jumps, then a ramp

    dub.ducked_bed(original, target, gains=gains, sample_rate=RATE)

    before, after = _samples(original, channels=2), _samples(target, channels=2)
    assert after.shape == before.shape  # the length, to the sample
    reference = _rms_db(before, 0.2, 1.9)
    for channel in (0, 1):
        assert _rms_db(after[:, channel], 2.2, 2.9) - reference == pytest.approx(-15.0, abs=0.5)
        assert _rms_db(after[:, channel], 3.1, 3.9) - reference == pytest.approx(-6.0, abs=0.5)
        assert _rms_db(after[:, channel], 0.2, 1.9) - reference == pytest.approx(0.0, abs=0.2)
        assert _rms_db(after[:, channel], 4.3, 7.9) - reference == pytest.approx(0.0, abs=0.2)


def test_the_last_gain_holds_to_the_end(media: Path, tmp_path: Path) -> None:
    original = _tone(media / "bed.wav", seconds=8.0)
    target = tmp_path / "ducked.wav"

    dub.ducked_bed(original, target, gains=[(1.0, 0.0), (1.5, -12.0)], sample_rate=RATE)

    before, after = _samples(original, channels=2), _samples(target, channels=2)
    assert after.shape == before.shape
    assert _rms_db(after, 1.6, 7.9) - _rms_db(before, 1.6, 7.9) == pytest.approx(-12.0, abs=0.5)


def test_the_voice_is_added_to_the_bed_at_its_own_level(media: Path, tmp_path: Path) -> None:
    bed = _tone(media / "mix-bed.wav", seconds=3.0)
    voice = _tone(tmp_path / "voice.wav", seconds=3.0, channels=1, frequency=700)
    target = tmp_path / "mixed.wav"

    dub.overlay(bed, voice, target, sample_rate=RATE)

    before, spoken, after = _samples(bed, channels=2), _samples(voice, channels=1), _samples(target, channels=2)
    assert after.shape == before.shape
    np.testing.assert_allclose(after, before + spoken, atol=1e-6)  # nothing scaled down to make room


@pytest.mark.parametrize("voice_s", [2.0, 3.5], ids=["short-voice", "long-voice"])
def test_the_mix_is_as_long_as_the_bed(media: Path, tmp_path: Path, voice_s: float) -> None:
    bed = _tone(media / "mix-bed.wav", seconds=3.0)
    voice = _tone(tmp_path / "voice.wav", seconds=voice_s, channels=1)
    target = tmp_path / "mixed.wav"

    dub.overlay(bed, voice, target, sample_rate=RATE)

    assert _samples(target, channels=2).shape == _samples(bed, channels=2).shape


@pytest.mark.parametrize("level", [0.9, 0.02], ids=["loud", "quiet"])
def test_the_mix_reaches_the_loudness_target_under_the_peak_ceiling(tmp_path: Path, level: float) -> None:
    source = tmp_path / "mix.wav"
    # music-like: noise with a tone, peaks well above its loudness
    _ffmpeg("-f", "lavfi", "-i", f"anoisesrc=color=pink:amplitude={level}:duration=6:sample_rate={RATE}",
            "-f", "lavfi", "-i", f"sine=frequency=220:duration=6:sample_rate={RATE}",
            "-filter_complex", "[0:a][1:a]amix=inputs=2:normalize=0", "-ac", "2", "-c:a", "pcm_f32le",
            str(source))  # fmt: skip
    target = tmp_path / "normalized.wav"

    result = dub.normalize_stereo(source, target, sample_rate=RATE)

    measured = measure_loudness(target)
    assert measured.integrated_lufs == pytest.approx(-16.0, abs=0.5)
    assert measured.true_peak_dbtp <= -1.0 + 0.1
    assert (result.integrated_lufs, result.true_peak_dbtp) == (measured.integrated_lufs, measured.true_peak_dbtp)
    (stream,) = _streams(target, "audio")
    assert (int(stream["sample_rate"]), stream["channels"]) == (RATE, 2)


def test_silence_stays_silence(tmp_path: Path) -> None:
    source = tmp_path / "silence.wav"
    _ffmpeg("-f", "lavfi", "-i", f"anullsrc=r={RATE}:cl=stereo", "-t", "2", str(source))
    target = tmp_path / "normalized.wav"

    dub.normalize_stereo(source, target, sample_rate=RATE)

    assert not np.any(_samples(target, channels=2))


@pytest.mark.parametrize("fmt", ["m4a", "mp3", "wav"])
def test_a_downloaded_stem_says_its_language(tracks: dict[str, Path], tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"voice.{fmt}"

    dub.encode_audio(tracks["dubbed"], target, fmt=fmt, language="pt-BR", title="Voz (português)")  # type: ignore[arg-type]

    info = _probe(target)
    (stream,) = _streams(target, "audio")
    tags = {**info["format"].get("tags", {}), **stream.get("tags", {})}
    assert tags["language"] == "por"
    assert "Voz (português)" in (tags.get("title"), tags.get("handler_name"))
    assert _duration(target) == pytest.approx(VIDEO_S + 0.7, abs=0.06)


@pytest.mark.parametrize(("suffix", "subtitle_codec"), [(".mp4", "mov_text"), (".mkv", "subrip")])
def test_the_dubbed_video_has_every_track_labelled_and_the_dub_playing_first(
    video: Path, tracks: dict[str, Path], tmp_path: Path, suffix: str, subtitle_codec: str
) -> None:
    target = tmp_path / f"dubbed{suffix}"

    dub.mux(
        video=video,
        audio=[
            dub.AudioTrack(tracks["dubbed"], "pt", "Português (dobrado)", default=True),
            dub.AudioTrack(tracks["original"], "en", "Original"),
        ],
        subtitles=[
            dub.SubtitleTrack(tracks["pt"], "pt", "Português"),
            dub.SubtitleTrack(tracks["en"], "en", "English"),
        ],
        target=target,
    )

    streams = _probe(target)["streams"]
    assert [s["codec_type"] for s in streams] == ["video", "audio", "audio", "subtitle", "subtitle"]
    video_stream, dubbed, original, pt, en = streams
    assert video_stream["codec_name"] == "h264"
    assert [s["tags"]["language"] for s in (dubbed, original, pt, en)] == ["por", "eng", "por", "eng"]
    assert [s["disposition"]["default"] for s in (dubbed, original)] == [1, 0]
    # MP4 muxers mark the first track of each kind enabled when none is: there, the first subtitle track is
    assert [s["disposition"]["default"] for s in (pt, en)] == ([1, 0] if suffix == ".mp4" else [0, 0])
    title = "handler_name" if suffix == ".mp4" else "title"
    assert [s["tags"][title] for s in (dubbed, original)] == ["Português (dobrado)", "Original"]
    assert [(s["codec_name"], s["channels"]) for s in (dubbed, original)] == [("aac", 2), ("aac", 2)]
    assert {pt["codec_name"], en["codec_name"]} == {subtitle_codec}
    assert _duration(target) == pytest.approx(VIDEO_S, abs=0.04)  # the longer audio does not outlast the picture


def test_audio_only_input_gives_one_m4a_with_a_track_per_language(tracks: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "dubbed.m4a"

    dub.mux(
        video=None,
        audio=[
            dub.AudioTrack(tracks["dubbed"], "pt", "Português", default=True),
            dub.AudioTrack(tracks["original"], "en", "Original"),
        ],
        subtitles=[dub.SubtitleTrack(tracks["pt"], "pt", "Português")],
        target=target,
    )

    streams = _probe(target)["streams"]
    assert [(s["codec_type"], s["tags"]["language"]) for s in streams] == [
        ("audio", "por"),
        ("audio", "eng"),
        ("subtitle", "por"),
    ]
    assert [s["disposition"]["default"] for s in streams[:2]] == [1, 0]
    assert _duration(target) == pytest.approx(VIDEO_S + 0.7, abs=0.04)


def _frame(path: Path, at_s: float) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", str(at_s), "-i", str(path), "-frames:v", "1", "-f", "rawvideo",
         "-pix_fmt", "gray", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.uint8).reshape(120, 160).astype(np.int16)


def test_burned_subtitles_show_in_the_picture_and_keep_its_length(
    video: Path, tracks: dict[str, Path], tmp_path: Path
) -> None:
    target = tmp_path / "burned.mp4"

    dub.mux(
        video=video,
        audio=[dub.AudioTrack(tracks["dubbed"], "pt", "Português", default=True)],
        subtitles=[],
        target=target,
        burn=tracks["pt"],
    )

    (video_stream,) = _streams(target, "video")
    assert video_stream["codec_name"] == "h264"
    assert _duration(target) == pytest.approx(VIDEO_S, abs=0.04)

    def changed_pixels(at_s: float) -> int:  # in the bottom third, where cues sit
        return int((np.abs(_frame(target, at_s) - _frame(video, at_s))[80:] > 64).sum())

    assert changed_pixels(1.0) > 50  # "Olá, mundo." drawn in
    assert changed_pixels(3.8) < 10  # no cue: the same picture, re-encoded
