"""Finished items to share, made without running their jobs: a real recording (and a real little video) uploaded over
HTTP, then a succeeded transcription, podcast episode and dub pointing at them, as their jobs would leave them."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import Person
from voxhub.clock import utcnow
from voxhub.dubbing.models import Dub
from voxhub.jobs.models import Job, JobStatus
from voxhub.podcasts.models import Podcast
from voxhub.transcripts import service as transcripts

SEGMENTS = [
    (0.0, 1.0, "S1", "Welcome to the allotment diary."),
    (1.0, 2.0, "S2", "Today: bees, rain barrels and compost."),
]
SPEAKERS = {"S1": "Ana", "S2": "Ben"}


def make_media(folder: Path) -> dict[str, Path]:
    """diary.wav (2 s of tone) and dub.webm (1 s of test picture with a tone), made by ffmpeg."""
    wav, webm = folder / "diary.wav", folder / "dub.webm"
    run = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y"]
    subprocess.run(
        [*run, "-f", "lavfi", "-i", "sine=frequency=220:duration=2", "-ac", "1", "-ar", "16000", str(wav)], check=True
    )
    subprocess.run(
        [*run, "-f", "lavfi", "-i", "testsrc=size=160x90:rate=10:duration=1", "-f", "lavfi", "-i",
         "sine=frequency=330:duration=1", "-c:v", "libvpx", "-b:v", "100k", "-c:a", "libopus", "-shortest", str(webm)],
        check=True,
    )  # fmt: skip
    return {"wav": wav, "webm": webm}


def upload(client: Any, person: Person, path: Path, content_type: str) -> str:
    with path.open("rb") as handle:
        answer = client.post(
            f"/api/v1/workspaces/{person.workspace_id}/files",
            headers=person.headers,
            files={"file": (path.name, handle, content_type)},
        )
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "ready", answer.json()
    return str(answer.json()["id"])


@dataclass
class Items:
    recording_id: str  # the uploaded recording
    video_id: str  # the uploaded video
    transcript: str  # the transcription job's id
    podcast: str
    dub: str


def make_items(app: Any, client: Any, person: Person, media: dict[str, Path]) -> Items:
    recording_id = upload(client, person, media["wav"], "audio/wav")
    video_id = upload(client, person, media["webm"], "video/webm")
    document = {
        "language": "en",
        "duration": 2.0,
        "text": " ".join(text for *_, text in SEGMENTS),
        "segments": [
            {"id": index, "start": start, "end": end, "speaker": speaker, "text": text, "words": []}
            for index, (start, end, speaker, text) in enumerate(SEGMENTS)
        ],
        "speakers": SPEAKERS,
    }
    now = utcnow()
    with app.state.db.session() as db:
        job = Job(
            workspace_id=person.workspace_id,
            type="transcribe",
            queue="asr",
            status=JobStatus.SUCCEEDED.value,
            input={"file_id": recording_id},
            params={},
            progress=100.0,
            result={"segments": len(SEGMENTS), "transcript_version": 1},
            finished_at=now,
            created_by=person.id,
        )
        db.add(job)
        db.flush()
        transcripts.save_from_job(db, workspace_id=person.workspace_id, job_id=job.id, data=document)
        podcast = Podcast(
            workspace_id=person.workspace_id,
            created_by=person.id,
            title="Allotment diary, episode 1",
            notes="Bees, rain and compost.",
            options={"language": "en", "hosts": [{"name": "Ana"}, {"name": "Ben"}]},
            status="succeeded",
            outputs={"mp3_file_id": recording_id},
            script={"segments": [{"title": "Bees", "lines": [{"speaker": "Ana", "text": "Welcome to the diary."}]}]},
            script_complete=True,
            chapters=[{"start": 0.0, "title": "Bees"}, {"start": 1.0, "title": "Rain"}],
            duration_s=2.0,
            published_at=now,
        )
        dub = Dub(
            workspace_id=person.workspace_id,
            created_by=person.id,
            file_id=video_id,
            title="Garden tour, in Portuguese",
            options={"target_languages": ["pt"]},
            status="succeeded",
            source_language="en",
            outputs={"media_file_id": video_id},
            duration_s=1.0,
        )
        db.add_all([podcast, dub])
        db.flush()
        return Items(recording_id, video_id, job.id, podcast.id, dub.id)
