"""What a voice should read: text with its markup taken out (`plain`, which is also what a script line may hold) and
its URLs, emails, symbols and common abbreviations spelled as words (`speakable`). Numbers are left to the voice,
which reads them in its own language. Words are English or Portuguese; other languages get the English ones."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# ---- markup ----

_CODE_FENCE = re.compile(r"^\s*(```|~~~)[^\n]*$", re.MULTILINE)
_HTML_BLOCK = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_HTML_BREAK = re.compile(r"<(?:br|/p|/li|/h[1-6]|/div|/tr)\b[^>]*>", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)")
_REFERENCE_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_REFERENCE_DEFINITION = re.compile(r"^\s*\[[^\]]+\]:\s*\S+.*$", re.MULTILINE)
_AUTOLINK = re.compile(r"<((?:https?://|mailto:)[^>\s]+)>")
_BRACKETED = re.compile(r"\[[^\]\n]*\]")  # stage directions, footnotes, citations: never meant to be read
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)
_QUOTE = re.compile(r"^\s*(?:>\s?)+", re.MULTILINE)
_BULLET = re.compile(r"^\s*(?:[-*+•·▪‣]|\d{1,3}[.)])\s+", re.MULTILINE)
_RULE = re.compile(r"^\s*(?:[-*_=]\s*){3,}$", re.MULTILINE)
_TABLE_DIVIDER = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$", re.MULTILINE)
_INLINE_CODE = re.compile(r"`+([^`]*)`+")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EMPHASIS_STAR = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_EMPHASIS_UNDERSCORE = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_STRIKE = re.compile(r"~~(.+?)~~")
# The labels models and other tools put before a line: "Host 1:", "Speaker B:", "Person1:", "NARRATOR:".
_ROLE_PREFIX = re.compile(
    r"^\s*(?:host|speaker|person|narrator|interviewer|interviewee|guest|apresentador|locutor|convidado)"
    r"\s*[0-9A-Da-d]?\s*[:：-]\s*",  # noqa: RUF001
    re.IGNORECASE,
)
# Stage directions in parentheses or between asterisks: a few words ending in one of these.
_DIRECTION_WORDS = (
    "laugh laughs laughing laughter chuckle chuckles chuckling giggle giggles sigh sighs sighing pause pauses "
    "pausing beat music jingle applause cough coughs coughing smile smiles smiling grin grins grinning nod nods "
    "nodding inhales exhales gasps clears throat silence sfx effect effects intro outro transition fades fade "
    "risos riso ri rindo pausa música aplausos suspira suspiro tosse sorri sorrindo silêncio vinheta"
)
_DIRECTIONS = frozenset(_DIRECTION_WORDS.split())
_DIRECTION = re.compile(r"\(([^()\n]{1,40})\)|(?<![\w*])\*([^*\n]{1,40})\*(?![\w*])")
_SPACE = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([,.;:!?])")
_REPEATED_PUNCTUATION = re.compile(r"([,;:])(?:\s*[,;:])+")
_ENDS_CLAUSE = re.compile(r"[.!?:;,…]$")
_KEPT_SYMBOLS = frozenset("°©®™§¶")  # "other symbols" that mean something; the rest (emoji, dingbats) go


def plain(text: str, *, speakers: Sequence[str] = ()) -> str:
    """`text` as one line of plain words: HTML and Markdown taken out (a link keeps its text, an image its alt
    text), bracketed notes, stage directions ("(laughs)", "*sighs*") and emoji dropped, a speaker's label at the
    start ("Host 1:", or one of `speakers` and a colon) removed, lines joined into sentences."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _HTML_COMMENT.sub(" ", _HTML_BLOCK.sub(" ", text))
    text = _HTML_BREAK.sub("\n\n", text)
    text = _AUTOLINK.sub(lambda match: match.group(1).removeprefix("mailto:"), text)
    text = _HTML_TAG.sub(" ", text)
    text = html.unescape(text)
    text = _CODE_FENCE.sub("", text)
    text = _REFERENCE_DEFINITION.sub("", text)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _REFERENCE_LINK.sub(r"\1", text)
    text = _BRACKETED.sub(" ", text)
    text = _TABLE_DIVIDER.sub("", text)
    text = _RULE.sub("", text)
    text = _INLINE_CODE.sub(r"\1", text)
    text = _DIRECTION.sub(_drop_direction, text)
    for pattern in (_STRONG, _STRIKE):
        text = pattern.sub(lambda match: match.group(match.lastindex or 0), text)
    text = _EMPHASIS_STAR.sub(r"\1", text)
    text = _EMPHASIS_UNDERSCORE.sub(r"\1", text)
    text = "".join(char for char in text if _kept(char))
    raw = text.split("\n")
    # A heading, a list item, a quote or a table row is a unit of its own; other lines that follow one another
    # are one paragraph wrapped, and join without a stop.
    units = [bool(_HEADING.match(line) or _BULLET.match(line) or _QUOTE.match(line) or "|" in line) for line in raw]
    pieces: list[tuple[str, bool]] = []  # a line, and whether a stop ends it
    for index, line in enumerate(raw):
        line = _BULLET.sub("", _QUOTE.sub("", _HEADING.sub(r"\1", line)))
        line = _unlabel(_SPACE.sub(" ", line.replace("|", ", ")).strip(" ,"), speakers)
        if line:
            follows = raw[index + 1] if index + 1 < len(raw) else ""
            pieces.append((line, units[index] or not follows.strip() or units[index + 1]))
    joined = " ".join(
        f"{line}." if ends and number < len(pieces) - 1 and not _ENDS_CLAUSE.search(line) else line
        for number, (line, ends) in enumerate(pieces)
    )
    joined = _REPEATED_PUNCTUATION.sub(r"\1", _SPACE_BEFORE_PUNCTUATION.sub(r"\1", joined))
    return _SPACE.sub(" ", joined).strip(" ,;")


