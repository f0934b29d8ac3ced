"""The compose stack and Prometheus' configuration, checked with docker-compose and promtool."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporters import registry
from generator.model import Catalogue, Settings
from generator.render import compose, prometheus
from generator.settings import duration_seconds
from tests.generator.catalogues import small_catalogue
from tests.helpers import REPO_ROOT

ROOT = Path(__file__).resolve().parents[2]
JOBS = [
    "system",
    "postgres",
    "redis",
    "probe",
    "security",
    "training",
    "jsonstatus",
    "app",
    "prometheus",
    "alertmanager",
]


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed (Debian package; `make setup` installs it)"
    return path


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return small_catalogue()


@pytest.fixture(scope="module")
def stack(catalogue: Catalogue) -> dict[str, str]:
    return {**compose.render(catalogue, Settings()), **prometheus.render(catalogue, Settings())}


@pytest.fixture(scope="module")
def services(stack: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(stack["compose/docker-compose.yml"])["services"]
    return data


def _compose_config(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    """``docker-compose config -q`` in a copy of the compose/ layout (no engine needed)."""
    (tmp_path / "compose").mkdir(exist_ok=True)
    path = tmp_path / "compose" / "docker-compose.yml"
    path.write_text(text, encoding="utf-8")
    return subprocess.run(
        [_tool("docker-compose"), "-f", str(path), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path / "compose",
    )


def test_docker_compose_accepts_the_rendered_file(stack: dict[str, str], tmp_path: Path) -> None:
    result = _compose_config(tmp_path, stack["compose/docker-compose.yml"])
    assert result.returncode == 0, result.stderr


def test_docker_compose_rejects_a_broken_file(stack: dict[str, str], tmp_path: Path) -> None:
    broken = stack["compose/docker-compose.yml"].replace("healthcheck:", "healthchek:", 1)
    result = _compose_config(tmp_path, broken)
    assert result.returncode != 0
    assert "healthchek" in result.stderr


def test_the_stack_has_every_exporter_the_servers_and_the_demo_writers(
    services: dict[str, Any],
) -> None:
    expected = {*JOBS, "grafana", "postgres-server", "redis-server"}
    expected |= {"security-demo", "training-demo", "status-demo"}
    assert set(services) == expected


def test_exporters_are_built_from_the_dockerfile_and_run_as_a_non_root_user(
    services: dict[str, Any],
) -> None:
    for name in registry.EXPORTERS:
        service = services[name]
        assert service["build"] == {"context": "..", "dockerfile": "compose/Dockerfile"}
        assert service["command"][0] == name
        assert not service["user"].startswith(("0:", "root"))
        assert service["read_only"] is True


def test_images_are_pinned_to_exact_versions(services: dict[str, Any]) -> None:
    for name, service in services.items():
        image = service["image"]
        tag = image.rpartition(":")[2]
        # PostgreSQL's releases are major.minor (15.6); everything else major.minor.patch.
        exact = r"v?\d+\.\d+\.\d+" if not image.startswith("postgres:") else r"\d+\.\d+"
        assert re.fullmatch(exact + r"(-[a-z0-9]+)?", tag), f"{name}: {image} is not exact"
    assert services["prometheus"]["image"] == "prom/prometheus:v2.42.0"
    assert services["alertmanager"]["image"] == "prom/alertmanager:v0.25.0"


def test_every_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] == "CMD", name


def test_no_secret_is_written_inline(stack: dict[str, str], services: dict[str, Any]) -> None:
    secretish = re.compile(r"PASSWORD|DSN|TOKEN|SECRET|KEY|_URL$", re.I)
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if secretish.search(key) and key != "PROMFLEET_PROMETHEUS_URL":
                assert key.endswith("_FILE"), f"{name}: {key} must name a file"
                assert value.startswith("/run/secrets/"), f"{name}: {key}={value}"
    top = yaml.safe_load(stack["compose/docker-compose.yml"])["secrets"]
    for secret in top.values():
        assert set(secret) == {"file"}
    assert "postgresql://" not in stack["compose/docker-compose.yml"]


def test_alertmanager_gets_its_config_and_the_receivers_secret_files(
    services: dict[str, Any],
) -> None:
    volumes = services["alertmanager"]["volumes"]
    assert f"./secrets/alertmanager:{Settings().secrets_dir}:ro" in volumes
    config_dir = compose.ALERTMANAGER_CONFIG_DIR
    assert f"../alertmanager:{config_dir}:ro" in volumes
    command = services["alertmanager"]["command"]
    assert "--config.file=/tmp/alertmanager/alertmanager.yml" in command
    assert "--data.retention=720h" in command  # who acknowledged what, for 30 days


def test_prometheus_keeps_thirty_days(services: dict[str, Any]) -> None:
    assert "--storage.tsdb.retention.time=30d" in services["prometheus"]["command"]


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool not installed (.ci/setup)")
def test_alertmanagers_entrypoint_starts_it_on_a_copy_holding_the_pushover_secrets(
    services: dict[str, Any], tmp_path: Path
) -> None:
    """The container's start command, run here with its paths moved under tmp_path and
    amtool check-config in place of Alertmanager."""
    config_dir = compose.ALERTMANAGER_CONFIG_DIR
    shutil.copytree(REPO_ROOT / "alertmanager", tmp_path / "config")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "security-pager.user_key").write_text("u" * 30 + "\n")
    (secrets / "security-pager.token").write_text("t" * 30)
    entrypoint = services["alertmanager"]["entrypoint"]
    assert entrypoint[:2] == ["/bin/sh", "-c"]
    script = (
        entrypoint[2]
        .replace("$$", "$")
        .replace(config_dir, str(tmp_path / "config"))
        .replace(Settings().secrets_dir, str(secrets))
        .replace("/tmp/alertmanager", str(tmp_path / "run"))
        .replace(
            'exec /bin/alertmanager "$@"',
            f"exec amtool check-config {tmp_path}/run/alertmanager.yml",
        )
    )
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "templates" in done.stdout
    running = (tmp_path / "run" / "alertmanager.yml").read_text()
    assert "u" * 30 in running and "t" * 30 in running and "@secret:" not in running
    assert (tmp_path / "run" / "alertmanager.yml").stat().st_mode & 0o077 == 0


def test_grafana_mounts_its_provisioning_from_the_repository(services: dict[str, Any]) -> None:
    grafana = services["grafana"]
    env = grafana["environment"]
    mount = next(v for v in grafana["volumes"] if v.startswith("../grafana:"))
    root = mount.split(":")[1]
    assert env["GF_PATHS_PROVISIONING"] == f"{root}/provisioning"
    assert env["PROMFLEET_PROMETHEUS_URL"] == "http://prometheus:9090"


def test_the_secrets_directory_is_ignored_by_git_except_its_readme(stack: dict[str, str]) -> None:
    lines = stack["compose/secrets/.gitignore"].splitlines()
    assert "*" in lines and "!README.md" in lines
    for name in ("postgres_password", "grafana_admin_password"):
        assert f"`{name}`" in stack["compose/secrets/README.md"]


def test_exporter_ports_are_the_exporters_default_ports() -> None:
    """Every exporter's compose service listens on its ``ExporterDef.default_port``."""
    ports = {service.name: service.port for service in compose.services()}
    for name in registry.EXPORTERS:
        assert ports[name] == registry.load_exporter(name).default_port, name


