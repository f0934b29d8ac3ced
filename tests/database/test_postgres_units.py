"""The PostgreSQL query units: recorded rows in, families out, no server (as the Redis INFO
tests); and, against the shared server, each statement's columns are the ones declared."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from exporters import postgres
from exporters.postgres import UNITS, PostgresConfig, Snapshot, build_batch, families
from exporters.targets import Outcome
from tests.database.conftest import exposition
from tests.database.servers import SHARED_PG_DSN
from tests.database.test_postgres import recorded_rows
from tests.helpers import declaration_problems, sample_value


def scrape(**rows: list[dict[str, Any]]) -> str:
    snap = Snapshot(rows=recorded_rows(**rows), version_num=150020)
    return exposition(families("main", Outcome(True, snap), PostgresConfig()))


def value(text: str, name: str, **labels: str) -> float | None:
    return sample_value(text, f"promfleet_postgres_{name}", {"target": "main", **labels})


def test_connections_sum_states_the_server_does_not_name_into_unknown() -> None:
    text = scrape(connections=[
        {"database": "app", "state": "active", "count": 2.0},
        {"database": "app", "state": "starting", "count": 1.0},
        {"database": "app", "state": "", "count": 3.0},
        {"database": "other", "state": "idle in transaction", "count": 4.0},
    ])
    assert value(text, "connections", database="app", state="active") == 2.0
    assert value(text, "connections", database="app", state="unknown") == 4.0
    assert value(text, "connections", database="other", state="idle_in_transaction") == 4.0


def test_every_lock_mode_is_published_and_unknown_modes_follow() -> None:
    text = scrape(locks=[{"mode": "advisory", "count": 2.0},
                         {"mode": "RowShareLock", "count": 1.0}])
    for mode in postgres.LOCK_MODES:
        assert value(text, "locks_waiting", mode=mode) == (1.0 if mode == "RowShareLock" else 0.0)
    assert value(text, "locks_waiting", mode="advisory") == 2.0


def test_capped_units_count_what_their_limit_left_out_from_the_window_total() -> None:
    table = {"table": "public.t", "size": 8192.0, "live": 1.0, "dead": 0.0,
             "vacuum_age": None, "xid_age": 5.0, "total": 12.0}
    replica = {"replica": "standby1", "lag_bytes": 10.0, "lag_seconds": None, "total": 3.0}
    text = scrape(tables=[table], replicas=[replica])
    assert value(text, "dropped_series", set="table") == 11.0
    assert value(text, "dropped_series", set="replica") == 2.0
    assert value(text, "dropped_series", set="slot") == 0.0
    assert value(text, "dropped_series", set="database") == 0.0
    assert value(text, "table_size_bytes", table="public.t") == 8192.0
    assert value(text, "table_vacuum_age_seconds", table="public.t") is None  # never
    assert value(text, "replica_lag_seconds", replica="standby1") == 0.0


def test_statements_are_reported_unavailable_with_the_threshold_when_not_loaded() -> None:
    text = scrape()
    assert value(text, "statements_available") == 0.0
    assert value(text, "statements_slow_threshold_seconds") == 1.0
    assert value(text, "statements_slow") is None
    snap = Snapshot(rows=recorded_rows(statements=[{"slow": 2.0, "worst_mean": 3.5}]),
                    version_num=150020, statements=True)
    loaded = exposition(families("main", Outcome(True, snap), PostgresConfig()))
    assert value(loaded, "statements_available") == 1.0
    assert value(loaded, "statements_worst_mean_seconds") == 3.5


def test_a_down_target_or_a_failed_batch_publishes_only_up_and_scrape_error() -> None:
    down = exposition(families("main", Outcome(False, error="x"), PostgresConfig()))
    assert value(down, "up") == 0.0 and "scrape_error" not in down
    failed = exposition(families("main", Outcome(True, error="x", query_error=True),
                                 PostgresConfig()))
    assert value(failed, "scrape_error") == 1.0 and "max_connections" not in failed


def test_recorded_rows_publish_only_declared_families() -> None:
    assert declaration_problems(scrape(), postgres.METRICS, allow_missing=(
        "promfleet_postgres_replica_lag_bytes", "promfleet_postgres_replica_lag_seconds",
        "promfleet_postgres_replication_slot_active",
        "promfleet_postgres_replication_slot_retained_bytes",
        "promfleet_postgres_statements_slow", "promfleet_postgres_statements_worst_mean_seconds",
        *(s.name for s in postgres.METRICS if "table_" in s.name),
    )) == []


@pytest.mark.parametrize("version", [130000, 140000, 160000, 170000])
def test_each_version_s_batch_has_the_statements_its_units_declare(version: int) -> None:
    _, statements = build_batch(version, True, PostgresConfig())
    names = [s.name for s in statements]
    assert ("wal" in names) == (version >= 140000)
    assert names == [s.name for u in UNITS for s in u.statements
                     if s.sql(postgres.ServerFacts(version, True), PostgresConfig())]


def test_every_statement_s_columns_are_the_declared_names_on_a_real_server() -> None:
    with psycopg.connect(SHARED_PG_DSN, autocommit=True) as conn:
        version = conn.info.server_version
        _, statements = build_batch(version, False, PostgresConfig())
        for statement in statements:
            sql = statement.sql(postgres.ServerFacts(version, False), PostgresConfig())
            assert sql is not None
            cur = conn.execute(sql)  # type: ignore[arg-type]
            assert cur.description is not None
            got = tuple(column.name for column in cur.description)
            assert got == statement.columns, statement.name
