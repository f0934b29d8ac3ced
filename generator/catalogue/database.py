"""Catalogue area ``database``: PostgreSQL and Redis availability, saturation and health.

Signals come from the postgres and redis exporters (``promfleet_postgres_*``,
``promfleet_redis_*``; every series carries the configured ``target`` name); recording
rules turn counters into per-target ratios and increases.
"""

from __future__ import annotations

from generator.catalogue._gather import gather_module
from generator.model import (
    AlertTest,
    Category,
    Level,
    Panel,
    RecordingRule,
    Runbook,
    Severity,
    Team,
    TestSeries,
    Threshold,
)
from generator.testseries import counter as _counter
from generator.testseries import gauge as _gauge

PG = (("instance", "db-1:9187"), ("job", "postgres"), ("target", "main"))
RD = (("instance", "cache-1:9121"), ("job", "redis"), ("target", "cache"))
SEL = 'job=~"$job",instance=~"$instance"'
PSQL = "psql -h HOST -U postgres -d postgres -c"
RCLI = "redis-cli -h HOST -p PORT"

PG_CONN_USAGE = "instance_target:promfleet_postgres_connections:usage_ratio"
PG_CACHE_HIT = "instance_target:promfleet_postgres_cache_hit:ratio_rate5m"
PG_DEADLOCKS = "instance_target:promfleet_postgres_deadlocks:increase5m"
PG_DEAD_RATIO = "instance_target_table:promfleet_postgres_table_dead_tuples:ratio"
RD_MEMORY = "instance_target:promfleet_redis_memory:usage_ratio"
RD_EVICTIONS = "instance_target:promfleet_redis_evicted_keys:rate5m"
RD_REJECTED = "instance_target:promfleet_redis_rejected_connections:increase2m"
RD_OOM = "instance_target:promfleet_redis_oom_rejected_commands:increase2m"
RD_CLIENTS = "instance_target:promfleet_redis_clients:usage_ratio"
RD_HIT = "instance_target:promfleet_redis_keyspace_hits:ratio_rate5m"

RECORDING_RULES = (
    RecordingRule(
        PG_CONN_USAGE,
        "sum without (database, state) (promfleet_postgres_connections)\n"
        "/ (promfleet_postgres_max_connections - promfleet_postgres_reserved_connections)",
    ),
    RecordingRule(
        PG_CACHE_HIT,
        "sum without (database) (rate(promfleet_postgres_database_blocks_hit_total[5m]))\n"
        "/ (sum without (database) (rate(promfleet_postgres_database_blocks_hit_total[5m]))\n"
        "   + sum without (database) (rate(promfleet_postgres_database_blocks_read_total[5m])))",
    ),
    RecordingRule(
        PG_DEADLOCKS,
        "sum without (database) (increase(promfleet_postgres_database_deadlocks_total[5m]))",
    ),
    RecordingRule(
        PG_DEAD_RATIO,
        "promfleet_postgres_table_dead_tuples\n"
        "/ (promfleet_postgres_table_live_tuples + promfleet_postgres_table_dead_tuples)",
    ),
    # Against maxmemory where one is set; otherwise (maxmemory 0, Redis' default) against
    # the host's memory, which is then what runs out.
    RecordingRule(
        RD_MEMORY,
        "promfleet_redis_memory_used_bytes / (promfleet_redis_memory_max_bytes > 0)\n"
        "or promfleet_redis_memory_used_bytes / on (instance, job, target)\n"
        "   (promfleet_redis_memory_system_bytes\n"
        "    and on (instance, job, target) promfleet_redis_memory_max_bytes == 0)",
    ),
    RecordingRule(RD_EVICTIONS, "rate(promfleet_redis_evicted_keys_total[5m])"),
    RecordingRule(RD_REJECTED, "increase(promfleet_redis_rejected_connections_total[2m])"),
    RecordingRule(RD_OOM, "increase(promfleet_redis_oom_rejected_commands_total[2m])"),
    RecordingRule(
        RD_CLIENTS,
        "promfleet_redis_connected_clients / (promfleet_redis_max_clients > 0)",
    ),
    RecordingRule(
        RD_HIT,
        "rate(promfleet_redis_keyspace_hits_total[5m])\n"
        "/ (rate(promfleet_redis_keyspace_hits_total[5m])"
        " + rate(promfleet_redis_keyspace_misses_total[5m]))",
    ),
)

_ESCALATE_DB = (
    "Page the database owner (ops on-call) if not resolved within 30 minutes; raise an "
    "incident when the applications using this server report errors."
)
_ESCALATE_DB_SOFT = (
    "Open a ticket for the database owner; page the ops on-call only if it grows into "
    "a critical alert or the applications report errors."
)


def _up(metric: str, labels: tuple[tuple[str, str], ...], value: int) -> tuple[TestSeries, ...]:
    return (_gauge(metric, labels, value),)


# --- PostgreSQL ----------------------------------------------------------------------

POSTGRES_DOWN = Threshold(
    name="PostgresDown",
    category=Category.SYSTEM_OUTAGE,
    signal="promfleet_postgres_up",
    op="==",
    levels=(
        Level(
            Severity.CRITICAL, 0, for_seconds=60, cooldown_seconds=1800,
            test=AlertTest(
                firing=_up("promfleet_postgres_up", PG, 0),
                quiet=_up("promfleet_postgres_up", PG, 1),
                labels=PG, value=0,
            ),
        ),
    ),
    team=Team.OPS,
    summary="PostgreSQL {{ $labels.target }} on {{ $labels.instance }} does not answer",
    description=(
        "The exporter could not connect to PostgreSQL target {{ $labels.target }} or run "
        "its queries within the scrape deadline for a minute. Applications using it fail."
    ),
    runbook=Runbook(
        meaning="The exporter cannot open a session or finish its queries on the server.",
        impact="Every application using this database fails or queues requests.",
        diagnosis=(
            "Since when: `promfleet_postgres_up == 0`; the exporter logs the error once "
            "per change (refused, timeout, authentication).",
            "Does the server answer at all: ```sh\npg_isready -h HOST -p 5432\n"
            f"{PSQL} 'SELECT 1'\n```",
            "On the database host: ```sh\nsystemctl status postgresql; "
            "journalctl -u postgresql --since '-15min' | tail -50\n```",
        ),
        mitigation=(
            "Start the server if it stopped; free disk space if it stopped on a full disk.",
            "Fail over to the standby when the primary cannot come back quickly.",
        ),
        escalation=_ESCALATE_DB,
    ),
    panel=Panel(
        title="PostgreSQL up",
        expr=f"promfleet_postgres_up{{{SEL}}}",
        unit="short",
        description="1 when the exporter reached the server and ran its queries in time.",
        legend="{{instance}} {{target}}",
        kind="stat",
    ),
    group="postgres",
)


def _connections(used: int) -> tuple[TestSeries, ...]:
    return (
        _gauge("promfleet_postgres_connections",
               (*PG, ("database", "app"), ("state", "active")), used),
        _gauge("promfleet_postgres_max_connections", PG, 103),
        _gauge("promfleet_postgres_reserved_connections", PG, 3),
    )


POSTGRES_CONNECTIONS = Threshold(
    name="PostgresConnectionsHigh",
    category=Category.SYSTEM_OUTAGE,
    signal=PG_CONN_USAGE,
    op=">",
    levels=(
        Level(
            Severity.WARNING, 0.8, for_seconds=300, cooldown_seconds=3600,
            test=AlertTest(firing=_connections(85), quiet=_connections(50), labels=PG,
                           value=0.85),
        ),
        Level(
            Severity.CRITICAL, 0.9, for_seconds=120, cooldown_seconds=600,
            test=AlertTest(firing=_connections(95), quiet=_connections(85), labels=PG,
                           value=0.95, quiet_value=0.85),
        ),
    ),
    team=Team.OPS,
    summary="{{ $value | humanizePercentage }} of PostgreSQL {{ $labels.target }}'s "
    "connection slots are in use",
    description=(
        "Client connections to {{ $labels.target }} on {{ $labels.instance }} use "
        "{{ $value | humanizePercentage }} of max_connections minus the reserved slots. "
        "When the pool is exhausted new sessions are refused."
    ),
    runbook=Runbook(
        meaning="Client backends are close to max_connections minus the reserved slots.",
        impact="New sessions get 'remaining connection slots are reserved' and fail.",
        diagnosis=(
            "Which databases and states: "
            "`sum by (database, state) (promfleet_postgres_connections)`",
            "Who holds them: ```sh\n"
            f"{PSQL} \"SELECT usename, application_name, client_addr, state, count(*) "
            "FROM pg_stat_activity GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC LIMIT 20\"\n```",
            "Sessions idle in a transaction for long (they hold a slot and locks): ```sh\n"
            f"{PSQL} \"SELECT pid, usename, now() - xact_start AS age FROM pg_stat_activity "
            "WHERE state LIKE 'idle in transaction%' ORDER BY age DESC LIMIT 10\"\n```",
        ),
        mitigation=(
            "Put a pooler (PgBouncer) in front, or lower the applications' pool sizes.",
            "End sessions that leaked: `SELECT pg_terminate_backend(pid)` on idle ones.",
        ),
        escalation=_ESCALATE_DB,
    ),
    panel=Panel(
        title="PostgreSQL connection slots used",
        expr=f"{PG_CONN_USAGE}{{{SEL}}}",
        unit="percentunit",
        description="Client backends over max_connections minus reserved slots.",
        legend="{{instance}} {{target}}",
    ),
    group="postgres",
)


