"""Redis exporter: one reused redis-py connection per named target, no retries, deadline-bound.

Each scrape pipelines ``INFO``, ``SLOWLOG LEN`` and ``CONFIG GET`` of ``save`` and
``maxclients`` on the target's connection (one round trip; a refused ``CONFIG`` only
leaves out what it would have told; ``maxclients`` is not asked again on a connection
whose ``INFO`` has shown it, as Redis 7's does). Replies are parsed by hiredis (C) where
it is installed, as promfleet's dependencies install it; connect and socket timeouts
come from the scrape deadline, a failure drops the connection and the next scrape
reconnects.
:func:`parse_info` (the fields read, in one pass) and :func:`families` are pure and tested on
recorded ``INFO`` text.
redis-py is imported when the first target is built, so reading ``METRICS`` (the
generator, the docs) does not load it.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client.core import Metric

from exporters.families import Families
from exporters.spec import (
    Collector,
    CollectorDef,
    ExporterDef,
    MetricNamespace,
    MetricSpec,
    Option,
    OptionError,
    Settings,
    collector_enabled,
    config_of,
    options_of,
    parse_positive_int,
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
    from redis.asyncio.connection import AbstractConnection

NS = "promfleet_redis"
log = logging.getLogger("promfleet.exporters.redis")
# INFO, SLOWLOG LEN, CONFIG GET save and CONFIG GET maxclients, pipelined, in RESP (the
# same bytes every scrape; the last two parts as their collectors are switched on).
_INFO = b"*1\r\n$4\r\nINFO\r\n"
_SLOWLOG = b"*2\r\n$7\r\nSLOWLOG\r\n$3\r\nLEN\r\n"
_CONFIG_SAVE = b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nsave\r\n"
_CONFIG = _CONFIG_SAVE + b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$10\r\nmaxclients\r\n"
ROLES = ("master", "slave")


_m = MetricNamespace(NS, ("target",))


METRICS: tuple[MetricSpec, ...] = (
    _m("up", "gauge", "1 when the target answered this scrape's commands within the deadline"),
    _m("version_info", "info", "Server version and mode", "version", "mode"),
    _m("uptime_seconds", "gauge", "Seconds since the server started"),
    _m("connected_clients", "gauge", "Client connections (replicas excluded)"),
    _m("blocked_clients", "gauge", "Clients blocked in BLPOP, WAIT and the like"),
    _m("max_clients", "gauge",
       "The maxclients setting (INFO on Redis 7+, else CONFIG GET; absent if refused)"),
    _m("rejected_connections_total", "counter", "Connections rejected because of maxclients"),
    _m("connections_received_total", "counter", "Connections accepted"),
    _m("memory_used_bytes", "gauge", "Memory allocated by Redis"),
    _m("memory_rss_bytes", "gauge", "Resident set size of the Redis process"),
    _m("memory_max_bytes", "gauge", "The maxmemory setting (0 means no limit)"),
    _m("memory_system_bytes", "gauge", "Total memory of the host Redis runs on"),
    _m("memory_fragmentation_ratio", "gauge", "RSS divided by memory used"),
    _m("evicted_keys_total", "counter", "Keys evicted because of maxmemory"),
    _m("oom_rejected_commands_total", "counter",
       "Commands refused with an OOM error because memory reached maxmemory (Redis 6.2+)"),
    _m("expired_keys_total", "counter", "Keys removed because their TTL passed"),
    _m("keyspace_hits_total", "counter", "Successful key lookups"),
    _m("keyspace_misses_total", "counter", "Failed key lookups"),
    _m("commands_processed_total", "counter", "Commands processed"),
    _m("db_keys", "gauge", "Keys per logical database", "db"),
    _m("db_keys_expiring", "gauge", "Keys with a TTL per logical database", "db"),
    _m("replication_role", "gauge", "1 for the server's current replication role", "role"),
    _m("connected_replicas", "gauge", "Replicas connected to this master"),
    _m("replica_lag_bytes", "gauge",
       "On a master: replication offset each replica is behind", "replica"),
    _m("replica_lag_seconds", "gauge",
       "On a master: seconds since each replica's last acknowledgement", "replica"),
    _m("master_link_up", "gauge", "On a replica: 1 when the link to its master is up"),
    _m("master_last_io_seconds", "gauge",
       "On a replica: seconds since the last interaction with its master"),
    _m("rdb_last_save_timestamp_seconds", "gauge", "Unix time of the last successful RDB save"),
    _m("rdb_last_bgsave_ok", "gauge", "1 when the last background RDB save succeeded"),
    _m("rdb_changes_since_last_save", "gauge", "Writes since the last RDB save"),
    _m("rdb_save_period_seconds", "gauge",
       "Longest interval of the configured RDB save points; absent when saving is "
       "disabled (save \"\") or CONFIG GET is refused"),
    _m("aof_enabled", "gauge", "1 when the append-only file is on"),
    _m("aof_last_write_ok", "gauge", "1 when the last AOF write succeeded"),
    _m("aof_last_rewrite_ok", "gauge", "1 when the last AOF rewrite succeeded"),
    _m("slowlog_length", "gauge", "Entries in the slow log"),
    _m("dropped_series", "gauge",
       "Items left out of this scrape because a capped label set was full", "set"),
)
FAMILIES = Families(METRICS, f"{NS}_")
_SPEC = {spec.name.removeprefix(f"{NS}_"): spec for spec in METRICS}
# What the pipeline's optional commands add; the rest comes from INFO on every scrape.
COLLECTORS: tuple[CollectorDef, ...] = (
    CollectorDef("slowlog", "the slow log's length (SLOWLOG LEN)",
                 (_SPEC["slowlog_length"],)),
    CollectorDef("config", "save points and maxclients from CONFIG GET (an ACL may refuse it)",
                 (_SPEC["rdb_save_period_seconds"],)),
)

# INFO field -> metric, for the plain numeric ones.
_PLAIN: tuple[tuple[str, str], ...] = (
    ("uptime_in_seconds", "uptime_seconds"),
    ("connected_clients", "connected_clients"),
    ("blocked_clients", "blocked_clients"),
    ("rejected_connections", "rejected_connections_total"),
    ("total_connections_received", "connections_received_total"),
    ("used_memory", "memory_used_bytes"),
    ("used_memory_rss", "memory_rss_bytes"),
    ("maxmemory", "memory_max_bytes"),
    ("total_system_memory", "memory_system_bytes"),
    ("mem_fragmentation_ratio", "memory_fragmentation_ratio"),
    ("evicted_keys", "evicted_keys_total"),
    ("expired_keys", "expired_keys_total"),
    ("keyspace_hits", "keyspace_hits_total"),
    ("keyspace_misses", "keyspace_misses_total"),
    ("total_commands_processed", "commands_processed_total"),
    ("connected_slaves", "connected_replicas"),
    ("master_last_io_seconds_ago", "master_last_io_seconds"),
    ("rdb_last_save_time", "rdb_last_save_timestamp_seconds"),
    ("rdb_changes_since_last_save", "rdb_changes_since_last_save"),
    ("aof_enabled", "aof_enabled"),
)
_OK_FLAGS: tuple[tuple[str, str], ...] = (
    ("rdb_last_bgsave_status", "rdb_last_bgsave_ok"),
    ("aof_last_write_status", "aof_last_write_ok"),
    ("aof_last_bgrewrite_status", "aof_last_rewrite_ok"),
)


# The INFO fields :func:`families` reads, and the keyspace (db0, ...) and replica (slave0,
# ...) lines. Of some 180 lines INFO has, one regular-expression pass keeps these (about
# 30): a scrape pays per field it publishes rather than per line of INFO, which is most of
# what a Redis target costs beyond its round trip (bench/results.md).
READ_FIELDS: tuple[str, ...] = (
    *(key for key, _ in _PLAIN),
    *(key for key, _ in _OK_FLAGS),
    "redis_version", "redis_mode", "maxclients", "total_error_replies", "errorstat_OOM",
    "role", "master_link_status", "master_repl_offset",
)
_FIELD = re.compile(
    "^("
    + "|".join(sorted((re.escape(k) for k in set(READ_FIELDS)), key=len, reverse=True))
    + r"|db\d+|slave\d+):([^\r\n]*)",
    re.MULTILINE,
)


def parse_info(text: str) -> dict[str, str]:
    """``INFO`` text to ``{field: raw value}`` for the fields :func:`families` reads
    (:data:`READ_FIELDS`, ``db<n>``, ``slave<n>``); every other line is left unread."""
    return dict(_FIELD.findall(text))


def parse_kv(value: str) -> dict[str, str]:
    """``keys=1,expires=0,avg_ttl=0`` to a mapping."""
    out: dict[str, str] = {}
    for part in value.split(","):
        key, sep, item = part.partition("=")
        if sep:
            out[key] = item
    return out


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _index(key: str) -> int:
    return int(key[2:]) if key[0] == "d" else int(key[5:])


@dataclass(frozen=True)
class RedisConfig:
    """Per-process settings shared by every target's collector; the limits are options."""

    client_name: str = "promfleet-exporter-redis"
    databases_limit: int = setting(
        "databases.limit", "how many logical databases get per-db series", 16,
        parse_positive_int)
    replicas_limit: int = setting(
        "replicas.limit", "how many connected replicas get per-replica series", 16,
        parse_positive_int)


