"""Golden checks of the committed compose/ output: docker-compose accepts it, rules all load."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from topology import PROMETHEUS_RULES_DIR, services

ROOT = Path(__file__).resolve().parents[2]


def test_docker_compose_accepts_the_committed_stack() -> None:
    tool = shutil.which("docker-compose")
    assert tool, "docker-compose is not installed (Debian package; `make setup` installs it)"
    result = subprocess.run(
        [tool, "-f", str(ROOT / "compose" / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_prometheus_loads_every_generated_rule_file_and_scrapes_every_job() -> None:
    config = yaml.safe_load((ROOT / "compose" / "prometheus.yml").read_text(encoding="utf-8"))
    on_disk = sorted(p.name for p in (ROOT / "rules").glob("*.rules.yml"))
    assert on_disk, "rules/ holds no generated rule files"
    assert config["rule_files"] == [f"{PROMETHEUS_RULES_DIR}/{name}" for name in on_disk]
    jobs = [s.name for s in services() if s.scraped]  # the service table's job order
    assert [job["job_name"] for job in config["scrape_configs"]] == jobs


def test_the_compose_mounts_name_paths_that_exist() -> None:
    compose = yaml.safe_load((ROOT / "compose" / "docker-compose.yml").read_text(encoding="utf-8"))
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                if "secrets" in source:
                    continue  # created by the operator (compose/secrets/README.md)
                assert (ROOT / "compose" / source).exists(), f"{name}: {source}"
    assert (ROOT / "alertmanager" / "alertmanager.yml").is_file()
