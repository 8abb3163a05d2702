"""What an episode is published as, read back by ffprobe and ffmpeg: MP3 and M4A with tags and chapters, loudness
that survives encoding, Podcasting 2.0 chapters, and captions with the hosts' names at the mix's times."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.engines.test_diarize import synthesis_missing
from tests.podcasts.test_mix import ebur128, render_turns
from voxhub.podcasts import mix as mixing
from voxhub.podcasts import outputs
from voxhub.podcasts.mix import Cue, Mixed
from voxhub.podcasts.schemas import ChapterMark

SCRIPT = [
    ("Alex", "Welcome to the allotment show.", 0),
    ("Sam", "First, the bees.", 0),
    ("Alex", "Then the rain barrels.", 1),
    ("Sam", "And last, the compost heap.", 2),
]
TITLES = ["Hello", "Bees & honey: the <basics>", "Compost; #3 = worms"]


@pytest.fixture(autouse=True)
def _nothing_left_running() -> None:
    """These tests run no jobs and need no database (the package's conftest checks that jobs are left idle)."""


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Mixed:
    if synthesis_missing() is not None:
        pytest.skip(f"no offline voices: {synthesis_missing()}")
    folder = tmp_path_factory.mktemp("episode")
    return mixing.mix(render_turns(folder, SCRIPT), segment_titles=TITLES, work_dir=folder / "mix", seed=3)


def probed(path: Path) -> dict[str, Any]:
    answer = subprocess.run(
        ["ffprobe", "-v", "error", "-show_chapters", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, Any] = json.loads(answer.stdout)
    return found


@pytest.mark.parametrize("fmt", ["mp3", "m4a"])
def test_the_episode_file_has_tags_chapters_and_podcast_quality(mixed: Mixed, fmt: str, tmp_path: Path) -> None:
    target = tmp_path / f"episode.{fmt}"
    outputs.encode(
        mixed,
        target,
        fmt=fmt,  # type: ignore[arg-type]
        title="Spring on the allotment",
        artist="Alex, Sam",
        date="2025-04-01",
        chapters=mixed.chapters,
    )
    found = probed(target)
    audio = next(stream for stream in found["streams"] if stream["codec_type"] == "audio")
    assert audio["codec_name"] == ("mp3" if fmt == "mp3" else "aac")
    assert int(audio["sample_rate"]) == 44_100
    # MP3 at a podcast bitrate; AAC's encoder spends less than asked on pauses, and needs less for the same quality
    assert int(audio["bit_rate"]) >= (128_000 if fmt == "mp3" else 64_000)
    assert float(found["format"]["duration"]) == pytest.approx(mixed.duration_s, abs=0.1)
    tags = found["format"]["tags"]
    assert (tags["title"], tags["artist"], tags["date"]) == ("Spring on the allotment", "Alex, Sam", "2025-04-01")
    chapters = [(round(float(chapter["start_time"]), 3), chapter["tags"]["title"]) for chapter in found["chapters"]]
    assert chapters == [(round(mark.start, 3), title) for mark, title in zip(mixed.chapters, TITLES, strict=True)]
    assert float(found["chapters"][-1]["end_time"]) == pytest.approx(mixed.duration_s, abs=0.01)

    integrated, peak = ebur128(target)
    assert integrated == pytest.approx(-16.0, abs=1.0)
    assert peak <= -1.5


def test_the_mp3_chapters_are_id3_chap_and_ctoc_frames(mixed: Mixed, tmp_path: Path) -> None:
    target = tmp_path / "episode.mp3"
    outputs.encode(mixed, target, fmt="mp3", title="T", artist="A", date="2025-04-01", chapters=mixed.chapters)
    head = target.read_bytes()[:4096]
    assert head[:4] == b"ID3\x03"  # ID3v2.3, what most podcast apps read chapters from
    assert b"CTOC" in head and head.count(b"CHAP") == len(TITLES)


def test_chapters_json_is_podcasting_2_0() -> None:
    marks = [ChapterMark(start=0.0, title="Hello"), ChapterMark(start=12.3456, title="Bees")]
    assert outputs.chapters_json(marks, 30.0, title="Spring") == {
        "version": "1.2.0",
        "title": "Spring",
        "chapters": [
            {"startTime": 0.0, "endTime": 12.346, "title": "Hello"},
            {"startTime": 12.346, "endTime": 30.0, "title": "Bees"},
        ],
    }
    assert "title" not in outputs.chapters_json(marks, 30.0)


CUES = [
    Cue(start=0.3, end=3.1834, speaker="Alex", text="Bees & <wasps>: friends?", segment=0),
    Cue(start=3.54, end=7.0, speaker="Sam", text="Not quite.\n\nThey  compete.", segment=0),
    Cue(start=3725.5, end=3727.25, speaker="Alex", text="An hour in.", segment=1),
]


def test_vtt_names_the_speaker_of_every_line_at_its_time() -> None:
    assert outputs.vtt(CUES) == (
        "WEBVTT\n\n"
        "00:00:00.300 --> 00:00:03.183\n<v Alex>Bees &amp; &lt;wasps&gt;: friends?\n\n"
        "00:00:03.540 --> 00:00:07.000\n<v Sam>Not quite. They compete.\n\n"
        "01:02:05.500 --> 01:02:07.250\n<v Alex>An hour in.\n"
    )


def test_srt_numbers_the_lines_and_prefixes_the_speaker() -> None:
    assert outputs.srt(CUES) == (
        "1\n00:00:00,300 --> 00:00:03,183\nAlex: Bees & <wasps>: friends?\n\n"
        "2\n00:00:03,540 --> 00:00:07,000\nSam: Not quite. They compete.\n\n"
        "3\n01:02:05,500 --> 01:02:07,250\nAlex: An hour in.\n"
    )


def test_captions_follow_the_mix(mixed: Mixed) -> None:
    captions = outputs.vtt(mixed.cues).split("\n\n")[1:]
    assert len(captions) == len(SCRIPT)
    for caption, cue, (speaker, text, _segment) in zip(captions, mixed.cues, SCRIPT, strict=True):
        times, line = caption.strip().split("\n")
        assert line == f"<v {speaker}>{text}"
        start, end = (
            sum(float(part) * 60**power for power, part in enumerate(reversed(t.split(":"))))
            for t in times.split(" --> ")
        )
        assert start == pytest.approx(cue.start, abs=0.0005) and end == pytest.approx(cue.end, abs=0.0005)
