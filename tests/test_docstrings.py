"""Every public service function says in one docstring what it does for its caller: read from the source, so a new
function without one fails here, named with its file and line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "voxhub"

# Where domains keep the functions other rooms and routes call: every `service.py` and `flows.py`, and these. Named
# files must exist: a moved module is renamed here, not silently skipped.
NAMED = (
    "notify/endpoints.py",
    "notify/signing.py",
    "notify/delivery.py",
    "files/uploads.py",
    "billing/payments.py",
    "billing/ledger.py",
    "jobs/events.py",
    "transcripts/service.py",
)


def service_modules() -> list[Path]:
    named = [PACKAGE / name for name in NAMED]
    missing = [str(path.relative_to(PACKAGE)) for path in named if not path.exists()]
    assert missing == [], f"modules named in NAMED are gone: {missing}"
    return sorted({*PACKAGE.glob("*/service.py"), *PACKAGE.glob("*/flows.py"), *named})


def undocumented(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Module-level functions without a leading underscore and without a (non-blank) docstring."""
    return [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and not node.name.startswith("_")
        and not (ast.get_docstring(node) or "").strip()
    ]


def test_every_public_service_function_has_a_docstring() -> None:
    missing = [
        f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}"
        for path in service_modules()
        for node in undocumented(ast.parse(path.read_text(), filename=str(path)))
    ]
    assert missing == [], "public service functions without a docstring:\n" + "\n".join(missing)


@pytest.mark.parametrize(
    ("snippet", "flagged"),
    [
        ("def create(*, db):\n    return db\n", ["create"]),
        ("async def stream(*, db):\n    ''\n", ["stream"]),
        ("def create(*, db):\n    '''Make a thing the caller owns.'''\n", []),
        ("def _helper(db):\n    return db\n", []),
        ("class Thing:\n    def method(self):\n        return 1\n", []),
    ],
)
def test_the_check_sees_what_it_is_meant_to(snippet: str, flagged: list[str]) -> None:
    """Public module-level functions (async too) need a docstring; private helpers and methods do not."""
    assert [node.name for node in undocumented(ast.parse(snippet))] == flagged
