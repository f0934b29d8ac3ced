"""Collectors are the unit: each declares its families, METRICS is their union, and the
runtime gives each a --collector.<name> / --no-collector.<name> switch."""

from __future__ import annotations

import json
from types import ModuleType

import pytest

from exporters import postgres, redis, security, system, training
from exporters.runtime.config import ConfigError, RuntimeConfig, help_text, resolve
from exporters.runtime.server import Served
from exporters.spec import CollectorDef, MetricSpec, Settings, metrics_of
from exporters.targets import Outcome
from tests.database.conftest import exposition
from tests.database.test_postgres import recorded_rows
from tests.helpers import ExporterProcess, run_exporter, sample_value, scrape

WITH_COLLECTORS: tuple[ModuleType, ...] = (system, postgres, security, training)
POSTGRES_CORE = {"promfleet_postgres_up", "promfleet_postgres_scrape_error"}


def test_redis_s_optional_commands_are_collectors_and_info_is_its_core() -> None:
    declared = [s.name for c in redis.COLLECTORS for s in c.metrics]
    assert declared == ["promfleet_redis_slowlog_length",
                        "promfleet_redis_rdb_save_period_seconds"]
    assert set(declared) <= {s.name for s in redis.METRICS}
    _, settings, _ = resolve(redis.EXPORTER, ["--no-collector.config"],
                             {"PROMFLEET_REDIS_URL": "redis://127.0.0.1:1/0"})
    (target,) = redis.build(settings)
    assert isinstance(target, redis.RedisTarget)
    assert b"SLOWLOG" in target._pipeline and b"CONFIG" not in target._pipeline


@pytest.mark.parametrize("module", WITH_COLLECTORS, ids=lambda m: m.__name__)
def test_an_exporter_s_metrics_are_the_union_of_its_collectors(module: ModuleType) -> None:
    collectors: tuple[CollectorDef, ...] = module.EXPORTER.collectors
    declared = {spec.name for c in collectors for spec in c.metrics}
    core = POSTGRES_CORE if module is postgres else set()
    assert {spec.name for spec in module.METRICS} == declared | core
    assert len({c.name for c in collectors}) == len(collectors)


def test_the_postgres_metrics_are_its_units_declarations_in_their_order() -> None:
    core = tuple(s for s in postgres.METRICS if s.name in POSTGRES_CORE)
    assert metrics_of(core, *(u.metrics for u in postgres.UNITS)) == postgres.METRICS
    # Only the dropped-series count is shared, by the capped units.
    owners: dict[str, list[str]] = {}
    for u in postgres.UNITS:
        for spec in u.metrics:
            owners.setdefault(spec.name.removeprefix("promfleet_postgres_"), []).append(u.name)
    assert {k: v for k, v in owners.items() if len(v) > 1} == {
        "dropped_series": ["databases", "replication", "tables"]}


def test_a_family_declared_twice_differently_is_refused() -> None:
    a = MetricSpec("x_up", "gauge", "Up.")
    b = MetricSpec("x_up", "gauge", "Other help.")
    with pytest.raises(ValueError, match="'x_up' declared twice, differently"):
        metrics_of((a,), (b,))
    assert metrics_of((a,), (MetricSpec("x_y", "gauge", "Y."), a)) == (
        MetricSpec("x_y", "gauge", "Y."), a)


def test_every_collector_gets_a_switch_in_the_help() -> None:
    text = help_text(postgres.EXPORTER)
    for u in postgres.UNITS:
        assert f"--collector.{u.name}=VALUE" in text
    assert "--no-collector.tables turns it off" in text


def test_no_collector_turns_a_postgres_unit_off_in_the_batch_and_the_families() -> None:
    _, settings, _ = resolve(postgres.EXPORTER, ["--no-collector.tables",
                                                 "--collector.wal=false"],
                             {"PROMFLEET_POSTGRES_DSN": "host=127.0.0.1"})
    assert settings["collector.tables"] is False
    assert settings["collector.databases"] is True
    (target,) = postgres.build(settings)
    assert isinstance(target, postgres.PostgresTarget)
    names = [u.name for u in target.units]
    assert "tables" not in names and "wal" not in names and "databases" in names
    sql, statements = postgres.build_batch(150000, True, postgres.PostgresConfig(),
                                           target.units)
    assert [s.name for s in statements] == [
        "server", "connections", "oldest", "locks", "lockwaits", "databases", "standby",
        "replicas", "slots", "checkpoints", "statements"]
    assert "FROM pg_stat_user_tables" not in sql and "FROM pg_stat_wal\n" not in sql

    snap = postgres.Snapshot(rows=recorded_rows(), version_num=150020)
    text = exposition(postgres.families("main", Outcome(True, snap),
                                        postgres.PostgresConfig(), target.units))
    assert "promfleet_postgres_table_" not in text
    assert "promfleet_postgres_wal_position_bytes" not in text
    assert "promfleet_postgres_wal_records_total" not in text
    assert sample_value(text, "promfleet_postgres_dropped_series",
                        {"target": "main", "set": "table"}) is None
    assert sample_value(text, "promfleet_postgres_dropped_series",
                        {"target": "main", "set": "database"}) == 0.0
    assert sample_value(text, "promfleet_postgres_database_xid_age",
                        {"target": "main", "database": "app"}) == 1.25e9


@pytest.mark.parametrize("flag", ["--collector.nope", "--no-collector.nope"])
def test_an_unknown_collector_is_refused_naming_it(flag: str) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve(system.EXPORTER, [flag], {})
    (problem,) = caught.value.problems
    assert problem.option == flag
    assert problem.reason.startswith("unknown collector 'nope'; known: diskstats, filefd")


def test_the_command_line_exits_2_naming_unknown_collectors() -> None:
    result = run_exporter("system", "--collector.nope", "--no-collector.gone")
    assert result.returncode == 2
    record = json.loads(result.stderr.strip().splitlines()[-1])
    assert [p["option"] for p in record["problems"]] == ["--collector.nope",
                                                         "--no-collector.gone"]
    assert "unknown collector 'gone'" in record["msg"]


def test_a_disabled_collector_object_is_not_run_by_the_runtime() -> None:
    _, settings, _ = resolve(system.EXPORTER, ["--no-collector.loadavg"], {})
    served = Served(system.EXPORTER, settings, RuntimeConfig("", 0, "", "info", 0.5, 10.0),
                    tuple(system.build(settings)))
    assert "loadavg" in [c.name for c in served.collectors]
    assert "loadavg" not in [c.name for c in served.active]
    assert "stat" in [c.name for c in served.active]
    defaults = Served(system.EXPORTER, Settings("system", {}),
                      RuntimeConfig("", 0, "", "info", 0.5, 10.0), served.collectors)
    assert defaults.active == defaults.collectors


def test_a_served_exporter_publishes_nothing_of_a_disabled_collector() -> None:
    with ExporterProcess("system", "--no-collector.loadavg", "--no-collector.filefd") as proc:
        status, _, text = scrape(proc.url + "/metrics")
    assert status == 200
    assert "promfleet_system_load1 " not in text
    assert "promfleet_system_filefd_allocated " not in text
    assert 'collector="loadavg"' not in text
    assert "promfleet_system_memory_total_bytes " in text
