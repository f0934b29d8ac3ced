"""The one service table: compose, the Prometheus config and the local runner read it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

import topology
from exporters import registry
from generator.render import compose
from runner.members import default_members
from tests.fixtures import demo

ROOT = Path(__file__).resolve().parents[1]


def test_every_exporter_has_a_row_listening_on_its_default_port() -> None:
    for name in registry.EXPORTERS:
        assert topology.port(name) == registry.load_exporter(name).default_port, name


def test_the_committed_prometheus_config_scrapes_the_tables_jobs_in_its_order() -> None:
    config = yaml.safe_load((ROOT / "compose" / "prometheus.yml").read_text(encoding="utf-8"))
    jobs = [s.name for s in topology.services() if s.scraped]
    assert [job["job_name"] for job in config["scrape_configs"]] == jobs
    addresses = [job["static_configs"][0]["targets"] for job in config["scrape_configs"]]
    assert addresses == [[f"{name}:{topology.port(name)}"] for name in jobs]


def test_compose_runs_the_tables_services_in_its_order_on_its_ports() -> None:
    rows = topology.services()
    assert [s.name for s in compose.services()] == [s.name for s in rows]
    assert [s.port for s in compose.services()] == [s.port for s in rows]


def test_the_runner_starts_the_tables_exporters_and_writers_in_its_order() -> None:
    members = default_members({})
    rows = [s for s in topology.services() if s.kind in (topology.Kind.EXPORTER,
                                                         topology.Kind.WRITER,
                                                         topology.Kind.STANDIN)]
    assert [m.name for m in members] == [s.name for s in rows]
    assert [m.scraped for m in members] == [s.scraped for s in rows]


def test_a_job_the_table_does_not_name_follows_its_jobs_by_name() -> None:
    assert topology.job_order(["zeta", "alertmanager", "fixture", "system"]) == [
        "system", "alertmanager", "fixture", "zeta"]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_renderer_imports_another_and_nothing_imports_the_runner() -> None:
    renderers = {p.stem for p in (ROOT / "generator" / "render").glob("[!_]*.py")}
    assert {"compose", "prometheus", "grafana", "rules", "promtool_tests"} <= renderers
    for name in sorted(renderers):  # what they share lives in generator/render/_*.py
        path = ROOT / "generator" / "render" / f"{name}.py"
        imported = _imports(path)
        others = {f"generator.render.{name}" for name in renderers} - {
            f"generator.render.{path.stem}"}
        assert not imported & others, path
    for package in ("exporters", "generator", "topology", "oncall"):
        for path in sorted((ROOT / package).rglob("*.py")):
            assert not {m for m in _imports(path) if m.split(".")[0] == "runner"}, path


def test_an_exporter_the_table_does_not_name_runs_with_its_defaults_before_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = registry.discover()
    added = registry.Sources((*found.exporters, "mysql"), found.metric_only)
    monkeypatch.setattr(registry, "discover", lambda package="exporters": added)
    load = topology.load_exporter
    monkeypatch.setattr(topology, "load_exporter",
                        lambda name: demo.EXPORTER if name == "mysql" else load(name))
    topology.services.cache_clear()
    compose.services.cache_clear()
    try:
        names = [s.name for s in topology.services()]
        assert names.index("mysql") == names.index("app") - 1
        assert topology.port("mysql") == demo.EXPORTER.default_port
        mysql = next(s for s in compose.services() if s.name == "mysql")
        assert mysql.command == ("mysql", f"--web.listen-address=:{demo.EXPORTER.default_port}")
        assert "mysql" in [m.name for m in default_members({})]
    finally:
        topology.services.cache_clear()
        compose.services.cache_clear()