def test_the_dockerfile_runs_promfleet_exporter_as_a_non_root_user() -> None:
    text = (ROOT / "compose" / "Dockerfile").read_text(encoding="utf-8")
    base = re.search(r"^FROM (\S+)", text, re.M)
    assert base and re.search(r":\d+\.\d+\.\d+", base.group(1))
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1].split(":")[0] not in ("0", "root")
    assert 'ENTRYPOINT ["promfleet-exporter"]' in text


# Prometheus' configuration ---------------------------------------------------------------


def test_the_compose_prometheus_config_scrapes_every_job_and_loads_every_area(
    stack: dict[str, str], catalogue: Catalogue
) -> None:
    config = yaml.safe_load(stack["compose/prometheus.yml"])
    assert [job["job_name"] for job in config["scrape_configs"]] == JOBS
    assert config["rule_files"] == sorted(
        [f"/etc/prometheus/rules/{area.name}.rules.yml" for area in catalogue.areas]
        + [
            f"/etc/prometheus/rules/slo-{slo.slo}.rules.yml"
            for area in catalogue.areas
            for slo in area.slos
        ]
    )
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"
    ]
    assert config["global"]["scrape_interval"] == Settings().scrape_interval


def _promtool_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_tool("promtool"), "check", "config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_promtool_accepts_a_rendered_loopback_config(catalogue: Catalogue, tmp_path: Path) -> None:
    rules = tmp_path / "system.rules.yml"
    rules.write_text(
        "groups:\n  - name: system\n    rules:\n      - record: job:up:sum\n"
        "        expr: sum by (job) (up)\n",
        encoding="utf-8",
    )
    settings = Settings(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="10s")
    text = prometheus.prometheus_config(
        catalogue,
        settings,
        {
            "system": ["127.0.0.1:41001"],
            "prometheus": ["127.0.0.1:41002"],
            "custom": ["127.0.0.1:1"],
        },
        [str(rules)],
        ["127.0.0.1:41003"],
    )
    path = tmp_path / "prometheus.yml"
    path.write_text(text, encoding="utf-8")
    result = _promtool_check(path)
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(text)
    assert config["global"]["scrape_timeout"] == "1s"  # capped at the interval
    assert [job["job_name"] for job in config["scrape_configs"]] == [
        "system",
        "prometheus",
        "custom",
    ]


def test_promtool_rejects_a_config_whose_rule_file_is_missing(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    text = prometheus.prometheus_config(
        catalogue, Settings(), {"system": ["127.0.0.1:1"]}, [str(tmp_path / "gone.rules.yml")], []
    )
    path = tmp_path / "prometheus.yml"
    path.write_text(text, encoding="utf-8")
    assert _promtool_check(path).returncode != 0


def test_a_job_name_that_would_break_the_yaml_is_refused(catalogue: Catalogue) -> None:
    with pytest.raises(ValueError, match="job name"):
        prometheus.prometheus_config(catalogue, Settings(), {'a"b': ["x:1"]}, [], [])


def test_durations_are_read_the_way_prometheus_writes_them() -> None:
    assert duration_seconds("1m30s") == 90
    assert duration_seconds("500ms") == 0.5
    with pytest.raises(ValueError, match="not a duration"):
        duration_seconds("15")


def test_a_malformed_scrape_interval_is_refused_by_the_prometheus_renderer(
    catalogue: Catalogue,
) -> None:
    with pytest.raises(ValueError, match="'15'"):
        prometheus.prometheus_config(catalogue, Settings(scrape_interval="15"), {}, [], [])
