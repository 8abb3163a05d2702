"""Rule-based translation with Debian's Apertium, offline, for the pairs whose language data is installed
(`apt-get install apertium apertium-eng-spa` gives English ↔ Spanish; `apertium -l` lists what a machine has). Its
quality is rough next to a neural model, but it needs no model download and takes milliseconds a sentence."""

from __future__ import annotations

import functools
import shutil
import subprocess

from voxhub.engines.base import EngineError, EngineUnavailable, Translator

TIMEOUT_S = 120
# Apertium names languages by ISO 639-3 (or, in older pairs, 639-1) codes
ISO_639_1 = {
    "eng": "en", "spa": "es", "cat": "ca", "glg": "gl", "por": "pt", "fra": "fr", "ita": "it", "deu": "de",
    "oci": "oc", "eus": "eu", "ron": "ro", "epo": "eo", "isl": "is", "mkd": "mk", "nld": "nl", "afr": "af",
    "arg": "an", "ast": "ast", "bel": "be", "rus": "ru", "ukr": "uk", "swe": "sv", "dan": "da", "nob": "nb",
    "nno": "nn", "srd": "sc", "kaz": "kk", "tat": "tt", "hbs": "sh", "slv": "sl", "bul": "bg", "mlt": "mt",
}  # fmt: skip


def _code(name: str) -> str:
    return ISO_639_1.get(name, name)


@functools.lru_cache(maxsize=4)
def installed_pairs(program: str = "apertium") -> dict[tuple[str, str], str]:
    """(source, target) ISO 639-1 codes → the Apertium mode that translates them, for the data installed here."""
    if shutil.which(program) is None:
        return {}
    try:
        listed = subprocess.run(  # noqa: S603 - fixed program, no shell
            [program, "-l"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    pairs: dict[tuple[str, str], str] = {}
    for line in listed.split():
        mode = line.strip()
        parts = mode.split("-")
        # "spa-eng_US" and "-morph"/"-tagger" modes are variants and tools, not a plain translation
        if len(parts) != 2 or "_" in mode:
            continue
        pairs.setdefault((_code(parts[0]), _code(parts[1])), mode)
    return pairs


class ApertiumTranslator:
    name = "apertium"

    def __init__(self, program: str = "apertium") -> None:
        self.program = program

    def pairs(self) -> list[tuple[str, str]]:
        return list(installed_pairs(self.program))

    def translate(self, texts: list[str], *, source: str, target: str) -> list[str]:
        mode = installed_pairs(self.program).get((source, target))
        if mode is None:
            raise EngineUnavailable(
                f"Apertium has no {source} → {target} pair here; install its Debian package (apertium-…).",
                source=source,
                target=target,
            )
        wanted = [index for index, text in enumerate(texts) if text.strip()]
        # one text a line (Apertium keeps line breaks in plain text), one process for the batch
        lines = [" ".join(texts[index].split()) for index in wanted]
        translated = self._run(mode, "\n".join(lines)).split("\n")
        if len(translated) < len(lines) or any(not line.strip() for line in translated[: len(lines)]):
            translated = [self._run(mode, line).strip() for line in lines]
        out = list(texts)
        for index, text in zip(wanted, translated, strict=False):
            out[index] = text.strip()
        return out

    def _run(self, mode: str, text: str) -> str:
        try:
            done = subprocess.run(  # noqa: S603 - fixed program and a mode it listed, no shell
                [self.program, "-u", "-f", "txt", mode],
                input=text + "\n",
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise EngineError("translation_failed", "Apertium took too long.", transient=True) from exc
        if done.returncode != 0:
            raise EngineError("translation_failed", f"Apertium failed: {done.stderr.strip()[:200]}")
        return done.stdout.rstrip("\n")


class LocalTranslator:
    """The offline engines together: Bergamot for English ↔ Portuguese, Apertium for the pairs it has here. `name`
    says which one translated last."""

    def __init__(self, *engines: Translator) -> None:
        self._engines = engines
        self.name = engines[0].name

    def pairs(self) -> list[tuple[str, str]]:
        return list(dict.fromkeys(pair for engine in self._engines for pair in engine.pairs()))

    def translate(self, texts: list[str], *, source: str, target: str) -> list[str]:
        for engine in self._engines:
            if (source, target) in engine.pairs():
                self.name = engine.name
                return engine.translate(texts, source=source, target=target)
        # the first engine's refusal names what there is here and what to set for other pairs
        return self._engines[0].translate(texts, source=source, target=target)
