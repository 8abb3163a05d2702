"""scripts/audit-deps.sh's policy, on planted pip-audit reports: it fails only on a known-exploited vulnerability or a
critical one with a fix, prints everything it found, and passes (saying so) when nothing could be looked up."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "audit_deps.py"


@pytest.fixture(scope="module")
def audit_deps() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_deps", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["audit_deps"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def vuln(id: str, aliases: list[str], fix: list[str]) -> dict[str, object]:
    return {"id": id, "aliases": aliases, "fix_versions": fix, "description": "planted"}


REPORT = {
    "dependencies": [
        {"name": "exploited", "version": "1.0", "vulns": [vuln("PYSEC-1", ["CVE-2099-0001"], [])]},
        {"name": "critical-fixed", "version": "2.0", "vulns": [vuln("GHSA-crit-fixd-0001", [], ["2.1"])]},
        {"name": "critical-unfixed", "version": "3.0", "vulns": [vuln("GHSA-crit-open-0002", [], [])]},
        {"name": "high-fixed", "version": "4.0", "vulns": [vuln("GHSA-high-fixd-0003", ["CVE-2099-0003"], ["4.1"])]},
        {"name": "clean", "version": "5.0", "vulns": []},
        {"name": "voxhub", "skip_reason": "distribution marked as editable"},
    ]
}
SEVERITY = {"GHSA-crit-fixd-0001": "CRITICAL", "GHSA-crit-open-0002": "CRITICAL", "GHSA-high-fixd-0003": "HIGH"}
KEV = {"vulnerabilities": [{"cveID": "CVE-2099-0001"}, {"cveID": "CVE-1999-0000"}]}


def test_only_known_exploited_or_critical_with_a_fix_blocks(audit_deps: ModuleType) -> None:
    audit = audit_deps.read_report(REPORT)
    audit_deps.rate(audit, {"CVE-2099-0001"}, lambda ids: next((SEVERITY[i] for i in ids if i in SEVERITY), None))

    assert audit.audited == 5 and len(audit.skipped) == 1
    assert sorted(finding.package for finding in audit.blocking) == ["critical-fixed", "exploited"]
    assert {f.package for f in audit.findings} - {f.package for f in audit.blocking} == {
        "critical-unfixed",
        "high-fixed",
    }


def test_a_blocking_report_fails_and_names_each_finding(
    audit_deps: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "report.json").write_text(json.dumps(REPORT))
    (tmp_path / "kev.json").write_text(json.dumps(KEV))
    # No severity service in a test: every GHSA id is UNRATED, so only the KEV entry blocks.
    monkeypatch.setattr(audit_deps, "fetch_json", lambda url: (_ for _ in ()).throw(OSError("offline")))

    code = audit_deps.main(["--report", str(tmp_path / "report.json"), "--kev", str(tmp_path / "kev.json")])
    printed = capsys.readouterr().out

    assert code == 1
    assert "BLOCKING exploited 1.0: PYSEC-1 (CVE-2099-0001)" in printed
    assert "critical-unfixed" in printed and "severity=UNRATED" in printed
    assert "OSV could not be reached" in printed


def test_when_nothing_could_be_looked_up_it_says_so_and_passes(
    audit_deps: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unreachable = {"dependencies": [{"name": n, "skip_reason": f"Dependency not found on PyPI: {n}"} for n in "ab"]}
    (tmp_path / "report.json").write_text(json.dumps(unreachable))

    code = audit_deps.main(["--report", str(tmp_path / "report.json")])

    assert code == 0
    assert "COULD NOT AUDIT: none of 2 packages could be looked up" in capsys.readouterr().out


def test_a_clean_report_passes(audit_deps: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "report.json").write_text(
        json.dumps({"dependencies": [{"name": "clean", "version": "1", "vulns": []}]})
    )

    assert audit_deps.main(["--report", str(tmp_path / "report.json")]) == 0
    assert "passed" in capsys.readouterr().out
