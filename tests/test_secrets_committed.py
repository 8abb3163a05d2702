"""No key-shaped string is committed: every file `git ls-files` lists is scanned for the shapes of real credentials
(cloud, payment, code-hosting and chat tokens, private keys, voxhub's own API keys, and long random values assigned to
a name like `secret` or `password`). A test fixture that is plainly fake is let through by ALLOWED, with its reason.

The scanner's own patterns are tested on strings planted at run time (assembled here from pieces, so this file holds
none of them whole)."""

from __future__ import annotations

import base64
import math
import random
import re
import string
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LARGEST_SCANNED = 2 * 1024 * 1024  # bigger files are data (audio, images), not configuration or code


@dataclass(frozen=True)
class Rule:
    """A credential's shape; `secret` is the regex group holding its random part, which must look random (at least
    `min_entropy` bits per character, Shannon) for the match to count: real keys are drawn at random, fixtures
    are written by hand."""

    name: str
    pattern: re.Pattern[str]
    min_entropy: float = 0.0
    secret: int = 0
    example: re.Pattern[str] | None = None  # the vendor's own documented example values
    words_are_fake: bool = False  # lowercase words joined by - or _ are a hand-written fixture, not a key


RULES = (
    Rule("private key (PEM)", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    Rule(
        "AWS access key id",
        re.compile(r"\b((?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16})\b"),
        3.0,
        1,
        re.compile("EXAMPLE$"),  # AWS's documentation writes AKIAIOSFODNN7EXAMPLE
    ),
    Rule("Stripe live key", re.compile(r"\b(?:sk|rk|pk)_live_([0-9A-Za-z]{16,})"), 3.0, 1),
    Rule("webhook signing secret (whsec_)", re.compile(r"\bwhsec_([A-Za-z0-9+/=_-]{16,})"), 3.0, 1),
    Rule("voxhub API key", re.compile(r"\bvx_[0-9a-f]{16}_([A-Za-z0-9_-]{20,})"), 3.0, 1),
    Rule("GitHub token", re.compile(r"\b(?:gh[pousr]_([A-Za-z0-9]{30,})|github_pat_([A-Za-z0-9_]{30,}))"), 3.0, 1),
    Rule("Slack token", re.compile(r"\bxox[abposr]-([A-Za-z0-9-]{10,})"), 3.0, 1),
    Rule(
        "Slack webhook URL", re.compile(r"hooks\.slack\.com/services/(T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{16,})"), 3.0, 1
    ),
    Rule("Google API key", re.compile(r"\bAIza([0-9A-Za-z_-]{35})(?![0-9A-Za-z_-])"), 3.0, 1),
    Rule("OpenAI key", re.compile(r"\bsk-(?:proj-)?([A-Za-z0-9_-]{32,})"), 3.5, 1),
    # A quoted value (code, JSON, YAML, TOML) or a bare one in KEY=value / key: value lines, assigned to a name that
    # says it is secret. Values with spaces, `${…}`, `<…>` or `…` are prose or placeholders, and lowercase words
    # joined by dashes ("bench-password-not-common") are written by hand: neither is a credential.
    Rule(
        "secret assigned to a name",
        re.compile(
            r"""(?ix) \b[\w.-]*(?:secret|password|passwd|token|api_?key|access_?key|private_?key|credential)[\w.-]*
            ["']? [ \t]* (?::|=|:=) [ \t]* (?:["']([^"'\s]{16,})["'] | ([A-Za-z0-9+/=_-]{20,})[ \t]*$)""",
            re.MULTILINE,
        ),
        3.5,
        1,
        words_are_fake=True,
    ),
)


@dataclass(frozen=True)
class Allowed:
    """A key-shaped string that is committed on purpose; `reason` says why it opens nothing."""

    path: str
    text: str
    reason: str


# Each text is written here in two pieces, so this file does not hold it whole.
ALLOWED = (
    Allowed(
        "tests/billing/test_providers.py",
        "wh" + "sec_stripe_test_secret_0123456789",
        "the signing secret of the fake Stripe the tests serve; it signs only their own deliveries, and says so",
    ),
    Allowed(
        "tests/billing/conftest.py",
        "wh" + "sec_voxhub_test_secret",
        "the webhook secret of the billing tests' own fake Stripe server, and it says it is a test secret",
    ),
    Allowed(
        "tests/billing/test_webhooks.py",
        "wh" + "sec_not_the_configured_one",
        "a wrong secret the tests sign with to be refused; it names itself",
    ),
    Allowed(
        "tests/apikeys/test_provider_keys.py",
        "sk-" + "proj-Zx8pQ2vLmN4rT6yU1wE3sA5dF7gH9jK0abcd",
        "an OpenAI-shaped key the vault tests encrypt and mask; typed by hand (letter, digit, letter… then abcd), "
        "no OpenAI account issued it and nothing sends it to OpenAI",
    ),
    Allowed(
        "tests/audit/test_audit_log.py",
        "sk-" + "live-ThisMustNeverBeLogged-9876",
        "the audit test's marker that a provider key never reaches the log; it is a sentence, not a key",
    ),
)


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str
    text: str

    def __str__(self) -> str:
        shown = self.text if len(self.text) <= 12 else f"{self.text[:8]}…"  # never print a whole key in CI's log
        return f"{self.path}:{self.line}: {self.rule}: {shown}"


_HEX = re.compile(r"[0-9a-f]{32,}|[0-9A-F]{32,}")
_WORD = re.compile(r"[a-z]{3,}")


def looks_random(rule: Rule, value: str) -> bool:
    """Drawn at random rather than written by hand. Hex has 16 symbols, so its bar is lower: 32 random hex digits
    stay above 2.5 bits a character, 24 random URL-safe ones above 3.5 (in 200,000 draws of each)."""
    if any(mark in value for mark in ("${", "{{", "<", "…")):
        return False  # a placeholder: ${VAR}, {{ template }}, <your key>, sk_…
    if rule.words_are_fake and value == value.lower() and len(_WORD.findall(value)) >= 2:
        parts = re.split(r"[-_.]", value)
        if len(parts) >= 2 and all(part.isalpha() or part.isdigit() or not part for part in parts):
            return False
    if _HEX.fullmatch(value):
        return entropy(value) >= 2.5
    return entropy(value) >= rule.min_entropy


def entropy(text: str) -> float:
    """Shannon entropy, bits per character."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def scan_text(text: str, path: str = "<text>", allowed: Iterable[Allowed] = ALLOWED) -> list[Finding]:
    """Every key-shaped string in `text` that looks random and is not allowed for `path`; where two rules match one
    string, the first (the more specific) names it."""
    found: list[Finding] = []
    taken: list[tuple[int, int]] = []
    exceptions = [entry.text for entry in allowed if entry.path == path]
    for rule in RULES:
        for match in rule.pattern.finditer(text):
            whole = match.group(0)
            groups = [group for group in match.groups() if group] if rule.secret else []
            secret_part = groups[0] if groups else whole
            if rule.min_entropy and not looks_random(rule, secret_part):
                continue
            if rule.example and rule.example.search(secret_part):
                continue
            if any(exception in whole for exception in exceptions):
                continue
            if any(start < match.end() and match.start() < end for start, end in taken):
                continue
            taken.append(match.span())
            line = text.count("\n", 0, match.start()) + 1
            found.append(Finding(path, line, rule.name, whole.strip()))
    return found


def committed_files(root: Path) -> Iterator[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    for name in listed.decode().split("\0"):
        if name:
            yield root / name


def scan_files(root: Path, files: Iterable[Path]) -> list[Finding]:
    found = []
    for path in files:
        if not path.is_file() or path.stat().st_size > LARGEST_SCANNED:
            continue  # deleted in the work tree, or data
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary
        found += scan_text(data.decode("utf-8", errors="replace"), path.relative_to(root).as_posix())
    return found


# ---- the tree ----


def test_no_key_shaped_string_is_committed() -> None:
    files = list(committed_files(ROOT))

    found = scan_files(ROOT, files)

    assert len(files) > 100, "git ls-files listed the checkout"
    assert found == [], "key-shaped strings are committed; remove them (and rotate the keys):\n" + "\n".join(
        map(str, found)
    )


def test_every_allowed_fixture_is_still_there_and_matched() -> None:
    """An entry that no longer matches anything is a hole waiting for a real key of the same text: remove it."""
    for entry in ALLOWED:
        text = (ROOT / entry.path).read_text()
        reported = [finding.text for finding in scan_text(text, entry.path, allowed=())]
        assert entry.text in text, entry
        assert any(entry.text in finding for finding in reported), f"{entry} would not be reported: drop it"


# ---- the scanner, on planted strings ----


# Seeded, so every run plants the same strings: a finding that comes and goes would be a flaky test. The seeds are
# arbitrary; test_random_keys_of_every_length_are_caught covers fresh ones.
_PLANTING = random.Random(20261203)


def _random(alphabet: str, length: int) -> str:
    return "".join(_PLANTING.choice(alphabet) for _ in range(length))


ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"


def planted() -> dict[str, str]:
    """One line per rule, each with a freshly random key of that shape."""
    upper = string.ascii_uppercase + string.digits
    return {
        "private key (PEM)": "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEow" + _random(ALNUM, 60),
        "AWS access key id": 'aws_id = "' + "AK" + "IA" + _random(upper, 16) + '"',
        "Stripe live key": "STRIPE=" + "sk" + "_live_" + _random(ALNUM, 24),
        "webhook signing secret (whsec_)": "secret: " + "wh" + "sec_" + _random(ALNUM + "+/", 32),
        "voxhub API key": "Authorization: Bearer "
        + "vx"
        + "_"
        + _random("0123456789abcdef", 16)
        + "_"
        + _random(URLSAFE, 32),
        "GitHub token": "git clone https://" + "gh" + "p_" + _random(ALNUM, 36) + "@github.com/a/b",
        "Slack token": "token "
        + "xo"
        + "xb-"
        + _random(string.digits, 12)
        + "-"
        + _random(string.digits, 13)
        + "-"
        + _random(ALNUM, 24),
        "Slack webhook URL": "https://hooks."
        + "slack.com/services/T"
        + _random(upper, 9)
        + "/B"
        + _random(upper, 9)
        + "/"
        + _random(ALNUM, 24),
        "Google API key": "key=" + "AI" + "za" + _random(URLSAFE, 35),
        "OpenAI key": "OPENAI=" + "sk" + "-proj-" + _random(URLSAFE, 48),
        "secret assigned to a name": 'db_password = "' + _random(URLSAFE, 32) + '"',
    }


@pytest.mark.parametrize("rule", [rule.name for rule in RULES])
def test_each_shape_is_caught_when_planted_in_a_file(rule: str, tmp_path: Path) -> None:
    sample = planted()[rule]
    target = tmp_path / "settings.py"
    target.write_text(f"# harmless\nx = 1\n{sample}\n")

    found = scan_files(tmp_path, [target])

    assert [(finding.path, finding.line, finding.rule) for finding in found] == [("settings.py", 3, rule)]
    assert found[0].text not in str(found[0]), "a finding never prints the whole key (CI logs are read widely)"


def test_unquoted_assignments_in_env_and_yaml_files_are_caught() -> None:
    value = _random(URLSAFE, 32)
    hex_value = _random("0123456789abcdef", 40)

    assert [f.rule for f in scan_text(f"VOXHUB_SECRET_KEY={value}\n")] == ["secret assigned to a name"]
    assert [f.rule for f in scan_text(f"    api_token: {value}\n")] == ["secret assigned to a name"]
    assert [f.rule for f in scan_text(f"GITLAB_TOKEN={hex_value}\n")] == ["secret assigned to a name"]
    assert scan_text("VOXHUB_STORAGE_ACCESS_KEY_ID=\nVOXHUB_STORAGE_SECRET_ACCESS_KEY=\n") == [], "an empty value"


@pytest.mark.parametrize(
    "text",
    [
        'secret_key = "test-secret-key-" + "x" * 32',  # a hand-written fixture: not random
        'password = "a long passphrase"',  # prose
        "VOXHUB_SECRET_KEY=${VOXHUB_SECRET_KEY}",  # a placeholder
        "VOXHUB_STRIPE_WEBHOOK_SECRET: whsec_…",  # documentation
        'token = request.headers.get("authorization")',  # code
        "vx_0000000000000000_" + "notakey" * 3,  # a fake voxhub key in a permission test
        'aws = "' + "AKIA" + "IOSFODNN7" + 'EXAMPLE"',  # AWS's documented example id: not random enough
    ],
)
def test_fixtures_prose_and_placeholders_are_not_reported(text: str) -> None:
    assert scan_text(text) == []


def test_an_allowed_fixture_is_allowed_only_in_its_own_file() -> None:
    entry = ALLOWED[0]
    line = f'SECRET = "{entry.text}"\n'

    assert scan_text(line, entry.path) == []
    assert [finding.rule for finding in scan_text(line, "src/voxhub/config.py")] == ["webhook signing secret (whsec_)"]


def test_random_keys_of_every_length_are_caught() -> None:
    """Random secrets shaped as Python makes them (token_urlsafe, token_hex) in the sizes keys come in, 200 of each
    (seeded: the same every run): every one is reported."""
    draw = random.Random(1203)
    missed = []
    for _ in range(200):
        urlsafe = [base64.urlsafe_b64encode(draw.randbytes(size)).rstrip(b"=").decode() for size in (18, 32)]
        for value in (*urlsafe, draw.randbytes(16).hex(), draw.randbytes(20).hex()):
            if not scan_text(f'client_secret = "{value}"\n'):
                missed.append(value[:6])
    assert missed == []


@pytest.mark.parametrize(
    "text",
    ['PASSWORD = "bench-password-not-common"', 'stripe_secret_key="sk_test_voxhub_fake"', 'key: "${S3_ACCESS_KEY_ID}"'],
)
def test_words_joined_by_dashes_and_placeholders_are_fixtures(text: str) -> None:
    assert scan_text(text) == []