def _drop_direction(match: re.Match[str]) -> str:
    inside = match.group(1) or match.group(2) or ""
    words = re.findall(r"[^\W\d_]+", inside.lower())
    if words and len(words) <= 4 and words[-1] in _DIRECTIONS:
        return " "
    return match.group(0)


def _kept(char: str) -> bool:
    if char in _KEPT_SYMBOLS:
        return True
    category = unicodedata.category(char)
    # Emoji and pictographs (So), their joiners and variation selectors (Cf, Mn in the FE00 block).
    return category != "So" and char not in "\u200c\u200d\ufe0e\ufe0f" and not ("\ufe00" <= char <= "\ufe0f")


def _unlabel(line: str, speakers: Sequence[str]) -> str:
    line = _ROLE_PREFIX.sub("", line)
    for name in speakers:
        label = re.match(rf"\s*\**{re.escape(name)}\**\s*[:：]\s*", line, flags=re.IGNORECASE)  # noqa: RUF001
        if label:
            return line[label.end() :]
    return line


# ---- words for what is not a word ----


@dataclass(frozen=True)
class _Words:
    and_: str
    or_: str
    at: str
    dot: str
    slash: str
    plus: str
    minus: str
    equals: str
    less_than: str
    greater_than: str
    at_most: str
    at_least: str
    not_equal: str
    times: str
    divided_by: str
    plus_or_minus: str
    approximately: str
    to: str
    percent: str
    per_mille: str
    degrees: str
    number: str
    hashtag: str
    section: str
    copyright: str
    underscore: str
    thousand: str
    million: str
    billion: str
    currencies: dict[str, tuple[str, str]]  # symbol → (one, many)
    abbreviations: tuple[tuple[str, str], ...]  # (regex, words)


