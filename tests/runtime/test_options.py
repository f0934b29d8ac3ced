"""Options read one way: defaults written once in the config dataclasses, duplicate target
names refused by the runtime for every multi-target exporter."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from exporters import postgres, probe, redis
from exporters.runtime.config import ConfigError, resolve
from exporters.spec import ExporterDef, Settings, config_of, options_of
from tests.helpers import run_exporter

TWO_MAINS = {
    "postgres": "[{name: main, dsn: 'host=a'}, {name: main, dsn: 'host=b'}]",
    "redis": "[{name: main, url: 'redis://a'}, {name: main, url: 'redis://b'}]",
    "probe": "[{name: main, url: 'http://a'}, {name: main, url: 'http://b'}]",
}


@pytest.mark.parametrize("exporter", [postgres.EXPORTER, redis.EXPORTER, probe.EXPORTER],
                         ids=lambda e: e.name)
def test_a_target_name_given_twice_is_refused_by_the_runtime_naming_it(
    exporter: ExporterDef,
) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve(exporter, [f"--targets={TWO_MAINS[exporter.name]}"], {})
    (problem,) = caught.value.problems
    assert problem.option == "targets"
    assert problem.reason == "target name 'main' is given more than once"


@pytest.mark.parametrize(("exporter", "key", "value"),
                         [(postgres.EXPORTER, "dsn", "host=c"),
                          (redis.EXPORTER, "url", "redis://c")], ids=["postgres", "redis"])
def test_the_unnamed_target_may_not_take_a_listed_target_s_name(
    exporter: ExporterDef, key: str, value: str
) -> None:
    listed = f"[{{name: main, {key}: '{value}'}}]"
    with pytest.raises(ConfigError, match="'main' is given more than once"):
        resolve(exporter, [f"--targets={listed}", "--target-name=main"],
                {f"PROMFLEET_{exporter.name.upper()}_{key.upper()}": value})
    # Another name is fine, and distinct names are served in order, the unnamed first.
    _, settings, _ = resolve(exporter, [f"--targets={listed}", "--target-name=other"],
                             {f"PROMFLEET_{exporter.name.upper()}_{key.upper()}": value})
    assert exporter.target_names is not None
    assert list(exporter.target_names(settings)) == ["other", "main"]


def test_the_command_line_exits_2_naming_the_duplicate() -> None:
    result = run_exporter("redis", f"--targets={TWO_MAINS['redis']}")
    assert result.returncode == 2
    record = json.loads(result.stderr.strip().splitlines()[-1])
    assert record["problems"] == [{"option": "targets", "source": "flag",
                                   "reason": "target name 'main' is given more than once"}]


@pytest.mark.parametrize("config", [postgres.PostgresConfig, redis.RedisConfig,
                                    probe.ProbeConfig], ids=lambda c: c.__name__)
def test_a_config_built_from_no_settings_is_the_dataclass_default(config: type) -> None:
    assert config_of(config, Settings("x", {})) == config()
    options = {o.name: o for o in options_of(config)}
    for f in fields(config):
        if "option" in f.metadata:
            assert options[f.metadata["option"][0]].default == f.default


def test_the_postgres_caps_that_had_no_option_have_one() -> None:
    cfg = postgres.config_from(Settings("postgres", {"slots.limit": "3", "replicas.limit": 4}))
    assert (cfg.slots_limit, cfg.replicas_limit) == (3, 4)
    sql, _ = postgres.build_batch(150000, False, cfg)
    assert "ORDER BY 1 LIMIT 3" in sql and "ORDER BY 1 LIMIT 4" in sql
    with pytest.raises(ConfigError, match=r"slots\.limit"):
        resolve(postgres.EXPORTER, ["--slots.limit=0"], {})


def test_redis_reads_its_replica_cap_from_an_option() -> None:
    _, settings, _ = resolve(redis.EXPORTER, ["--replicas.limit=2"],
                             {"PROMFLEET_REDIS_URL": "redis://x"})
    assert config_of(redis.RedisConfig, settings).replicas_limit == 2


def test_no_exporter_restates_an_option_default_where_it_reads_the_option() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "exporters"
    restated = [
        f"{path.relative_to(root)}:{n}: {line.strip()}"
        for path in sorted(root.rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"settings\.get\(\"[^\"]+\", [^)]", line)
    ]
    assert restated == []