def _oldest(seconds: float, session: str = "application") -> tuple[TestSeries, ...]:
    return (_gauge("promfleet_postgres_oldest_query_seconds",
                   (*PG, ("session", session), ("state", "active")), seconds),)


# Maintenance sessions (pg_dump, pg_basebackup, autovacuum, psql, ... as the exporter's
# sessions.maintenance-* options say) are published under session="maintenance" and left
# out here: a two-hour dump is routine, an application statement of 10 s is not.
POSTGRES_LONG_QUERY = Threshold(
    name="PostgresLongRunningQuery",
    signal="max without (state, session) (promfleet_postgres_oldest_query_seconds"
    '{state="active",session="application"})',
    op=">",
    levels=(
        # Warning, not a page: a slow statement is a cause; what it does to the service
        # (connection slots, sessions queued on its locks) pages on its own.
        Level(
            Severity.WARNING, 10, for_seconds=120, cooldown_seconds=3600,
            test=AlertTest(firing=_oldest(42), quiet=(*_oldest(2), *_oldest(7200, "maintenance")),
                           labels=PG, value=42),
        ),
    ),
    team=Team.OPS,
    summary="An application query on PostgreSQL {{ $labels.target }} has run for {{ $value }}s",
    description=(
        "For two minutes the oldest active application statement on {{ $labels.target }} "
        "({{ $labels.instance }}) has been older than 10 seconds (now {{ $value }} s). "
        "Maintenance sessions (dumps, backups, vacuum, psql) are not counted."
    ),
    runbook=Runbook(
        meaning="An application statement (not a dump, backup, vacuum or psql session) has "
        "been executing for more than 10 seconds, for two minutes.",
        impact="It holds locks and a connection; queries behind it queue; vacuum is held back.",
        diagnosis=(
            "How long: `promfleet_postgres_oldest_query_seconds{state=\"active\","
            "session=\"application\"}`",
            "Which statement and who runs it: ```sh\n"
            f"{PSQL} \"SELECT pid, usename, application_name, now() - query_start AS age, "
            "wait_event_type, left(query, 200) FROM pg_stat_activity WHERE state = 'active' "
            "ORDER BY age DESC LIMIT 5\"\n```",
            "Who waits on it: ```sh\n"
            f"{PSQL} \"SELECT pid, pg_blocking_pids(pid) FROM pg_stat_activity "
            "WHERE cardinality(pg_blocking_pids(pid)) > 0\"\n```",
        ),
        mitigation=(
            "Cancel it: `SELECT pg_cancel_backend(PID)`; terminate only if cancel fails.",
            "Give the role a statement_timeout so runaway queries end by themselves.",
            "A maintenance tool reported as an application: add its application_name to "
            "the exporter's sessions.maintenance-applications.",
        ),
        escalation=_ESCALATE_DB_SOFT,
    ),
    panel=Panel(
        title="PostgreSQL oldest query and transaction",
        expr=f"promfleet_postgres_oldest_query_seconds{{{SEL}}}",
        unit="s",
        description="Age of the oldest running statement, by state, of application and of "
        "maintenance sessions (a dump shows as maintenance).",
        legend="{{instance}} {{target}} {{session}} {{state}}",
    ),
    group="postgres",
)


def _blocks(hit_per_minute: float, read_per_minute: float) -> tuple[TestSeries, ...]:
    labels = (*PG, ("database", "app"))
    return (
        _counter("promfleet_postgres_database_blocks_hit_total", labels, hit_per_minute),
        _counter("promfleet_postgres_database_blocks_read_total", labels, read_per_minute),
    )


POSTGRES_CACHE_HIT = Threshold(
    name="PostgresCacheHitRatioLow",
    signal=PG_CACHE_HIT,
    op="<",
    levels=(
        Level(
            Severity.WARNING, 0.8, for_seconds=600, cooldown_seconds=3600,
            test=AlertTest(firing=_blocks(600, 400), quiet=_blocks(990, 10), labels=PG,
                           value=0.6, warmup_seconds=60),
        ),
    ),
    # A nearly idle database reads a handful of blocks, and the ratio of a handful is
    # noise: at least one block lookup a second (300 in the window).
    guard=(
        "and on (instance, job, target) (sum without (database) "
        "(rate(promfleet_postgres_database_blocks_hit_total[5m]))\n"
        "  + sum without (database) (rate(promfleet_postgres_database_blocks_read_total[5m])))"
        " >= 1"
    ),
    team=Team.OPS,
    summary="PostgreSQL {{ $labels.target }} finds only {{ $value | humanizePercentage }} "
    "of blocks in its cache",
    description=(
        "Over 5 minutes, {{ $value | humanizePercentage }} of the blocks {{ $labels.target }} "
        "read came from shared buffers (below 80 %): queries go to disk."
    ),
    runbook=Runbook(
        meaning="Fewer than 80 % of block reads are served from shared_buffers.",
        impact="Queries read from disk: higher latency, more I/O load.",
        diagnosis=(
            f"Which databases: `{PG_CACHE_HIT}` and "
            "`rate(promfleet_postgres_database_blocks_read_total[5m])`",
            "Which tables are read from disk: ```sh\n"
            f"{PSQL} \"SELECT relname, heap_blks_read, heap_blks_hit FROM "
            "pg_statio_user_tables ORDER BY heap_blks_read DESC LIMIT 10\"\n```",
            "The cache size: ```sh\n" f"{PSQL} 'SHOW shared_buffers'\n```",
        ),
        mitigation=(
            "Add the missing index that turns a sequential scan into an index scan.",
            "Raise shared_buffers (needs a restart) or move to a host with more memory.",
        ),
        escalation=_ESCALATE_DB_SOFT,
    ),
    panel=Panel(
        title="PostgreSQL cache hit ratio",
        expr=f"{PG_CACHE_HIT}{{{SEL}}}",
        unit="percentunit",
        description="Share of block reads served from shared buffers, over 5 minutes.",
        legend="{{instance}} {{target}}",
    ),
    group="postgres",
)


def _deadlocks(per_minute: float) -> tuple[TestSeries, ...]:
    return (_counter("promfleet_postgres_database_deadlocks_total", (*PG, ("database", "app")),
                     per_minute),)