def parse_save_period(value: str) -> float | None:
    """The longest interval of ``save`` points (``"3600 1 300 100"`` -> 3600), ``None`` if
    saving is disabled (``""``) or the value does not parse."""
    parts = value.split()
    if not parts or len(parts) % 2:
        return None
    try:
        seconds = [float(part) for part in parts[::2]]
    except ValueError:
        return None
    return max(seconds)


def config_value(reply: Any) -> str | None:
    """The value of a one-key ``CONFIG GET`` reply (RESP2 list or RESP3 map), else None."""
    if isinstance(reply, dict):
        values = list(reply.values())
    elif isinstance(reply, list) and len(reply) == 2:
        values = [reply[1]]
    else:
        return None
    if len(values) != 1:
        return None
    value = values[0]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


@dataclass
class Snapshot:
    """What one pipeline returned."""

    info: dict[str, str] = field(default_factory=dict)
    slowlog_length: float | None = None
    # CONFIG GET answers; None where the command was refused (ACL, renamed command).
    save: str | None = None
    maxclients: str | None = None


@dataclass(frozen=True)
class _Driver:
    """The parts of redis-py a target uses, imported on first use."""

    parse_url: Callable[[str], Mapping[str, Any]]
    connection_class: type[AbstractConnection]
    connection_options: Mapping[str, Any]  # no retries, no CLIENT SETINFO, no health checks
    error: type[Exception]
    response_error: type[Exception]  # an error reply; the connection stays usable


