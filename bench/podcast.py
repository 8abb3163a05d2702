"""Benchmark: podcast episodes end to end, SHORT and LONG, written by the local language model and by the extractive
method: the seconds of each stage, the real-time factor of the whole job, and the share of it spent outside the
engines (target <= 10%).

Each run is what a user's episode is: `POST /api/v1/workspaces/{id}/podcasts` with known notes, then polled until it
ends: for SHORT the notes of tests/podcasts/conftest.py (three topics, ~900 words), for LONG those and the six
topics of bench/insights.py's meeting after them (~2,200 words, about what 15 minutes speak). It runs through an app
made here in this process (`create_app` on a fresh SQLite data dir, the local executor, one worker, billing off:
limits are not what is measured). One app per script engine (`llm_engine` "none" for the extractive method, "local"
with `--model`, default `make run`'s qwen2.5-coder-1.5b, else the 0.5B), and a new user, so a new workspace and an
empty clip cache, for every episode: no run reuses another's voices. The language model and the hosts' voices are
loaded before any clock starts, as in a worker that made an episode recently (the load is printed apart).

Printed per episode, from the job's own record: each stage's seconds as the job timed them (outline, script,
voices, mix, outputs), the job's seconds from start to finish, the episode's audio seconds, the real-time factor
(job seconds / audio seconds: under 1 is faster than it plays), the seconds inside the engines (`engine_s`: the
model's calls and speech synthesis; the mix's loudness passes and the encoding are ffmpeg's work, outside) and the
share outside them, (job - engine) / job; beside them words, lines, the notes' key terms the script says, CPU
seconds (this process and the ffmpeg it ran) and the load average at the end, since other work on a shared machine
slows every stage. Then `ratio local/extractive seconds` for each length, the extractive run of the same process the
baseline. A failed episode exits 1; a missed target never does.

    .venv/bin/python bench/podcast.py [--lengths short,long] [--engines extractive,local]
                                      [--model qwen2.5-coder-1.5b] [--threads 0] [--smoke]

LONG with the local model takes many minutes on a small CPU: `--lengths short` or `--engines extractive` leaves it
out. `--smoke`: the extractive method alone, on a 1-minute episode.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the known notes live with the tests

from tests.podcasts.conftest import NOTES, TOPICS

from insights import LONG_TOPICS  # bench/insights.py: the script's folder is on sys.path
from jobs import load_average, log
from voxhub import engines
from voxhub.app import create_app
from voxhub.audit.service import Actor
from voxhub.config import Settings
from voxhub.db import Database, migrate
from voxhub.engines.llm import BUNDLED, installed
from voxhub.podcasts import voices
from voxhub.podcasts.schemas import DurationKind, Minutes, duration_range
from voxhub.workspaces.flows import create_user

TARGET_OUTSIDE = 0.10
STAGES = ("outline", "script", "voices", "mix", "outputs")
LENGTHS: dict[str, DurationKind | Minutes] = {
    "short": DurationKind.SHORT,
    "long": DurationKind.LONG,
    "1min": Minutes(minutes=1),
}
ENGINES = ("extractive", "local")
DEFAULT_MODEL = "qwen2.5-coder-1.5b"  # what `make run` serves
FALLBACK_MODEL = "qwen2.5-coder-0.5b"
PASSWORD = "bench-password-not-common"
# Notes about the length a LONG episode speaks (~2,250 words at ~150 a minute): the allotment notes, then the six
# topics of bench/insights.py's community centre meeting, so the extractive method does not run out of sentences.
LONG_NOTES = (
    NOTES.rstrip()
    + "\n\n"
    + "\n\n".join(f"## {topic.name.capitalize()}\n{' '.join(topic.sentences)}" for topic in LONG_TOPICS)
    + "\n"
)
NOTES_TERMS = [term for terms in TOPICS.values() for term in terms]
# Each length's notes, and the key terms a fair episode from them says.
NOTES_OF = {
    "short": (NOTES, NOTES_TERMS),
    "long": (LONG_NOTES, NOTES_TERMS + [term for topic in LONG_TOPICS for term in topic.key_terms]),
    "1min": (NOTES, NOTES_TERMS),
}

EPISODE_TIMEOUT_S = 3 * 3600.0  # the job type's own limit
POLL_S = 0.5
FINAL = ("awaiting_review", "succeeded", "failed", "canceled")


@dataclass(frozen=True)
class Episode:
    engine: str
    length: str
    job_s: float
    stages: dict[str, float]
    engine_s: float
    audio_s: float
    words: int
    lines: int
    cpu_s: float
    load: str
    terms: str  # the notes' key terms the script says, "n/m"

    @property
    def real_time_factor(self) -> float:
        return self.job_s / self.audio_s if self.audio_s else float("nan")

    @property
    def outside(self) -> float:
        return (self.job_s - self.engine_s) / self.job_s if self.job_s else float("nan")


def cpu_s() -> float:
    """This process (the app, its worker thread, the model's threads) and the children it waited for (ffmpeg)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def seconds_between(start: str, end: str) -> float:
    def moment(value: str) -> datetime:
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    return (moment(end) - moment(start)).total_seconds()


class Bench:
    """An app on a fresh data dir for one script engine, served in this process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        database = Database(settings)
        try:
            migrate(database.engine)
        finally:
            database.dispose()
        self.app = create_app(settings)
        self.client = TestClient(self.app)
        self.people = 0

    def __enter__(self) -> Bench:
        self.client.__enter__()  # the lifespan: the executor starts
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.__exit__(*exc)

    def sign_up(self) -> tuple[dict[str, str], str]:
        """A new user (and so a new workspace, with an empty clip cache), signed in: headers and workspace id."""
        self.people += 1
        email = f"bench{self.people}@example.com"
        with self.app.state.db.session() as db:
            create_user(db, email=email, password=PASSWORD, name="Bench", actor=Actor.system(), verified=True)
        tokens = self.client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        tokens.raise_for_status()
        headers = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
        workspaces = self.client.get("/api/v1/workspaces", headers=headers)
        workspaces.raise_for_status()
        return headers, str(workspaces.json()["items"][0]["id"])

    def read(self, path: str, headers: dict[str, str]) -> Any:
        answer = self.client.get(path, headers=headers)
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path} answered {answer.status_code}: {answer.text}")
        return answer.json()

    def episode(self, engine: str, length: str) -> Episode:
        headers, workspace_id = self.sign_up()
        url = f"/api/v1/workspaces/{workspace_id}/podcasts"
        notes, terms = NOTES_OF[length]
        duration = LENGTHS[length]
        body = {
            "notes": notes,
            "title": f"Bench {length} {engine}",
            "duration": duration.model_dump() if isinstance(duration, Minutes) else duration.value,
        }
        cpu = cpu_s()
        accepted = self.client.post(url, headers=headers, json=body)
        if accepted.status_code != 202:
            raise RuntimeError(f"POST podcasts answered {accepted.status_code}: {accepted.text}")
        podcast_id = accepted.json()["id"]
        posted = time.monotonic()
        deadline = time.monotonic() + EPISODE_TIMEOUT_S
        seen = ""
        while True:
            status = self.read(f"{url}/{podcast_id}/status", headers)
            # a line per stage, and per segment of a script: not one per spoken line
            step = f"{status['stage']} {status['message'] or ''}" if status["stage"] == "script" else status["stage"]
            if step and step != seen:
                log(f"{engine} {length}: {step} after {time.monotonic() - posted:.1f} s")
                seen = step
            if status["status"] in FINAL:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {length} {engine} episode is still {status['status']}")
            time.sleep(POLL_S)
        cpu = cpu_s() - cpu
        if status["status"] != "succeeded":
            raise RuntimeError(f"the {length} {engine} episode ended {status['status']}: {status['error']}")
        job = self.read(f"/api/v1/workspaces/{workspace_id}/jobs/{status['job_id']}", headers)
        result = job["result"]
        script = self.read(f"{url}/{podcast_id}/script", headers)
        said = " ".join(line["text"] for segment in script["segments"] for line in segment["lines"]).lower()
        return Episode(
            engine=engine,
            length=length,
            job_s=seconds_between(job["timings"]["started_at"], job["timings"]["finished_at"]),
            stages={stage: float(result["timings"].get(stage, 0.0)) for stage in STAGES},
            engine_s=float(result["engine_s"]),
            audio_s=float(result["duration_s"]),
            words=int(result["words"]),
            lines=int(result["lines"]),
            cpu_s=cpu,
            load=load_average(),
            terms=f"{sum(term in said for term in terms)}/{len(terms)}",
        )


def warm(settings: Settings, workdir: Path) -> float:
    """Load what an episode's engines load (the hosts' voices, the model): what a busy worker has already done."""
    started = time.perf_counter()
    for number, voice in enumerate(voices.default_voices(settings, 2, "en")):
        voices.render(settings, "The voices load before the clock starts.", voice, workdir / f"warm-{number}.wav")
    if settings.llm_engine == "local":
        generator = engines.text_generator(settings, engine="local")
        assert generator is not None
        generator.generate([{"role": "user", "content": "Say OK."}], max_tokens=2, temperature=0.0)
    return time.perf_counter() - started


def report(episodes: list[Episode]) -> None:
    print(
        f"{'engine':10} {'length':6} "
        + " ".join(f"{stage:>7}" for stage in STAGES)
        + f" {'job s':>7} {'audio s':>7} {'range min':>9} {'RTF':>5} {'engine s':>8} {'outside':>7} {'words':>5} "
        f"{'lines':>5} {'terms':>5} {'cpu s':>7}  load average"
    )
    for run in episodes:
        _target, low, high = duration_range(LENGTHS[run.length])
        print(
            f"{run.engine:10} {run.length:6} "
            + " ".join(f"{run.stages[stage]:7.2f}" for stage in STAGES)
            + f" {run.job_s:7.2f} {run.audio_s:7.1f} {f'{low:g}-{high:g}':>9} {run.real_time_factor:5.2f} "
            f"{run.engine_s:8.2f} {run.outside:7.1%} {run.words:5d} {run.lines:5d} {run.terms:>5} {run.cpu_s:7.1f}  "
            f"{run.load}"
        )
    print(
        "RTF: job seconds / audio seconds (under 1: made faster than it plays); range: the minutes the length asks "
        f"for; outside: (job - engine) / job, target <= {TARGET_OUTSIDE:.0%}; terms: the notes' key terms the script "
        "says"
    )
    for length in dict.fromkeys(run.length for run in episodes):
        sides = {run.engine: run for run in episodes if run.length == length}
        if {"extractive", "local"} <= set(sides):
            print(f"ratio local/extractive seconds, {length}: {sides['local'].job_s / sides['extractive'].job_s:.1f}")
    for run in episodes:
        if run.outside > TARGET_OUTSIDE:
            print(f"{run.engine} {run.length}: {run.outside:.1%} outside the engines, over the target")


def choose_model(requested: str | None) -> str | None:
    """The model asked for, else `make run`'s, else the smaller bundled one; None when none is installed."""
    if requested is not None:
        return requested if installed(requested) else None
    return next((name for name in (DEFAULT_MODEL, FALLBACK_MODEL) if installed(name)), None)