POSTGRES_DEADLOCKS = Threshold(
    name="PostgresDeadlocks",
    signal=PG_DEADLOCKS,
    op=">",
    levels=(
        Level(
            # One deadlock is resolved by the server (one transaction retried); deadlocks
            # that keep coming for 10 minutes are a locking-order bug to fix.
            Severity.WARNING, 0, for_seconds=600, cooldown_seconds=3600,
            test=AlertTest(firing=_deadlocks(1), quiet=_deadlocks(0), labels=PG, value=5,
                           warmup_seconds=60),
        ),
    ),
    team=Team.ENGINEERING,
    summary="{{ $value }} deadlocks on PostgreSQL {{ $labels.target }} in 5 minutes",
    description=(
        "PostgreSQL {{ $labels.target }} ({{ $labels.instance }}) has kept detecting "
        "deadlocks for 10 minutes ({{ $value }} in the last 5); one transaction of each was "
        "rolled back."
    ),
    runbook=Runbook(
        meaning="Transactions waited on each other in a cycle; the server aborted one.",
        impact="The aborted transactions fail unless the application retries them.",
        diagnosis=(
            "Which databases: "
            "`increase(promfleet_postgres_database_deadlocks_total[5m]) > 0`",
            "The server log names both statements: ```sh\n"
            "journalctl -u postgresql --since '-30min' | grep -A8 'deadlock detected'\n```",
            "Locks being waited on now: ```sh\n"
            f"{PSQL} \"SELECT locktype, relation::regclass, mode, pid FROM pg_locks "
            "WHERE NOT granted\"\n```",
        ),
        mitigation=(
            "Make the application take row locks in one consistent order.",
            "Keep transactions short; retry on SQLSTATE 40P01.",
        ),
        escalation="Open a ticket for the owning engineering team with the logged statements.",
    ),
    panel=Panel(
        title="PostgreSQL deadlocks",
        expr=f"{PG_DEADLOCKS}{{{SEL}}}",
        unit="short",
        description="Deadlocks detected in the last 5 minutes.",
        legend="{{instance}} {{target}}",
    ),
    group="postgres",
)


def _lag(seconds: float) -> tuple[TestSeries, ...]:
    return (_gauge("promfleet_postgres_replication_lag_seconds", PG, seconds),)


POSTGRES_REPLICATION_LAG = Threshold(
    name="PostgresReplicationLag",
    category=Category.SYSTEM_OUTAGE,
    signal="promfleet_postgres_replication_lag_seconds",
    op=">",
    levels=(
        Level(
            Severity.WARNING, 30, for_seconds=300, cooldown_seconds=3600,
            test=AlertTest(firing=_lag(60), quiet=_lag(1), labels=PG, value=60),
        ),
        Level(
            Severity.CRITICAL, 300, for_seconds=300, cooldown_seconds=1800,
            test=AlertTest(firing=_lag(600), quiet=_lag(60), labels=PG, value=600,
                           quiet_value=60),
        ),
    ),
    team=Team.OPS,
    summary="Standby {{ $labels.target }} replays WAL {{ $value }}s behind its primary",
    description=(
        "The standby {{ $labels.target }} ({{ $labels.instance }}) is behind: its last "
        "replayed transaction is {{ $value }} seconds old, and it either has WAL it has not "
        "replayed or its WAL receiver is not streaming (then nothing new can arrive)."
    ),
    runbook=Runbook(
        meaning="The standby applies changes late: reads from it return stale data.",
        impact="Stale reads; a failover now would lose or delay the unreplayed changes.",
        diagnosis=(
            "How far behind, in bytes too: `promfleet_postgres_replication_lag_bytes`",
            "On the standby: ```sh\n"
            f"{PSQL} \"SELECT now() - pg_last_xact_replay_timestamp(), "
            "pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()\"\n```",
            "On the primary: ```sh\n"
            f"{PSQL} \"SELECT application_name, state, write_lag, flush_lag, replay_lag "
            "FROM pg_stat_replication\"\n```",
        ),
        mitigation=(
            "Cancel long queries on the standby that conflict with replay.",
            "Relieve the standby's disk or CPU; rebuild it if it cannot catch up.",
        ),
        escalation=_ESCALATE_DB,
    ),
    panel=Panel(
        title="PostgreSQL replication lag",
        expr=f"promfleet_postgres_replication_lag_seconds{{{SEL}}}",
        unit="s",
        description="On standbys: age of the last replayed transaction (0 when caught up "
        "and streaming).",
        legend="{{instance}} {{target}}",
        expect_data=False,
    ),
    group="postgres",
)


def _idle_tx(seconds: float) -> tuple[TestSeries, ...]:
    return (_gauge("promfleet_postgres_oldest_transaction_seconds",
                   (*PG, ("session", "maintenance"), ("state", "idle_in_transaction")), seconds),)


POSTGRES_IDLE_IN_TX = Threshold(
    name="PostgresIdleInTransaction",
    # Every session, maintenance ones too: a BEGIN left open in psql holds locks and
    # vacuum back as much as an application's does.
    signal="max without (state, session) (promfleet_postgres_oldest_transaction_seconds"
    '{state=~"idle_in_transaction|idle_in_transaction_aborted"})',
    op=">",
    levels=(
        Level(
            Severity.WARNING, 300, for_seconds=60, cooldown_seconds=3600,
            test=AlertTest(firing=_idle_tx(900), quiet=_idle_tx(5), labels=PG, value=900),
        ),
    ),
    team=Team.ENGINEERING,
    summary="A session on PostgreSQL {{ $labels.target }} has sat idle in a transaction "
    "for {{ $value }}s",
    description=(
        "A client of {{ $labels.target }} ({{ $labels.instance }}) opened a transaction "
        "{{ $value }} seconds ago and stopped sending statements without ending it."
    ),
    runbook=Runbook(
        meaning="A session began a transaction and has been idle inside it for minutes.",
        impact="It holds locks and a connection, and stops vacuum from removing dead rows.",
        diagnosis=(
            "How many: `promfleet_postgres_connections{state=~\"idle_in_transaction.*\"}`",
            "Which sessions: ```sh\n"
            f"{PSQL} \"SELECT pid, usename, application_name, now() - xact_start AS age, "
            "left(query, 200) AS last_query FROM pg_stat_activity "
            "WHERE state LIKE 'idle in transaction%' ORDER BY age DESC\"\n```",
        ),
        mitigation=(
            "Terminate the session: `SELECT pg_terminate_backend(PID)`.",
            "Set idle_in_transaction_session_timeout for the application's role.",
        ),
        escalation="Open a ticket for the application owning the session (application_name).",
    ),
    panel=Panel(
        title="PostgreSQL oldest transaction by state",
        expr=f"promfleet_postgres_oldest_transaction_seconds{{{SEL}}}",
        unit="s",
        description="Age of the oldest open transaction, by state and session kind.",
        legend="{{instance}} {{target}} {{session}} {{state}}",
    ),
    group="postgres",
)

TABLE = (*PG, ("table", "public.orders"))


def _tuples(live: float, dead: float) -> tuple[TestSeries, ...]:
    return (
        _gauge("promfleet_postgres_table_live_tuples", TABLE, live),
        _gauge("promfleet_postgres_table_dead_tuples", TABLE, dead),
    )


POSTGRES_DEAD_TUPLES = Threshold(
    name="PostgresDeadTuplesHigh",
    signal=PG_DEAD_RATIO,
    op=">",
    guard="and on (instance, job, target, table) promfleet_postgres_table_dead_tuples > 10000",
    levels=(
        Level(
            Severity.WARNING, 0.2, for_seconds=1800, cooldown_seconds=14400,
            test=AlertTest(firing=_tuples(600_000, 400_000), quiet=_tuples(950_000, 50_000),
                           labels=TABLE, value=0.4),
        ),
    ),
    team=Team.OPS,
    summary="{{ $value | humanizePercentage }} of table {{ $labels.table }}'s rows are dead",
    description=(
        "Table {{ $labels.table }} on {{ $labels.target }} ({{ $labels.instance }}) holds "
        "{{ $value | humanizePercentage }} dead rows: (auto)vacuum is not keeping up."
    ),
    runbook=Runbook(
        meaning="More than 20 % of a large table's rows are dead versions vacuum has not removed.",
        impact="The table and its indexes bloat; scans slow down; disk fills.",
        diagnosis=(
            "Since the last vacuum: `promfleet_postgres_table_vacuum_age_seconds`",
            "Vacuum activity and what blocks it: ```sh\n"
            f"{PSQL} \"SELECT relname, n_dead_tup, last_autovacuum FROM pg_stat_user_tables "
            "ORDER BY n_dead_tup DESC LIMIT 10\"\n"
            f"{PSQL} \"SELECT pid, now() - xact_start FROM pg_stat_activity "
            "WHERE backend_xmin IS NOT NULL ORDER BY 2 DESC LIMIT 5\"\n```",
        ),
        mitigation=(
            "End the long transaction that holds the xmin horizon back, then VACUUM the table.",
            "Tune the table's autovacuum_vacuum_scale_factor lower.",
        ),
        escalation=_ESCALATE_DB_SOFT,
    ),
    panel=Panel(
        title="PostgreSQL dead tuple ratio (largest tables)",
        expr=f"{PG_DEAD_RATIO}{{{SEL}}}",
        unit="percentunit",
        description="Share of dead rows in the largest tables of the monitored database.",
        legend="{{instance}} {{target}} {{table}}",
        expect_data=False,
    ),
    group="postgres",
)