@functools.cache
def _driver() -> _Driver:
    import inspect

    from redis.asyncio.connection import AbstractConnection, Connection, parse_url
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError, ResponseError

    # No CLIENT SETINFO round trips on connect (driver_info=None on redis-py 7+).
    no_setinfo: dict[str, None] = (
        {"driver_info": None}
        if "driver_info" in inspect.signature(AbstractConnection.__init__).parameters
        else {"lib_name": None, "lib_version": None}
    )
    options: dict[str, Any] = {
        # A dead Redis must cost milliseconds, not seconds (each connection copies it).
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 0,
        **no_setinfo,
    }
    return _Driver(parse_url, Connection, options, RedisError, ResponseError)


def families(target: str, outcome: Outcome[Snapshot], cfg: RedisConfig) -> list[Metric]:
    """Fresh metric families from one outcome (pure)."""
    batch = FAMILIES.start()
    add = batch.add
    only = (target,)

    add("up", only, 1.0 if outcome.up else 0.0)
    snap = outcome.data
    if snap is None:
        return batch.list()
    info = snap.info
    get = info.get
    add("version_info", (target, get("redis_version", ""), get("redis_mode", "")), 1.0)
    for key, name in _PLAIN:
        add(name, only, _number(get(key)))
    add("max_clients", only, _number(get("maxclients", snap.maxclients)))
    if "total_error_replies" in info:  # Redis 6.2+: errorstats are kept
        oom = parse_kv(get("errorstat_OOM", "count=0"))
        add("oom_rejected_commands_total", only, _number(oom.get("count")))
    if snap.save is not None:
        add("rdb_save_period_seconds", only, parse_save_period(snap.save))
    for key, name in _OK_FLAGS:
        if key in info:
            add(name, only, 1.0 if info[key] == "ok" else 0.0)
    role = get("role", "")
    for known in ROLES:
        add("replication_role", (target, known), 1.0 if role == known else 0.0)
    if role == "slave":
        add("master_link_up", only, 1.0 if get("master_link_status") == "up" else 0.0)

    # The keyspace and replica lines (db0, slave0, ...) by one pass over the keys.
    dbs: list[str] = []
    replicas: list[str] = []
    for key in info:
        first = key[:1]
        if first == "d" and key[1:2] == "b" and key[2:].isdigit():
            dbs.append(key)
        elif first == "s" and key.startswith("slave") and key[5:].isdigit():
            replicas.append(key)
    dbs.sort(key=_index)
    replicas.sort(key=_index)

    dropped = {"db": max(0, len(dbs) - cfg.databases_limit), "replica": 0}
    for db in dbs[: cfg.databases_limit]:
        stats = parse_kv(info[db])
        add("db_keys", (target, db), _number(stats.get("keys")))
        add("db_keys_expiring", (target, db), _number(stats.get("expires")))

    master_offset = _number(get("master_repl_offset"))
    dropped["replica"] = max(0, len(replicas) - cfg.replicas_limit)
    for key in replicas[: cfg.replicas_limit]:
        stats = parse_kv(info[key])
        index = key[5:]
        offset = _number(stats.get("offset"))
        if master_offset is not None and offset is not None:
            add("replica_lag_bytes", (target, index), max(0.0, master_offset - offset))
        add("replica_lag_seconds", (target, index), _number(stats.get("lag")))

    add("slowlog_length", only, snap.slowlog_length)
    for name, count in sorted(dropped.items()):
        add("dropped_series", (target, name), float(count))
    return batch.list()


