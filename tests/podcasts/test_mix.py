"""Mixing an episode from real rendered lines (piper's joe and the second offline voice) with the real ffmpeg: exact
line times, varied pauses, intro, outro and a ducked music bed, and EBU R128 loudness measured by ffmpeg's ebur128."""

from __future__ import annotations

import itertools
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.engines.test_diarize import synthesis_missing
from voxhub.config import Settings
from voxhub.podcasts import mix as mixing
from voxhub.podcasts import voices
from voxhub.podcasts.mix import Mixed, Turn

pytestmark = pytest.mark.skipif(synthesis_missing() is not None, reason=f"no offline voices: {synthesis_missing()}")

RATE = 44_100
SCRIPT = [  # (speaker, text, segment)
    ("Alex", "Welcome back. Today it is bees and rain barrels.", 0),
    ("Sam", "A hive holds one queen and many thousands of workers.", 0),
    ("Alex", "And she lays eggs all through the spring.", 0),
    ("Sam", "Now, the rain barrels by the shed.", 1),
    ("Alex", "Three of them, joined with short hoses.", 1),
]
TITLES = ["Bees", "Rain"]


@pytest.fixture(autouse=True)
def _nothing_left_running() -> None:
    """These tests run no jobs and need no database (the package's conftest checks that jobs are left idle)."""


def render_turns(folder: Path, script: list[tuple[str, str, int]]) -> list[Turn]:
    """The lines spoken by the two default voices, as the pipeline renders them."""
    settings = Settings(_env_file=None, data_dir=folder / "var")  # type: ignore[call-arg]
    speakers = sorted({speaker for speaker, _text, _segment in script})
    voice_of = dict(zip(speakers, voices.default_voices(settings, len(speakers)), strict=True))
    turns = []
    for number, (speaker, text, segment) in enumerate(script):
        path = folder / f"line-{number}.wav"
        voices.render(settings, text, voice_of[speaker], path)
        turns.append(Turn(path=path, speaker=speaker, text=text, segment=segment))
    return turns


def ebur128(path: Path) -> tuple[float, float]:
    """Integrated loudness (LUFS) and true peak (dBTP) as ffmpeg's ebur128 filter measures them."""
    log = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostdin",
            "-nostats",
            "-i",
            str(path),
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    summary = log[log.rindex("Summary:") :]
    integrated = float(summary.split("I:", 1)[1].split("LUFS", 1)[0])
    peak = float(summary.split("True peak:", 1)[1].split("Peak:", 1)[1].split("dBFS", 1)[0])
    return integrated, peak


def samples_of(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as clip:
        assert (clip.getnchannels(), clip.getsampwidth(), clip.getframerate()) == (1, 2, RATE)
        return np.frombuffer(clip.readframes(clip.getnframes()), dtype="<i2").astype(np.float32) / 32768


def frames(path: Path) -> int:
    with wave.open(str(path), "rb") as clip:
        return clip.getnframes()


def rms_db(samples: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(samples.astype(np.float64) ** 2) + 1e-20))


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def turns(tmp_path_factory: pytest.TempPathFactory) -> list[Turn]:
    return render_turns(tmp_path_factory.mktemp("lines"), SCRIPT)


@pytest.fixture(scope="module")
def mixed(turns: list[Turn], tmp_path_factory: pytest.TempPathFactory) -> tuple[Mixed, list[float]]:
    progress: list[float] = []
    result = mixing.mix(
        turns, segment_titles=TITLES, work_dir=tmp_path_factory.mktemp("mix"), seed=7, progress=progress.append
    )
    return result, progress


def test_every_line_lasts_as_long_as_its_clip_after_a_varied_pause(
    turns: list[Turn], mixed: tuple[Mixed, list[float]]
) -> None:
    episode, _progress = mixed
    assert [(cue.speaker, cue.text, cue.segment) for cue in episode.cues] == [
        (turn.speaker, turn.text, turn.segment) for turn in turns
    ]
    for cue, turn in zip(episode.cues, turns, strict=True):
        assert round((cue.end - cue.start) * RATE) == frames(turn.path)
    assert episode.cues[0].start == pytest.approx(mixing.LEAD_IN_S, abs=1 / RATE)
    pauses = [
        (later.start - earlier.end, earlier.segment != later.segment)
        for earlier, later in itertools.pairwise(episode.cues)
    ]
    for pause, new_segment in pauses:
        low, high = mixing.SEGMENT_PAUSE_S if new_segment else mixing.PAUSE_S
        assert low - 1e-6 <= pause <= high + 1e-6, pauses
    assert len({round(pause, 3) for pause, _new in pauses}) == len(pauses)  # varied, not one fixed gap
    assert episode.duration_s == pytest.approx(episode.cues[-1].end + mixing.TAIL_S, abs=1 / RATE)


def test_the_audio_is_where_the_cues_say(mixed: tuple[Mixed, list[float]]) -> None:
    episode, _progress = mixed
    audio = samples_of(episode.path)
    assert len(audio) == round(episode.duration_s * RATE)
    for earlier, later in itertools.pairwise(episode.cues):
        pause = audio[round(earlier.end * RATE) + 40 : round(later.start * RATE) - 40]
        assert np.abs(pause).max() < 0.002, (earlier.end, later.start)
    for cue in episode.cues:
        assert np.abs(audio[round(cue.start * RATE) : round((cue.start + 0.1) * RATE)]).max() > 0.02, cue
        assert np.abs(audio[round((cue.end - 0.15) * RATE) : round(cue.end * RATE)]).max() > 0.02, cue
    assert np.abs(audio[: round(episode.cues[0].start * RATE) - 40]).max() < 0.002