def _lock_wait(seconds: float) -> tuple[TestSeries, ...]:
    return (
        _gauge("promfleet_postgres_lock_wait_oldest_seconds", PG, seconds),
        _gauge("promfleet_postgres_lock_waiting_sessions", PG, 3 if seconds else 0),
    )


POSTGRES_LOCK_WAIT = Threshold(
    name="PostgresLockWaits",
    signal="promfleet_postgres_lock_wait_oldest_seconds",
    op=">",
    levels=(
        # A wait of a minute that keeps recurring for five is a queue behind a lock holder
        # (a migration's ALTER, a forgotten transaction), not one unlucky row. Warning: the
        # outage it can turn into (slots used up by waiters) pages through
        # PostgresConnectionsHigh.
        Level(
            Severity.WARNING, 60, for_seconds=300, cooldown_seconds=3600,
            test=AlertTest(firing=_lock_wait(400), quiet=_lock_wait(5), labels=PG, value=400),
        ),
    ),
    team=Team.OPS,
    summary="Sessions on PostgreSQL {{ $labels.target }} have waited {{ $value }}s for a lock",
    description=(
        "For five minutes a session on {{ $labels.target }} ({{ $labels.instance }}) has "
        "been waiting more than a minute for a lock (the longest wait is {{ $value }} s). "
        "Advisory locks are not counted."
    ),
    runbook=Runbook(
        meaning="Sessions queue for a heavyweight lock someone else holds.",
        impact="The waiting statements stall; their clients time out; waiters pile up and "
        "use connection slots.",
        diagnosis=(
            "How many wait: `promfleet_postgres_lock_waiting_sessions` and by mode: "
            "`promfleet_postgres_locks_waiting > 0`",
            "Who blocks whom: ```sh\n"
            f"{PSQL} \"SELECT pid, pg_blocking_pids(pid) AS blocked_by, usename, "
            "application_name, now() - query_start AS age, left(query, 120) FROM "
            "pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0\"\n```",
            "What the blockers are doing: ```sh\n"
            f"{PSQL} \"SELECT pid, state, now() - xact_start AS xact_age, left(query, 200) "
            "FROM pg_stat_activity WHERE pid IN (SELECT unnest(pg_blocking_pids(pid)) "
            "FROM pg_stat_activity)\"\n```",
        ),
        mitigation=(
            "Cancel or terminate the blocker (`SELECT pg_terminate_backend(BLOCKER_PID)`) "
            "when it is an idle transaction or a runaway statement.",
            "Run DDL with a lock_timeout so a migration fails instead of queueing everyone.",
        ),
        escalation=_ESCALATE_DB_SOFT,
    ),
    panel=Panel(
        title="PostgreSQL longest lock wait",
        expr=f"promfleet_postgres_lock_wait_oldest_seconds{{{SEL}}}",
        unit="s",
        description="How long the longest current lock wait has lasted (advisory left out).",
        legend="{{instance}} {{target}}",
    ),
    group="postgres",
)


def _receiver(streaming: int) -> tuple[TestSeries, ...]:
    return (_gauge("promfleet_postgres_wal_receiver_streaming", PG, streaming),)


POSTGRES_WAL_RECEIVER = Threshold(
    name="PostgresWalReceiverDown",
    category=Category.SYSTEM_OUTAGE,
    signal="promfleet_postgres_wal_receiver_streaming",
    op="==",
    levels=(
        # Critical: the standby falls behind silently (nothing reaches it to replay), its
        # readers get ever older data and a failover to it would lose everything since.
        # Five minutes ride out a primary restart.
        Level(
            Severity.CRITICAL, 0, for_seconds=300, cooldown_seconds=1800,
            test=AlertTest(firing=_receiver(0), quiet=_receiver(1), labels=PG, value=0),
        ),
    ),
    team=Team.OPS,
    summary="Standby {{ $labels.target }} on {{ $labels.instance }} receives no WAL",
    description=(
        "The WAL receiver of standby {{ $labels.target }} ({{ $labels.instance }}) has not "
        "been streaming from its primary for five minutes: the standby stops advancing."
    ),
    runbook=Runbook(
        meaning="The standby's WAL receiver is not connected to (streaming from) the primary.",
        impact="Reads from the standby grow stale; a failover to it loses the writes since.",
        diagnosis=(
            "Since when, and the lag it builds: `promfleet_postgres_wal_receiver_streaming` "
            "and `promfleet_postgres_replication_lag_seconds`",
            "On the standby: ```sh\n"
            f"{PSQL} \"SELECT status, sender_host, last_msg_receipt_time, "
            "latest_end_lsn FROM pg_stat_wal_receiver\"\n"
            "journalctl -u postgresql --since '-15min' | grep -iE 'wal receiver|replication'\n```",
            "On the primary (is the standby listed, is its slot still there): ```sh\n"
            f"{PSQL} \"SELECT application_name, state FROM pg_stat_replication\"\n"
            f"{PSQL} \"SELECT slot_name, active, wal_status FROM pg_replication_slots\"\n```",
        ),
        mitigation=(
            "Restore the network path or the primary; the receiver reconnects by itself.",
            "If the primary removed WAL the standby needs (wal_status lost), rebuild the "
            "standby with pg_basebackup.",
        ),
        escalation=_ESCALATE_DB,
    ),
    panel=Panel(
        title="PostgreSQL standby WAL receiver streaming",
        expr=f"promfleet_postgres_wal_receiver_streaming{{{SEL}}}",
        unit="short",
        description="On standbys: 1 while the WAL receiver streams from the primary.",
        legend="{{instance}} {{target}}",
        kind="stat",
        expect_data=False,
    ),
    group="postgres",
)

SLOT = (*PG, ("slot", "standby_b"))
PG_SLOT_INACTIVE = (
    "(promfleet_postgres_replication_slot_retained_bytes"
    " and on (instance, job, target, slot) (promfleet_postgres_replication_slot_active == 0))"
)
GIB = 1024**3


def _slot(active: int, retained: float, data: float = 100 * GIB) -> tuple[TestSeries, ...]:
    return (
        _gauge("promfleet_postgres_replication_slot_active",
               (*SLOT, ("type", "physical")), active),
        _gauge("promfleet_postgres_replication_slot_retained_bytes", SLOT, retained),
        _gauge("promfleet_postgres_database_size_bytes", (*PG, ("database", "app")), data),
    )


POSTGRES_SLOT_INACTIVE = Threshold(
    name="PostgresReplicationSlotInactive",
    signal=PG_SLOT_INACTIVE,
    op=">",
    levels=(
        Level(
            Severity.WARNING, GIB, for_seconds=900, cooldown_seconds=14400,
            test=AlertTest(firing=_slot(0, 3 * GIB),
                           quiet=(*_slot(1, 3 * GIB)[:1], *_slot(0, 0.2 * GIB)[1:]),
                           labels=SLOT, value=3 * GIB),
        ),
    ),
    team=Team.OPS,
    summary="Replication slot {{ $labels.slot }} on {{ $labels.target }} is inactive and "
    "holds {{ $value | humanize }}B of WAL",
    description=(
        "Nothing has consumed slot {{ $labels.slot }} on {{ $labels.target }} "
        "({{ $labels.instance }}) for 15 minutes and it keeps {{ $value | humanize }}B "
        "of WAL from being removed; it grows with every write."
    ),
    runbook=Runbook(
        meaning="A replication slot has no consumer and retains more than 1 GiB of WAL.",
        impact="pg_wal grows until the disk is full, when the primary stops.",
        diagnosis=(
            f"Growth: `{PG_SLOT_INACTIVE}`",
            "The slots: ```sh\n"
            f"{PSQL} \"SELECT slot_name, slot_type, active, wal_status, "
            "pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)) "
            "FROM pg_replication_slots\"\n```",
        ),
        mitigation=(
            "Bring the consumer (standby, CDC job) back, or drop the slot if it is retired: "
            "`SELECT pg_drop_replication_slot('NAME')`.",
            "Set max_slot_wal_keep_size so a lost consumer cannot fill the disk.",
        ),
        escalation=_ESCALATE_DB_SOFT,
    ),
    panel=Panel(
        title="PostgreSQL WAL retained by inactive replication slots",
        expr=(
            f"promfleet_postgres_replication_slot_retained_bytes{{{SEL}}}"
            " and on (instance, job, target, slot) "
            f"(promfleet_postgres_replication_slot_active{{{SEL}}} == 0)"
        ),
        unit="bytes",
        description="WAL each replication slot without a consumer keeps from being removed "
        "(what the alert compares; an active slot's retained WAL is replication lag).",
        legend="{{instance}} {{target}} {{slot}}",
        expect_data=False,
    ),
    group="postgres",
)

