"""Benchmark: speaker diarization on synthetic conversations with known turns (piper's joe and espeak-ng voices).

For a one-, two- and three-voice conversation (2.5 minutes each by default) it prints the share of speech time given to
the wrong speaker (under the best one-to-one label mapping), missed speech, false alarm, the speaker count found
without being told, and the real-time factor (audio seconds per second of processing). The baseline, run in the
same process on the same audio, is resemblyzer's own sliding-window embedding (`embed_utterance(..., rate=4)`, the
same 1.6 s windows every 0.25 s over all of the audio, no voice activity, no clustering): `ratio` is diarize's time
over it. Times are the best of --repeat runs.

    .venv/bin/python bench/diarize.py [--seconds 150] [--seed 7] [--repeat 3]

Needs the diarize extra (scripts/install-diarize.sh .venv), piper with its bundled voice, espeak-ng and ffmpeg.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the conversation builder lives with the tests

from tests.engines.test_diarize import (
    SAMPLE_RATE,
    SENTENCES,
    Conversation,
    build_conversation,
    espeak,
    piper_joe,
    score,
    synthesis_missing,
)

from voxhub.engines import diarize

VOICES: dict[str, Callable[[str], np.ndarray]] = {
    "joe": piper_joe,
    "espeak-f3": espeak("en-us+f3"),
    "espeak-gb-m7": espeak("en-gb-x-rp+m7"),
}
MAX_WRONG_SPEAKER = 0.05


def speaking_order(voices: list[str], turns: int, rng: random.Random) -> list[str]:
    """`turns` turns, never the same voice twice in a row, every voice in the first len(voices) turns."""
    if len(voices) == 1:
        return voices * turns
    order = list(voices)
    while len(order) < turns:
        order.append(rng.choice([voice for voice in voices if voice != order[-1]]))
    return order[:turns]


def make_conversation(voice_names: list[str], seconds: float, seed: int) -> Conversation:
    rng = random.Random(seed)
    turns = max(len(voice_names), round(seconds / 4.5))  # a turn is about 4 s of speech and half a second of pause
    order = speaking_order(voice_names, turns, rng)
    sentences = SENTENCES[:]
    rng.shuffle(sentences)
    return build_conversation({name: VOICES[name] for name in voice_names}, order, sentences, seed=seed)


def best_seconds(work: Callable[[np.ndarray], object], audio: np.ndarray, repeat: int) -> float:
    """The fastest of `repeat` runs of work(audio): on a shared machine the slower ones measure the neighbours."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work(audio)
        times.append(time.perf_counter() - started)
    return min(times)


def baseline(audio: np.ndarray) -> None:
    """resemblyzer's own sliding-window embedding of the whole recording, 4 windows a second, on as many torch
    threads as diarize uses."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(diarize.TORCH_THREADS)
    try:
        diarize._get_encoder().embed_utterance(audio, return_partials=True, rate=4)
    finally:
        torch.set_num_threads(threads)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=150.0, help="length of each conversation (default 150)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each; the fastest counts (default 3)")
    parser.add_argument("--smoke", action="store_true", help="a few seconds, tiny sizes: fails on errors, not targets.")
    args = parser.parse_args()
    if args.smoke:  # one short two-voice conversation, once, no warm-up; any turns found will do
        args.seconds, args.repeat = 8.0, 1

    if not diarize.available():
        print(diarize.unavailable_reason(), file=sys.stderr)
        return 2
    if (missing := synthesis_missing()) is not None:
        print(f"cannot make the conversations: {missing}", file=sys.stderr)
        return 2

    if not args.smoke:
        warm_up = make_conversation(["joe", "espeak-f3"], 10, args.seed)
        diarize.diarize(warm_up.audio, SAMPLE_RATE)  # first-call costs (imports, the model's load) are not measured

    print(f"diarization, {args.seconds:.0f} s conversations, seed {args.seed}, best of {args.repeat} runs")
    header = (
        f"{'voices':<7}{'audio s':>8}{'turns':>7}{'found':>7}{'wrong spk':>11}{'missed':>8}{'false al':>10}"
        f"{'RTF':>8}{'base RTF':>10}{'ratio':>7}"
    )
    print(header)
    print("-" * len(header))
    failed = False
    for count in (2,) if args.smoke else (1, 2, 3):
        names = list(VOICES)[:count]
        conversation = make_conversation(names, args.seconds, args.seed + count)
        turns = diarize.diarize(conversation.audio, SAMPLE_RATE)
        elapsed = best_seconds(diarize.diarize, conversation.audio, args.repeat)
        base = best_seconds(baseline, conversation.audio, args.repeat)
        result = score(conversation.turns, turns, conversation.duration_s)
        found = len({turn.speaker for turn in turns})
        failed |= not turns if args.smoke else found != count or result.wrong_speaker > MAX_WRONG_SPEAKER
        print(
            f"{count:<7}{conversation.duration_s:>8.1f}{len(conversation.turns):>7}{found:>7}"
            f"{result.wrong_speaker:>10.1%} {result.missed:>7.1%}{result.false_alarm:>10.1%}"
            f"{conversation.duration_s / elapsed:>7.0f}x{conversation.duration_s / base:>9.0f}x{elapsed / base:>7.2f}"
        )
    print(
        "wrong spk: speech time given to another speaker (best label mapping); RTF: audio seconds per second of work;"
        " ratio: diarize time / baseline time"
    )
    if failed:
        print(f"FAILED: a speaker count was wrong or wrong-speaker time was over {MAX_WRONG_SPEAKER:.0%}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