def test_the_episode_is_at_minus_16_lufs_with_true_peaks_under_the_limit(mixed: tuple[Mixed, list[float]]) -> None:
    episode, progress = mixed
    integrated, peak = ebur128(episode.path)
    assert integrated == pytest.approx(-16.0, abs=0.5)
    assert peak <= -1.5
    assert episode.integrated_lufs == pytest.approx(integrated, abs=0.3)
    assert episode.true_peak_dbtp == pytest.approx(peak, abs=0.3)
    assert progress == sorted(progress) and progress[-1] == 1.0


def test_chapters_start_where_each_segment_starts(mixed: tuple[Mixed, list[float]]) -> None:
    episode, _progress = mixed
    assert [(chapter.start, chapter.title) for chapter in episode.chapters] == [
        (0.0, "Bees"),
        (episode.cues[3].start, "Rain"),
    ]


def test_the_same_seed_mixes_the_same_and_another_seed_differently(
    turns: list[Turn], mixed: tuple[Mixed, list[float]], tmp_path: Path
) -> None:
    episode, _progress = mixed
    again = mixing.mix(turns, segment_titles=TITLES, work_dir=tmp_path / "again", seed=7)
    assert again.cues == episode.cues
    assert samples_of(again.path).tobytes() == samples_of(episode.path).tobytes()
    other = mixing.mix(turns[:3], segment_titles=TITLES, work_dir=tmp_path / "other", seed=8)
    assert [cue.start for cue in other.cues] != [cue.start for cue in episode.cues[:3]]


def test_intro_outro_and_a_bed_ducked_under_the_voices(turns: list[Turn], tmp_path: Path) -> None:
    intro, outro, bed = tmp_path / "intro.mp3", tmp_path / "outro.flac", tmp_path / "bed.ogg"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=660:duration=2", "-ac", "2", "-ar", "48000", str(intro))
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=550:duration=1.5", "-ar", "22050", str(outro))
    ffmpeg("-f", "lavfi", "-i", "anoisesrc=duration=3:color=pink:amplitude=0.5", "-ar", "32000", str(bed))
    # a line that is not what render() writes (22.05 kHz stereo) is converted, its time still exact
    odd = tmp_path / "odd.wav"
    ffmpeg("-i", str(turns[1].path), "-ac", "2", "-ar", "22050", str(odd))
    lines = [turns[0], Turn(odd, turns[1].speaker, turns[1].text, turns[1].segment), *turns[2:]]

    episode = mixing.mix(
        lines, segment_titles=TITLES, work_dir=tmp_path / "mix", seed=7, intro=intro, outro=outro, music_bed=bed
    )
    intro_s = 2.0
    body_start = intro_s + mixing.EXTRA_GAP_S
    assert episode.cues[0].start == pytest.approx(body_start + mixing.BED_LEAD_S, abs=0.03)
    assert episode.cues[1].end - episode.cues[1].start == pytest.approx(frames(turns[1].path) / RATE, abs=0.002)
    tail = mixing.BED_TAIL_S + mixing.EXTRA_GAP_S + 1.5 + mixing.TAIL_S
    assert episode.duration_s == pytest.approx(episode.cues[-1].end + tail, abs=0.03)
    assert episode.chapters[0].start == 0.0

    audio = samples_of(episode.path)

    def level(start: float, end: float) -> float:
        return rms_db(audio[round(start * RATE) : round(end * RATE)])

    assert level(0.2, 1.8) > -30  # the intro, at about the voices' level
    bed_alone = level(body_start + 1.1, body_start + mixing.BED_LEAD_S - 0.5)
    gap = max((later.start - earlier.end, earlier.end) for earlier, later in itertools.pairwise(episode.cues[:3]))
    under_voices = level(gap[1] + 0.05, gap[1] + gap[0] - 0.05)  # a pause between lines: still ducked
    assert -75 < under_voices < bed_alone - 10
    assert level(episode.duration_s - 0.4, episode.duration_s) < -60  # nothing after the outro

    integrated, peak = ebur128(episode.path)
    assert integrated == pytest.approx(-16.0, abs=1.0)
    assert peak <= -1.5


def test_audio_that_peaks_low_gets_one_exact_gain(tmp_path: Path) -> None:
    """Tones peak 3 dB over their loudness: no limiter is needed, and one gain lands on the target exactly."""
    lines = []
    for number, frequency in enumerate((300, 500, 700)):
        path = tmp_path / f"tone-{number}.wav"
        ffmpeg("-f", "lavfi", "-i", f"sine=frequency={frequency}:duration=1.5", "-ar", "44100", str(path))
        lines.append(Turn(path, f"Host {number % 2}", f"Tone {number}", 0))
    episode = mixing.mix(lines, segment_titles=["Tones"], work_dir=tmp_path / "mix", seed=2)
    integrated, peak = ebur128(episode.path)
    assert integrated == pytest.approx(-16.0, abs=0.15)
    assert peak <= -1.5
    assert episode.integrated_lufs == pytest.approx(integrated, abs=0.1)


def test_nothing_to_mix_or_a_segment_without_a_title_is_refused(turns: list[Turn], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no lines"):
        mixing.mix([], segment_titles=TITLES, work_dir=tmp_path, seed=1)
    with pytest.raises(ValueError, match="no title"):
        mixing.mix(turns, segment_titles=["Bees"], work_dir=tmp_path, seed=1)
