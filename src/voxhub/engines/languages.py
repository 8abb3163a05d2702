"""Languages Whisper recognises (ISO 639-1 codes, plus haw and yue), checked when a job is created."""

_CODES = (
    "af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo fr gl gu ha haw he hi hr ht hu hy id "
    "is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk ml mn mr ms mt my ne nl nn no oc pa pl ps pt ro ru sa sd si "
    "sk sl sn so sq sr su sv sw ta te tg th tk tl tr tt uk ur uz vi yi yo zh yue"
)
WHISPER_LANGUAGES = frozenset(_CODES.split())


def whisper_language(code: str) -> str:
    """`pt-BR` → `pt`; ValueError naming the problem when Whisper does not know the language."""
    base = code.strip().replace("_", "-").split("-")[0].lower()
    if base not in WHISPER_LANGUAGES:
        raise ValueError(f"{code!r} is not a language Whisper recognises (use an ISO 639-1 code such as 'en')")
    return base
