"""PostgreSQL exporter: one reused psycopg connection per named target, bounded by the scrape.

Each scrape runs one multi-statement batch (one round trip) on the target's connection;
``statement_timeout`` and the connect timeout come from the scrape deadline, a failed
or late batch drops the connection and the next scrape reconnects. Labels are the
target name, database, state, lock mode, table and slot names, each set capped.

psycopg connects and learns the server; the batch itself goes through libpq directly
(``psycopg.pq``) and its text values are read as ``str`` or ``float`` by column
position: for a fixed statement of some ten result sets that is a fifth of the CPU of
a cursor, which builds column descriptions and loaders for every result set.
psycopg is imported on first use, so reading ``METRICS`` does not load it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client.core import Metric

from exporters.families import Families
from exporters.spec import (
    Collector,
    ExporterDef,
    MetricNamespace,
    MetricSpec,
    Option,
    OptionError,
    Settings,
    config_of,
    options_of,
    parse_duration,
    parse_positive_int,
    parse_str,
    setting,
)
from exporters.targets import (
    Failure,
    Outcome,
    Target,
    TargetCollector,
    close_targets,
    find_target,
    first_line,
    resolve_targets,
    target_names,
    target_options,
)

if TYPE_CHECKING:
    import psycopg
    from psycopg import pq

NS = "promfleet_postgres"
log = logging.getLogger("promfleet.exporters.postgres")

STATES = {
    "active": "active",
    "idle": "idle",
    "idle in transaction": "idle_in_transaction",
    "idle in transaction (aborted)": "idle_in_transaction_aborted",
    "fastpath function call": "fastpath",
    "disabled": "disabled",
}
OLDEST_STATES = ("active", "idle_in_transaction", "idle_in_transaction_aborted")
LOCK_MODES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)


_m = MetricNamespace(NS, ("target",))


METRICS: tuple[MetricSpec, ...] = (
    _m("up", "gauge", "1 when the target answered this scrape's queries within the deadline"),
    _m("scrape_error", "gauge",
       "1 when the server answered but the query batch failed (details in the log)"),
    _m("version_info", "info", "Server version", "version", "major"),
    _m("start_time_seconds", "gauge", "Postmaster start time, Unix seconds"),
    _m("in_recovery", "gauge", "1 on a standby (in recovery), 0 on a primary"),
    _m("max_connections", "gauge", "The max_connections setting"),
    _m("reserved_connections", "gauge",
       "Connection slots reserved for superusers and pg_use_reserved_connections"),
    _m("connections", "gauge", "Client backends by database and state", "database", "state"),
    _m("oldest_query_seconds", "gauge",
       "Age of the oldest running statement in each state, of application sessions or of "
       "maintenance ones (by application name and backend type, as configured)",
       "state", "session"),
    _m("oldest_transaction_seconds", "gauge",
       "Age of the oldest open transaction in each state, of application sessions or of "
       "maintenance ones", "state", "session"),
    _m("locks_waiting", "gauge", "Lock requests not yet granted, by lock mode", "mode"),
    _m("lock_waiting_sessions", "gauge",
       "Sessions waiting for a heavyweight lock (advisory locks left out)"),
    _m("lock_wait_oldest_seconds", "gauge",
       "How long the longest current lock wait has lasted (0 when none waits)"),
    _m("database_commits_total", "counter", "Transactions committed", "database"),
    _m("database_rollbacks_total", "counter", "Transactions rolled back", "database"),
    _m("database_blocks_hit_total", "counter", "Buffer cache hits", "database"),
    _m("database_blocks_read_total", "counter", "Blocks read from disk", "database"),
    _m("database_deadlocks_total", "counter", "Deadlocks detected", "database"),
    _m("database_temp_bytes_total", "counter", "Bytes written to temporary files", "database"),
    _m("database_temp_files_total", "counter", "Temporary files created", "database"),
    _m("database_conflicts_total", "counter",
       "Queries cancelled by recovery conflicts", "database"),
    _m("database_size_bytes", "gauge", "Disk space used by the database", "database"),
    _m("database_xid_age", "gauge",
       "Transactions since the database's datfrozenxid (wraparound at about 2.1e9)",
       "database"),
    _m("replication_lag_bytes", "gauge",
       "On a standby: WAL received but not yet replayed, in bytes"),
    _m("replication_lag_seconds", "gauge",
       "On a standby: age of the last replayed transaction (0 only when all received WAL "
       "is replayed and the WAL receiver is streaming)"),
    _m("wal_receiver_streaming", "gauge",
       "On a standby: 1 when its WAL receiver streams from the primary (without "
       "pg_read_all_stats: when a WAL receiver process exists)"),
    _m("replica_lag_bytes", "gauge",
       "On a primary: WAL not yet replayed by each connected standby", "replica"),
    _m("replica_lag_seconds", "gauge",
       "On a primary: replay lag reported by each connected standby", "replica"),
    _m("replication_slot_active", "gauge",
       "1 when a replication slot has a consumer", "slot", "type"),
    _m("replication_slot_retained_bytes", "gauge", "WAL a replication slot holds back",
       "slot"),
    _m("wal_position_bytes", "gauge", "Current WAL position (insert or replay), in bytes"),
    _m("wal_records_total", "counter", "WAL records generated"),
    _m("wal_bytes_total", "counter", "WAL generated, in bytes"),
    _m("checkpoints_timed_total", "counter", "Scheduled checkpoints performed"),
    _m("checkpoints_requested_total", "counter", "Requested checkpoints performed"),
    _m("checkpoint_write_seconds_total", "counter", "Time spent writing checkpoint files"),
    _m("checkpoint_sync_seconds_total", "counter", "Time spent syncing checkpoint files"),
    _m("checkpoint_buffers_written_total", "counter", "Buffers written by checkpoints"),
    _m("table_size_bytes", "gauge",
       "Heap size of the largest user tables of the connected database", "table"),
    _m("table_live_tuples", "gauge", "Estimated live rows of the largest tables", "table"),
    _m("table_dead_tuples", "gauge", "Estimated dead rows of the largest tables", "table"),
    _m("table_vacuum_age_seconds", "gauge",
       "Seconds since the last (auto)vacuum of the largest tables; absent if never", "table"),
    _m("table_xid_age", "gauge",
       "Transactions since the table's relfrozenxid (wraparound distance used)", "table"),
    _m("dropped_series", "gauge",
       "Items left out of this scrape because a capped label set was full", "set"),
    _m("statements_available", "gauge",
       "1 when pg_stat_statements is installed and loaded in the connected database"),
    _m("statements_slow", "gauge",
       "Statements whose mean execution time exceeds the slow threshold"),
    _m("statements_worst_mean_seconds", "gauge",
       "The worst mean execution time among tracked statements"),
    _m("statements_slow_threshold_seconds", "gauge", "The configured slow threshold"),
)
FAMILIES = Families(METRICS, f"{NS}_")


# Sessions whose long statements and transactions are routine work, not the application's:
# dumps, base backups and WAL streaming, vacuum, index and cluster tools, scheduled jobs,
# and operators' psql sessions (migrations, reports). Their effect on the application
# (locks others wait on, held connections) is measured and alerted on by itself.
DEFAULT_MAINTENANCE_APPLICATIONS = (
    "pg_dump", "pg_dumpall", "pg_restore", "pg_basebackup", "pg_receivewal",
    "pg_recvlogical", "pg_amcheck", "vacuumdb", "reindexdb", "clusterdb", "pg_repack",
    "pg_cron", "psql",
)
# Server processes that report a state but run no application statement (autovacuum, WAL
# senders, whose "statement" is the whole replication session), and parallel workers,
# whose leader is counted already.
DEFAULT_MAINTENANCE_BACKEND_TYPES = (
    "autovacuum launcher", "autovacuum worker", "walsender", "walreceiver",
    "logical replication launcher", "logical replication worker", "parallel worker",
)
SESSIONS = ("application", "maintenance")


def parse_names(value: Any) -> tuple[str, ...]:
    """Names from a YAML list or a comma-separated string; blanks dropped, order kept."""
    if isinstance(value, tuple | list):
        items = [parse_str(item) for item in value]
    else:
        items = parse_str(value).split(",")
    names = tuple(dict.fromkeys(item.strip() for item in items if item.strip()))
    if any("\x00" in name for name in names):
        raise ValueError("a name holds a NUL character")
    return names


@dataclass(frozen=True)
class PostgresConfig:
    """Per-process settings shared by every target's collector; each field is an option."""

    application_name: str = setting(
        "application-name", "application_name of the exporter's sessions",
        "promfleet-exporter-postgres", parse_str)
    slow_threshold_seconds: float = setting(
        "statements.slow-threshold", "mean execution time above which a statement is slow",
        1.0, parse_duration)
    tables_limit: int = setting(
        "tables.limit", "how many of the largest tables get per-table series", 10,
        parse_positive_int)
    databases_limit: int = setting(
        "databases.limit", "how many databases get per-database series", 50,
        parse_positive_int)
    maintenance_applications: tuple[str, ...] = setting(
        "sessions.maintenance-applications",
        "application_name values of maintenance sessions (comma-separated): their long "
        "statements and transactions are published apart from the application's",
        DEFAULT_MAINTENANCE_APPLICATIONS, parse_names)
    maintenance_backend_types: tuple[str, ...] = setting(
        "sessions.maintenance-backend-types",
        "backend_type values of maintenance sessions (comma-separated)",
        DEFAULT_MAINTENANCE_BACKEND_TYPES, parse_names)
    slots_limit: int = setting(
        "slots.limit", "how many replication slots get per-slot series", 20,
        parse_positive_int)
    replicas_limit: int = setting(
        "replicas.limit", "how many connected standbys get per-replica series", 20,
        parse_positive_int)


