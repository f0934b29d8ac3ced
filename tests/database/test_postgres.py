"""PostgreSQL exporter against real servers: conditions made on them, faults through a proxy."""

from __future__ import annotations

import asyncio
import itertools
import logging
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from exporters import postgres
from exporters.postgres import PostgresConfig, PostgresTarget
from exporters.spec import ScrapeContext
from exporters.targets import Outcome, Target
from tests.database.conftest import exposition, run, scrape_text
from tests.database.proxy import FaultProxy
from tests.database.servers import SHARED_PG_DSN, OwnPostgres
from tests.helpers import (
    declaration_problems,
    promtool_check_metrics,
    run_exporter,
    sample_value,
)

# Families a lone primary without replicas, slots or pg_stat_statements cannot publish.
ABSENT_ON_A_LONE_PRIMARY = (
    "promfleet_postgres_replication_lag_bytes",
    "promfleet_postgres_replication_lag_seconds",
    "promfleet_postgres_wal_receiver_streaming",
    "promfleet_postgres_replica_lag_bytes",
    "promfleet_postgres_replica_lag_seconds",
    "promfleet_postgres_replication_slot_active",
    "promfleet_postgres_replication_slot_retained_bytes",
    "promfleet_postgres_statements_slow",
    "promfleet_postgres_statements_worst_mean_seconds",
    "promfleet_postgres_table_size_bytes",
    "promfleet_postgres_table_live_tuples",
    "promfleet_postgres_table_dead_tuples",
    "promfleet_postgres_table_vacuum_age_seconds",
    "promfleet_postgres_table_xid_age",
)

# Grace for the event loop to hand control back on a loaded 2-core machine.
SCHEDULING_GRACE_S = 0.25


def via_proxy(proxy: FaultProxy, dsn: str = SHARED_PG_DSN) -> str:
    params = dict(part.split("=", 1) for part in dsn.split())
    params.update(host="127.0.0.1", port=str(proxy.port))
    return " ".join(f"{k}={v}" for k, v in params.items())


def value(text: str, name: str, **labels: str) -> float | None:
    return sample_value(text, f"promfleet_postgres_{name}", {"target": "main", **labels})


def collector(dsn: str, app: str, **cfg: Any) -> PostgresTarget:
    return PostgresTarget(Target("main", dsn), PostgresConfig(application_name=app, **cfg))


def count_sessions(app: str, dsn: str = SHARED_PG_DSN) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app,)
        ).fetchone()
    return int(row[0]) if row else -1


def test_a_scrape_of_the_shared_server_publishes_the_declared_families(unique: str) -> None:
    async def go() -> str:
        c = collector(SHARED_PG_DSN, unique)
        try:
            return await scrape_text(c)
        finally:
            await c.close()

    text = asyncio.run(go())
    assert value(text, "up") == 1.0
    assert value(text, "max_connections") is not None and value(text, "max_connections") > 0
    problems = declaration_problems(text, postgres.METRICS,
                                    allow_missing=ABSENT_ON_A_LONE_PRIMARY)
    assert problems == []
    assert promtool_check_metrics(text) == []


def test_connections_are_counted_against_max_connections_minus_reserved_slots(
    own_pg: OwnPostgres, unique: str
) -> None:
    async def go() -> str:
        holders = [await psycopg.AsyncConnection.connect(own_pg.dsn, application_name=unique)
                   for _ in range(12)]
        c = collector(own_pg.dsn, unique + "_exp")
        try:
            return await scrape_text(c)
        finally:
            await c.close()
            for h in holders:
                await h.close()

    text = asyncio.run(go())
    assert value(text, "max_connections") == 20.0
    assert value(text, "reserved_connections") == 3.0
    idle = value(text, "connections", database="postgres", state="idle") or 0.0
    assert idle >= 12.0


def test_a_long_pg_sleep_is_the_oldest_active_query(own_pg: OwnPostgres, unique: str) -> None:
    async def go() -> str:
        sleeper = await psycopg.AsyncConnection.connect(own_pg.dsn, autocommit=True)
        task = asyncio.ensure_future(sleeper.execute("SELECT pg_sleep(5)"))
        c = collector(own_pg.dsn, unique)
        try:
            await asyncio.sleep(1.2)
            return await scrape_text(c)
        finally:
            await c.close()
            sleeper.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await sleeper.close()

    text = asyncio.run(go())
    oldest = value(text, "oldest_query_seconds", state="active", session="application")
    assert oldest is not None and oldest >= 1.0
    assert value(text, "oldest_query_seconds", state="active", session="maintenance") == 0.0


