"""What signed in, in words a person recognises: the browser or program and the operating system of a user agent.

A sign-in counts as from a new device when this pair is new for the account. Versions are left out on purpose:
a browser updating itself every few weeks is the same device. A cookie naming the device would tell two laptops
with the same browser apart, but API clients keep no cookies and people clear them, so every cleared cookie would
mail a false alarm; the pair works for every client and changes only when something really changed."""

from __future__ import annotations

import re

# (marker in the user agent, name), first match wins: browsers name their ancestors too (Edge says Chrome and
# Safari, Chrome says Safari), so the most specific comes first.
_BROWSERS = (
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("Opera", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("FxiOS/", "Firefox"),
    ("Firefox/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Version/", "Safari"),  # Safari says "Version/17.1 … Safari/605"; others that say Safari matched above
)
_SYSTEMS = (
    ("Windows", "Windows"),
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("CrOS", "ChromeOS"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
)
_PRODUCT = re.compile(r"[A-Za-z][A-Za-z0-9_.+\-]{0,60}")


def describe_device(user_agent: str) -> str:
    """ "Firefox on Linux", "Safari on iOS", "curl", "python-httpx": the browser or program and, when the user
    agent names one, the operating system. "unknown" for an empty user agent."""
    agent = user_agent.strip()
    if not agent:
        return "unknown"
    if agent.startswith("Mozilla/"):
        program = next((name for marker, name in _BROWSERS if marker in agent), "a browser")
    else:
        match = _PRODUCT.match(agent)  # "curl/8.5.0", "python-httpx/0.27", "okhttp/4.12": the first product
        program = match.group(0) if match else "unknown"
    system = next((name for marker, name in _SYSTEMS if marker in agent), None)
    return f"{program} on {system}"[:120] if system else program[:120]