@dataclass
class Snapshot:
    """What one batch returned: each statement's rows by name, and the server's facts."""

    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    version_num: int = 0
    statements: bool = False


@dataclass
class _Server:
    """Facts learnt once per connection: they decide which statements the batch holds."""

    version_num: int
    statements: bool
    batch: bytes  # the whole batch but its leading SET, encoded
    names: tuple[str, ...]
    encoding: str  # the client encoding, as a Python codec name


def sql_text_array(values: Sequence[str]) -> str:
    """A SQL ``text[]`` literal (quotes doubled; the session has standard_conforming_strings)."""
    for value in values:
        if "\x00" in value:
            raise ValueError(f"a NUL character in {value!r}")
    items = ", ".join("'" + value.replace("'", "''") + "'" for value in values)
    return f"ARRAY[{items}]::text[]"


def build_batch(version_num: int, statements: bool, cfg: PostgresConfig) -> tuple[
    str, tuple[str, ...]
]:
    """The batch SQL (minus the leading SET) and the name of each result, in order."""
    reserved = "current_setting('superuser_reserved_connections')::float8"
    if version_num >= 160000:
        reserved += " + current_setting('reserved_connections')::float8"
    # Without pg_read_all_stats the receiver's status reads NULL: its presence decides.
    streaming = ("EXISTS (SELECT 1 FROM pg_stat_wal_receiver "
                 "WHERE status = 'streaming' OR status IS NULL)")
    maintenance = (
        f"backend_type = ANY ({sql_text_array(cfg.maintenance_backend_types)}) OR "
        f"coalesce(application_name, '') = ANY ({sql_text_array(cfg.maintenance_applications)})"
    )
    waitstart = "waitstart" if version_num >= 140000 else "NULL::timestamptz"
    recovery_lsn = (
        "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
        "ELSE pg_current_wal_lsn() END"
    )
    parts: list[tuple[str, str]] = [
        ("server", f"""SELECT current_setting('server_version'),
 current_setting('max_connections')::float8, {reserved}, pg_is_in_recovery()::int::float8,
 extract(epoch FROM pg_postmaster_start_time())::float8,
 CASE WHEN pg_is_in_recovery() THEN
   pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::float8 END,
 CASE WHEN pg_is_in_recovery() THEN
   CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() AND {streaming} THEN 0::float8
   ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END END,
 pg_wal_lsn_diff({recovery_lsn}, '0/0')::float8,
 (SELECT count(*) FROM pg_stat_user_tables)::float8,
 (SELECT count(*) FROM pg_database WHERE NOT datistemplate)::float8,
 (SELECT count(*) FROM pg_stat_replication WHERE NOT pg_is_in_recovery())::float8,
 (SELECT count(*) FROM pg_replication_slots)::float8,
 CASE WHEN pg_is_in_recovery() THEN {streaming}::int::float8 END"""),
        ("connections", """SELECT coalesce(datname, ''), coalesce(state, ''), count(*)::float8
 FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 1, 2"""),
        ("oldest", f"""SELECT state,
 CASE WHEN {maintenance} THEN 'maintenance' ELSE 'application' END,
 extract(epoch FROM max(now() - query_start))::float8,
 extract(epoch FROM max(now() - xact_start))::float8
 FROM pg_stat_activity WHERE backend_type IS NOT NULL
 AND pid <> pg_backend_pid() AND state IS NOT NULL GROUP BY 1, 2"""),
        ("locks", "SELECT mode, count(*)::float8 FROM pg_locks WHERE NOT granted GROUP BY 1"),
        # Advisory waits are left out: a blocking pg_advisory_lock is how applications
        # elect a leader or serialise jobs, and such a wait is meant to last.
        ("lockwaits", f"""SELECT count(*)::float8,
 coalesce(extract(epoch FROM max(now() - coalesce(l.since, a.query_start))), 0)::float8
 FROM pg_stat_activity a LEFT JOIN (SELECT pid, min({waitstart}) AS since FROM pg_locks
   WHERE NOT granted GROUP BY pid) l ON l.pid = a.pid
 WHERE a.wait_event_type = 'Lock' AND a.wait_event IS DISTINCT FROM 'advisory'
 AND a.pid <> pg_backend_pid()"""),
        ("databases", f"""SELECT d.datname, s.xact_commit::float8, s.xact_rollback::float8,
 s.blks_hit::float8, s.blks_read::float8, s.deadlocks::float8, s.temp_bytes::float8,
 s.temp_files::float8, s.conflicts::float8,
 CASE WHEN has_database_privilege(d.oid, 'CONNECT') THEN pg_database_size(d.oid)::float8 END,
 age(d.datfrozenxid)::float8
 FROM pg_database d JOIN pg_stat_database s ON s.datid = d.oid
 WHERE NOT d.datistemplate ORDER BY d.oid LIMIT {cfg.databases_limit}"""),
        ("replicas", f"""SELECT coalesce(application_name, ''),
 pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8,
 extract(epoch FROM replay_lag)::float8
 FROM pg_stat_replication WHERE NOT pg_is_in_recovery()
 ORDER BY 1 LIMIT {cfg.replicas_limit}"""),
        ("slots", f"""SELECT slot_name, slot_type, active::int::float8,
 pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()
   ELSE pg_current_wal_lsn() END, restart_lsn)::float8
 FROM pg_replication_slots ORDER BY 1 LIMIT {cfg.slots_limit}"""),
        ("tables", f"""SELECT s.schemaname || '.' || s.relname,
 c.relpages::float8 * current_setting('block_size')::float8,
 s.n_live_tup::float8, s.n_dead_tup::float8,
 extract(epoch FROM now() - greatest(s.last_vacuum, s.last_autovacuum))::float8,
 age(c.relfrozenxid)::float8
 FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
 ORDER BY c.relpages DESC, 1 LIMIT {cfg.tables_limit}"""),
    ]
    if version_num >= 170000:
        parts.append(("checkpoints", """SELECT num_timed::float8, num_requested::float8,
 write_time / 1000, sync_time / 1000, buffers_written::float8 FROM pg_stat_checkpointer"""))
    else:
        parts.append(("checkpoints", """SELECT checkpoints_timed::float8,
 checkpoints_req::float8, checkpoint_write_time / 1000, checkpoint_sync_time / 1000,
 buffers_checkpoint::float8 FROM pg_stat_bgwriter"""))
    if version_num >= 140000:
        parts.append(("wal", "SELECT wal_records::float8, wal_bytes::float8 FROM pg_stat_wal"))
    if statements:
        mean = "mean_exec_time" if version_num >= 130000 else "mean_time"
        threshold_ms = cfg.slow_threshold_seconds * 1000.0
        parts.append(("statements", f"""SELECT
 (count(*) FILTER (WHERE {mean} > {threshold_ms!r}))::float8,
 coalesce(max({mean}), 0)::float8 / 1000 FROM pg_stat_statements"""))
    sql = ";\n".join(text for _, text in parts)
    return sql, tuple(name for name, _ in parts)