def comma_list(value: str, allowed: tuple[str, ...] | list[str]) -> list[str]:
    chosen = [item.strip() for item in value.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in allowed]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)}")
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", default="short,long", help=f"Episode lengths: {', '.join(LENGTHS)}.")
    parser.add_argument("--engines", default="extractive,local", help=f"Script engines: {', '.join(ENGINES)}.")
    parser.add_argument(
        "--model",
        default=None,
        help=f"A bundled model ({', '.join(BUNDLED)}) or a GGUF path; default: {DEFAULT_MODEL} if installed.",
    )
    parser.add_argument("--threads", type=int, default=0, help="The model's CPU threads; 0: every core.")
    parser.add_argument("--smoke", action="store_true", help="Extractive, a 1-minute episode: fails on errors only.")
    args = parser.parse_args()
    try:
        lengths = comma_list("1min" if args.smoke else args.lengths, list(LENGTHS))
        script_engines = comma_list("extractive" if args.smoke else args.engines, ENGINES)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    model = None
    if "local" in script_engines:
        model = choose_model(args.model)
        if model is None:
            log(f"language model {args.model or DEFAULT_MODEL!r} is not installed: pip install 'voxhub[llm]'")
            return 1
    workdir = Path(tempfile.mkdtemp(prefix="voxhub-bench-podcast-"))
    episodes: list[Episode] = []
    try:
        for engine in script_engines:
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                data_dir=workdir / engine,
                llm_engine="local" if engine == "local" else "none",
                llm_model=model or FALLBACK_MODEL,
                llm_threads=args.threads,
                workers=1,
                billing_enabled=False,
                run_periodic_tasks=False,
                model_idle_ttl_s=0,  # a model warmed up stays loaded through a long run
                access_token_ttl_s=int(EPISODE_TIMEOUT_S),  # a LONG episode outlasts the usual quarter of an hour
            )
            loaded = warm(settings, workdir)
            print(
                f"{engine}: "
                + (f"model {model}, {settings.llm_threads or os.cpu_count()} threads, " if engine == "local" else "")
                + f"voices {', '.join(voices.default_voices(settings, 2, 'en'))}; loaded in {loaded:.1f} s (not timed)",
                flush=True,
            )
            with Bench(settings) as bench:
                for length in lengths:
                    episodes.append(bench.episode(engine, length))
                    run = episodes[-1]
                    stages = ", ".join(f"{stage} {seconds:.1f}" for stage, seconds in run.stages.items())
                    log(
                        f"{engine} {length}: {run.job_s:.1f} s ({stages}), {run.engine_s:.1f} s in the engines, "
                        f"for {run.audio_s:.0f} s of audio"
                    )
        report(episodes)
        return 0
    except RuntimeError as exc:
        if episodes:
            report(episodes)
        log(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        if episodes:
            report(episodes)
        log("interrupted")
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