PG_SLOT_VS_DATA = (
    f"{PG_SLOT_INACTIVE}\n"
    "/ on (instance, job, target) group_left ()\n"
    "sum by (instance, job, target) (promfleet_postgres_database_size_bytes)"
)

POSTGRES_SLOT_WAL_EXCEEDS_DATA = Threshold(
    name="PostgresReplicationSlotWalExceedsData",
    category=Category.SYSTEM_OUTAGE,
    signal=PG_SLOT_VS_DATA,
    op=">",
    # Small clusters have small data: below 5 GiB retained, the warning is enough.
    guard=f"and on (instance, job, target, slot) "
    f"promfleet_postgres_replication_slot_retained_bytes > {5 * GIB}",
    levels=(
        # Critical: a disk sized for the data (usually 1.5 to 2 times it) is about full
        # once the WAL an abandoned slot retains outgrows the data itself, and a full
        # pg_wal stops the primary.
        Level(
            Severity.CRITICAL, 1, for_seconds=600, cooldown_seconds=1800,
            test=AlertTest(firing=_slot(0, 60 * GIB, 40 * GIB),
                           quiet=_slot(0, 60 * GIB, 100 * GIB), labels=SLOT, value=1.5),
        ),
    ),
    team=Team.OPS,
    summary="Inactive slot {{ $labels.slot }} on {{ $labels.target }} retains more WAL than "
    "the databases hold",
    description=(
        "Slot {{ $labels.slot }} on {{ $labels.target }} ({{ $labels.instance }}) has no "
        "consumer and retains {{ $value | humanizePercentage }} of the databases' size in "
        "WAL: the disk fills and the primary stops when it is full."
    ),
    runbook=Runbook(
        meaning="WAL kept for an inactive replication slot has outgrown the data itself.",
        impact="The data disk fills; when pg_wal cannot grow the primary shuts down.",
        diagnosis=(
            f"Ratio and bytes: `{PG_SLOT_VS_DATA}`",
            "Where pg_wal lives (then check the space left there on the host, df -h): "
            f"```sh\n{PSQL} 'SHOW data_directory'\n```",
            "The slot: ```sh\n"
            f"{PSQL} \"SELECT slot_name, active, wal_status, safe_wal_size FROM "
            "pg_replication_slots\"\n```",
        ),
        mitigation=(
            "Drop the slot unless its consumer comes back within minutes: "
            "`SELECT pg_drop_replication_slot('NAME')` (the consumer then needs a rebuild).",
            "Set max_slot_wal_keep_size so this cannot happen again.",
        ),
        escalation=_ESCALATE_DB,
    ),
    panel=Panel(
        title="PostgreSQL inactive slot WAL over data size",
        expr=f"(promfleet_postgres_replication_slot_retained_bytes{{{SEL}}}\n"
        "and on (instance, job, target, slot)\n"
        f"(promfleet_postgres_replication_slot_active{{{SEL}}} == 0))\n"
        "/ on (instance, job, target) group_left ()\n"
        f"sum by (instance, job, target) (promfleet_postgres_database_size_bytes{{{SEL}}})",
        unit="percentunit",
        description="WAL retained by inactive slots over the size of all databases.",
        legend="{{instance}} {{target}} {{slot}}",
        expect_data=False,
    ),
    group="postgres",
)


def _role(flips: bool) -> tuple[TestSeries, ...]:
    values = " ".join("1" if i % 2 == 0 or not flips else "0" for i in range(41))
    return (TestSeries(_gauge("promfleet_postgres_in_recovery", PG, 0).series, values),)


POSTGRES_ROLE_CHANGE = Threshold(
    name="PostgresRoleChanged",
    signal="changes(promfleet_postgres_in_recovery[10m])",
    op=">",
    levels=(
        Level(
            Severity.WARNING, 0, for_seconds=0, cooldown_seconds=3600,
            test=AlertTest(firing=_role(True), quiet=_role(False), labels=PG, value=1,
                           warmup_seconds=60),
        ),
    ),
    single_event=(
        "A primary/standby role change is a failover or promotion that has already "
        "happened; each one needs a check that the old primary is fenced and clients follow."
    ),
    team=Team.OPS,
    summary="PostgreSQL {{ $labels.target }} on {{ $labels.instance }} changed role",
    description=(
        "{{ $labels.target }} ({{ $labels.instance }}) switched between primary and standby "
        "in the last 10 minutes (a promotion or a failover)."
    ),
    runbook=Runbook(
        meaning="pg_is_in_recovery() changed: a standby was promoted or a primary became "
        "a standby.",
        impact="Writers must follow the new primary; two primaries at once split the data.",
        diagnosis=(
            "The roles now: `promfleet_postgres_in_recovery` (1 standby, 0 primary)",
            "On each server: ```sh\n"
            f"{PSQL} \"SELECT pg_is_in_recovery(), pg_postmaster_start_time()\"\n"
            "journalctl -u postgresql --since '-30min' | grep -iE 'promot|recovery|timeline'\n```",
        ),
        mitigation=(
            "If the promotion was not planned: make sure the old primary is stopped or "
            "fenced, then point clients at the new primary.",
            "Rebuild the old primary as a standby (pg_rewind or pg_basebackup).",
        ),
        escalation=_ESCALATE_DB,
    ),
    panel=Panel(
        title="PostgreSQL in recovery (standby)",
        expr=f"promfleet_postgres_in_recovery{{{SEL}}}",
        unit="short",
        description="1 on a standby, 0 on a primary; a step is a role change.",
        legend="{{instance}} {{target}}",
    ),
    group="postgres",
)


def _xid(age: float) -> tuple[TestSeries, ...]:
    return (
        _gauge("promfleet_postgres_database_xid_age", (*PG, ("database", "app")), age),
        _gauge("promfleet_postgres_database_xid_age", (*PG, ("database", "postgres")), 2e8),
    )


POSTGRES_XID_WRAPAROUND = Threshold(
    name="PostgresTransactionIdWraparound",
    category=Category.SYSTEM_OUTAGE,
    signal="max without (database) (promfleet_postgres_database_xid_age)",
    op=">",
    levels=(
        # autovacuum_freeze_max_age (2e8) forces anti-wraparound vacuums long before 1e9:
        # five times that age means they have been failing (a long transaction, an
        # abandoned slot or prepared transaction holds the horizon back).
        Level(
            Severity.WARNING, 1e9, for_seconds=900, cooldown_seconds=14400,
            test=AlertTest(firing=_xid(1.2e9), quiet=_xid(3e8), labels=PG, value=1.2e9),
        ),
        # Just below vacuum_failsafe_age (1.6e9); some 6.5e8 transactions remain before the
        # server refuses writes at about 2.1e9, and freezing a large table takes hours.
        Level(
            Severity.CRITICAL, 1.5e9, for_seconds=900, cooldown_seconds=3600,
            test=AlertTest(firing=_xid(1.8e9), quiet=_xid(1.2e9), labels=PG, value=1.8e9,
                           quiet_value=1.2e9),
        ),
    ),
    team=Team.OPS,
    summary="PostgreSQL {{ $labels.target }} is {{ $value | humanize }} transactions into "
    "its wraparound horizon",
    description=(
        "The oldest unfrozen transaction ID in a database of {{ $labels.target }} "
        "({{ $labels.instance }}) is {{ $value | humanize }} transactions old; at about 2.1 "
        "billion the server refuses writes until it is vacuumed."
    ),
    runbook=Runbook(
        meaning="Vacuum has not frozen old rows: age(datfrozenxid) is far past "
        "autovacuum_freeze_max_age.",
        impact="At about 2.1 billion the server stops assigning transaction IDs: no writes.",
        diagnosis=(
            "Which database: `promfleet_postgres_database_xid_age` and which tables: "
            "`promfleet_postgres_table_xid_age`",
            "What holds the horizon back: ```sh\n"
            f"{PSQL} \"SELECT pid, now() - xact_start, backend_xmin FROM pg_stat_activity "
            "WHERE backend_xmin IS NOT NULL ORDER BY age(backend_xmin) DESC LIMIT 5\"\n"
            f"{PSQL} \"SELECT gid, prepared FROM pg_prepared_xacts\"\n"
            f"{PSQL} \"SELECT slot_name, active, xmin, catalog_xmin FROM "
            "pg_replication_slots\"\n```",
        ),
        mitigation=(
            "End what holds the horizon (long transaction, prepared transaction, abandoned "
            "slot), then `VACUUM (FREEZE, VERBOSE)` the oldest tables first.",
        ),
        escalation=_ESCALATE_DB,
    ),
    panel=Panel(
        title="PostgreSQL transaction ID age",
        expr=f"promfleet_postgres_database_xid_age{{{SEL}}}",
        unit="short",
        description="Transactions since each database's datfrozenxid (writes stop at ~2.1e9).",
        legend="{{instance}} {{target}} {{database}}",
    ),
    group="postgres",
)