_EN = _Words(
    and_="and",
    or_="or",
    at="at",
    dot="dot",
    slash="slash",
    plus="plus",
    minus="minus",
    equals="equals",
    less_than="less than",
    greater_than="greater than",
    at_most="less than or equal to",
    at_least="greater than or equal to",
    not_equal="not equal to",
    times="times",
    divided_by="divided by",
    plus_or_minus="plus or minus",
    approximately="approximately",
    to="to",
    percent="percent",
    per_mille="per mille",
    degrees="degrees",
    number="number",
    hashtag="hashtag",
    section="section",
    copyright="copyright",
    underscore="underscore",
    thousand="thousand",
    million="million",
    billion="billion",
    currencies={
        "US$": ("dollar", "dollars"),
        "R$": ("real", "reais"),
        "$": ("dollar", "dollars"),
        "€": ("euro", "euros"),
        "£": ("pound", "pounds"),
        "¥": ("yen", "yen"),
        "₹": ("rupee", "rupees"),
    },
    abbreviations=(
        (r"\be\.\s?g\.(?=\W|$),?", "for example,"),
        (r"\bi\.\s?e\.(?=\W|$),?", "that is,"),
        (r"\betc\.", "et cetera."),
        (r"\bvs\.?(?=\s)", "versus"),
        (r"\bapprox\.(?=\s)", "approximately"),
        (r"\bDr\.(?=\s+[A-Z])", "Doctor"),
        (r"\bMr\.(?=\s+[A-Z])", "Mister"),
        (r"\bMrs\.(?=\s+[A-Z])", "Missus"),
        (r"\bMs\.(?=\s+[A-Z])", "Miz"),
        (r"\bProf\.(?=\s+[A-Z])", "Professor"),
        (r"\b[Nn]o\.\s?(?=\d)", "number "),
        (r"\bw/o(?=\s)", "without"),
        (r"\bw/(?=\s)", "with"),
        (r"\bkm/h\b", "kilometres per hour"),
        (r"\bmph\b", "miles per hour"),
        (r"\bFAQs?\b", "F A Q"),
        (r"\bAPIs\b", "A P Is"),
    ),
)

_PT = _Words(
    and_="e",
    or_="ou",
    at="arroba",
    dot="ponto",
    slash="barra",
    plus="mais",
    minus="menos",
    equals="igual a",
    less_than="menor que",
    greater_than="maior que",
    at_most="menor ou igual a",
    at_least="maior ou igual a",
    not_equal="diferente de",
    times="vezes",
    divided_by="dividido por",
    plus_or_minus="mais ou menos",
    approximately="aproximadamente",
    to="a",
    percent="por cento",
    per_mille="por mil",
    degrees="graus",
    number="número",
    hashtag="hashtag",
    section="seção",
    copyright="copyright",
    underscore="sublinhado",
    thousand="mil",
    million="milhões",
    billion="bilhões",
    currencies={
        "US$": ("dólar", "dólares"),
        "R$": ("real", "reais"),
        "$": ("dólar", "dólares"),
        "€": ("euro", "euros"),
        "£": ("libra", "libras"),
        "¥": ("iene", "ienes"),
        "₹": ("rupia", "rupias"),
    },
    abbreviations=(
        (r"\bp\.\s?ex\.,?", "por exemplo,"),
        (r"\bex\.:?(?=\s)", "por exemplo"),
        (r"\be\.\s?g\.(?=\W|$),?", "por exemplo,"),
        (r"\bi\.\s?e\.(?=\W|$),?", "isto é,"),
        (r"\betc\.", "etcétera."),
        (r"\bvs\.?(?=\s)", "versus"),
        (r"\baprox\.(?=\s)", "aproximadamente"),
        (r"\bSr\.(?=\s)", "senhor"),
        (r"\bSra\.(?=\s)", "senhora"),
        (r"\bDr\.(?=\s)", "doutor"),
        (r"\bDra\.(?=\s)", "doutora"),
        (r"\bProf\.(?=\s)", "professor"),
        (r"\bn[º°o]\.?\s?(?=\d)", "número "),
        (r"\bkm/h\b", "quilômetros por hora"),
    ),
)


def _words(language: str) -> _Words:
    return _PT if language.strip().lower().replace("_", "-").split("-")[0] == "pt" else _EN


