"""Translation by the language model, for the pairs Bergamot lacks: any language the model writes, a batch of texts
per generation, its answer constrained to a JSON array of exactly as many strings."""

from __future__ import annotations

import json
from typing import Any

from voxhub.engines.base import EngineError
from voxhub.engines.llm import TextGenerator, generate_json
from voxhub.engines.mt import translate_in_batches, translation_prompt

BATCH = 8  # texts per generation: a small model loses track of longer arrays, and a context holds them easily
ECHO_WORDS = 4  # an untranslated text this long is the model failing, not a name or a number that stays as it is


def _schema(count: int) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": count, "maxItems": count}


def _echoed(text: str, translation: str) -> bool:
    return " ".join(text.split()).casefold() == " ".join(translation.split()).casefold()


class LlmTranslator:
    name = "llm"

    def __init__(self, generator: TextGenerator) -> None:
        self.generator = generator

    def pairs(self) -> list[tuple[str, str]]:
        return []

    def translate(self, texts: list[str], *, source: str, target: str) -> list[str]:
        # Blank texts stay as they are: nothing to translate, and a model asked to would invent something.
        wanted = [index for index, text in enumerate(texts) if text.strip()]
        translated = translate_in_batches(
            [texts[index] for index in wanted],
            size=BATCH,
            ask=lambda batch: self._batch(batch, source, target),
            ask_one=lambda text: self._one(text, source, target),
        )
        out = list(texts)
        for index, text in zip(wanted, translated, strict=True):
            out[index] = text
        return out

    def _ask(self, texts: list[str], source: str, target: str) -> list[str]:
        messages = [
            {"role": "system", "content": translation_prompt(source, target)},
            {"role": "user", "content": json.dumps(texts, ensure_ascii=False)},
        ]
        # Room for translations longer than their source (in tokens, a few per character at most), not unbounded:
        # a model that loops stops where the answer could no longer be a translation.
        budget = 32 + sum(16 + 2 * len(text) for text in texts)
        value, _generation = generate_json(
            self.generator,
            messages,
            _schema(len(texts)),
            max_tokens=min(budget, self.generator.context_tokens // 2),
            temperature=0,
        )
        return [item.strip() for item in value]

    def _batch(self, texts: list[str], source: str, target: str) -> list[str] | None:
        """The batch translated, or None (then one text at a time) when the model did not manage it: no valid
        array, an empty item, or a text handed back untranslated, a sign the items slipped out of order."""
        try:
            result = self._ask(texts, source, target)
        except EngineError as exc:
            if exc.code != "invalid_json":
                raise
            return None
        if any(not item or _echoed(text, item) for text, item in zip(texts, result, strict=True)):
            return None
        return result

    def _one(self, text: str, source: str, target: str) -> str:
        try:
            [result] = self._ask([text], source, target)
        except EngineError as exc:
            if exc.code != "invalid_json":
                raise
            raise EngineError("translation_failed", f"The language model did not translate {text[:80]!r}.") from exc
        if not result or (_echoed(text, result) and len(text.split()) >= ECHO_WORDS):
            # Never the source passed off as its translation.
            raise EngineError(
                "translation_failed",
                f"The language model {self.generator.model_id} handed back {text[:80]!r} untranslated.",
                details={"source": source, "target": target},
            )
        return result