def test_a_lock_wait_is_counted_by_mode_and_the_holder_is_idle_in_transaction(
    own_pg: OwnPostgres, unique: str
) -> None:
    async def go() -> str:
        setup = await psycopg.AsyncConnection.connect(own_pg.dsn, autocommit=True)
        await setup.execute(f"CREATE TABLE {unique} (id int)")
        holder = await psycopg.AsyncConnection.connect(own_pg.dsn)
        await holder.execute(f"LOCK TABLE {unique} IN ACCESS EXCLUSIVE MODE")
        waiter = await psycopg.AsyncConnection.connect(own_pg.dsn, autocommit=True)
        task = asyncio.ensure_future(waiter.execute(f"SELECT * FROM {unique}"))
        c = collector(own_pg.dsn, unique)
        try:
            await asyncio.sleep(1.1)
            return await scrape_text(c)
        finally:
            await c.close()
            await holder.rollback()
            await asyncio.gather(task, return_exceptions=True)
            await setup.execute(f"DROP TABLE {unique}")
            for conn in (holder, waiter, setup):
                await conn.close()

    text = asyncio.run(go())
    assert (value(text, "locks_waiting", mode="AccessShareLock") or 0.0) >= 1.0
    assert value(text, "lock_waiting_sessions") == 1.0
    assert (value(text, "lock_wait_oldest_seconds") or 0.0) >= 1.0
    assert value(text, "locks_waiting", mode="RowExclusiveLock") == 0.0
    held = value(text, "oldest_transaction_seconds", state="idle_in_transaction",
                 session="application")
    assert held is not None and held >= 1.0
    assert (value(text, "connections", database="postgres", state="idle_in_transaction")
            or 0.0) >= 1.0


def test_a_deadlock_is_counted_in_its_database(own_pg: OwnPostgres, unique: str) -> None:
    async def deadlock() -> None:
        setup = await psycopg.AsyncConnection.connect(own_pg.dsn, autocommit=True)
        await setup.execute(f"CREATE TABLE {unique} (id int PRIMARY KEY)")
        await setup.execute(f"INSERT INTO {unique} VALUES (1), (2)")
        a = await psycopg.AsyncConnection.connect(own_pg.dsn)
        b = await psycopg.AsyncConnection.connect(own_pg.dsn)
        await a.execute(f"UPDATE {unique} SET id = id WHERE id = 1")
        await b.execute(f"UPDATE {unique} SET id = id WHERE id = 2")
        results = await asyncio.gather(
            a.execute(f"UPDATE {unique} SET id = id WHERE id = 2"),
            b.execute(f"UPDATE {unique} SET id = id WHERE id = 1"),
            return_exceptions=True,
        )
        assert any(isinstance(r, psycopg.errors.DeadlockDetected) for r in results)
        for conn in (a, b):
            await conn.rollback()
            await conn.close()
        await setup.execute(f"DROP TABLE {unique}")
        await setup.close()

    async def deadlocks(c: PostgresTarget) -> float:
        text = await scrape_text(c)
        return value(text, "database_deadlocks_total", database="postgres") or 0.0

    async def go() -> tuple[float, float]:
        c = collector(own_pg.dsn, unique)
        try:
            before = await deadlocks(c)
            await deadlock()
            after = before
            # Backends flush their statistics at most once a second: poll, bounded.
            for _ in range(30):
                after = await deadlocks(c)
                if after > before:
                    break
                await asyncio.sleep(0.2)
            return before, after
        finally:
            await c.close()

    before, after = asyncio.run(go())
    assert after == before + 1


def test_slow_statements_come_from_pg_stat_statements_without_query_text(
    own_pg: OwnPostgres, unique: str
) -> None:
    async def go() -> str:
        conn = await psycopg.AsyncConnection.connect(own_pg.dsn, autocommit=True)
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute("SELECT pg_stat_statements_reset()")
        for _ in range(2):
            await conn.execute("SELECT pg_sleep(0.25) AS canary_statement_text")
        await conn.close()
        c = collector(own_pg.dsn, unique, slow_threshold_seconds=0.1)
        try:
            return await scrape_text(c)
        finally:
            await c.close()

    text = asyncio.run(go())
    assert value(text, "statements_available") == 1.0
    assert (value(text, "statements_slow") or 0.0) >= 1.0
    worst = value(text, "statements_worst_mean_seconds")
    assert worst is not None and worst >= 0.25
    assert "canary_statement_text" not in text and "pg_sleep" not in text
    assert "queryid" not in text


