"""Catalogue area ``database``: PostgreSQL and Redis availability, saturation and health.

Signals come from the postgres and redis exporters (``promfleet_postgres_*``,
``promfleet_redis_*``; every series carries the configured ``target`` name); recording
rules turn counters into per-target ratios and increases.
"""

from __future__ import annotations

from generator.model import (
    AlertTest,
    Area,
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
RD_REJECTED = "instance_target:promfleet_redis_rejected_connections:increase5m"
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
    RecordingRule(
        RD_MEMORY,
        "promfleet_redis_memory_used_bytes / (promfleet_redis_memory_max_bytes > 0)",
    ),
    RecordingRule(RD_EVICTIONS, "rate(promfleet_redis_evicted_keys_total[5m])"),
    RecordingRule(RD_REJECTED, "increase(promfleet_redis_rejected_connections_total[5m])"),
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


def _oldest(seconds: float) -> tuple[TestSeries, ...]:
    return (_gauge("promfleet_postgres_oldest_query_seconds", (*PG, ("state", "active")),
                   seconds),)


POSTGRES_LONG_QUERY = Threshold(
    name="PostgresLongRunningQuery",
    signal='max without (state) (promfleet_postgres_oldest_query_seconds{state="active"})',
    op=">",
    levels=(
        Level(
            Severity.CRITICAL, 10, for_seconds=0, cooldown_seconds=1800,
            test=AlertTest(firing=_oldest(42), quiet=_oldest(2), labels=PG, value=42),
        ),
    ),
    team=Team.OPS,
    summary="A query on PostgreSQL {{ $labels.target }} has run for {{ $value }}s",
    description=(
        "The oldest active statement on {{ $labels.target }} ({{ $labels.instance }}) has "
        "been running for {{ $value }} seconds, more than 10. It may hold locks others wait on."
    ),
    runbook=Runbook(
        meaning="A statement has been executing for more than 10 seconds.",
        impact="It holds locks and a connection; queries behind it queue; vacuum is held back.",
        diagnosis=(
            "How long: `promfleet_postgres_oldest_query_seconds{state=\"active\"}`",
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
        ),
        escalation=_ESCALATE_DB,
    ),
    panel=Panel(
        title="PostgreSQL oldest query and transaction",
        expr=f"promfleet_postgres_oldest_query_seconds{{{SEL}}}",
        unit="s",
        description="Age of the oldest running statement of client sessions, by state.",
        legend="{{instance}} {{target}} {{state}}",
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
            Severity.WARNING, 0, for_seconds=0, cooldown_seconds=3600,
            test=AlertTest(firing=_deadlocks(1), quiet=_deadlocks(0), labels=PG, value=5,
                           warmup_seconds=300),
        ),
    ),
    team=Team.ENGINEERING,
    summary="{{ $value }} deadlocks on PostgreSQL {{ $labels.target }} in 5 minutes",
    description=(
        "PostgreSQL {{ $labels.target }} ({{ $labels.instance }}) detected {{ $value }} "
        "deadlocks in the last 5 minutes; one transaction of each was rolled back."
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
        "The standby {{ $labels.target }} ({{ $labels.instance }}) has received WAL it has "
        "not replayed; its last replayed transaction is {{ $value }} seconds old."
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
        description="On standbys: age of the last replayed transaction (0 when caught up).",
        legend="{{instance}} {{target}}",
        expect_data=False,
    ),
    group="postgres",
)


def _idle_tx(seconds: float) -> tuple[TestSeries, ...]:
    return (_gauge("promfleet_postgres_oldest_transaction_seconds",
                   (*PG, ("state", "idle_in_transaction")), seconds),)


POSTGRES_IDLE_IN_TX = Threshold(
    name="PostgresIdleInTransaction",
    signal="max without (state) (promfleet_postgres_oldest_transaction_seconds"
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
        description="Age of the oldest open transaction of client sessions, by state.",
        legend="{{instance}} {{target}} {{state}}",
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

# --- Redis ---------------------------------------------------------------------------

REDIS_DOWN = Threshold(
    name="RedisDown",
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
    summary="Redis {{ $labels.target }} uses {{ $value | humanizePercentage }} of maxmemory",
    description=(
        "Redis {{ $labels.target }} ({{ $labels.instance }}) has allocated "
        "{{ $value | humanizePercentage }} of its maxmemory: it will evict keys or refuse writes."
    ),
    runbook=Runbook(
        meaning="Memory used is above 90 % of maxmemory.",
        impact="Depending on maxmemory-policy, keys are evicted or writes fail with OOM.",
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
        ),
        escalation=_ESCALATE_DB_SOFT,
    ),
    panel=Panel(
        title="Redis memory used of maxmemory",
        expr=f"{RD_MEMORY}{{{SEL}}}",
        unit="percentunit",
        description="Memory allocated by Redis over its maxmemory (only where one is set).",
        legend="{{instance}} {{target}}",
        expect_data=False,
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
    signal=RD_REJECTED,
    op=">",
    levels=(
        Level(
            Severity.CRITICAL, 0, for_seconds=0, cooldown_seconds=1800,
            test=AlertTest(firing=_rejected(2), quiet=_rejected(0), labels=RD, value=10,
                           warmup_seconds=300),
        ),
    ),
    team=Team.OPS,
    summary="Redis {{ $labels.target }} refused {{ $value }} connections in 5 minutes",
    description=(
        "Redis {{ $labels.target }} ({{ $labels.instance }}) reached maxclients and refused "
        "{{ $value }} new connections in the last 5 minutes."
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
        "With stop-writes-on-bgsave-error on, Redis now refuses writes."
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

AREA = Area(
    name="database",
    title="Databases",
    description="PostgreSQL and Redis: availability, connection slots, slow and blocked "
    "work, replication, vacuum, memory and persistence.",
    recording_rules=RECORDING_RULES,
    thresholds=(
        POSTGRES_DOWN,
        POSTGRES_CONNECTIONS,
        POSTGRES_LONG_QUERY,
        POSTGRES_CACHE_HIT,
        POSTGRES_DEADLOCKS,
        POSTGRES_REPLICATION_LAG,
        POSTGRES_IDLE_IN_TX,
        POSTGRES_DEAD_TUPLES,
        REDIS_DOWN,
        REDIS_MEMORY,
        REDIS_EVICTIONS,
        REDIS_REJECTED,
        REDIS_HIT_RATIO,
        REDIS_LINK_DOWN,
        REDIS_RDB_FAILING,
    ),
    panels=(
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
    ),
)