# --- Redis ---------------------------------------------------------------------------

REDIS_DOWN = Threshold(
    name="RedisDown",
    category=Category.SYSTEM_OUTAGE,
    signal="promfleet_redis_up",
    op="==",
    levels=(
        Level(
            Severity.CRITICAL, 0, for_seconds=60, cooldown_seconds=1800,
            test=AlertTest(firing=_up("promfleet_redis_up", RD, 0),
                           quiet=_up("promfleet_redis_up", RD, 1), labels=RD, value=0),
        ),
    ),
    team=Team.OPS,
    summary="Redis {{ $labels.target }} on {{ $labels.instance }} does not answer",
    description=(
        "The exporter could not connect to Redis target {{ $labels.target }} or get INFO "
        "back within the scrape deadline for a minute."
    ),
    runbook=Runbook(
        meaning="The exporter cannot reach Redis or Redis does not answer in time.",
        impact="Caches miss (load moves to the database); queues and sessions stored in it fail.",
        diagnosis=(
            "Since when: `promfleet_redis_up == 0`",
            f"Does it answer: ```sh\n{RCLI} PING\n{RCLI} INFO server | head\n```",
            "On the Redis host: ```sh\nsystemctl status redis-server; "
            "journalctl -u redis-server --since '-15min' | tail -50\n```",
        ),
        mitigation=(
            "Start the server; if it was killed for memory (OOM), lower maxmemory first.",
            "Promote a replica when the master cannot come back quickly.",
        ),
        escalation=_ESCALATE_DB,
    ),
    panel=Panel(
        title="Redis up",
        expr=f"promfleet_redis_up{{{SEL}}}",
        unit="short",
        description="1 when the exporter reached Redis and got INFO back in time.",
        legend="{{instance}} {{target}}",
        kind="stat",
    ),
    group="redis",
)


def _memory(used: float) -> tuple[TestSeries, ...]:
    return (
        _gauge("promfleet_redis_memory_used_bytes", RD, used),
        _gauge("promfleet_redis_memory_max_bytes", RD, 1000),
    )


REDIS_MEMORY = Threshold(
    name="RedisMemoryHigh",
    signal=RD_MEMORY,
    op=">",
    levels=(
        Level(
            Severity.WARNING, 0.9, for_seconds=300, cooldown_seconds=3600,
            test=AlertTest(firing=_memory(950), quiet=_memory(500), labels=RD, value=0.95),
        ),
    ),
    team=Team.OPS,
    summary="Redis {{ $labels.target }} uses {{ $value | humanizePercentage }} of its "
    "memory limit",
    description=(
        "Redis {{ $labels.target }} ({{ $labels.instance }}) has allocated "
        "{{ $value | humanizePercentage }} of its maxmemory, or of the host's memory where "
        "no maxmemory is set: it will evict keys, refuse writes, or be killed by the OOM killer."
    ),
    runbook=Runbook(
        meaning="Memory used is above 90 % of maxmemory, or of the host's memory when "
        "maxmemory is 0 (no limit).",
        impact="Depending on maxmemory-policy, keys are evicted or writes fail with OOM; with "
        "no maxmemory the kernel kills Redis (a fork for a save doubles the risk).",
        diagnosis=(
            "Growth: `promfleet_redis_memory_used_bytes` and "
            "`promfleet_redis_db_keys`",
            f"Where the memory goes: ```sh\n{RCLI} INFO memory\n{RCLI} MEMORY STATS\n"
            f"{RCLI} --bigkeys\n```",
            f"The policy: ```sh\n{RCLI} CONFIG GET maxmemory-policy\n```",
        ),
        mitigation=(
            "Set TTLs on keys that have none; delete keys of retired features.",
            "Raise maxmemory if the host has room (`promfleet_redis_memory_system_bytes`).",
            "With no maxmemory: set one below the host's memory (and a policy), so Redis "
            "evicts or refuses writes instead of being killed.",
        ),
        escalation=_ESCALATE_DB_SOFT,
    ),
    panel=Panel(
        title="Redis memory used of its limit",
        expr=f"{RD_MEMORY}{{{SEL}}}",
        unit="percentunit",
        description="Memory allocated by Redis over its maxmemory, or over the host's memory "
        "where no maxmemory is set.",
        legend="{{instance}} {{target}}",
    ),
    group="redis",
)


def _evicted(per_minute: float) -> tuple[TestSeries, ...]:
    return (_counter("promfleet_redis_evicted_keys_total", RD, per_minute),)


REDIS_EVICTIONS = Threshold(
    name="RedisEvictingKeys",
    signal=RD_EVICTIONS,
    op=">",
    levels=(
        Level(
            Severity.WARNING, 0, for_seconds=300, cooldown_seconds=3600,
            test=AlertTest(firing=_evicted(60), quiet=_evicted(0), labels=RD, value=1,
                           warmup_seconds=60),
        ),
    ),
    team=Team.OPS,
    summary="Redis {{ $labels.target }} evicts {{ $value }} keys/s",
    description=(
        "Redis {{ $labels.target }} ({{ $labels.instance }}) reached maxmemory and evicts "
        "{{ $value }} keys per second to make room."
    ),
    runbook=Runbook(
        meaning="Redis is full and removes keys to store new ones.",
        impact="Data the applications expect is gone: cache misses, or lost data if not a cache.",
        diagnosis=(
            f"How fast: `{RD_EVICTIONS}`",
            f"Memory and policy: ```sh\n{RCLI} INFO memory | grep -E "
            "'used_memory:|maxmemory'\n"
            f"{RCLI} INFO stats | grep evicted_keys\n```",
        ),
        mitigation=(
            "Raise maxmemory or shard; shorten TTLs of large keys.",
            "If Redis holds data that must not be lost, set maxmemory-policy noeviction.",
        ),
        escalation=_ESCALATE_DB_SOFT,
    ),
    panel=Panel(
        title="Redis evictions and expirations",
        expr=f"rate(promfleet_redis_evicted_keys_total{{{SEL}}}[$__rate_interval])",
        unit="ops",
        description="Keys evicted per second because of maxmemory.",
        legend="{{instance}} {{target}}",
    ),
    group="redis",
)


def _rejected(per_minute: float) -> tuple[TestSeries, ...]:
    return (_counter("promfleet_redis_rejected_connections_total", RD, per_minute),)