def test_largest_tables_report_dead_tuples_and_the_cap_counts_the_rest(
    own_pg: OwnPostgres, unique: str
) -> None:
    async def go() -> str:
        conn = await psycopg.AsyncConnection.connect(own_pg.dsn, autocommit=True)
        for i in range(3):
            await conn.execute(
                f"CREATE TABLE {unique}_{i} (v int) WITH (autovacuum_enabled = off)"
            )
        await conn.execute(f"INSERT INTO {unique}_0 SELECT generate_series(1, 20000)")
        await conn.execute(f"DELETE FROM {unique}_0 WHERE v % 2 = 0")
        # A backend's table counters reach the shared statistics for sure when it ends.
        await conn.close()
        conn = await psycopg.AsyncConnection.connect(own_pg.dsn, autocommit=True)
        c = collector(own_pg.dsn, unique, tables_limit=1)
        try:
            text = ""
            # Backends flush their statistics at most once a second: poll, bounded.
            for _ in range(30):
                text = await scrape_text(c)
                if (value(text, "table_dead_tuples", table=f"public.{unique}_0") or 0) > 0:
                    break
                await asyncio.sleep(0.2)
            return text
        finally:
            await c.close()
            for i in range(3):
                await conn.execute(f"DROP TABLE {unique}_{i}")
            await conn.close()

    text = asyncio.run(go())
    dead = value(text, "table_dead_tuples", table=f"public.{unique}_0")
    assert dead is not None and dead >= 9000
    assert (value(text, "dropped_series", set="table") or 0.0) >= 2.0


# --- faults ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["refuse", "reset", "blackhole", "slow"])
def test_up_drops_to_zero_within_the_deadline_and_returns_without_a_restart(
    pg_proxy: FaultProxy, unique: str, mode: str
) -> None:
    async def go() -> tuple[float, float, float, float]:
        c = collector(via_proxy(pg_proxy), unique)
        try:
            first = value(await scrape_text(c, 2.0), "up")
            pg_proxy.set(mode, delay=0.4)  # type: ignore[arg-type]
            ctx = ScrapeContext.with_timeout(0.6)
            text = exposition(await c.collect(ctx))
            late = time.monotonic() - ctx.deadline
            down = value(text, "up")
            pg_proxy.set("pass")
            again = value(await scrape_text(c, 2.0), "up")
            return first or -1, down or 0.0, again or -1, late
        finally:
            await c.close()

    first, down, again, late = asyncio.run(go())
    assert first == 1.0
    assert down == 0.0
    assert late <= SCHEDULING_GRACE_S, f"scrape outlived its deadline by {late:.3f}s"
    assert again == 1.0


def test_a_kept_alive_connection_cut_while_idle_costs_no_false_down(
    pg_proxy: FaultProxy, unique: str
) -> None:
    async def go() -> tuple[float, float, float]:
        c = collector(via_proxy(pg_proxy), unique)
        try:
            first = value(await scrape_text(c, 2.0), "up") or 0.0
            pg_proxy.set("pass")  # cuts the connection in flight, as a restart would
            again = value(await scrape_text(c, 2.0), "up") or 0.0
            pg_proxy.set("refuse")  # and a server that is really gone is still down
            down = value(await scrape_text(c, 2.0), "up") or 0.0
            return first, again, down
        finally:
            await c.close()

    first, again, down = asyncio.run(go())
    assert (first, again, down) == (1.0, 1.0, 0.0)
    assert pg_proxy.accepted == 2  # one fresh connection replaced the cut one


def test_a_thousand_scrapes_against_a_flapping_target_leak_no_connection(
    pg_proxy: FaultProxy, unique: str
) -> None:
    async def go() -> tuple[set[float], float, int]:
        c = collector(via_proxy(pg_proxy), unique)
        seen: set[float] = set()
        try:
            pg_proxy.flap(0.05)
            started = time.monotonic()
            # At least 250 rounds of 4 concurrent scrapes (1,000 scrapes), and on until a
            # scrape has landed in a window the proxy passes (a refused round takes about
            # a millisecond, a connection on a busy machine can outlast a 50 ms window).
            for done in itertools.count(1):
                texts = await asyncio.gather(*(scrape_text(c, 0.3) for _ in range(4)))
                seen.update(value(t, "up") or 0.0 for t in texts)
                if (done >= 250 and seen == {0.0, 1.0}) or time.monotonic() - started > 60:
                    break
            pg_proxy.set("pass")
            final = value(await scrape_text(c, 3.0), "up") or 0.0
            while_open = await asyncio.to_thread(count_sessions, unique)
            return seen, final, while_open
        finally:
            await c.close()

    seen, final, while_open = asyncio.run(go())
    assert seen == {0.0, 1.0}
    assert final == 1.0
    assert while_open == 1
    assert count_sessions(unique) == 0


