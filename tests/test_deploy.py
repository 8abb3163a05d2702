"""The deployment files in deploy/ stay valid without Docker or systemd running: the compose file against the Compose
Specification's JSON schema, every VOXHUB_ name they set against the real settings, every command against the CLI,
and the systemd units through `systemd-analyze verify` and its offline security review.

tests/fixtures/compose-spec.json is schema/compose-spec.json of github.com/compose-spec/compose-spec at commit
170098ba07d9f53c383a41bfd4c5166b0a4529a6 (2026-06-23), Apache-2.0, copied unchanged."""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import typer.main
import yaml

from voxhub import cli
from voxhub.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "compose-spec.json").read_text())
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
ONE_SHOT = {"migrate", "create-bucket"}  # they run to completion before the others start
HARDENING = {
    "User": "voxhub",
    "NoNewPrivileges": "yes",
    "PrivateTmp": "yes",
    "ProtectSystem": "strict",
    "ReadWritePaths": "/var/lib/voxhub",
    "Restart": "on-failure",
    "EnvironmentFile": "/etc/voxhub/voxhub.env",
}
MOST_EXPOSED = 2.0  # systemd-analyze security's scale: 0 (locked down) to 10 (unprotected); below 2 reads "OK"


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def cli_commands() -> set[str]:
    group = typer.main.get_command(cli.app)
    return set(group.commands)  # type: ignore[attr-defined]


def unit(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd's keys are case-sensitive
    parser.read(path)
    return parser


# ---- docker compose ----


def test_the_compose_file_follows_the_compose_specification() -> None:
    validator = jsonschema.Draft7Validator(SCHEMA)
    misspelt = compose()
    misspelt["services"]["api"]["healthchek"] = misspelt["services"]["api"].pop("healthcheck")

    assert [error.message for error in validator.iter_errors(compose())] == []
    assert not validator.is_valid(misspelt), "the schema refuses what Docker would refuse"


def test_the_compose_file_runs_the_whole_system_with_healthchecks_and_volumes() -> None:
    spec = compose()
    services = spec["services"]

    assert {"postgres", "redis", "s3", "migrate", "api", "worker", "beat"} <= set(services)
    assert services["postgres"]["image"].startswith("pgvector/pgvector:")
    for name, service in services.items():
        for needed in service.get("depends_on", {}):
            assert needed in services, f"{name} waits for a service that does not exist: {needed}"
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            assert source.startswith(".") or source in spec["volumes"], f"{name}: undeclared volume {source}"
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which is not in deploy/"
        if name not in ONE_SHOT:
            assert "healthcheck" in service and service["restart"] == "unless-stopped", name
    for name in ("api", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["beat"]["deploy"]["replicas"] == 1, "two beats would do the periodic work twice"
    assert (DEPLOY / services["api"]["build"]["dockerfile"].removeprefix("deploy/")).is_file()


def test_every_voxhub_process_runs_a_real_command() -> None:
    known = cli_commands()
    runs = {
        name: service["command"]
        for name, service in compose()["services"].items()
        if service.get("image", "").startswith("voxhub")
    }

    assert {name: command[0] for name, command in runs.items()} == dict.fromkeys(runs, "voxhub")
    assert {command[1] for command in runs.values()} == {"serve", "worker", "beat", "migrate"} <= known


def test_every_setting_the_deployment_files_name_is_a_real_setting() -> None:
    settings = {f"VOXHUB_{name.upper()}" for name in Settings.model_fields}
    files = [DEPLOY / "docker-compose.yml", *DEPLOY.glob("*.env.example"), *(DEPLOY / "systemd").iterdir()]
    named = {path.name: set(re.findall(r"\bVOXHUB_[A-Z0-9_]+", path.read_text())) for path in files}
    environment = compose()["x-voxhub-environment"]

    assert {name: names - settings for name, names in named.items()} == {path.name: set() for path in files}
    assert {"VOXHUB_DATABASE_URL", "VOXHUB_QUEUE_URL", "VOXHUB_STORAGE_URL", "VOXHUB_SECRET_KEY"} <= set(environment)
    assert environment["VOXHUB_STORAGE_URL"].startswith("s3://")


def test_the_image_installs_voxhub_with_the_programs_it_runs() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()

    assert dockerfile.startswith("# ") and "\nFROM python:3.11-slim\n" in dockerfile
    assert "ffmpeg" in dockerfile and "espeak-ng" in dockerfile and "pip install --no-cache-dir ." in dockerfile
    assert "\nUSER voxhub\n" in dockerfile, "the processes do not run as root"
    assert {"!pyproject.toml", "!README.md", "!src/"} <= set(ignored), "what `pip install .` reads reaches the build"


# ---- systemd ----


@pytest.mark.parametrize("path", UNITS, ids=[path.name for path in UNITS])
def test_each_unit_runs_a_real_command_hardened(path: Path) -> None:
    service = unit(path)["Service"]
    command = service["ExecStart"].split()

    assert command[0] == "/opt/voxhub/venv/bin/voxhub" and command[1] in cli_commands()
    assert {key: service.get(key) for key in HARDENING} == HARDENING


def test_the_units_pass_systemd_analyze(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is missing (Debian: apt-get install systemd)")
    # verify checks that ExecStart's program exists: point it at one that does; everything else is as written.
    for path in UNITS:
        text = path.read_text().replace("/opt/voxhub/venv/bin/voxhub", "/bin/true")
        (tmp_path / path.name).write_text(text)
    copies = sorted(str(tmp_path / path.name) for path in UNITS)

    verify = subprocess.run([analyze, "verify", "--man=no", *copies], capture_output=True, text=True)
    exposure = {}
    for name in (path.name for path in UNITS):
        review = subprocess.run(
            [analyze, "security", "--offline=yes", "--no-pager", name], capture_output=True, text=True, cwd=tmp_path
        )
        found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", review.stdout)
        assert found, review.stdout[-2000:] + review.stderr[-2000:]
        exposure[name] = float(found.group(1))

    # verify only warns (and exits 0) on an unknown key or a bad value: any word from it is a finding.
    assert (verify.returncode, verify.stdout + verify.stderr) == (0, "")
    assert all(level <= MOST_EXPOSED for level in exposure.values()), exposure


def test_systemd_analyze_would_catch_a_broken_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is missing (Debian: apt-get install systemd)")
    broken = tmp_path / "broken.service"
    broken.write_text("[Service]\nExecStart=/bin/true\nProtectSystem=sideways\nRestartt=on-failure\n")

    verify = subprocess.run([analyze, "verify", "--man=no", str(broken)], capture_output=True, text=True)

    assert "sideways" in verify.stderr and "Restartt" in verify.stderr
