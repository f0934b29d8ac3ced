"""Both exporters through the real runtime: /metrics, /probe, landing page, logs, shutdown."""

from __future__ import annotations

import time

import psycopg
import pytest

from exporters import postgres
from exporters import redis as redis_exporter
from exporters.registry import exporter_specs
from tests.database.proxy import FaultProxy
from tests.database.servers import SHARED_PG_DSN, SHARED_REDIS_URL
from tests.helpers import ExporterProcess, declaration_problems, sample_value, scrape


def test_postgres_through_the_runtime_hides_a_canary_password_everywhere(
    pg_proxy: FaultProxy, unique: str, tmp_path: pytest.TempPathFactory
) -> None:
    canary = "Canary-Runtime-" + unique
    with psycopg.connect(SHARED_PG_DSN, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {unique} LOGIN PASSWORD '{canary}'")
    dsn = (f"postgresql://{unique}:{canary}@127.0.0.1:{pg_proxy.port}/postgres"
           f"?application_name=ignored")
    try:
        with ExporterProcess(
            "postgres", f"--application-name={unique}",
            env={"PROMFLEET_POSTGRES_DSN": dsn, "PROMFLEET_POSTGRES_TARGET_NAME": "main"},
        ) as exporter:
            _, _, up_text = scrape(exporter.url + "/metrics")
            pg_proxy.set("refuse")
            _, _, down_text = scrape(exporter.url + "/metrics",
                                     headers={"X-Prometheus-Scrape-Timeout-Seconds": "1"})
            pg_proxy.set("pass")
            _, _, probe_text = scrape(exporter.url + "/probe?target=main")
            status_unknown, _, _ = scrape(exporter.url + "/probe?target=nope")
            _, _, landing = scrape(exporter.url + "/")
            exporter.stop()
            logs = exporter.logs()
    finally:
        deadline = time.monotonic() + 5
        with psycopg.connect(SHARED_PG_DSN, autocommit=True) as admin:
            while time.monotonic() < deadline:  # the exporter's session ends on shutdown
                row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s",
                                    (unique,)).fetchone()
                if row and row[0] == 0:
                    break
                time.sleep(0.1)
            admin.execute(f"DROP ROLE IF EXISTS {unique}")
    assert sample_value(up_text, "promfleet_postgres_up", {"target": "main"}) == 1.0
    assert sample_value(down_text, "promfleet_postgres_up", {"target": "main"}) == 0.0
    assert sample_value(probe_text, "promfleet_postgres_up", {"target": "main"}) == 1.0
    assert status_unknown >= 400
    assert declaration_problems(
        up_text, exporter_specs(postgres.EXPORTER),
        allow_missing=[s.name for s in postgres.METRICS],
    ) == []
    for text in (up_text, down_text, probe_text, landing, logs):
        assert canary not in text
    assert "target scrape failed" in logs


def test_redis_through_the_runtime_serves_named_targets_from_the_config_file(
    tmp_path: pytest.TempPathFactory, redis_proxy: FaultProxy
) -> None:
    from pathlib import Path

    config = Path(str(tmp_path)) / "redis.yml"
    config.write_text(
        "targets:\n"
        f"  - name: cache\n    url: {SHARED_REDIS_URL}\n"
        f"  - name: flaky\n    url: redis://127.0.0.1:{redis_proxy.port}/0\n"
    )
    redis_proxy.set("refuse")
    with ExporterProcess("redis", f"--config.file={config}") as exporter:
        _, _, text = scrape(exporter.url + "/metrics")
        _, _, probe = scrape(exporter.url + "/probe?target=flaky")
    assert sample_value(text, "promfleet_redis_up", {"target": "cache"}) == 1.0
    assert sample_value(text, "promfleet_redis_up", {"target": "flaky"}) == 0.0
    assert sample_value(probe, "promfleet_redis_up", {"target": "flaky"}) == 0.0
    assert sample_value(probe, "promfleet_redis_up", {"target": "cache"}) is None
    assert declaration_problems(
        text, exporter_specs(redis_exporter.EXPORTER),
        allow_missing=[s.name for s in redis_exporter.METRICS],
    ) == []
