"""Plain text made ready for text-to-speech: spoken forms for what espeak-ng reads badly, sentence-sized chunks for
incremental synthesis, and a rough spoken duration.

Piper and espeak-ng both phonemise with espeak-ng, which already reads plain integers, ordinals and most punctuation;
`normalize` only rewrites what it reads badly ("€10" as "euros ten", "3:05" as "three zero five") or what Whisper would
not give back ("50%" rather than "50 percent"). Every pattern here either starts at a word boundary or cannot fail
after a long scan, so a 100,000-character input costs linear time."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

__all__ = ["estimate_seconds", "normalize", "split_sentences"]

# ---- language-neutral cleanup ----

# Format characters nobody hears: soft hyphen, zero-width space, word joiner, BOM, bidirectional marks and controls.
_INVISIBLE = "\u00ad\u061c\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff"
# Control characters go; those Python counts as whitespace (tab, newline, ...) are left for the whitespace pass.
_CONTROLS = [chr(cp) for cp in [*range(0x20), *range(0x7F, 0xA0)] if not chr(cp).isspace()]
# Curly, low-9, reversed and angle single quotes, and the acute accent and backtick typed as apostrophes.
_SINGLE_QUOTES = "\u2018\u2019\u201a\u201b\u2039\u203a\u00b4`"
# Curly, low-9, reversed double quotes and guillemets.
_DOUBLE_QUOTES = "\u201c\u201d\u201e\u201f\u00ab\u00bb"
_CLEANUP = str.maketrans(
    dict.fromkeys([*_INVISIBLE, *_CONTROLS]) | dict.fromkeys(_SINGLE_QUOTES, "'") | dict.fromkeys(_DOUBLE_QUOTES, '"')
)


def _collapse_whitespace(text: str) -> str:
    """One space between words, one newline between non-empty lines."""
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _is_english(language: str) -> bool:
    return language.replace("_", "-").split("-")[0].lower() == "en"


def _ends_sentence(text: str, end: int) -> bool:
    """Whether a period we are about to swallow (in "etc." or "p.m.") was also the end of a sentence."""
    if end >= len(text) or text[end] == "\n":
        return True
    return text[end] == " " and end + 1 < len(text) and text[end + 1].isupper()


# ---- English: addresses ----

_ADDRESS_SYMBOLS = {
    ".": " dot ",
    "/": " slash ",
    "@": " at ",
    "-": " dash ",
    "_": " underscore ",
    ":": " colon ",
    "?": " question mark ",
    "=": " equals ",
    "&": " and ",
    "#": " hash ",
    "%": " percent ",
    "+": " plus ",
    "~": " tilde ",
}
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Bare domains ("voxhub.io") need a known, lower-case TLD: "it", "me" or "us" would turn "we won.it was" into one.
_TLDS = "com|org|net|edu|gov|io|dev|ai|app|co|uk|eu|de|fr|nl|pt|br|ca|au|info|biz"
_URL = re.compile(
    r"(?<![\w/.@-])(?i:https?://|www\.)[^\s<>\"']+"
    rf"|(?<![\w/.@-])(?:[A-Za-z0-9-]+\.)+(?:{_TLDS})\b(?:/[^\s<>\"']*)?"
)
_SCHEME = re.compile(r"^https?://", re.IGNORECASE)


def _spell_address(address: str) -> str:
    return " ".join("".join(_ADDRESS_SYMBOLS.get(char, char) for char in address).split())


def _say_email(match: re.Match[str]) -> str:
    return _spell_address(match.group())


def _say_url(match: re.Match[str]) -> str:
    url = match.group()
    # Punctuation after a URL almost always belongs to the sentence ("see example.com."), not to the URL;
    # a closing parenthesis does only when the URL has no opening one for it ("(see example.com/a_(b))").
    end, unmatched_closing = len(url), url.count(")") - url.count("(")
    while end:
        if url[end - 1] == ")" and unmatched_closing > 0:
            unmatched_closing -= 1
        elif url[end - 1] not in ".,;:!?]}":
            break
        end -= 1
    return _spell_address(_SCHEME.sub("", url[:end]).rstrip("/")) + url[end:]


# ---- English: times, money, percentages ----

_TIME = re.compile(r"(?<![\w:.])(\d{1,2})(?::([0-5]\d))?(?::([0-5]\d))?(?!\d)(?: ?([AaPp])\.?[Mm]\b\.?)?")


def _say_time(match: re.Match[str]) -> str:
    hour_text, minutes, seconds, meridiem = match.groups()
    hour = int(hour_text)
    if meridiem is None and (minutes is None or hour > 23):
        return match.group()  # a plain number, or a duration like "45:10"
    if meridiem is not None and not 1 <= hour <= 12:
        return match.group()
    words = [str(hour)]
    if minutes == "00" and meridiem is None:
        words.append("o'clock" if 1 <= hour <= 12 else "hundred")  # "9 o'clock", "15 hundred"
    elif minutes is not None and minutes != "00":
        words.append(f"oh {minutes[1]}" if minutes[0] == "0" else minutes)  # espeak reads "05" as "zero five"
    if seconds is not None:
        words.append(f"and {int(seconds)} seconds")
    if meridiem is not None:
        words.append(f"{meridiem.upper()}M")  # espeak spells "PM"; "p m" would read the "a" of "a m" as the article
        if match.group().endswith(".") and _ends_sentence(match.string, match.end()):
            words[-1] += "."
    return " ".join(words)


_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
}
_SCALES = {"k": "thousand", "m": "million", "mn": "million", "b": "billion", "bn": "billion"}
_AMOUNT = r"(\d{1,3}(?:,\d{3})+|\d+)"
_MONEY_SYMBOL_FIRST = re.compile(
    rf"(?<![\w$€£])([$€£]) ?{_AMOUNT}(?:\.(\d+))?(?: ?(thousand|million|billion|trillion)\b|(k|m|mn|b|bn)\b)?",
    re.IGNORECASE,
)
# "10€", "2,50 €": the continental order, where a decimal comma is also common.
_MONEY_SYMBOL_LAST = re.compile(rf"(?<![\w.,$€£]){_AMOUNT}(?:[.,](\d{{1,2}}))? ?([$€£])(?![\w$€£])")


def _say_money(symbol: str, whole: str, fraction: str | None, scale: str | None) -> str:
    unit, units, subunit, subunits = _CURRENCIES[symbol]
    if scale is not None:
        number = whole if fraction is None else f"{whole}.{fraction}"
        return f"{number} {scale} {units}"
    if fraction is not None and len(fraction) > 2:
        return f"{whole}.{fraction} {units}"  # not a cents amount: espeak reads "3.125" well
    cents = int(fraction.ljust(2, "0")) if fraction else 0
    words = []
    if cents == 0 or int(whole.replace(",", "")) != 0:
        words.append(f"{whole} {unit if whole == '1' else units}")
    if cents:
        words.append(f"{cents} {subunit if cents == 1 else subunits}")
    return " ".join(words)


def _say_money_symbol_first(match: re.Match[str]) -> str:
    symbol, whole, fraction, word_scale, letter_scale = match.groups()
    scale = word_scale.lower() if word_scale else _SCALES[letter_scale.lower()] if letter_scale else None
    return _say_money(symbol, whole, fraction, scale)


def _say_money_symbol_last(match: re.Match[str]) -> str:
    whole, fraction, symbol = match.groups()
    return _say_money(symbol, whole, fraction, None)


_PERCENT = re.compile(r"(\d) ?%")

# ---- English: abbreviations and symbols ----

_TITLES = {"Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Prof": "Professor", "Dr": "Doctor", "St": "Saint"}
# Mr./Mrs./Ms./Prof. are titles wherever they stand; "Dr." and "St." only before a name ("Elm Dr.", "Main St.").
_TITLE = re.compile(r"\b(?:(Mrs|Mr|Ms|Prof)\.|(Dr|St)\.(?= ?[A-Z])) ?")
_PHRASES = {"e.g.": "for example", "i.e.": "that is", "etc.": "et cetera", "vs.": "versus", "vs": "versus"}
_PHRASE = re.compile(r"(?<![\w.])(?:[Ee]\.g\.|[Ii]\.e\.|[Ee]tc\.|vs\.?)(?![\w.])")  # not "VS Code"


def _say_title(match: re.Match[str]) -> str:
    return _TITLES[match.group(1) or match.group(2)] + " "


def _say_phrase(match: re.Match[str]) -> str:
    written = match.group()
    spoken = _PHRASES[written.lower()]
    if written[0].isupper():
        spoken = spoken[0].upper() + spoken[1:]
    if written.lower() == "etc." and _ends_sentence(match.string, match.end()):
        spoken += "."
    return spoken


_SYMBOL_WORDS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?<=\d) ?(?:°C(?![A-Za-z])|℃)"), " degrees Celsius"),
    (re.compile(r"(?<=\d) ?(?:°F(?![A-Za-z])|℉)"), " degrees Fahrenheit"),
    (re.compile(r"(?<=\d) ?°"), " degrees"),
    (re.compile(r"©"), " copyright "),
    (re.compile(r"(?:#|№) ?(?=\d)"), "number "),
    (re.compile(r"~ ?(?=\d)"), "about "),
    (re.compile(r" ?& ?"), " and "),
    (re.compile(r" ?@ ?"), " at "),
    (re.compile(r"[\u2022\u2023\u2043]"), " "),  # list bullets
]

# ---- English: dashes ----

_EN_DASH, _EM_DASH, _HORIZONTAL_BAR = "\u2013", "\u2014", "\u2015"
# Hyphen, non-breaking hyphen, figure dash (phone numbers) and minus sign all read as "-".
_HYPHENS = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2212", "-"))
_RANGE_DASH = re.compile(rf"(?<=\d) ?[{_EN_DASH}{_EM_DASH}] ?(?=\d)")  # 10 to 20
_MINUS_DASH = re.compile(rf"(?<!\w){_EN_DASH}(?=\d)")  # an en dash typed as a minus sign
_COMPOUND_DASH = re.compile(rf"(?<=\w){_EN_DASH}(?=\w)")  # the Paris-London flight
_PAUSE_DASH = re.compile(rf" ?(?:[{_EM_DASH}{_HORIZONTAL_BAR}{_EN_DASH}]|-{{2,}}) ?")
# Ellipsis, ideographic full stop and comma, full-width ! ? , ; : also make a pause of their own.
_WIDE_PAUSES = "\u2026\u3002\u3001\uff01\uff1f\uff0c\uff1b\uff1a"


def _dash_as_pause(match: re.Match[str]) -> str:
    """An em dash is a pause: a comma, unless punctuation or a line edge already makes one."""
    text = match.string
    before = text[match.start() - 1] if match.start() > 0 else "\n"
    after = text[match.end()] if match.end() < len(text) else "\n"
    if after in "\n,.;:!?)]}" or after in _WIDE_PAUSES:
        return ""
    if after in "\"'":
        return " " if match.group().startswith(" ") and match.group().endswith(" ") else ""
    if before in "\n,.;:!?([{" or before in _WIDE_PAUSES:
        return " "
    return ", "


# ---- English: emoji and symbols without a spoken form ----

_EMOJI_PARTS = frozenset(map(ord, "\u200d\ufe0e\ufe0f\u20e3"))  # joiner, variation selectors, keycap


def _is_unspoken(char: str) -> bool:
    code = ord(char)
    if code in _EMOJI_PARTS or 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F or 0x2190 <= code <= 0x21FF:
        return True  # skin tones, flag tags, arrows
    return unicodedata.category(char) in ("So", "Co")  # emoji, dingbats, box drawing, (TM), private-use icons


def _drop_unspoken(text: str) -> str:
    if text.isascii():
        return text
    return "".join(" " if _is_unspoken(char) else char for char in text)


_SPACE_BEFORE_PUNCTUATION = re.compile(r" ([,.;:!?]+)(?= |\n|$)")


def _normalize_english(text: str) -> str:
    text = _EMAIL.sub(_say_email, text)
    text = _URL.sub(_say_url, text)
    text = _TIME.sub(_say_time, text)
    text = _MONEY_SYMBOL_FIRST.sub(_say_money_symbol_first, text)
    text = _MONEY_SYMBOL_LAST.sub(_say_money_symbol_last, text)
    text = _PERCENT.sub(r"\1 percent", text)
    text = _TITLE.sub(_say_title, text)
    text = _PHRASE.sub(_say_phrase, text)
    for pattern, words in _SYMBOL_WORDS:
        text = pattern.sub(words, text)
    # Emoji go before dashes are read, so that a dash sees the punctuation an emoji stood next to.
    text = _collapse_whitespace(_drop_unspoken(text))
    text = text.translate(_HYPHENS)
    text = _RANGE_DASH.sub(" to ", text)
    text = _MINUS_DASH.sub("-", text)
    text = _COMPOUND_DASH.sub("-", text)
    text = _collapse_whitespace(_PAUSE_DASH.sub(_dash_as_pause, text))
    return _SPACE_BEFORE_PUNCTUATION.sub(r"\1", text)


def normalize(text: str, language: str = "en") -> str:
    """Plain text as a TTS engine should read it. Every language gets its control and invisible characters removed,
    typographic quotes made plain and whitespace collapsed (lines kept, blank lines dropped); English also gets
    spoken forms for money, percentages, times, abbreviations, addresses and dashes, and loses emoji."""
    text = _collapse_whitespace(unicodedata.normalize("NFC", text).translate(_CLEANUP))
    if _is_english(language):
        text = _normalize_english(text)
    return text


# ---- sentences ----

# . ! ? and the ellipsis; the Armenian full stop, Arabic question mark, Devanagari dandas, Ethiopic full stop.
_SPACED_ENDS = ".!?\u2026\u0589\u061f\u0964\u0965\u1362"
# Ideographic full stop, full-width ! and ?, half-width ideographic full stop.
_CJK_ENDS = "\u3002\uff01\uff1f\uff61"
# Quotes and brackets that close after a sentence's end, CJK corner and full-width ones included.
_CLOSERS = "\"')]}\u2019\u201d\u00bb\u300d\u300f\uff09\u3011"
_OPENERS = "\"'([{\u2018\u201c\u00ab\u00bf\u00a1"
# Ends in scripts with spaces need one after them ("3.5" is not an end); CJK ends need none.
_SENTENCE_END = re.compile(
    rf"(?<![{re.escape(_SPACED_ENDS)}])[{re.escape(_SPACED_ENDS)}]+[{re.escape(_CLOSERS)}]*(?= |$)"
    rf"|[{re.escape(_CJK_ENDS)}]+[{re.escape(_CLOSERS)}]*"
)
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "st", "sr", "sra", "srta", "jr", "vs", "mt", "fig", "approx", "cf", "rev"}
)
_INITIALS = re.compile(r"[^\W\d_](?:\.[^\W\d_])*")  # "J", "e.g", "U.S"
_CLAUSE_MARKS = ",;:"
_CJK_CLAUSE_MARKS = "\uff0c\u3001\uff1b\uff1a"  # full-width comma, ideographic comma, full-width ; and :


def _is_cjk(char: str) -> bool:
    """Ideographs, kana and hangul: written without spaces, spoken at roughly a syllable each."""
    code = ord(char)
    return (
        0x3040 <= code <= 0x30FF
        or 0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xAC00 <= code <= 0xD7AF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x2FFFF
    )


def _is_sentence_end(line: str, match: re.Match[str]) -> bool:
    if match.group().rstrip(_CLOSERS) != ".":
        return True  # ! ? … "..." and the CJK marks always end a sentence
    word_start = line.rfind(" ", 0, match.start()) + 1
    word = line[word_start : match.start()].lstrip(_OPENERS)
    after = match.end() + 1
    if after < len(line) and line[after].islower():
        return False  # "approx. five": a new sentence would start with a capital
    if word.lower() in _ABBREVIATIONS or _INITIALS.fullmatch(word):
        return False  # "Dr. Smith", "J. R. R. Tolkien", "e.g. London"
    return not (word_start == 0 and word.isdigit())  # "1. Buy milk" is a numbered list


def _sentences(line: str) -> Iterator[str]:
    start = 0
    for match in _SENTENCE_END.finditer(line):
        if _is_sentence_end(line, match):
            sentence = line[start : match.end()].strip()
            if sentence:
                yield sentence
            start = match.end()
    rest = line[start:].strip()
    if rest:
        yield rest


def _cut_point(text: str, start: int, max_chars: int) -> int:
    """Where to end the chunk that starts at `start` in a sentence longer than `max_chars` from there."""
    end = start + max_chars
    if text[end] == " ":
        return end
    # A clause mark in the window's second half; an earlier one would leave a short chunk and then a long one.
    for index in range(end - 1, start + max_chars // 2 - 1, -1):
        char = text[index]
        if char in _CJK_CLAUSE_MARKS or (char in _CLAUSE_MARKS and text[index + 1] == " "):
            return index + 1
    space = text.rfind(" ", start, end)
    if space > start:
        return space
    if _is_cjk(text[end - 1]) and _is_cjk(text[end]):
        return end  # CJK runs have no spaces; any character boundary is a word boundary as good as any
    space = text.find(" ", end)
    return len(text) if space == -1 else space  # one word longer than max_chars stays whole


def _split_long(sentence: str, max_chars: int) -> Iterator[str]:
    start = 0
    while len(sentence) - start > max_chars:
        cut = _cut_point(sentence, start, max_chars)
        yield sentence[start:cut].strip()
        start = cut
        while start < len(sentence) and sentence[start] == " ":
            start += 1
    if start < len(sentence):
        yield sentence[start:]


def split_sentences(text: str, *, max_chars: int = 400) -> list[str]:
    """Chunks of (normalized) text to synthesize one at a time, in order: one per sentence or line, and sentences
    longer than `max_chars` cut at a clause mark or a space. A word is never cut (a single word longer than
    `max_chars` becomes its own chunk), so in space-separated scripts `" ".join(chunks).split() == text.split()`."""
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    chunks: list[str] = []
    for line in _collapse_whitespace(text).split("\n"):
        for sentence in _sentences(line):
            chunks.extend(_split_long(sentence, max_chars))
    return chunks


# ---- duration ----

_CHARS_PER_SECOND = 15.0
_CJK_CHAR_WEIGHT = 3  # one ideograph or kana is about a syllable, as long as three Latin letters


def estimate_seconds(text: str, *, speed: float = 1.0) -> float:
    """A rough spoken duration: about 15 characters a second at speed 1 (a CJK character counting as three)."""
    if speed <= 0:
        raise ValueError("speed must be positive")
    spoken = " ".join(text.split())
    chars = len(spoken) if spoken.isascii() else sum(_CJK_CHAR_WEIGHT if _is_cjk(c) else 1 for c in spoken)
    return chars / _CHARS_PER_SECOND / speed