_EMAIL = re.compile(r"\b([\w.+-]+)@([\w-]+(?:\.[\w-]+)+)\b")
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
_TLDS = (
    "com|org|net|io|dev|ai|app|co|edu|gov|info|me|tv|fm|uk|us|de|fr|br|pt|es|it|eu|nl|ca|au|ly|so|sh|xyz|tech|"
    "site|blog|news|cloud|page"
)
_DOMAIN = re.compile(rf"\b((?:[a-z0-9-]+\.)+(?:{_TLDS}))\b(/[^\s]*)?", re.IGNORECASE)
_DOTTED_NAME = re.compile(r"\b([A-Za-z]{2,})\.([A-Za-z]{2,})\b(?!\.\w)")  # "Node.js", "ASP.NET"
_TRAILING = ".,;:!?)]}'\""
_SCALE = r"(?:\s?(k|K|m|M|bn|B|thousand|million|billion|trillion|mil|milhão|milhões|bilhão|bilhões)\b)?"
_AMOUNT = r"(\d(?:[\d.,]*\d)?)"
_CURRENCY_BEFORE = re.compile(rf"(US\$|R\$|[$€£¥₹])\s?{_AMOUNT}{_SCALE}")
_CURRENCY_AFTER = re.compile(rf"{_AMOUNT}\s?(US\$|R\$|[€£¥₹])")
_PERCENT = re.compile(r"(\d)\s?%")
_PER_MILLE = re.compile(r"(\d)\s?‰")
_DEGREES = re.compile(r"°\s?([CF])\b")
_HASH_NUMBER = re.compile(r"#\s?(?=\d)")
_HASHTAG = re.compile(r"(?<![\w&])#(?=[^\W\d_])")
_HANDLE = re.compile(r"(?<![\w.])@(?=\w)")
_TIMES_BETWEEN_DIGITS = re.compile(r"(?<=\d)\s?[x*]\s?(?=\d)")
_POWER = re.compile(r"(?<=\w)\^(?=\d)")
_RANGE = re.compile(r"(?<=\d)\s?[–—]\s?(?=\d)")  # noqa: RUF001
_DASH = re.compile(r"\s*[–—]\s*")  # noqa: RUF001
_APPROX_TILDE = re.compile(r"~\s?(?=\d)")
_SLASH_WORDS = re.compile(r"(?<=[^\W\d_])\s?/\s?(?=[^\W\d_])")
_AND_OR = re.compile(r"\b(and|e)/(or|ou)\b", re.IGNORECASE)
_MINUS = re.compile(r"(?<![\w-])[-−](?=\d)")  # noqa: RUF001
_SYMBOLS: tuple[tuple[str, Callable[[_Words], str]], ...] = (
    ("->", lambda w: w.to),
    ("=>", lambda w: w.to),
    ("→", lambda w: w.to),
    ("<=", lambda w: w.at_most),
    (">=", lambda w: w.at_least),
    ("!=", lambda w: w.not_equal),
    ("≤", lambda w: w.at_most),
    ("≥", lambda w: w.at_least),
    ("≠", lambda w: w.not_equal),
    ("≈", lambda w: w.approximately),
    ("±", lambda w: w.plus_or_minus),
    ("×", lambda w: w.times),  # noqa: RUF001
    ("÷", lambda w: w.divided_by),
    ("&", lambda w: w.and_),
    ("+", lambda w: w.plus),
    ("=", lambda w: w.equals),
    ("<", lambda w: w.less_than),
    (">", lambda w: w.greater_than),
    ("°", lambda w: w.degrees),
    ("§", lambda w: w.section),
    ("©", lambda w: w.copyright),
    ("/", lambda w: w.slash),
)
_DROPPED = str.maketrans({char: " " for char in "*_^\\`~•·®™¶{}[]"})


