"""A ten-minute video is dubbed whole, without the memory growing with its length: the voice track is built on disk
and every long pass is ffmpeg's, streaming. (Peers dub the first minute of a long video, or need tens of GB.)"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import People
from tests.dubbing.conftest import Recording, download, make_recording, seconds_of, start_dub, streams_of, wait_for_dub
from tests.jobs_helpers import upload

MINUTES = 10
# a line near the start, the middle and the end: the whole length must be dubbed, not the first minute
LINES = (
    (2.0, "Welcome to the show. Today we talk about the weather."),
    (300.0, "The rain will stop in the morning, and the afternoon will be warm."),
    (590.0, "Thank you for watching, and see you next week."),
)
MEMORY_MB = 300  # what dubbing ten minutes may grow this process by beyond what a short dub grows it by

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("VOXHUB_TEST_DATABASE_URL")),
    reason="media work, the same on either database: it runs once, in the SQLite pass",
)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _Peak:
    """The highest resident memory of this process, sampled every 50 ms."""

    def __init__(self) -> None:
        self.start = _rss_mb()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, _rss_mb())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak - self.start


def test_a_ten_minute_video_is_dubbed_whole_in_bounded_memory(
    client: TestClient, people: People, recording: Recording, tmp_path: Path
) -> None:
    short = recording
    recording = make_recording(tmp_path / "long", LINES, duration_s=MINUTES * 60.0, name="long")
    person = people.create()
    # the engines loaded first, by a short dub: what they take is the same for any length
    warm = start_dub(client, person, upload(client, person, short.path), target_languages=["pt"])
    assert wait_for_dub(client, person, warm.json()["id"])["status"] == "succeeded"
    # what a short dub grows the process by once the engines are in: the engines' working memory on this machine
    # (their thread pools grow with its cores), which a long dub needs too
    watch = _Peak()
    again = start_dub(client, person, upload(client, person, short.path), target_languages=["pt"])
    assert wait_for_dub(client, person, again.json()["id"])["status"] == "succeeded"
    working = watch.stop()
    file_id = upload(client, person, recording.path)
    watch = _Peak()
    started = time.monotonic()
    accepted = start_dub(client, person, file_id, target_languages=["pt"])
    assert accepted.status_code == 202, accepted.text
    dub = wait_for_dub(client, person, accepted.json()["id"], timeout=1200)
    grew = watch.stop()
    assert dub["status"] == "succeeded", dub
    # every line dubbed where it is said: at the start, the middle and the end
    url = f"/api/v1/workspaces/{person.workspace_id}/dubs/{dub['id']}"
    starts = {
        unit["index"]: unit["start"] for unit in client.get(f"{url}/segments", headers=person.headers).json()["items"]
    }
    report = client.get(f"{url}/qa", headers=person.headers).json()["segments"]
    heard_at = [starts[item["index"]] + item["onset_offset_s"] for item in report]
    for onset in recording.onsets:
        assert any(abs(at - onset) <= 0.25 for at in heard_at), (onset, heard_at, time.monotonic() - started)
    made = download(client, person, dub["outputs"]["media_file_id"], tmp_path / "long.dub.mp4")
    assert abs(seconds_of(made) - MINUTES * 60.0) <= 0.04
    assert [stream["codec_type"] for stream in streams_of(made)][:3] == ["video", "audio", "audio"]
    assert grew - working <= MEMORY_MB, (
        f"the process grew by {grew:.0f} MB, {grew - working:.0f} MB more than for a short dub"
    )