class RedisTarget(TargetCollector["AbstractConnection", Snapshot]):
    """All metrics of one Redis target, from one reused connection.

    promfleet_redis_up{target="cache"} 1
    promfleet_redis_memory_used_bytes{target="cache"} 966504
    promfleet_redis_db_keys{target="cache",db="db0"} 42
    """

    name = "redis"
    log = log

    def __init__(self, target: Target, config: RedisConfig, slowlog: bool = True,
                 config_get: bool = True) -> None:
        super().__init__(target)
        self.config = config
        self._slowlog = slowlog
        self._config_get = config_get
        self._pipeline = _INFO + (_SLOWLOG if slowlog else b"") + (_CONFIG if config_get else b"")
        # Once INFO has shown maxclients (Redis 7+) on a connection, CONFIG GET maxclients
        # is left out of its pipeline; a new connection (a failover, a downgrade) asks again.
        self._short_pipeline = (
            _INFO + (_SLOWLOG if slowlog else b"") + (_CONFIG_SAVE if config_get else b""))
        self._maxclients_in_info = False
        self._driver = _driver()
        self.errors = (self._driver.error, OSError)
        self._kwargs: Mapping[str, Any] = dict(self._driver.parse_url(target.locator))

    async def connect(self, deadline: float) -> AbstractConnection:
        remaining = max(0.0, deadline - time.monotonic())
        kwargs = dict(self._kwargs)
        connection_class = kwargs.pop("connection_class", self._driver.connection_class)
        conn: AbstractConnection = connection_class(
            **kwargs,
            socket_timeout=remaining,
            socket_connect_timeout=remaining,
            client_name=self.config.client_name,
            retry_on_error=[],
            **self._driver.connection_options,
        )
        try:
            await conn.connect()  # type: ignore[no-untyped-call]
        except BaseException:
            await conn.disconnect(nowait=True)
            raise
        self._maxclients_in_info = False
        return conn

    def is_open(self, conn: AbstractConnection) -> bool:
        return bool(conn.is_connected)

    async def disconnect(self, conn: AbstractConnection) -> None:
        await conn.disconnect(nowait=True)

    def disconnect_now(self, conn: AbstractConnection) -> None:
        writer = getattr(conn, "_writer", None)
        if writer is not None:
            writer.close()

    async def query(self, conn: AbstractConnection, deadline: float) -> Snapshot:
        # The timeout around the query bounds the round trip; a socket timeout as well
        # would wrap the send in a task and each read in a timer.
        conn.socket_timeout = None
        short = self._maxclients_in_info
        await conn.send_packed_command(
            self._short_pipeline if short else self._pipeline, check_health=False)
        info_raw = await conn.read_response()
        slowlog = await conn.read_response() if self._slowlog else None
        configs: list[str | None] = [None, None]
        for index in range((1 if short else 2) if self._config_get else 0):
            try:
                configs[index] = config_value(await conn.read_response())
            except self._driver.response_error:  # refused (ACL): the reply is read
                configs[index] = None
        text = info_raw.decode("utf-8", "replace") if isinstance(info_raw, bytes) else ""
        info = parse_info(text)
        self._maxclients_in_info = "maxclients" in info
        length = float(slowlog) if isinstance(slowlog, int) else None
        return Snapshot(info=info, slowlog_length=length, save=configs[0], maxclients=configs[1])

    def judge(self, err: BaseException, connected: bool) -> Failure:
        # Any driver or socket error may be a connection cut while idle.
        return Failure(first_line(err), stale=True)

    def families(self, outcome: Outcome[Snapshot]) -> list[Metric]:
        return families(self.target, outcome, self.config)


OPTIONS: tuple[Option, ...] = (
    *target_options("url", "Redis URL (redis://, rediss://, unix://)"),
    *options_of(RedisConfig),
)


def build(settings: Settings) -> Sequence[Collector]:
    cfg = config_of(RedisConfig, settings)
    slowlog, config_get = (collector_enabled(settings, c) for c in COLLECTORS)
    out: list[Collector] = []
    for target in resolve_targets(settings, "url"):
        try:
            out.append(RedisTarget(target, cfg, slowlog, config_get))
        except ValueError as err:  # parse_url refuses the scheme; never echo the URL
            raise OptionError(f"target {target.name!r}: bad Redis URL") from err
    return tuple(out)


EXPORTER = ExporterDef(
    name="redis",
    namespace=NS,
    description="Redis servers: clients, memory, evictions, hit ratio, replication, persistence",
    metrics=METRICS,
    options=OPTIONS,
    build=build,
    probe=find_target,
    close=close_targets,
    default_port=9121,
    multi_target=True,
    target_names=target_names("url"),
    collectors=COLLECTORS,
)
