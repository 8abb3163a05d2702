"""Benchmark: a 5-minute video dubbed English → Portuguese end to end: the seconds and real-time factor of each
stage, the share of the job spent outside the engines, and how well the dub keeps time (speed, onsets, overflows).

The video is made here, as the tests make theirs (tests/dubbing/conftest.py's `make_recording`: a test-card picture,
English lines spoken by piper over a synthetic music bed, at -16 LUFS): LINES, one sentence each and of varied
lengths, laid out from their spoken lengths so that the gaps between them are known: some pairs 0.15 s apart (one
speaker's sentences closer than 0.3 s are one dub unit), some 0.6 s apart (a tight slot: Portuguese runs longer, so
the fit loop speeds the voice up), some with 8 s of music alone, the rest spread evenly over the 5 minutes. The line
start times are the true onsets the dub is measured against, beside the QA report's own offsets (which are against
the onsets speech recognition found).

It runs through an app made here in this process (`create_app` on a fresh SQLite data dir, the local executor, one
worker, billing off, text generation off: Bergamot translates and nothing shortens a line). One untimed 15-s dub
first loads what a dub loads (Whisper base, the diarizer, Bergamot's English → Portuguese model, the Portuguese
voice and its measured speaking rate), as in a worker that dubbed recently; then, timed, the baseline: the same
video transcribed alone by a plain `transcribe` job with the dub's own recognition options (word timestamps,
speakers), and the dub: `POST /api/v1/workspaces/{id}/dubs {file_id, target_languages: ["pt"]}`, polled until it
ends.

Printed, from the job's own record: each stage's seconds as the job timed them (ingest, understand, translate,
voices, mix, mux) and its real-time factor (stage seconds / video seconds: under 1 is faster than it plays), the
job's seconds from start to finish and its real-time factor, the seconds inside the engines (`engine_s`: Whisper and
the diarizer, Bergamot, the voices' synthesis and the stretching of their clips; the mix's ducking, loudness passes
and the mux are ffmpeg's work, outside) and the share outside them, (job - engine) / job; from `GET …/qa` the units,
max and mean speed, the onset offset P95 (the QA's, and against the true onsets), overflows, flagged and shortened
lines; CPU seconds (this process and the ffmpeg it ran) and the load average at the end of each job, the peak RSS of
this process (getrusage) after each phase and of the largest child process during it (ffmpeg; sampled from /proc,
since getrusage counts a child's size before it execs, which is this process's). Then `ratio dub/transcribe
seconds`, the plain transcription of the same process the baseline, and how the dub's own understand stage compares
with it. A failed job exits 1; a missed figure never does.

    .venv/bin/python bench/dub.py [--smoke]

`--smoke`: a 20-second video, without the warm-up.

On this machine (2 cores, load average about 2 through the run), after the mux copies each language's encoded
track and the source's own audio into the video instead of encoding them again: 40 lines (117 s of speech) became
39 units; 37 of the lines begin a unit (Whisper's word times can open a 0.15 s gap past 0.3 s, so not every close
pair merges).

    stage       seconds    RTF
    ingest         1.19  0.004
    understand    18.42  0.061
    translate      0.82  0.003
    voices        11.92  0.040
    mix            4.34  0.014
    mux           12.13  0.040
    job           48.98  0.163
    transcribe    16.50  0.055  (the baseline: a plain job)
    engine s 25.84, outside the engines 47.3%
    cpu s: dub 45.9, transcribe 19.6
    peak RSS 1715 MiB after the transcription, 1765 MiB after the dub; ffmpeg 58 MiB
    pt: max speed 1.250, mean speed 1.026, sped up 8 (stretched 7), overflows 3 (0.309 s in all), flagged 1,
        shortened 0 (no language model to shorten with)
    pt: onset offset P95 0.000 s (QA, max 0.249), 0.070 s against the true onsets (max 0.269)
    ratio dub/transcribe seconds: 2.97; understand/transcribe: 1.12

Before that change the mux stage took 43.7 s (five AAC encodes of the whole 5 minutes) and the job 94.9 s under a
heavier load (ratio 4.48). What is left outside the engines is ffmpeg's: three AAC encodes of the files to download
(each language's mix, its speech alone, the background), the ducking and loudness passes, and the pitch profile.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the recording is made as the tests make theirs

from tests.dubbing.conftest import Recording, _trimmed, make_recording, seconds_of
from tests.speech.conftest import speak

from jobs import load_average, log  # bench/jobs.py: the script's folder is on sys.path
from voxhub.app import create_app
from voxhub.audit.service import Actor
from voxhub.config import Settings
from voxhub.db import Database, migrate
from voxhub.workspaces.flows import create_user

STAGES = ("ingest", "understand", "translate", "voices", "mix", "mux")
LANGUAGES = ["pt"]  # the pair that runs offline (Bergamot); others need the language model
VIDEO_S, SMOKE_VIDEO_S = 300.0, 20.0
FIRST_ONSET_S, TAIL_S = 1.0, 3.0
# The gap after a line, by its place in every ten: a pair that is one unit, tight slots, a stretch of music alone.
MERGE_GAP_S, TIGHT_GAP_S, PAUSE_GAP_S, MIN_EVEN_GAP_S = 0.15, 0.6, 8.0, 1.5
GAP_AFTER = {2: MERGE_GAP_S, 5: TIGHT_GAP_S, 8: TIGHT_GAP_S, 9: PAUSE_GAP_S}
MATCH_S = 1.0  # a unit beginning this close to a line's onset is that line's dub
LINES = (
    "Good evening, and welcome to the programme.",
    "Tonight we follow the river from the hills down to the sea.",
    "It starts as a spring.",
    "A few hundred metres on, it is already wide enough to carry a small boat.",
    "The farmers along the valley have used its water for centuries.",
    "Some of the mills they built are still standing, though most have lost their wheels.",
    "This one was restored ten years ago by a group of volunteers from the village.",
    "They meet every Saturday morning.",
    "Nobody is paid, and nobody has missed a week since the work began.",
    "Further down, the valley opens out.",
    "Here the river slows and spreads across a wide plain of meadows and willows.",
    "In spring the meadows flood.",
    "Wading birds arrive in their thousands to feed in the shallow water.",
    "The herons nest in the tall trees at the edge of the wood.",
    "Their young will leave the nest before the end of June.",
    "A local photographer has watched them for twenty years, always from the same small hide on the bank.",
    "He says the colony has never been larger.",
    "The town is the first on the river.",
    "It grew up around a bridge, and the bridge is still the reason people come.",
    "On market day the square is full by eight o'clock.",
    "Cheese, bread and honey from the farms we passed are sold from the same stalls every week.",
    "Prices have hardly changed.",
    "The baker opened her shop at five this morning, as she has done every day for thirty years.",
    "Below the town the river meets the tide.",
    "Twice a day the water rises by more than four metres and the mud banks disappear.",
    "The harbour master keeps a record of every ship that passes, written by hand in a large book.",
    "The oldest entries are more than a century old.",
    "Most of the ships are small now.",
    "Fishing boats leave before dawn and come back in the early afternoon.",
    "The catch is sold on the quay within the hour.",
    "What is not sold goes to the restaurants along the front.",
    "By evening the tide has turned again.",
    "The light over the estuary changes from grey to gold in a few minutes.",
    "This is the time the photographers wait for.",
    "At the very end of the river there is a lighthouse.",
    "It has not had a keeper since the nineteen eighties.",
    "Its lamp still turns every night, controlled from an office a hundred kilometres away.",
    "From its gallery you can see the whole valley we travelled today.",
    "Thank you for joining us.",
    "Next week we follow another river, from its source in the mountains to the lake where it ends.",
)
WARM_LINES = ((1.0, "The voices load before the clock starts."), (8.0, "The models are ready now."))
WARM_S = 15.0
DUB_TIMEOUT_S = 3 * 3600.0
POLL_S = 0.5
SAMPLE_S = 0.1
FINAL = ("awaiting_review", "succeeded", "failed", "canceled")
PASSWORD = "bench-password-not-common"


@dataclass(frozen=True)
class Timed:
    """One job as its record tells it, and what the machine spent on it."""

    job_s: float
    result: dict[str, Any]
    cpu_s: float
    load: str


def cpu_s() -> float:
    """This process (the app, its worker thread, the engines' threads) and the children it waited for (ffmpeg)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


class ChildMemory(threading.Thread):
    """The largest peak resident memory of any child process (ffmpeg, ffprobe, espeak-ng), read from /proc every
    SAMPLE_S: getrusage's figure for children is no use here, since a child's size before it execs is this process's.
    A child that lives less than SAMPLE_S may be missed."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peaks: dict[str, float] = {}  # program: MiB
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(SAMPLE_S):
            # a child not yet exec'd has the name of the thread that started it, and this process's memory
            own = {self._read(path).strip() for path in Path("/proc/self/task").glob("*/comm")}
            for children in Path("/proc/self/task").glob("*/children"):
                for pid in self._read(children).split():
                    comm = self._read(Path(f"/proc/{pid}/comm")).strip()
                    status = self._read(Path(f"/proc/{pid}/status"))
                    if not comm or comm in own or "VmHWM:" not in status:
                        continue  # gone, or not yet a program of its own
                    peak = int(status.split("VmHWM:")[1].split()[0]) / 1024
                    self.peaks[comm] = max(self.peaks.get(comm, 0.0), peak)

    @staticmethod
    def _read(path: Path) -> str:
        try:
            return path.read_text()
        except OSError:
            return ""

    def peak_rss(self) -> str:
        """This process's peak resident memory (getrusage) and the largest child's, so far."""
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        child = max(self.peaks.items(), key=lambda item: item[1], default=("none", 0.0))
        return f"peak RSS {own:.0f} MiB (this process), {child[1]:.0f} MiB (largest child, {child[0]})"


def seconds_between(start: str, end: str) -> float:
    def moment(value: str) -> datetime:
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    return (moment(end) - moment(start)).total_seconds()


def percentile(values: list[float], share: float) -> float:
    """The test's P95: the value at `share` of the way through the sorted values."""
    ordered = sorted(values)
    return ordered[int(share * (len(ordered) - 1))] if ordered else float("nan")


# ---- the video ----


def layout(scratch: Path, duration_s: float) -> tuple[tuple[float, str], ...]:
    """The lines at their start times: each gap after a line as GAP_AFTER says, the rest of the video's time spread
    evenly over the other gaps; lines are left off the end until those gaps are at least MIN_EVEN_GAP_S."""
    spoken = [seconds_of(_trimmed(speak(scratch / f"measure{number}", text, format="wav"))) for number, text in
              enumerate(LINES)]  # fmt: skip
    for count in range(len(LINES), 0, -1):
        fixed = [GAP_AFTER[number % 10] for number in range(count - 1) if number % 10 in GAP_AFTER]
        even = count - 1 - len(fixed)
        spare = duration_s - FIRST_ONSET_S - TAIL_S - sum(spoken[:count]) - sum(fixed)
        if count == 1 or (even and spare / even >= MIN_EVEN_GAP_S):
            gap = spare / even if even else 0.0
            break
    log(f"{count} lines, {sum(spoken[:count]):.1f} s spoken, {gap:.2f} s between the lines not placed apart")
    lines, at = [], FIRST_ONSET_S
    for number in range(count):
        lines.append((round(at, 2), LINES[number]))
        at += spoken[number] + GAP_AFTER.get(number % 10, gap)
    return tuple(lines)


# ---- the app ----


class Bench:
    """An app on a fresh data dir, served in this process, and one signed-in user of it."""

    def __init__(self, settings: Settings) -> None:
        database = Database(settings)
        try:
            migrate(database.engine)
        finally:
            database.dispose()
        self.app = create_app(settings)
        self.client = TestClient(self.app)
        self.headers: dict[str, str] = {}
        self.url = ""

    def __enter__(self) -> Bench:
        self.client.__enter__()  # the lifespan: the executor starts
        email = "bench@example.com"
        with self.app.state.db.session() as db:
            create_user(db, email=email, password=PASSWORD, name="Bench", actor=Actor.system(), verified=True)
        tokens = self.client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        tokens.raise_for_status()
        self.headers = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
        self.url = f"/api/v1/workspaces/{self.read('/api/v1/workspaces')['items'][0]['id']}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.__exit__(*exc)

    def read(self, path: str) -> Any:
        answer = self.client.get(path, headers=self.headers)
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path} answered {answer.status_code}: {answer.text}")
        return answer.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        answer = self.client.post(f"{self.url}{path}", headers=self.headers, json=body)
        if answer.status_code != 202:
            raise RuntimeError(f"POST {path} answered {answer.status_code}: {answer.text}")
        return answer.json()

    def upload(self, path: Path) -> str:
        with path.open("rb") as handle:
            answer = self.client.post(f"{self.url}/files", headers=self.headers,
                                      files={"file": (path.name, handle, "application/octet-stream")})  # fmt: skip
        if answer.status_code != 201 or answer.json()["status"] != "ready":
            raise RuntimeError(f"uploading {path.name} answered {answer.status_code}: {answer.text}")
        return str(answer.json()["id"])

    def wait(self, path: str, what: str) -> dict[str, Any]:
        """Poll `path` (a job or a dub) until no job works on it; a line to stderr for each stage it enters."""
        began, seen = time.monotonic(), ""
        while True:
            state = self.read(f"{self.url}{path}")
            if state.get("stage") and state["stage"] != seen:
                seen = state["stage"]
                log(f"{what}: {seen} after {time.monotonic() - began:.1f} s")
            if state["status"] in FINAL:
                if state["status"] != "succeeded":
                    raise RuntimeError(f"the {what} ended {state['status']}: {state.get('error')}")
                return dict(state)
            if time.monotonic() - began > DUB_TIMEOUT_S:
                raise RuntimeError(f"the {what} is still {state['status']}")
            time.sleep(POLL_S)

    def job(self, job_id: str, cpu: float) -> Timed:
        record = self.read(f"{self.url}/jobs/{job_id}")
        return Timed(
            job_s=seconds_between(record["timings"]["started_at"], record["timings"]["finished_at"]),
            result=record["result"],
            cpu_s=cpu_s() - cpu,
            load=load_average(),
        )

    def transcribe(self, file_id: str) -> Timed:
        cpu = cpu_s()
        params = {"word_timestamps": True, "diarize": True}  # what the dub's understand stage asks for
        job = self.post("/jobs", {"type": "transcribe", "input": {"file_id": file_id}, "params": params})
        self.wait(f"/jobs/{job['id']}", "transcription")
        return self.job(job["id"], cpu)

    def dub(self, file_id: str, what: str) -> tuple[Timed, dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        """The dub's job, the dub itself, its QA report and its units."""
        cpu = cpu_s()
        accepted = self.post("/dubs", {"file_id": file_id, "target_languages": LANGUAGES})
        dub = self.wait(f"/dubs/{accepted['id']}", what)
        timed = self.job(dub["job_id"], cpu)
        qa = self.read(f"{self.url}/dubs/{dub['id']}/qa")
        units = self.read(f"{self.url}/dubs/{dub['id']}/segments")["items"]
        return timed, dub, qa, units


# ---- the report ----


def report(recording: Recording, baseline: Timed, dubbed: Timed, dub: dict[str, Any], qa: dict[str, Any],
           units: list[dict[str, Any]], memory: dict[str, str]) -> None:  # fmt: skip
    video_s = float(dubbed.result["duration_s"])
    stages = dubbed.result["timings"]
    engine_s = float(dubbed.result["engine_s"])
    print(f"video {video_s:.1f} s, {len(recording.lines)} lines spoken, {len(units)} units, voices {dub['voices']}")
    print(f"{'stage':10} {'seconds':>8} {'RTF':>6}")
    for stage in STAGES:
        seconds = float(stages.get(stage, 0.0))
        print(f"{stage:10} {seconds:8.2f} {seconds / video_s:6.3f}")
    print(f"{'job':10} {dubbed.job_s:8.2f} {dubbed.job_s / video_s:6.3f}")
    print(f"{'transcribe':10} {baseline.job_s:8.2f} {baseline.job_s / video_s:6.3f}  (the baseline: a plain job)")
    print(
        f"engine s {engine_s:.2f}, outside the engines {(dubbed.job_s - engine_s) / dubbed.job_s:.1%} "
        f"((job - engine) / job); stages add up to {sum(float(value) for value in stages.values()):.2f} s"
    )
    print(f"cpu s: dub {dubbed.cpu_s:.1f} (load {dubbed.load}), transcribe {baseline.cpu_s:.1f} (load {baseline.load})")
    for phase, figure in memory.items():
        print(f"after the {phase}: {figure}")
    onsets = recording.onsets
    begun = sum(any(abs(unit["start"] - onset) <= MATCH_S for unit in units) for onset in onsets)
    print(f"lines a unit begins at: {begun} of {len(onsets)} (the others merged into the unit before, or missed)")
    for language in LANGUAGES:
        totals = qa["languages"][language]
        lines = [item for item in qa["segments"] if item["language"] == language]
        starts = {unit["index"]: unit["start"] for unit in units}
        # Against the true onsets: a unit that begins near a line's onset is that line's dub (the second of a merged
        # pair, and a unit recognition began mid-line, have none).
        true: list[float] = []
        for item in lines:
            nearest = min(onsets, key=lambda onset: abs(onset - starts[item["index"]]))
            if abs(nearest - starts[item["index"]]) <= MATCH_S:
                true.append(abs(starts[item["index"]] + item["onset_offset_s"] - nearest))
        recognised = [abs(item["onset_offset_s"]) for item in lines]
        print(
            f"{language}: units {totals['units']}, dubbed {totals['dubbed']}, max speed {totals['max_speed']:.3f}, "
            f"mean speed {totals['mean_speed']:.3f}, sped up {sum(item['speed'] > 1.0 for item in lines)} "
            f"(stretched {sum(item['stretch'] > 1.0 for item in lines)}), overflows {totals['overflows']} "
            f"({sum(item['overflow_s'] for item in lines):.3f} s in all), flagged {totals['flagged']}, "
            f"shortened {totals['shortened']}"
        )
        print(
            f"{language}: onset offset P95 {totals['onset_offset_p95_s']:.3f} s (QA, against recognised onsets; "
            f"max {max(recognised, default=float('nan')):.3f}), {percentile(true, 0.95):.3f} s against the true "
            f"onsets (max {max(true, default=float('nan')):.3f}, {len(true)} units that begin a line, of "
            f"{len(lines)})"
        )
    print(
        f"ratio dub/transcribe seconds: {dubbed.job_s / baseline.job_s:.2f}; understand/transcribe: "
        f"{float(stages.get('understand', 0.0)) / baseline.job_s:.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="A 20-second video, no warm-up: fails on errors only.")
    args = parser.parse_args()
    duration_s = SMOKE_VIDEO_S if args.smoke else VIDEO_S
    memory = ChildMemory()
    memory.start()
    workdir = Path(tempfile.mkdtemp(prefix="voxhub-bench-dub-"))
    try:
        started = time.perf_counter()
        recording = make_recording(workdir / "video", layout(workdir / "measure", duration_s), duration_s=duration_s)
        warm = make_recording(workdir / "warm", WARM_LINES, duration_s=WARM_S, name="warm")
        log(f"made the {duration_s:.0f}-s video and the warm-up clip in {time.perf_counter() - started:.1f} s")
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=workdir / "data",
            llm_engine="none",
            workers=1,
            billing_enabled=False,
            run_periodic_tasks=False,
            model_idle_ttl_s=0,  # the engines warmed up stay loaded through the run
            access_token_ttl_s=int(DUB_TIMEOUT_S),
        )
        with Bench(settings) as bench:
            if not args.smoke:
                started = time.perf_counter()
                bench.dub(bench.upload(warm.path), "warm-up dub")
                print(f"engines loaded by a {WARM_S:.0f}-s dub in {time.perf_counter() - started:.1f} s (not timed); "
                      f"{memory.peak_rss()}", flush=True)  # fmt: skip
            file_id = bench.upload(recording.path)
            figures: dict[str, str] = {}
            memory.peaks.clear()  # from here on, each phase's own children
            baseline = bench.transcribe(file_id)
            figures["transcription"] = memory.peak_rss()
            log(f"transcribed in {baseline.job_s:.1f} s; {figures['transcription']}")
            memory.peaks.clear()
            dubbed, dub, qa, units = bench.dub(file_id, "dub")
            figures["dub"] = memory.peak_rss()
            log(f"dubbed in {dubbed.job_s:.1f} s; {figures['dub']}")
        report(recording, baseline, dubbed, dub, qa, units, figures)
        return 0
    except RuntimeError as exc:
        log(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        memory.stopped.set()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
