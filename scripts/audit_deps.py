"""Audit the installed Python packages with pip-audit, print what it found, and fail only on what must stop a release.

Policy (exit 1 only for these):
  * a vulnerability whose CVE is in CISA's Known Exploited Vulnerabilities catalog — being exploited now, fix or not;
  * a vulnerability rated CRITICAL (the GitHub advisory's severity, read from OSV) that has a fixed version to move to.
Everything else found is printed and passes: a high or lower finding, or a critical one with no fix yet, is for a
person to weigh, not for CI to block on.

It never fails because it could not look: when the vulnerability service cannot be reached (every package "not
found"), or the KEV catalog or the severities cannot be fetched, it says so plainly and exits 0. A finding that could
not be rated is printed as UNRATED.

Usage: audit_deps.py [--report pip-audit.json] [--kev known_exploited_vulnerabilities.json]
  --report  judge a report pip-audit already wrote instead of running it over this interpreter's environment;
  --kev     a local copy of CISA's catalog (offline mirrors) instead of fetching it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

KEV_URL = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"
OSV_VULN_URL = "https://api.osv.dev/v1/vulns/{id}"
FETCH_TIMEOUT_S = 15


@dataclass
class Finding:
    package: str
    version: str
    id: str
    aliases: list[str]
    fix_versions: list[str]
    severity: str | None = None  # CRITICAL, HIGH, MODERATE, LOW; None when it could not be read
    known_exploited: bool | None = None  # None when the KEV catalog could not be read

    @property
    def cves(self) -> list[str]:
        return [name for name in [self.id, *self.aliases] if name.startswith("CVE-")]

    @property
    def blocking(self) -> bool:
        return bool(self.known_exploited) or (self.severity == "CRITICAL" and bool(self.fix_versions))


@dataclass
class Audit:
    audited: int = 0
    skipped: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def could_not_audit(self) -> bool:
        return self.audited == 0

    @property
    def blocking(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.blocking]


def read_report(report: dict) -> Audit:
    """pip-audit's JSON (`--format json`): which packages were looked up, which skipped, what was found."""
    audit = Audit()
    for dependency in report.get("dependencies", []):
        if "skip_reason" in dependency:
            audit.skipped.append(dependency["skip_reason"])
            continue
        audit.audited += 1
        for vuln in dependency.get("vulns", []):
            audit.findings.append(
                Finding(
                    package=dependency["name"],
                    version=dependency.get("version", "?"),
                    id=vuln["id"],
                    aliases=list(vuln.get("aliases", [])),
                    fix_versions=list(vuln.get("fix_versions", [])),
                )
            )
    return audit


def rate(audit: Audit, kev: set[str] | None, severity_of: Callable[[list[str]], str | None]) -> None:
    """Mark each finding known-exploited or not (None without a catalog) and with its severity."""
    for finding in audit.findings:
        finding.known_exploited = None if kev is None else any(cve in kev for cve in finding.cves)
        finding.severity = severity_of([finding.id, *finding.aliases])


def fetch_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as response:  # noqa: S310 (fixed https URLs)
        return json.load(response)


def load_kev(path: str | None, notes: list[str]) -> set[str] | None:
    try:
        catalog = json.loads(Path(path).read_text()) if path else fetch_json(KEV_URL)
    except (OSError, ValueError) as exc:
        notes.append(f"CISA's KEV catalog could not be read ({type(exc).__name__}: {exc}); known-exploited unknown")
        return None
    assert isinstance(catalog, dict)
    return {entry["cveID"] for entry in catalog.get("vulnerabilities", [])}


def osv_severity(notes: list[str]) -> Callable[[list[str]], str | None]:
    """Severity from the GitHub advisory among a finding's ids, as OSV serves it; None when none can be read."""
    unreachable: list[bool] = []

    def severity_of(ids: list[str]) -> str | None:
        for advisory in [name for name in ids if name.startswith("GHSA-")]:
            if unreachable:
                return None
            try:
                record = fetch_json(OSV_VULN_URL.format(id=advisory))
            except OSError as exc:
                unreachable.append(True)
                notes.append(f"OSV could not be reached for severities ({type(exc).__name__}); findings UNRATED")
                return None
            if isinstance(record, dict):
                severity = record.get("database_specific", {}).get("severity")
                if severity:
                    return str(severity).upper()
        return None

    return severity_of


def run_pip_audit(output: Path) -> str:
    """pip-audit over this interpreter's environment (voxhub itself, installed editable, is not on PyPI)."""
    command = [sys.executable, "-m", "pip_audit", "--progress-spinner", "off", "--skip-editable"]
    command += ["--format", "json", "--output", str(output)]
    done = subprocess.run(command, capture_output=True, text=True)  # noqa: S603 (this interpreter, fixed arguments)
    return done.stderr


def print_report(audit: Audit) -> None:
    print(f"audit-deps: {audit.audited} packages audited, {len(audit.skipped)} skipped, {len(audit.findings)} found")
    for finding in audit.findings:
        exploited = {True: "KEV", False: "-", None: "KEV?"}[finding.known_exploited]
        fix = ", ".join(finding.fix_versions) or "no fix yet"
        verdict = "BLOCKING" if finding.blocking else "reported"
        print(
            f"  {verdict:8} {finding.package} {finding.version}: {finding.id} ({', '.join(finding.aliases) or '-'}) "
            f"severity={finding.severity or 'UNRATED'} {exploited} fix: {fix}"
        )
    for note in audit.notes:
        print(f"audit-deps: note: {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Audit the installed packages; fail on known-exploited or critical.")
    parser.add_argument("--report", help="judge this pip-audit JSON report instead of running pip-audit")
    parser.add_argument("--kev", help="a local copy of CISA's known_exploited_vulnerabilities.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        report_path = Path(args.report) if args.report else Path(scratch) / "pip-audit.json"
        errors = "" if args.report else run_pip_audit(report_path)
        try:
            report = json.loads(report_path.read_text())
        except (OSError, ValueError):
            print("audit-deps: COULD NOT AUDIT: pip-audit wrote no report; it said:\n" + errors.strip())
            return 0
    audit = read_report(report)
    if audit.could_not_audit:
        reasons = sorted({reason.split(":")[0] for reason in audit.skipped}) or ["no packages listed"]
        print(
            f"audit-deps: COULD NOT AUDIT: none of {len(audit.skipped)} packages could be looked up "
            f"({'; '.join(reasons)}). The vulnerability service (PyPI's per-release JSON) is probably unreachable "
            "from here; nothing was checked, so nothing fails."
        )
        return 0
    if audit.findings:
        rate(audit, load_kev(args.kev, audit.notes), osv_severity(audit.notes))
    print_report(audit)
    if audit.blocking:
        print(f"audit-deps: FAILED: {len(audit.blocking)} known-exploited, or critical with a fix: upgrade them")
        return 1
    print("audit-deps: passed (nothing known-exploited, nothing critical with a fix)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
