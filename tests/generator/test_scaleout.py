"""The HA pair's and the sharded layout's Prometheus configurations (``deploy/ha/``,
``deploy/sharded/``): what each file holds, promtool accepts them, and a bad scale-out
setting is refused by name with nothing written."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import topology
from generator.model import Catalogue, Settings
from generator.render import prometheus
from generator.settings import SettingsError, load_settings
from tests.generator.catalogues import small_catalogue
from tests.helpers import REPO_ROOT, child_env

# Every scraped row of the service table, in its job order: each replica scrapes them all.
JOBS = [s.name for s in topology.services() if s.scraped]
assert JOBS[:3] == ["system", "postgres", "redis"] and JOBS[-2:] == ["prometheus", "alertmanager"]


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return small_catalogue()


def _render(catalogue: Catalogue, **settings: Any) -> dict[str, dict[str, Any]]:
    out = prometheus.render(catalogue, Settings(**settings))
    return {path: yaml.safe_load(text) for path, text in out.items()
            if path.startswith("deploy/")}


def _targets(job: dict[str, Any]) -> list[str]:
    return [t for sc in job["static_configs"] for t in sc["targets"]]


def test_each_ha_replica_scrapes_everything_with_its_own_replica_label_dropped_from_alerts(
    catalogue: Catalogue,
) -> None:
    files = _render(catalogue)
    replicas = sorted(p for p in files if p.startswith("deploy/ha/"))
    assert replicas == ["deploy/ha/prometheus-0.yml", "deploy/ha/prometheus-1.yml"]
    compose = yaml.safe_load(prometheus.render(catalogue, Settings())["compose/prometheus.yml"])
    for index, path in enumerate(replicas):
        config = files[path]
        assert config["global"]["external_labels"] == {"replica": f"prometheus-{index}"}
        assert config["alerting"]["alert_relabel_configs"] == [
            {"action": "labeldrop", "regex": "replica"}]
        assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
            "alertmanager-0:9093", "alertmanager-1:9093", "alertmanager-2:9093"]
        assert config["rule_files"] == compose["rule_files"]
        jobs = {job["job_name"]: _targets(job) for job in config["scrape_configs"]}
        assert list(jobs) == JOBS
        assert jobs["prometheus"] == ["prometheus-0:9090", "prometheus-1:9090"]
        assert all("relabel_configs" not in job for job in config["scrape_configs"])
    text = prometheus.render(catalogue, Settings())["deploy/ha/prometheus-1.yml"]
    # The header says how to start the peers: each lists every other one.
    assert ("--cluster.advertise-address=alertmanager-1:9094 "
            "--cluster.peer=alertmanager-0:9094 --cluster.peer=alertmanager-2:9094") in text


def test_the_replica_label_and_the_counts_come_from_the_settings(catalogue: Catalogue) -> None:
    files = _render(catalogue, ha_replica_label="prometheus_replica", ha_replicas=3,
                    alertmanager_cluster_size=2, shard_count=3)
    config = files["deploy/ha/prometheus-2.yml"]
    assert config["global"]["external_labels"] == {"prometheus_replica": "prometheus-2"}
    assert config["alerting"]["alert_relabel_configs"][0]["regex"] == "prometheus_replica"
    assert len(config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]) == 2
    assert sorted(p for p in files if p.startswith("deploy/sharded/prometheus-shard-")) == [
        f"deploy/sharded/prometheus-shard-{i}.yml" for i in range(3)]


def test_each_shard_keeps_its_hashmod_share_of_every_job_and_writes_to_the_receiver(
    catalogue: Catalogue,
) -> None:
    files = _render(catalogue)
    for index in (0, 1):
        config = files[f"deploy/sharded/prometheus-shard-{index}.yml"]
        assert "rule_files" not in config and "alerting" not in config  # an agent
        assert config["remote_write"] == [
            {"url": "http://prometheus-receiver:9090/api/v1/write"}]
        assert [job["job_name"] for job in config["scrape_configs"]] == JOBS
        for job in config["scrape_configs"]:
            assert job["relabel_configs"] == [
                {"source_labels": ["__address__"], "modulus": 2,
                 "target_label": "__tmp_hash", "action": "hashmod"},
                {"source_labels": ["__tmp_hash"], "regex": str(index), "action": "keep"},
            ]
        jobs = {job["job_name"]: _targets(job) for job in config["scrape_configs"]}
        assert jobs["prometheus"] == ["prometheus-shard-0:9090", "prometheus-shard-1:9090",
                                      "prometheus-receiver:9090"]
    receiver = files["deploy/sharded/prometheus-receiver.yml"]
    assert receiver["scrape_configs"] == []
    assert receiver["rule_files"] == files["deploy/ha/prometheus-0.yml"]["rule_files"]
    assert receiver["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"]
    assert "external_labels" not in receiver["global"]


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus; .ci/setup)")
    return subprocess.run([promtool, "check", "config", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def test_promtool_accepts_the_committed_deploy_configs(tmp_path: Path) -> None:
    """The committed files, with their rule files pointed at the committed rules/."""
    deploy = REPO_ROOT / "deploy"
    paths = sorted([*deploy.glob("ha/*.yml"), *deploy.glob("sharded/*.yml")])
    assert len(paths) == 5
    for path in paths:
        text = path.read_text(encoding="utf-8").replace(
            "/etc/prometheus/rules/", f"{REPO_ROOT / 'rules'}/")
        copy = tmp_path / path.name
        copy.write_text(text, encoding="utf-8")
        agent = ("--agent",) if path.name.startswith("prometheus-shard-") else ()
        done = _promtool(*agent, str(copy))
        assert done.returncode == 0, f"{path}: {done.stdout}{done.stderr}"
        assert "SUCCESS" in done.stdout + done.stderr


@pytest.mark.parametrize(("pair", "named"), [
    ("shard_count=0", "shard_count: must be at least 1"),
    ("shard_count=-2", "shard_count: must be at least 1 (the scrape targets are split over "
                       "at least one shard), got -2"),
    ("shard_count=two", "shard_count: expected a whole number, got 'two'"),
    ("ha_replicas=1", "ha_replicas: must be at least 2"),
    ("alertmanager_cluster_size=0", "alertmanager_cluster_size: must be at least 1"),
    ("ha_replica_label=__replica", "ha_replica_label: '__replica' is not a label name"),
    ("ha_replica_label=my-replica", "ha_replica_label: 'my-replica' is not a label name"),
])
def test_a_bad_scale_out_setting_is_refused_by_name(pair: str, named: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(pairs=[pair])
    assert named in str(err.value)


def test_a_shard_count_of_zero_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "generator", "--out", str(out), "--set", "shard_count=0"],
        cwd=REPO_ROOT, env=child_env(), capture_output=True, text=True, timeout=300,
        check=False)
    assert done.returncode != 0
    assert "shard_count: must be at least 1" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
    assert not out.exists() or not any(out.rglob("*"))


def test_a_shard_index_out_of_range_is_refused(catalogue: Catalogue) -> None:
    targets = {"system": ["127.0.0.1:1"]}
    for index in (2, -1):
        with pytest.raises(ValueError, match=rf"shard index {index} is out of range for 2 "
                                             r"shard\(s\) \(0 to 1\)"):
            prometheus.shard_config(catalogue, Settings(), targets, index, "127.0.0.1:2")
    with pytest.raises(ValueError, match="shard count must be a whole number of at least 1, "
                                         "got 0"):
        prometheus.prometheus_config(catalogue, Settings(), targets, [], [],
                                     shard=prometheus.Shard(0, 0))


def test_an_agent_config_with_rules_or_alerting_is_refused(catalogue: Catalogue) -> None:
    with pytest.raises(ValueError, match="an agent evaluates no rules"):
        prometheus.prometheus_config(catalogue, Settings(), {}, ["x.rules.yml"], [],
                                     agent=True)