REDIS_REJECTED = Threshold(
    name="RedisRejectedConnections",
    category=Category.SYSTEM_OUTAGE,
    signal=RD_REJECTED,
    op=">",
    levels=(
        # One refused connection is a client's retry; refusals that keep coming for ten
        # minutes are worked within the hour.
        Level(
            Severity.WARNING, 0, for_seconds=600, cooldown_seconds=3600,
            test=AlertTest(firing=_rejected(2), quiet=_rejected(0), labels=RD, value=4,
                           warmup_seconds=60),
        ),
        # A page when clients are turned away at a steady 0.1/s or more for five minutes:
        # they are failing, not retrying once.
        Level(
            Severity.CRITICAL, 12, for_seconds=300, cooldown_seconds=1800,
            test=AlertTest(firing=_rejected(60), quiet=_rejected(2), labels=RD, value=120,
                           warmup_seconds=60, quiet_value=4),
        ),
    ),
    team=Team.OPS,
    summary="Redis {{ $labels.target }} refused {{ $value }} connections in 2 minutes",
    description=(
        "Redis {{ $labels.target }} ({{ $labels.instance }}) is at maxclients and keeps "
        "refusing new connections ({{ $value }} in the last 2 minutes)."
    ),
    runbook=Runbook(
        meaning="All maxclients slots were taken; new clients were turned away.",
        impact="The refused clients fail their requests.",
        diagnosis=(
            "Clients against the limit: `promfleet_redis_connected_clients` and "
            "`promfleet_redis_max_clients`",
            f"Who is connected: ```sh\n{RCLI} INFO clients\n"
            f"{RCLI} CLIENT LIST | sed -E 's/^.* addr=([^ ]*):[0-9]+ .* name=([^ ]*) .*$/\\1 \\2/'"
            " | sort | uniq -c | sort -rn | head\n```",
        ),
        mitigation=(
            "Fix the client that leaks connections, or lower its pool size.",
            "Raise maxclients (and the process's open file limit).",
        ),
        escalation=_ESCALATE_DB,
    ),
    panel=Panel(
        title="Redis clients",
        expr=f"promfleet_redis_connected_clients{{{SEL}}}",
        unit="short",
        description="Connected clients (compare with maxclients).",
        legend="{{instance}} {{target}}",
        alert_thresholds=False,
    ),
    group="redis",
)


def _lookups(hits: float, misses: float) -> tuple[TestSeries, ...]:
    return (
        _counter("promfleet_redis_keyspace_hits_total", RD, hits),
        _counter("promfleet_redis_keyspace_misses_total", RD, misses),
    )


REDIS_HIT_RATIO = Threshold(
    name="RedisHitRatioLow",
    signal=RD_HIT,
    op="<",
    levels=(
        Level(
            Severity.WARNING, 0.8, for_seconds=900, cooldown_seconds=3600,
            test=AlertTest(firing=_lookups(50, 50), quiet=_lookups(95, 5), labels=RD,
                           value=0.5, warmup_seconds=60),
        ),
    ),
    # A cache looked up a few times a minute has no meaningful hit ratio: at least one
    # lookup every ten seconds (30 in the window).
    guard=(
        "and on (instance, job, target) (rate(promfleet_redis_keyspace_hits_total[5m])"
        " + rate(promfleet_redis_keyspace_misses_total[5m])) >= 0.1"
    ),
    team=Team.ENGINEERING,
    summary="Only {{ $value | humanizePercentage }} of lookups hit on Redis {{ $labels.target }}",
    description=(
        "Over 5 minutes, {{ $value | humanizePercentage }} of key lookups on "
        "{{ $labels.target }} ({{ $labels.instance }}) found their key (below 80 %)."
    ),
    runbook=Runbook(
        meaning="Most lookups miss: the cache does not hold what the applications ask for.",
        impact="Load moves to the database behind the cache; latency rises.",
        diagnosis=(
            f"The ratio and the evictions: `{RD_HIT}` and `{RD_EVICTIONS}`",
            f"Counters: ```sh\n{RCLI} INFO stats | grep -E 'keyspace_(hits|misses)'\n```",
        ),
        mitigation=(
            "If keys are evicted, give Redis more memory.",
            "Check the application's key names and TTLs after a recent deployment.",
        ),
        escalation="Open a ticket for the engineering team owning the cache's clients.",
    ),
    panel=Panel(
        title="Redis hit ratio",
        expr=f"{RD_HIT}{{{SEL}}}",
        unit="percentunit",
        description="Share of key lookups that found their key, over 5 minutes.",
        legend="{{instance}} {{target}}",
        expect_data=False,
    ),
    group="redis",
)

REDIS_LINK_DOWN = Threshold(
    name="RedisReplicationLinkDown",
    category=Category.SYSTEM_OUTAGE,
    signal="promfleet_redis_master_link_up",
    op="==",
    levels=(
        Level(
            Severity.CRITICAL, 0, for_seconds=60, cooldown_seconds=1800,
            test=AlertTest(firing=_up("promfleet_redis_master_link_up", RD, 0),
                           quiet=_up("promfleet_redis_master_link_up", RD, 1), labels=RD,
                           value=0),
        ),
    ),
    team=Team.OPS,
    summary="Redis replica {{ $labels.target }} lost its link to the master",
    description=(
        "The replica {{ $labels.target }} ({{ $labels.instance }}) reports "
        "master_link_status down: it serves stale data and cannot take over cleanly."
    ),
    runbook=Runbook(
        meaning="The replica is not connected to its master.",
        impact="Reads from it are stale; a failover to it would lose writes.",
        diagnosis=(
            "Since when: `promfleet_redis_master_last_io_seconds`",
            f"On the replica: ```sh\n{RCLI} INFO replication\n```",
            "On the master (is it up, does it list the replica): ```sh\n"
            "redis-cli -h MASTER -p PORT INFO replication\n```",
        ),
        mitigation=(
            "Restore the network path or the master; the replica resyncs by itself.",
            "If the master is gone for good, promote a replica (REPLICAOF NO ONE).",
        ),
        escalation=_ESCALATE_DB,
    ),
    panel=Panel(
        title="Redis replica link",
        expr=f"promfleet_redis_master_link_up{{{SEL}}}",
        unit="short",
        description="On replicas: 1 when the link to the master is up.",
        legend="{{instance}} {{target}}",
        expect_data=False,
    ),
    group="redis",
)

REDIS_RDB_FAILING = Threshold(
    name="RedisRdbSaveFailing",
    signal="promfleet_redis_rdb_last_bgsave_ok",
    op="==",
    levels=(
        Level(
            Severity.WARNING, 0, for_seconds=60, cooldown_seconds=3600,
            test=AlertTest(firing=_up("promfleet_redis_rdb_last_bgsave_ok", RD, 0),
                           quiet=_up("promfleet_redis_rdb_last_bgsave_ok", RD, 1), labels=RD,
                           value=0),
        ),
    ),
    team=Team.OPS,
    summary="Redis {{ $labels.target }}'s last RDB save failed",
    description=(
        "The last background save of {{ $labels.target }} ({{ $labels.instance }}) failed. "
        "Where save points are configured and stop-writes-on-bgsave-error is on (the "
        "defaults), Redis now refuses writes."
    ),
    runbook=Runbook(
        meaning="BGSAVE failed: the snapshot on disk is old.",
        impact="A restart loses the changes since the last good save; writes may be refused.",
        diagnosis=(
            "Since when: `time() - promfleet_redis_rdb_last_save_timestamp_seconds`",
            f"Why: ```sh\n{RCLI} INFO persistence\n{RCLI} CONFIG GET dir\n"
            "journalctl -u redis-server --since '-1h' | grep -i -E 'save|fork|error'\n```",
        ),
        mitigation=(
            "Free disk space in Redis' dir, or fix its permissions; then run BGSAVE.",
            "If fork fails for memory, set vm.overcommit_memory=1.",
        ),
        escalation=_ESCALATE_DB_SOFT,
    ),
    panel=Panel(
        title="Redis last RDB save age",
        expr=f"time() - promfleet_redis_rdb_last_save_timestamp_seconds{{{SEL}}}",
        unit="s",
        description="Seconds since the last successful RDB snapshot.",
        legend="{{instance}} {{target}}",
        alert_thresholds=False,
    ),
    group="redis",
)

def _oom(per_minute: float) -> tuple[TestSeries, ...]:
    return (_counter("promfleet_redis_oom_rejected_commands_total", RD, per_minute),)