def speakable(text: str, language: str = "en") -> str:
    """What a voice should read: markdown/HTML markup removed (never read aloud: "*", "#", "<b>", "[link](url)" →
    the link text), URLs as "example dot com", emails, symbols (&, %, +, =, /, °, €, $, …) and common abbreviations
    as words, numbers left to the voice; English and Portuguese words where they differ, English otherwise."""
    words = _words(language)
    text = plain(text)
    text = _EMAIL.sub(lambda match: _email(match, words), text)
    text = _URL.sub(lambda match: _address(match.group(0), words), text)
    text = _DOMAIN.sub(lambda match: _spell_host(match.group(1), words), text)
    for pattern, said in words.abbreviations:
        text = re.sub(pattern, said, text)
    text = _DOTTED_NAME.sub(rf"\1 {words.dot} \2", text)
    text = _CURRENCY_BEFORE.sub(lambda match: _money(match.group(2), match.group(3), match.group(1), words), text)
    text = _CURRENCY_AFTER.sub(lambda match: _money(match.group(1), None, match.group(2), words), text)
    text = _PERCENT.sub(rf"\1 {words.percent}", text)
    text = _PER_MILLE.sub(rf"\1 {words.per_mille}", text)
    text = _DEGREES.sub(lambda match: f" {words.degrees} {'Celsius' if match.group(1) == 'C' else 'Fahrenheit'}", text)
    text = _HASH_NUMBER.sub(f"{words.number} ", text)
    text = _HASHTAG.sub(f"{words.hashtag} ", text)
    text = _HANDLE.sub(f"{words.at} ", text)
    text = _AND_OR.sub(r"\1 \2", text)
    text = _SLASH_WORDS.sub(f" {words.or_} ", text) if words is _PT else _SLASH_WORDS.sub(f" {words.slash} ", text)
    text = _TIMES_BETWEEN_DIGITS.sub(f" {words.times} ", text)
    text = _POWER.sub(" ^ ", text)
    text = _RANGE.sub(f" {words.to} ", text)
    text = _APPROX_TILDE.sub(f"{words.approximately} ", text)
    text = _MINUS.sub(f"{words.minus} ", text)
    for symbol, spell in _SYMBOLS:
        word = spell(words)
        if symbol == "/":
            # Between digits a slash is a date or a fraction: the voice reads those.
            text = re.sub(r"(?<!\d)\s?/\s?|\s?/\s?(?!\d)", f" {word} ", text)
        else:
            text = text.replace(symbol, f" {word} ")
    text = text.replace(" ^ ", " ").translate(_DROPPED)
    text = _DASH.sub(", ", text)
    text = text.replace("#", " ").replace("@", f" {words.at} ").replace("%", f" {words.percent}")
    text = _REPEATED_PUNCTUATION.sub(r"\1", _SPACE_BEFORE_PUNCTUATION.sub(r"\1", _SPACE.sub(" ", text)))
    return _SPACE.sub(" ", text).strip(" ,;")


def _spell_host(host: str, words: _Words) -> str:
    host = host.lower().removeprefix("www.")
    return f" {words.dot} ".join(part for part in host.split(".") if part)


def _address(url: str, words: _Words) -> str:
    trailing = ""
    while url and url[-1] in _TRAILING:
        trailing = url[-1] + trailing
        url = url[:-1]
    host = re.sub(r"^(?:https?://)", "", url, flags=re.IGNORECASE).split("/")[0].split("?")[0].split("#")[0]
    host = host.rsplit("@", 1)[-1].split(":")[0]  # no credentials, no port
    return _spell_host(host, words) + trailing


def _email(match: re.Match[str], words: _Words) -> str:
    user = re.sub(
        r"[._+-]", lambda part: {".": f" {words.dot} ", "+": f" {words.plus} "}.get(part.group(0), " "), match.group(1)
    )
    return f"{user} {words.at} {_spell_host(match.group(2), words)}"


_SCALES = {
    "k": "thousand",
    "thousand": "thousand",
    "mil": "thousand",
    "m": "million",
    "million": "million",
    "milhão": "million",
    "milhões": "million",
    "bn": "billion",
    "b": "billion",
    "billion": "billion",
    "bilhão": "billion",
    "bilhões": "billion",
    "trillion": "trillion",
}


def _money(amount: str, scale: str | None, symbol: str, words: _Words) -> str:
    """ "$5" → "5 dollars", "$1" → "1 dollar", "€2.5bn" → "2.5 billion euros", "R$ 3 milhões" → "3 milhões de reais"."""
    one, many = words.currencies[symbol]
    if not scale:
        return f"{amount} {one if amount == '1' else many}"
    name = _SCALES[scale.lower()]
    said = {"thousand": words.thousand, "million": words.million, "billion": words.billion}.get(name, name)
    if words is _PT and amount == "1":
        said = {"million": "milhão", "billion": "bilhão"}.get(name, said)
    of = "de " if words is _PT and name != "thousand" else ""
    return f"{amount} {said} {of}{many}"
