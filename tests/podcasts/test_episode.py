"""A SHORT episode from known notes, made end to end and checked the way a listener and a podcast app would: the MP3
as ffprobe reads it (tags, chapters, length), its loudness as EBU R128 measures it, two hosts that a diarization
engine tells apart, captions whose cues are the script's lines, and the notes' key terms said aloud."""

from __future__ import annotations

import json
import re
import subprocess
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import People, Person
from tests.podcasts.conftest import TOPICS, make_podcast
from voxhub.engines import diarize
from voxhub.podcasts.schemas import SHORT_MINUTES


def download(client: TestClient, person: Person, file_id: str, target: Path) -> Path:
    url = f"/api/v1/workspaces/{person.workspace_id}/files/{file_id}/download"
    moved = client.get(url, headers=person.headers, follow_redirects=False)
    assert moved.status_code == 302, moved.text
    parts = urlsplit(moved.headers["location"])
    fetched = client.get(f"{parts.path}?{parts.query}")
    assert fetched.status_code == 200
    target.write_bytes(fetched.content)
    return target


def ffprobe(path: Path) -> dict[str, Any]:
    shown = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-show_chapters", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(json.loads(shown.stdout))


def loudness(path: Path) -> tuple[float, float]:
    """Integrated loudness (LUFS) and true peak (dBTP), as ffmpeg's EBU R128 meter reads them."""
    measured = subprocess.run(
        ["ffmpeg", "-nostats", "-i", str(path), "-af", "ebur128=peak=true", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    summary = measured[measured.rindex("Summary:") :]
    integrated = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))  # type: ignore[union-attr]
    peak = float(re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))  # type: ignore[union-attr]
    return integrated, peak


def samples_16k(path: Path) -> np.ndarray:
    pcm = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-ac", "1", "-ar", "16000", "-f", "f32le", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(pcm, dtype=np.float32)


def vtt_cues(text: str) -> list[tuple[float, float, str, str]]:
    """(start, end, speaker, text) of each cue."""

    def seconds(stamp: str) -> float:
        hours, minutes, rest = stamp.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(rest)

    cues = []
    for block in text.split("\n\n")[1:]:
        lines = [line for line in block.strip().splitlines() if line]
        timing = next((line for line in lines if "-->" in line), None)
        if timing is None:
            continue
        start, end = (seconds(part.strip().split()[0]) for part in timing.split("-->"))
        said = " ".join(lines[lines.index(timing) + 1 :])
        voice = re.match(r"<v ([^>]+)>(.*)", said)
        assert voice, said
        cues.append((start, end, voice.group(1), re.sub(r"</v>$", "", voice.group(2)).strip()))
    return cues


def test_a_short_episode_is_a_tagged_chaptered_normalised_mp3_with_two_voices_and_exact_captions(
    client: TestClient, people: People, tmp_path: Path
) -> None:
    owner = people.create()
    episode = make_podcast(client, owner, title="Spring on the allotment", hosts=[{"name": "Maria"}, {"name": "Ben"}])
    assert episode["status"] == "succeeded", episode
    outputs = episode["outputs"]
    mp3 = download(client, owner, outputs["mp3_file_id"], tmp_path / "episode.mp3")
    script = json.loads(download(client, owner, outputs["script_file_id"], tmp_path / "script.json").read_text())
    captions = download(client, owner, outputs["vtt_file_id"], tmp_path / "episode.vtt").read_text()

    probed = ffprobe(mp3)
    audio = probed["streams"][0]
    assert audio["codec_name"] == "mp3" and int(audio["sample_rate"]) == 44100
    assert int(probed["format"]["bit_rate"]) >= 96_000
    tags = {key.lower(): value for key, value in probed["format"]["tags"].items()}
    assert tags["title"] == "Spring on the allotment" and "Maria" in tags["artist"] and "Ben" in tags["artist"]
    _target, low, high = SHORT_MINUTES
    duration = float(probed["format"]["duration"])
    assert low * 60 <= duration <= high * 60, duration
    assert duration == pytest.approx(episode["duration_s"], abs=0.2)
    chapters = probed["chapters"]
    assert [chapter["tags"]["title"] for chapter in chapters] == [s["title"] for s in script["segments"]]
    assert float(chapters[0]["start_time"]) == 0.0 and len(chapters) == len(episode["chapters"])

    integrated, peak = loudness(mp3)
    assert integrated == pytest.approx(-16.0, abs=1.0) and peak <= -1.0  # -1.5 dBTP asked; MP3 encoding adds a little

    cues = vtt_cues(captions)
    lines = [(line["speaker"], line["text"]) for segment in script["segments"] for line in segment["lines"]]
    assert [(speaker, text) for _start, _end, speaker, text in cues] == lines
    assert all(start < end <= duration + 0.01 for start, end, _speaker, _text in cues)
    assert all(earlier[1] <= later[0] for earlier, later in pairwise(cues))
    said = captions.lower()
    for topic, terms in TOPICS.items():
        assert any(term in said for term in terms), (topic, terms)

    if not diarize.available():
        pytest.skip(f"diarization is not installed here: {diarize.unavailable_reason()}")
    speakers = {turn.speaker for turn in diarize.diarize(samples_16k(mp3), 16000)}
    assert len(speakers) == 2, speakers