# Leading text columns of each result; the rest are float8 (all numbers are cast).
TEXT_COLUMNS = {
    "server": 1, "connections": 2, "oldest": 2, "locks": 1, "databases": 1,
    "replicas": 1, "slots": 2, "tables": 1,
}
Row = tuple[Any, ...]


def result_rows(result: pq.abc.PGresult, text_columns: int, encoding: str) -> list[Row]:
    """The rows of one result in text format: ``str`` then ``float`` columns, NULL as None."""
    get = result.get_value
    columns = range(result.nfields)
    rows: list[Row] = []
    for i in range(result.ntuples):
        row: list[Any] = []
        for j in columns:
            raw = get(i, j)
            if raw is None:
                row.append(None)
            elif j < text_columns:
                row.append(raw.decode(encoding, "replace"))
            else:
                row.append(float(raw))
        rows.append(tuple(row))
    return rows


def result_error(result: pq.abc.PGresult, encoding: str) -> psycopg.Error:
    """The psycopg exception a cursor would raise for a failed statement."""
    import psycopg
    from psycopg import pq

    state = (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode("ascii", "replace")
    message = result.error_message.decode(encoding, "replace")
    try:
        cls = psycopg.errors.lookup(state)
    except KeyError:
        cls = psycopg.DatabaseError
    return cls(message)


async def run_batch(pgconn: pq.abc.PGconn, query: bytes) -> list[pq.abc.PGresult]:
    """Send ``query`` (simple protocol) and wait for all its results, without blocking.

    Raises psycopg.OperationalError when the connection fails; a failed statement
    is a result with status FATAL_ERROR (libpq runs none after it).
    """
    loop = asyncio.get_running_loop()
    fd = pgconn.socket
    pgconn.send_query(query)
    while pgconn.flush():  # 1: part of the query is still to be sent
        await _ready(loop, fd, write=True)
    results: list[pq.abc.PGresult] = []
    while True:
        if pgconn.is_busy():
            await _ready(loop, fd, write=False)
            pgconn.consume_input()
            continue
        result = pgconn.get_result()
        if result is None:
            return results
        results.append(result)


async def _ready(loop: asyncio.AbstractEventLoop, fd: int, write: bool) -> None:
    future: asyncio.Future[None] = loop.create_future()

    def done() -> None:
        if not future.done():
            future.set_result(None)

    if write:
        loop.add_writer(fd, done)
    else:
        loop.add_reader(fd, done)
    try:
        await future
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


_PROBE_SQL = """SELECT current_setting('server_version_num')::int,
 EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')
 AND 'pg_stat_statements' = ANY (string_to_array(
   replace(current_setting('shared_preload_libraries'), ' ', ''), ','))"""


class PostgresTarget(TargetCollector["psycopg.AsyncConnection[Any]", Snapshot]):
    """All metrics of one PostgreSQL target, from one reused connection.

    promfleet_postgres_up{target="main"} 1
    promfleet_postgres_connections{target="main",database="app",state="active"} 3
    promfleet_postgres_oldest_query_seconds{target="main",state="active"} 0.25
    """

    name = "postgres"
    log = log

    def __init__(self, target: Target, config: PostgresConfig) -> None:
        import psycopg

        super().__init__(target)
        self.config = config
        self._server: _Server | None = None
        self.errors = (psycopg.Error, OSError)

    async def connect(self, deadline: float) -> psycopg.AsyncConnection[Any]:
        import psycopg
        remaining = max(0.0, deadline - time.monotonic())
        statement_ms = max(1, int(remaining * 1000))
        # libpq's connect_timeout is whole seconds, at least 2; the asyncio timeout
        # around the batch is what really holds the connect to the deadline.
        conn = await psycopg.AsyncConnection.connect(
            self._target.locator,
            autocommit=True,
            application_name=self.config.application_name,
            connect_timeout=max(2, math.ceil(remaining)),
            options=f"-c statement_timeout={statement_ms} -c standard_conforming_strings=on",
        )
        try:
            cur = conn.cursor()
            await cur.execute(_PROBE_SQL)
            row = await cur.fetchone()
            version_num, statements = (int(row[0]), bool(row[1])) if row else (0, False)
            tail, names = build_batch(version_num, statements, self.config)
            encoding = conn.info.encoding
            self._server = _Server(version_num, statements, tail.encode(encoding), names,
                                   encoding)
        except BaseException:
            await conn.close()
            raise
        return conn

    def is_open(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        return not conn.closed and not conn.broken

    async def disconnect(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if not conn.closed:
            await conn.close()

    def disconnect_now(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if not conn.closed:
            conn.pgconn.finish()

    async def query(self, conn: psycopg.AsyncConnection[Any], deadline: float) -> Snapshot:
        import psycopg
        from psycopg import pq

        server = self._server
        assert server is not None
        statement_ms = max(1, int((deadline - time.monotonic()) * 1000))
        query = b"SET statement_timeout = %d;\n%b" % (statement_ms, server.batch)
        results = await run_batch(conn.pgconn, query)
        # The first result is the SET; each later one is the statement named in order.
        rows: dict[str, list[Row]] = {}
        encoding = server.encoding
        for index, result in enumerate(results):
            if result.status == pq.ExecStatus.FATAL_ERROR:
                raise result_error(result, encoding)
            if index:
                name = server.names[index - 1]
                rows[name] = result_rows(result, TEXT_COLUMNS.get(name, 0), encoding)
        if len(rows) != len(server.names):
            raise psycopg.InterfaceError(
                f"the batch gave {len(results)} results for {len(server.names) + 1}"
            )
        return Snapshot(rows=rows, version_num=server.version_num,
                        statements=server.statements)

    def judge(self, err: BaseException, connected: bool) -> Failure:
        import psycopg

        if isinstance(err, psycopg.OperationalError | psycopg.InterfaceError | OSError):
            # A statement cancelled by statement_timeout is the server's slowness.
            stale = not isinstance(err, psycopg.errors.QueryCanceled)
            return Failure(first_line(err), stale=stale)
        if not connected:
            # Refused before any server answered (libpq rejected the DSN): down.
            return Failure(f"{type(err).__name__}: cannot connect")
        # The server answered: it is up, but a statement failed (a race with a
        # DROP DATABASE, a missing privilege). Reconnect to re-learn the server.
        return Failure(first_line(err), answered=True)

    def families(self, outcome: Outcome[Snapshot]) -> list[Metric]:
        return families(self.target, outcome, self.config)


def families(target: str, outcome: Outcome[Snapshot], cfg: PostgresConfig) -> list[Metric]:
    """Fresh metric families from one outcome (pure: tested on recorded rows)."""
    batch = FAMILIES.start()
    add = batch.add
    only = (target,)

    add("up", only, 1.0 if outcome.up else 0.0)
    if not outcome.up:
        return batch.list()
    add("scrape_error", only, 1.0 if outcome.query_error else 0.0)
    snap = outcome.data
    if snap is None:
        return batch.list()
    rows = snap.rows
    dropped: dict[str, int] = {"database": 0, "table": 0, "slot": 0, "replica": 0}

    server = rows["server"][0]
    version = str(server[0]).split()[0]
    add("version_info", (target, version, version.split(".")[0]), 1.0)
    add("max_connections", only, server[1])
    add("reserved_connections", only, server[2])
    add("in_recovery", only, 1.0 if server[3] else 0.0)
    add("start_time_seconds", only, server[4])
    add("replication_lag_bytes", only, server[5])
    add("replication_lag_seconds", only, server[6])
    add("wal_position_bytes", only, server[7])
    user_tables = int(server[8] or 0)
    # The capped sets are fetched up to their cap; the totals say how many were left out.
    dropped["database"] = max(0, int(server[9] or 0) - len(rows["databases"]))
    dropped["replica"] = max(0, int(server[10] or 0) - len(rows["replicas"]))
    dropped["slot"] = max(0, int(server[11] or 0) - len(rows["slots"]))
    if server[12] is not None:  # a standby
        add("wal_receiver_streaming", only, 1.0 if server[12] else 0.0)

    databases = rows["databases"]
    kept = {str(r[0]) for r in databases}
    per_db: dict[tuple[str, str], float] = {}
    for datname, state, count in rows["connections"]:
        db = datname if datname in kept or datname == "" else "other"
        key = (db, STATES.get(state, "unknown") if state else "unknown")
        per_db[key] = per_db.get(key, 0.0) + count
    for (db, state), count in sorted(per_db.items()):
        add("connections", (target, db, state), count)

    oldest = {(STATES.get(r[0], "unknown"), r[1]): r for r in rows["oldest"]}
    for state in OLDEST_STATES:
        for session in SESSIONS:
            row = oldest.get((state, session))
            labels = (target, state, session)
            add("oldest_query_seconds", labels, (row[2] or 0.0) if row else 0.0)
            add("oldest_transaction_seconds", labels, (row[3] or 0.0) if row else 0.0)

    waiting = {str(r[0]): r[1] for r in rows["locks"]}
    for mode in LOCK_MODES:
        add("locks_waiting", (target, mode), waiting.pop(mode, 0.0))
    for mode, count in sorted(waiting.items()):  # advisory and future modes
        add("locks_waiting", (target, mode), count)
    for sessions, longest in rows["lockwaits"]:
        add("lock_waiting_sessions", only, sessions)
        add("lock_wait_oldest_seconds", only, longest)

    for r in databases:
        db = str(r[0])
        add("database_commits_total", (target, db), r[1])
        add("database_rollbacks_total", (target, db), r[2])
        add("database_blocks_hit_total", (target, db), r[3])
        add("database_blocks_read_total", (target, db), r[4])
        add("database_deadlocks_total", (target, db), r[5])
        add("database_temp_bytes_total", (target, db), r[6])
        add("database_temp_files_total", (target, db), r[7])
        add("database_conflicts_total", (target, db), r[8])
        add("database_size_bytes", (target, db), r[9])
        add("database_xid_age", (target, db), r[10])

    for name, lag_bytes, lag_seconds in rows["replicas"]:
        add("replica_lag_bytes", (target, name), lag_bytes)
        add("replica_lag_seconds", (target, name),
            lag_seconds if lag_seconds is not None else 0.0)

    for slot, kind, active, retained in rows["slots"]:
        add("replication_slot_active", (target, slot, kind), active)
        add("replication_slot_retained_bytes", (target, slot), retained)

    for name, size, live, dead, vacuum_age, xid_age in rows["tables"]:
        add("table_size_bytes", (target, name), size)
        add("table_live_tuples", (target, name), live)
        add("table_dead_tuples", (target, name), dead)
        add("table_vacuum_age_seconds", (target, name), vacuum_age)
        add("table_xid_age", (target, name), xid_age)
    dropped["table"] = max(0, user_tables - len(rows["tables"]))

    for row in rows.get("checkpoints", []):
        add("checkpoints_timed_total", only, row[0])
        add("checkpoints_requested_total", only, row[1])
        add("checkpoint_write_seconds_total", only, row[2])
        add("checkpoint_sync_seconds_total", only, row[3])
        add("checkpoint_buffers_written_total", only, row[4])
    for row in rows.get("wal", []):
        add("wal_records_total", only, row[0])
        add("wal_bytes_total", only, row[1])

    add("statements_available", only, 1.0 if snap.statements else 0.0)
    add("statements_slow_threshold_seconds", only, cfg.slow_threshold_seconds)
    for row in rows.get("statements", []):
        add("statements_slow", only, row[0])
        add("statements_worst_mean_seconds", only, row[1])

    for name, count in sorted(dropped.items()):
        add("dropped_series", (target, name), float(count))
    return batch.list()


# --- wiring ----------------------------------------------------------------------------


OPTIONS: tuple[Option, ...] = (
    *target_options("dsn", "libpq DSN (URL or key=value)"),
    *options_of(PostgresConfig),
)


def config_from(settings: Settings) -> PostgresConfig:
    return config_of(PostgresConfig, settings)


def build(settings: Settings) -> Sequence[Collector]:
    import psycopg
    from psycopg import conninfo

    cfg = config_from(settings)
    targets = resolve_targets(settings, "dsn")
    bad = []
    for target in targets:
        try:
            conninfo.conninfo_to_dict(target.locator)
        except psycopg.ProgrammingError:  # libpq's message may quote the DSN: never shown
            bad.append(target.name)
    if bad:
        reason = "the DSN does not parse (not shown: secret)"
        raise OptionError("; ".join(f"target {name!r}: {reason}" for name in bad))
    return tuple(PostgresTarget(t, cfg) for t in targets)


EXPORTER = ExporterDef(
    name="postgres",
    namespace=NS,
    description="PostgreSQL servers: connections, transactions, locks, replication, vacuum",
    metrics=METRICS,
    options=OPTIONS,
    build=build,
    probe=find_target,
    close=close_targets,
    default_port=9187,
    multi_target=True,
    target_names=target_names("dsn"),
)