def test_concurrent_scrapes_share_one_batch_on_one_connection(
    pg_proxy: FaultProxy, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = 0
    original = PostgresTarget._batch

    async def counting(self: PostgresTarget, deadline: float) -> Any:
        nonlocal batches
        batches += 1
        return await original(self, deadline)

    monkeypatch.setattr(PostgresTarget, "_batch", counting)

    async def go() -> list[str]:
        c = collector(via_proxy(pg_proxy), unique)
        try:
            pg_proxy.set("slow", delay=0.05)
            return await asyncio.gather(*(scrape_text(c, 5.0) for _ in range(10)))
        finally:
            await c.close()

    texts = asyncio.run(go())
    assert [value(t, "up") for t in texts] == [1.0] * 10
    assert batches == 1
    assert pg_proxy.accepted == 1


def test_a_canary_password_never_appears_in_metrics_logs_or_errors(
    pg_proxy: FaultProxy, unique: str, caplog: pytest.LogCaptureFixture
) -> None:
    canary = "Canary-Pw-" + unique
    with psycopg.connect(SHARED_PG_DSN, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {unique} LOGIN PASSWORD '{canary}'")
    try:
        dsn = f"postgresql://{unique}:{canary}@127.0.0.1:{pg_proxy.port}/postgres"
        caplog.set_level(logging.DEBUG)

        async def go() -> list[str]:
            c = PostgresTarget(Target("main", dsn), PostgresConfig(application_name=unique))
            out = [repr(c), repr(c._target)]
            try:
                out.append(await scrape_text(c))
                for mode in ("refuse", "reset", "blackhole"):
                    pg_proxy.set(mode)  # type: ignore[arg-type]
                    out.append(await scrape_text(c, 0.5))
                    snap = await c._batch(time.monotonic() + 0.5)
                    out.append(snap.error)
            finally:
                await c.close()
            return out

        outputs = asyncio.run(go())
    finally:
        with psycopg.connect(SHARED_PG_DSN, autocommit=True) as admin:
            admin.execute(f"DROP ROLE IF EXISTS {unique}")
    assert "promfleet_postgres_up{target=\"main\"} 1.0" in outputs[2]
    everything = "\n".join(outputs) + "\n".join(
        f"{r.getMessage()} {r.__dict__}" for r in caplog.records
    )
    assert canary not in everything
    # The failure was logged, with its (redacted) error.
    assert any("error" in getattr(r, "fields", {}) for r in caplog.records)


# --- the batch through libpq ----------------------------------------------------------


def test_batch_results_are_read_as_text_then_float_columns_with_nulls_kept() -> None:
    async def go() -> list[list[tuple[Any, ...]]]:
        conn = await psycopg.AsyncConnection.connect(SHARED_PG_DSN, autocommit=True)
        try:
            results = await postgres.run_batch(
                conn.pgconn,
                b"SET statement_timeout = 5000;\n"
                b"SELECT 'caf\xc3\xa9'::text, NULL::text, 1.5::float8, NULL::float8,"
                b" 'Infinity'::float8, 1e300::float8;\n"
                b"SELECT x::text, x::float8 FROM generate_series(1, 3) x WHERE x > 1",
            )
            encoding = conn.info.encoding
            columns = (0, 2, 1)
            return [postgres.result_rows(r, n, encoding)
                    for r, n in zip(results, columns, strict=True)]
        finally:
            await conn.close()

    set_result, one_row, two_rows = asyncio.run(go())
    assert set_result == []
    assert one_row == [("café", None, 1.5, None, float("inf"), 1e300)]
    assert two_rows == [("2", 2.0), ("3", 3.0)]


def test_a_cancelled_statement_is_an_operational_error_and_a_failed_one_is_not() -> None:
    async def go() -> tuple[type[Exception], type[Exception], int]:
        conn = await psycopg.AsyncConnection.connect(SHARED_PG_DSN, autocommit=True)
        try:
            encoding = conn.info.encoding
            timed_out = await postgres.run_batch(
                conn.pgconn, b"SET statement_timeout = 50;\nSELECT pg_sleep(2);\nSELECT 1"
            )
            failed = await postgres.run_batch(conn.pgconn, b"SELECT 1/0;\nSELECT 1")
            # The connection is still usable after both (libpq stops the batch at the error).
            after = await postgres.run_batch(conn.pgconn, b"SELECT 7::float8")
            return (type(postgres.result_error(timed_out[-1], encoding)),
                    type(postgres.result_error(failed[-1], encoding)),
                    int(postgres.result_rows(after[0], 0, encoding)[0][0]))
        finally:
            await conn.close()

    cancelled, division, seven = asyncio.run(go())
    assert issubclass(cancelled, psycopg.errors.QueryCanceled)
    assert issubclass(cancelled, psycopg.OperationalError)  # counted as up 0
    assert issubclass(division, psycopg.errors.DivisionByZero)
    assert not issubclass(division, psycopg.OperationalError)  # counted as scrape_error 1
    assert seven == 7


def test_a_failing_statement_gives_scrape_error_then_the_next_scrape_recovers(
    unique: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def go() -> tuple[str, str]:
        c = collector(SHARED_PG_DSN, unique)
        try:
            await scrape_text(c)
            server = c._server
            assert server is not None
            server.batch = b"SELECT 1/0"  # the server answers, the statement fails
            failed = await scrape_text(c)
            recovered = await scrape_text(c)  # a new connection learns the batch again
            return failed, recovered
        finally:
            await c.close()

    with caplog.at_level(logging.WARNING, logger="promfleet.exporters.postgres"):
        failed, recovered = asyncio.run(go())
    assert value(failed, "up") == 1.0
    assert value(failed, "scrape_error") == 1.0
    assert value(failed, "connections", database="postgres", state="active") is None
    assert any("DivisionByZero" in str(r.__dict__.get("fields")) for r in caplog.records)
    assert value(recovered, "scrape_error") == 0.0
    assert value(recovered, "max_connections") is not None


def test_on_postgresql_16_reserved_connections_count_with_the_superuser_reserved_ones() -> None:
    # The machine runs PostgreSQL 15 (superuser_reserved_connections only, tested above
    # against a real cluster); 16 added reserved_connections, which the slots exclude too.
    cfg = PostgresConfig()
    sql_16, _ = postgres.build_batch(160000, False, cfg)
    sql_15, _ = postgres.build_batch(150000, False, cfg)
    reserved_16 = ("current_setting('superuser_reserved_connections')::float8"
                   " + current_setting('reserved_connections')::float8")
    assert reserved_16 in sql_16
    assert "current_setting('reserved_connections')" not in sql_15
    assert "current_setting('superuser_reserved_connections')::float8" in sql_15


def test_databases_and_slots_past_their_caps_are_counted_not_labelled(
    own_pg: OwnPostgres, unique: str
) -> None:
    dbs = [f"{unique}_db{i}" for i in range(2)]
    slots = [f"{unique}_slot{i}" for i in range(4)]

    async def go() -> tuple[str, int]:
        admin = await psycopg.AsyncConnection.connect(own_pg.dsn, autocommit=True)
        sessions: list[psycopg.AsyncConnection[Any]] = []
        try:
            for db in dbs:
                await admin.execute(f"CREATE DATABASE {db}")
            for slot in slots:
                await admin.execute("SELECT pg_create_physical_replication_slot(%s)", (slot,))
            for db in dbs:  # a session in each database beyond the cap
                params = dict(part.split("=", 1) for part in own_pg.dsn.split())
                params["dbname"] = db
                sessions.append(await psycopg.AsyncConnection.connect(
                    " ".join(f"{k}={v}" for k, v in params.items())))
            c = collector(own_pg.dsn, unique, databases_limit=1, slots_limit=2)
            cur = await admin.execute("SELECT count(*) FROM pg_database WHERE NOT datistemplate")
            row = await cur.fetchone()
            assert row is not None
            try:
                return await scrape_text(c), int(row[0])
            finally:
                await c.close()
        finally:
            for s in sessions:
                await s.close()
            for slot in slots:
                await admin.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
            for db in dbs:
                await admin.execute(f"DROP DATABASE IF EXISTS {db}")
            await admin.close()

    text, databases = asyncio.run(go())
    assert databases >= 3
    labelled = {line.split('database="', 1)[1].split('"', 1)[0]
                for line in text.splitlines()
                if line.startswith("promfleet_postgres_database_commits_total{")}
    assert len(labelled) == 1 and not labelled & set(dbs)
    assert all(f'database="{db}"' not in text for db in dbs)
    assert (value(text, "connections", database="other", state="idle") or 0.0) >= 2.0
    assert value(text, "dropped_series", set="database") == float(databases - 1)
    slot_lines = [line for line in text.splitlines()
                  if line.startswith("promfleet_postgres_replication_slot_active{")]
    assert len(slot_lines) == 2
    assert value(text, "dropped_series", set="slot") == 2.0


def test_a_dsn_libpq_rejects_is_down_not_up_with_a_query_error(unique: str) -> None:
    text = str(run(scrape_text(collector("host=127.0.0.1 password=Canary bogus", unique))))
    assert value(text, "up") == 0.0
    assert "Canary" not in text


def test_a_target_whose_dsn_does_not_parse_stops_the_exporter_with_status_2() -> None:
    canary = "Canary-Half two"
    result = run_exporter(
        "postgres",
        "--web.listen-address=127.0.0.1:0",
        env={"PROMFLEET_POSTGRES_DSN": f"host=127.0.0.1 password={canary}"},
    )
    assert result.returncode == 2
    assert "target 'default': the DSN does not parse" in result.stderr
    assert "Canary" not in result.stderr and "two" not in result.stderr


def test_a_primary_and_its_standby_count_replicas_and_slots_exactly(
    unique: str, tmp_path: Path
) -> None:
    # A primary with a standby and a WAL receiver (two walsenders), the standby with a
    # receiver of its own: a cascading walsender, which the replica set leaves out.
    primary = OwnPostgres().start()
    standby: OwnPostgres | None = None
    receivers: list[subprocess.Popen[bytes]] = []

    def walsenders(dsn: str) -> int:
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM pg_stat_replication").fetchone()
        return int(row[0]) if row else 0

    def receive(dsn: str, name: str) -> None:
        directory = tmp_path / name
        directory.mkdir()
        receivers.append(subprocess.Popen(
            ["pg_receivewal", "-D", str(directory), "--no-sync", "-n",
             "-d", f"{dsn} application_name={name}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))

    async def scrape(dsn: str) -> str:
        c = collector(dsn, unique, replicas_limit=1, slots_limit=1)
        try:
            return await scrape_text(c)
        finally:
            await c.close()

    try:
        with psycopg.connect(primary.dsn, autocommit=True) as admin:
            for slot in ("slot_a", "slot_b"):
                admin.execute("SELECT pg_create_physical_replication_slot(%s)", (slot,))
        standby = OwnPostgres(primary=primary).start()
        receive(primary.dsn, "receiver")
        receive(standby.dsn, "cascade")
        deadline = time.monotonic() + 30
        while (walsenders(primary.dsn), walsenders(standby.dsn)) != (2, 1):
            assert time.monotonic() < deadline, "the WAL receivers did not connect"
            time.sleep(0.1)
        on_primary = asyncio.run(scrape(primary.dsn))
        on_standby = asyncio.run(scrape(standby.dsn))
    finally:
        for receiver in receivers:
            receiver.terminate()
            receiver.wait(timeout=10)
        if standby is not None:
            standby.stop()
        primary.stop()

    assert value(on_primary, "in_recovery") == 0.0
    assert on_primary.count("promfleet_postgres_replica_lag_seconds{") == 1
    assert value(on_primary, "dropped_series", set="replica") == 1.0
    assert on_primary.count("promfleet_postgres_replication_slot_active{") == 1
    assert value(on_primary, "dropped_series", set="slot") == 1.0
    assert value(on_primary, "dropped_series", set="database") == 0.0

    assert value(on_standby, "up") == 1.0 and value(on_standby, "scrape_error") == 0.0
    assert value(on_standby, "in_recovery") == 1.0
    assert value(on_standby, "replication_lag_bytes") is not None
    assert "promfleet_postgres_replica_lag_seconds{" not in on_standby
    assert value(on_standby, "dropped_series", set="replica") == 0.0
    assert "promfleet_postgres_replication_slot_active{" not in on_standby  # not replicated
    assert value(on_standby, "dropped_series", set="slot") == 0.0
    assert value(on_standby, "dropped_series", set="database") == 0.0


# --- sessions, lock waits, standbys (issue: pages an on-call engineer can trust) ---------


def recorded_rows(**overrides: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows as a PostgreSQL 15 standby returns them, by statement and column name, with
    ``overrides`` per statement."""
    rows: dict[str, list[dict[str, Any]]] = {
        "server": [{"version": "15.20 (Debian 15.20-0+deb12u1)", "max_connections": 100.0,
                    "reserved_connections": 3.0, "in_recovery": 1.0, "start_time": 1.7e9}],
        "connections": [{"database": "app", "state": "active", "count": 2.0}],
        "oldest": [
            {"state": "active", "session": "maintenance", "query_age": 7200.0,
             "xact_age": 7200.0},
            {"state": "active", "session": "application", "query_age": 3.0, "xact_age": 3.0},
            {"state": "idle in transaction", "session": "application", "query_age": 1.0,
             "xact_age": 40.0},
        ],
        "locks": [{"mode": "AccessExclusiveLock", "count": 1.0}],
        "lockwaits": [{"sessions": 1.0, "longest": 95.0}],
        "databases": [{"database": "app", "commits": 1.0, "rollbacks": 0.0, "blocks_hit": 10.0,
                       "blocks_read": 1.0, "deadlocks": 0.0, "temp_bytes": 0.0,
                       "temp_files": 0.0, "conflicts": 0.0, "size": 8.0e6,
                       "xid_age": 1.25e9, "total": 1.0}],
        "standby": [{"lag_bytes": 0.0, "lag_seconds": 312.5, "streaming": 0.0}],
        "replicas": [],
        "slots": [],
        "wal_position": [{"position": 5.0e8}],
        "tables": [],
        "checkpoints": [{"timed": 1.0, "requested": 0.0, "write_seconds": 0.1,
                         "sync_seconds": 0.01, "buffers": 10.0}],
        "wal": [{"records": 100.0, "bytes": 8192.0}],
    }
    rows.update(overrides)
    return rows


def test_a_standby_without_a_streaming_receiver_reads_its_lag_and_a_zero_receiver() -> None:
    snap = Outcome(True, postgres.Snapshot(rows=recorded_rows(), version_num=150020))
    text = exposition(postgres.families("main", snap, PostgresConfig()))
    assert value(text, "in_recovery") == 1.0
    assert value(text, "wal_receiver_streaming") == 0.0
    assert value(text, "replication_lag_seconds") == 312.5
    assert value(text, "database_xid_age", database="app") == 1.25e9
    assert value(text, "lock_waiting_sessions") == 1.0
    assert value(text, "lock_wait_oldest_seconds") == 95.0
    # A two-hour dump is maintenance; the application's oldest statement is 3 s old.
    assert value(text, "oldest_query_seconds", state="active", session="maintenance") == 7200.0
    assert value(text, "oldest_query_seconds", state="active", session="application") == 3.0
    assert value(text, "oldest_transaction_seconds", state="idle_in_transaction",
                 session="application") == 40.0
    assert value(text, "oldest_transaction_seconds", state="idle_in_transaction",
                 session="maintenance") == 0.0
    assert declaration_problems(text, postgres.METRICS, allow_missing=(
        "promfleet_postgres_replica_lag_bytes", "promfleet_postgres_replica_lag_seconds",
        "promfleet_postgres_replication_slot_active",
        "promfleet_postgres_replication_slot_retained_bytes",
        *(n for n in ABSENT_ON_A_LONE_PRIMARY if "statements" in n or "table_" in n),
    )) == []


def test_a_primary_publishes_no_wal_receiver_series() -> None:
    server = {**recorded_rows()["server"][0], "in_recovery": 0.0}
    standby = {"lag_bytes": None, "lag_seconds": None, "streaming": None}
    snap = Outcome(True, postgres.Snapshot(rows=recorded_rows(server=[server],
                                                              standby=[standby]),
                                           version_num=150020))
    text = exposition(postgres.families("main", snap, PostgresConfig()))
    assert value(text, "in_recovery") == 0.0
    assert "promfleet_postgres_wal_receiver_streaming{" not in text
    assert "promfleet_postgres_replication_lag_seconds{" not in text


def test_maintenance_names_come_from_the_options_and_are_quoted_into_the_batch() -> None:
    from exporters.spec import Settings

    cfg = postgres.config_from(Settings("postgres", {
        "sessions.maintenance-applications": "nightly-report, o'brien ,pg_dump",
        "sessions.maintenance-backend-types": ["autovacuum worker"],
    }))
    assert cfg.maintenance_applications == ("nightly-report", "o'brien", "pg_dump")
    assert cfg.maintenance_backend_types == ("autovacuum worker",)
    defaults = postgres.config_from(Settings("postgres", {}))
    assert "pg_dump" in defaults.maintenance_applications
    assert "walsender" in defaults.maintenance_backend_types
    sql, _ = postgres.build_batch(150000, False, cfg)
    assert "ARRAY['nightly-report', 'o''brien', 'pg_dump']::text[]" in sql


def test_a_long_dump_counts_as_maintenance_and_an_application_query_does_not(
    own_pg: OwnPostgres, unique: str
) -> None:
    odd = "o'brien " + unique  # a quote in a configured name must not break the batch

    async def go() -> str:
        sessions = [
            await psycopg.AsyncConnection.connect(own_pg.dsn, autocommit=True,
                                                  application_name=name)
            for name in ("pg_dump", odd, unique + "_app")
        ]
        tasks = [asyncio.ensure_future(s.execute("SELECT pg_sleep(30)")) for s in sessions]
        c = collector(own_pg.dsn, unique,
                      maintenance_applications=("pg_dump", odd),
                      maintenance_backend_types=postgres.DEFAULT_MAINTENANCE_BACKEND_TYPES)
        try:
            text = ""
            for _ in range(100):  # until each sleeper has run for a second (loaded machine)
                await asyncio.sleep(0.2)
                text = await scrape_text(c)
                if min(value(text, "oldest_query_seconds", state="active", session=kind) or 0.0
                       for kind in ("application", "maintenance")) >= 1.0:
                    break
            return text
        finally:
            await c.close()
            for s in sessions:
                s.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for s in sessions:
                await s.close()

    text = asyncio.run(go())
    assert value(text, "scrape_error") == 0.0
    maintenance = value(text, "oldest_query_seconds", state="active", session="maintenance")
    application = value(text, "oldest_query_seconds", state="active", session="application")
    assert maintenance is not None and maintenance >= 1.0
    assert application is not None and application >= 1.0

    async def only_dump() -> str:
        dump = await psycopg.AsyncConnection.connect(own_pg.dsn, autocommit=True,
                                                     application_name="pg_dump")
        task = asyncio.ensure_future(dump.execute("SELECT pg_sleep(30)"))
        c = collector(own_pg.dsn, unique)
        try:
            text = ""
            for _ in range(100):
                await asyncio.sleep(0.2)
                text = await scrape_text(c)
                if (value(text, "oldest_query_seconds", state="active",
                          session="maintenance") or 0.0) >= 1.0:
                    break
            return text
        finally:
            await c.close()
            dump.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await dump.close()

    text = asyncio.run(only_dump())
    assert (value(text, "oldest_query_seconds", state="active", session="maintenance")
            or 0.0) >= 1.0
    assert value(text, "oldest_query_seconds", state="active", session="application") == 0.0


def test_an_advisory_lock_wait_is_not_a_lock_wait(own_pg: OwnPostgres, unique: str) -> None:
    async def go() -> str:
        holder = await psycopg.AsyncConnection.connect(own_pg.dsn, autocommit=True)
        await holder.execute("SELECT pg_advisory_lock(4242)")
        waiter = await psycopg.AsyncConnection.connect(own_pg.dsn, autocommit=True)
        task = asyncio.ensure_future(waiter.execute("SELECT pg_advisory_lock(4242)"))
        c = collector(own_pg.dsn, unique)
        try:
            text = ""
            for _ in range(100):  # until the waiter's lock request is visible
                await asyncio.sleep(0.1)
                text = await scrape_text(c)
                if (value(text, "locks_waiting", mode="ExclusiveLock") or 0.0) >= 1.0:
                    break
            return text
        finally:
            await c.close()
            await holder.execute("SELECT pg_advisory_unlock(4242)")
            await asyncio.gather(task, return_exceptions=True)
            await waiter.execute("SELECT pg_advisory_unlock_all()")
            for conn in (holder, waiter):
                await conn.close()

    text = asyncio.run(go())
    assert (value(text, "locks_waiting", mode="ExclusiveLock") or 0.0) >= 1.0
    assert value(text, "lock_waiting_sessions") == 0.0
    assert value(text, "lock_wait_oldest_seconds") == 0.0


def test_a_standby_whose_primary_is_gone_reports_its_receiver_down_and_a_growing_lag(
    unique: str,
) -> None:
    # A primary with an abandoned slot and a streaming standby; the primary stops, then
    # the standby is promoted.
    primary = OwnPostgres().start()
    standby: OwnPostgres | None = None

    def scrape(dsn: str) -> str:
        async def go() -> str:
            c = collector(dsn, unique)
            try:
                return await scrape_text(c)
            finally:
                await c.close()

        return asyncio.run(go())

    def poll(dsn: str, done: Any, what: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = scrape(dsn)
            if done(text):
                return text
            assert time.monotonic() < deadline, f"{what} within {timeout:.0f}s:\n{text}"
            time.sleep(0.3)

    try:
        with psycopg.connect(primary.dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_create_physical_replication_slot('abandoned', true)")
        standby = OwnPostgres(primary=primary).start()
        with psycopg.connect(primary.dsn, autocommit=True) as admin:
            admin.execute(f"CREATE TABLE {unique} AS SELECT generate_series(1, 50000) AS v")
            admin.execute("SELECT pg_switch_wal()")
        on_primary = scrape(primary.dsn)
        streaming = poll(
            standby.dsn,
            lambda t: value(t, "wal_receiver_streaming") == 1.0
            and value(t, "replication_lag_seconds") == 0.0,
            "the standby streams and replays",
        )
        primary.stop()
        gone = poll(standby.dsn, lambda t: value(t, "wal_receiver_streaming") == 0.0,
                    "the receiver reads 0 once the primary is gone")
        with psycopg.connect(standby.dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_promote(true, 60)")
        promoted = poll(standby.dsn, lambda t: value(t, "in_recovery") == 0.0,
                        "the promoted standby reads as a primary")
    finally:
        if standby is not None:
            standby.stop()
        primary.stop()

    assert value(on_primary, "replication_slot_active", slot="abandoned", type="physical") == 0.0
    assert (value(on_primary, "replication_slot_retained_bytes", slot="abandoned") or 0) > 0
    assert value(streaming, "in_recovery") == 1.0
    lag = value(gone, "replication_lag_seconds")
    assert lag is not None and lag > 0.0  # not the 0 of "received == replayed"
    assert "promfleet_postgres_wal_receiver_streaming{" not in promoted