REDIS_OOM = Threshold(
    name="RedisOutOfMemory",
    category=Category.SYSTEM_OUTAGE,
    signal=RD_OOM,
    op=">",
    levels=(
        # Any write refused for memory, again and again for ten minutes: worked within
        # the hour (a low-traffic writer, a batch job).
        Level(
            Severity.WARNING, 0, for_seconds=600, cooldown_seconds=3600,
            test=AlertTest(firing=_oom(1), quiet=_oom(0), labels=RD, value=2,
                           warmup_seconds=60),
        ),
        # More than ten refused writes every two minutes for three minutes: the
        # applications' writes are failing now (a burst alone stays below the for).
        Level(
            Severity.CRITICAL, 10, for_seconds=180, cooldown_seconds=1800,
            test=AlertTest(firing=_oom(30), quiet=_oom(1), labels=RD, value=60,
                           warmup_seconds=60, quiet_value=2),
        ),
    ),
    team=Team.OPS,
    summary="Redis {{ $labels.target }} refuses writes: out of memory",
    description=(
        "Redis {{ $labels.target }} ({{ $labels.instance }}) answered {{ $value }} commands "
        "in the last 2 minutes with OOM: used memory is at maxmemory and the policy "
        "(noeviction, or no key to evict) refuses writes."
    ),
    runbook=Runbook(
        meaning="Write commands fail with 'OOM command not allowed when used memory > "
        "maxmemory'.",
        impact="The applications' writes to this Redis fail (queues, sessions, locks).",
        diagnosis=(
            f"How many: `{RD_OOM}`; memory: `{RD_MEMORY}`",
            f"Memory and policy: ```sh\n{RCLI} INFO memory | grep -E "
            "'used_memory:|maxmemory'\n"
            f"{RCLI} INFO errorstats\n{RCLI} --bigkeys\n```",
        ),
        mitigation=(
            "Free memory: delete keys of retired features, set TTLs, drain a queue whose "
            "consumers stopped.",
            "Raise maxmemory (CONFIG SET maxmemory) when the host has room.",
        ),
        escalation=_ESCALATE_DB,
    ),
    panel=Panel(
        title="Redis commands refused for memory",
        expr=f"{RD_OOM}{{{SEL}}}",
        unit="short",
        description="Commands answered with OOM in the last 2 minutes.",
        legend="{{instance}} {{target}}",
    ),
    group="redis",
)


def _clients(connected: float) -> tuple[TestSeries, ...]:
    return (
        _gauge("promfleet_redis_connected_clients", RD, connected),
        _gauge("promfleet_redis_max_clients", RD, 1000),
    )


REDIS_CLIENTS = Threshold(
    name="RedisClientsNearLimit",
    signal=RD_CLIENTS,
    op=">",
    levels=(
        Level(
            Severity.WARNING, 0.85, for_seconds=300, cooldown_seconds=3600,
            test=AlertTest(firing=_clients(900), quiet=_clients(300), labels=RD, value=0.9),
        ),
    ),
    team=Team.OPS,
    summary="Redis {{ $labels.target }} uses {{ $value | humanizePercentage }} of maxclients",
    description=(
        "Redis {{ $labels.target }} ({{ $labels.instance }}) has "
        "{{ $value | humanizePercentage }} of its maxclients connected; past the limit new "
        "connections are refused."
    ),
    runbook=Runbook(
        meaning="Connected clients are above 85 % of maxclients.",
        impact="None yet; at the limit new connections are refused (RedisRejectedConnections).",
        diagnosis=(
            "Growth: `promfleet_redis_connected_clients` against "
            "`promfleet_redis_max_clients`",
            f"Who is connected: ```sh\n{RCLI} CLIENT LIST | grep -o 'addr=[^:]*' | "
            "sort | uniq -c | sort -rn | head\n```",
        ),
        mitigation=(
            "Fix the client that leaks connections, or lower its pool size.",
            "Raise maxclients (and the process's open file limit).",
        ),
        escalation=_ESCALATE_DB_SOFT,
    ),
    panel=Panel(
        title="Redis clients of maxclients",
        expr=f"{RD_CLIENTS}{{{SEL}}}",
        unit="percentunit",
        description="Connected clients over maxclients.",
        legend="{{instance}} {{target}}",
    ),
    group="redis",
)

RD_SAVE_AGE = (
    "(time() - promfleet_redis_rdb_last_save_timestamp_seconds)\n"
    "/ promfleet_redis_rdb_save_period_seconds"
)


def _saves(last_save: float, period: float, changes: float = 50) -> tuple[TestSeries, ...]:
    return (
        _gauge("promfleet_redis_rdb_last_save_timestamp_seconds", RD, last_save),
        _gauge("promfleet_redis_rdb_save_period_seconds", RD, period),
        _gauge("promfleet_redis_rdb_changes_since_last_save", RD, changes),
    )


REDIS_SAVE_OVERDUE = Threshold(
    name="RedisRdbSaveOverdue",
    signal=RD_SAVE_AGE,
    op=">",
    # The period series exists only where save points are configured: with save "" (no
    # persistence) nothing is due and nothing fires. Unsaved changes must exist.
    guard="and on (instance, job, target) promfleet_redis_rdb_changes_since_last_save > 0",
    levels=(
        # Twice the longest save interval: a save was due and has not happened (or not
        # succeeded) for at least one more whole period.
        Level(
            Severity.WARNING, 2, for_seconds=600, cooldown_seconds=14400,
            test=AlertTest(firing=_saves(-100_000, 3600), quiet=(*_saves(0, 3600)[:2],
                           _gauge("promfleet_redis_rdb_changes_since_last_save", RD, 0)),
                           labels=RD, value=30),
        ),
    ),
    team=Team.OPS,
    summary="Redis {{ $labels.target }} has not saved a snapshot in over twice its save period",
    description=(
        "Redis {{ $labels.target }} ({{ $labels.instance }}) has unsaved changes and its last "
        "successful RDB snapshot is older than twice its longest configured save interval: a "
        "restart would lose the changes since."
    ),
    runbook=Runbook(
        meaning="Persistence is configured (save points) but no snapshot has succeeded for "
        "more than twice the longest save interval.",
        impact="A restart or crash loses every write since the last good snapshot.",
        diagnosis=(
            f"How late: `{RD_SAVE_AGE}` and `promfleet_redis_rdb_last_bgsave_ok`",
            f"Why: ```sh\n{RCLI} INFO persistence\n{RCLI} CONFIG GET save\n"
            "journalctl -u redis-server --since '-2h' | grep -i -E 'save|fork|error'\n```",
        ),
        mitigation=(
            "Fix what fails the save (disk space, permissions, fork memory), then BGSAVE.",
            "If persistence is not wanted, turn it off (CONFIG SET save \"\") and the alert "
            "goes with it.",
        ),
        escalation=_ESCALATE_DB_SOFT,
    ),
    panel=Panel(
        title="Redis snapshot age over save period",
        expr="(time() - promfleet_redis_rdb_last_save_timestamp_seconds"
        f"{{{SEL}}})\n/ promfleet_redis_rdb_save_period_seconds{{{SEL}}}",
        unit="short",
        description="Age of the last RDB snapshot in save periods (only where saving is on).",
        legend="{{instance}} {{target}}",
        expect_data=False,
    ),
    group="redis",
)

PANELS = (
    Panel(
        title="PostgreSQL connections by state",
        expr=f"sum by (instance, target, state) (promfleet_postgres_connections{{{SEL}}})",
        unit="short",
        description="Client backends by state, all databases together.",
        legend="{{instance}} {{target}} {{state}}",
    ),
    Panel(
        title="PostgreSQL transactions",
        expr="sum by (instance, target) "
        f"(rate(promfleet_postgres_database_commits_total{{{SEL}}}[$__rate_interval]))",
        unit="ops",
        description="Committed transactions per second.",
        legend="{{instance}} {{target}}",
    ),
    Panel(
        title="PostgreSQL waiting locks",
        expr=f"sum by (instance, target, mode) (promfleet_postgres_locks_waiting{{{SEL}}})",
        unit="short",
        description="Lock requests not yet granted, by mode.",
        legend="{{instance}} {{target}} {{mode}}",
    ),
    Panel(
        title="PostgreSQL database size",
        expr=f"promfleet_postgres_database_size_bytes{{{SEL}}}",
        unit="bytes",
        description="Disk space used by each database.",
        legend="{{instance}} {{target}} {{database}}",
    ),
    Panel(
        title="Redis memory used",
        expr=f"promfleet_redis_memory_used_bytes{{{SEL}}}",
        unit="bytes",
        description="Memory allocated by Redis.",
        legend="{{instance}} {{target}}",
    ),
    Panel(
        title="Redis commands",
        expr=f"rate(promfleet_redis_commands_processed_total{{{SEL}}}[$__rate_interval])",
        unit="ops",
        description="Commands processed per second.",
        legend="{{instance}} {{target}}",
    ),
)

AREA = gather_module(
    __name__,
    title="Databases",
    description="PostgreSQL and Redis: availability, connection slots, slow and blocked "
    "work, replication, vacuum, memory and persistence.",
)
