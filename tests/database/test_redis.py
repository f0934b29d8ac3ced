"""Redis exporter against real servers: evictions, replication, RDB failure, faults, leaks."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from exporters import redis as redis_exporter
from exporters.redis import RedisConfig, RedisTarget, parse_info
from exporters.spec import ScrapeContext
from exporters.targets import Outcome, Target
from tests.database.conftest import exposition, scrape_text
from tests.database.proxy import FaultProxy
from tests.database.servers import SHARED_REDIS_URL, OwnRedis
from tests.helpers import declaration_problems, promtool_check_metrics, sample_value

SCHEDULING_GRACE_S = 0.25
ABSENT_ON_A_LONE_MASTER = (
    "promfleet_redis_replica_lag_bytes",
    "promfleet_redis_replica_lag_seconds",
    "promfleet_redis_master_link_up",
    "promfleet_redis_master_last_io_seconds",
    "promfleet_redis_db_keys",
    "promfleet_redis_db_keys_expiring",
    "promfleet_redis_rdb_save_period_seconds",  # the shared server runs with save ""
)


def value(text: str, name: str, target: str = "main", **labels: str) -> float | None:
    return sample_value(text, f"promfleet_redis_{name}", {"target": target, **labels})


def collector(url: str, name: str = "main") -> RedisTarget:
    return RedisTarget(Target(name, url), RedisConfig())


def scrape_once(url: str, timeout: float = 5.0) -> str:
    async def go() -> str:
        c = collector(url)
        try:
            return await scrape_text(c, timeout)
        finally:
            await c.close()

    return asyncio.run(go())


def test_info_parsing_keeps_the_fields_read_and_drops_the_rest() -> None:
    info = parse_info(
        "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n\r\n"
        "# Memory\r\nused_memory:10\r\nused_memory_rss:20\r\nused_memory_peak:30\r\n"
        "# Keyspace\r\ndb0:keys=3,expires=1\r\ndb12:keys=1,expires=0\r\n"
    )
    assert info == {"redis_version": "7.0.15", "used_memory": "10", "used_memory_rss": "20",
                    "db0": "keys=3,expires=1", "db12": "keys=1,expires=0"}


def test_info_values_keep_their_colons_and_odd_lines_are_harmless() -> None:
    info = parse_info(
        "# Server\r\nexecutable:/usr/bin/redis-server\r\nrole:\r\n"
        ":no key\r\nno colon\r\n#role:x\r\n dbx:1\r\nslave0:ip=::1,port=6380\n"
    )
    assert info == {"role": "", "slave0": "ip=::1,port=6380"}


def _every_field(text: str) -> dict[str, str]:
    """INFO read line by line, every field kept (what parse_info once did)."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key[:1] != "#":
            out[key] = value
    return out


def test_reading_only_the_fields_read_loses_no_sample() -> None:
    # Against a real server's INFO (a master with a keyspace), a replica's and an old
    # server's recorded ones: the families from the fields kept equal those from all.
    client = redis.Redis.from_url(SHARED_REDIS_URL, socket_timeout=5)
    try:
        raw = client.connection_pool.get_connection()
        try:
            raw.send_command("INFO")  # the reply unparsed, as the exporter reads it
            live = raw.read_response()
        finally:
            client.connection_pool.release(raw)
    finally:
        client.close()
    live_text = live.decode() if isinstance(live, bytes) else str(live)
    assert "redis_version" in live_text and len(live_text.splitlines()) > 100
    replica = ("# Replication\r\nrole:slave\r\nmaster_link_status:up\r\n"
               "master_last_io_seconds_ago:3\r\nconnected_slaves:2\r\n"
               "slave0:ip=10.0.0.2,port=6379,state=online,offset=100,lag=1\r\n"
               "slave1:ip=10.0.0.3,port=6379,state=online,offset=90,lag=0\r\n"
               "master_repl_offset:120\r\n")
    for text in (live_text, RECORDED_INFO, replica):
        snaps = [redis_exporter.Snapshot(info=info, slowlog_length=1.0, save="3600 1",
                                         maxclients="100")
                 for info in (parse_info(text), _every_field(text))]
        kept, every = (exposition(redis_exporter.families("main", Outcome(True, s),
                                                           RedisConfig())) for s in snaps)
        assert kept == every
        assert kept.count("\n") > 10


def test_a_scrape_of_the_shared_server_publishes_the_declared_families() -> None:
    text = scrape_once(SHARED_REDIS_URL)
    assert value(text, "up") == 1.0
    assert value(text, "replication_role", role="master") == 1.0
    problems = declaration_problems(text, redis_exporter.METRICS,
                                    allow_missing=ABSENT_ON_A_LONE_MASTER)
    assert problems == []
    assert promtool_check_metrics(text) == []


def test_filling_past_maxmemory_evicts_keys_and_counts_hits_and_misses(
    own_redis: OwnRedis,
) -> None:
    client = own_redis.client()
    client.flushall()
    payload = b"x" * 10_000
    pipe = client.pipeline(transaction=False)
    for i in range(1_000):  # 10 MB into a 4 MB maxmemory
        pipe.set(f"fill:{i}", payload)
    pipe.execute()
    client.get("fill:999")
    client.get("absent-key")
    text = scrape_once(own_redis.url)
    assert (value(text, "evicted_keys_total") or 0.0) > 0
    assert value(text, "memory_max_bytes") == 4 * 1024 * 1024
    used = value(text, "memory_used_bytes") or 0.0
    assert 0 < used <= 4 * 1024 * 1024 * 1.1
    assert (value(text, "keyspace_hits_total") or 0.0) >= 1
    assert (value(text, "keyspace_misses_total") or 0.0) >= 1
    keys = value(text, "db_keys", db="db0")
    assert keys is not None and 0 < keys < 1_000


def test_rejected_connections_are_counted_against_maxclients() -> None:
    server = OwnRedis("--maxclients", "3").start()
    no_retry = Retry(NoBackoff(), 0)

    async def go() -> tuple[int, str]:
        c = collector(server.url)
        try:
            await scrape_text(c)  # the exporter holds its slot before the others arrive
            clients = [redis.Redis(port=server.port, socket_timeout=2, retry=no_retry)
                       for _ in range(6)]
            refused = 0
            for client in clients:
                try:
                    client.ping()
                except redis.ConnectionError:
                    refused += 1
            text = await scrape_text(c)
            for client in clients:
                client.close()
            return refused, text
        finally:
            await c.close()

    try:
        refused, text = asyncio.run(go())
    finally:
        server.stop()
    assert refused >= 1
    assert value(text, "max_clients") == 3.0
    assert (value(text, "rejected_connections_total") or 0.0) >= refused


def test_a_replica_reports_its_master_link_going_down(own_redis: OwnRedis) -> None:
    # Our own server: start the full sync at once instead of after the default 5 s.
    own_redis.client().config_set("repl-diskless-sync-delay", 0)
    with FaultProxy("127.0.0.1", own_redis.port) as proxy:
        replica = OwnRedis("--replicaof", "127.0.0.1", str(proxy.port)).start()
        try:
            link = None
            for _ in range(100):  # the first sync takes a moment; bounded
                text = scrape_once(replica.url)
                link = value(text, "master_link_up")
                if link == 1.0:
                    break
                time.sleep(0.1)
            assert link == 1.0
            assert value(text, "replication_role", role="slave") == 1.0
            master = scrape_once(own_redis.url)
            assert value(master, "connected_replicas") == 1.0
            assert value(master, "replica_lag_bytes", replica="0") is not None
            proxy.set("refuse")
            for _ in range(50):
                text = scrape_once(replica.url)
                link = value(text, "master_link_up")
                if link == 0.0:
                    break
                time.sleep(0.1)
            assert link == 0.0
        finally:
            replica.stop()


def test_a_failing_rdb_save_is_reported(tmp_path: Path) -> None:
    doomed = tmp_path / "rdb"
    doomed.mkdir()
    server = OwnRedis("--dir", str(doomed)).start()
    try:
        client = server.client()
        doomed.rmdir()  # the server's working directory is gone: a save has nowhere to go
        client.set("k", "v")
        with pytest.raises(redis.ResponseError):
            client.save()
        client.bgsave()
        text = ""
        for _ in range(50):
            text = scrape_once(server.url)
            if value(text, "rdb_last_bgsave_ok") == 0.0:
                break
            time.sleep(0.1)
    finally:
        server.stop()
    assert value(text, "rdb_last_bgsave_ok") == 0.0
    assert (value(text, "rdb_changes_since_last_save") or 0.0) >= 1


@pytest.mark.parametrize("mode", ["refuse", "reset", "blackhole", "slow"])
def test_up_drops_to_zero_within_the_deadline_and_returns_without_a_restart(
    redis_proxy: FaultProxy, mode: str
) -> None:
    async def go() -> tuple[float, float, float, float]:
        c = collector(f"redis://127.0.0.1:{redis_proxy.port}/0")
        try:
            first = value(await scrape_text(c, 2.0), "up")
            redis_proxy.set(mode, delay=0.4)  # type: ignore[arg-type]
            ctx = ScrapeContext.with_timeout(0.6)
            text = exposition(await c.collect(ctx))
            late = time.monotonic() - ctx.deadline
            down = value(text, "up")
            redis_proxy.set("pass")
            again = value(await scrape_text(c, 2.0), "up")
            return first or -1, down or 0.0, again or -1, late
        finally:
            await c.close()

    first, down, again, late = asyncio.run(go())
    assert (first, down, again) == (1.0, 0.0, 1.0)
    assert late <= SCHEDULING_GRACE_S, f"scrape outlived its deadline by {late:.3f}s"


def test_a_kept_alive_connection_cut_while_idle_costs_no_false_down(
    redis_proxy: FaultProxy,
) -> None:
    async def go() -> tuple[float, float, float]:
        c = collector(f"redis://127.0.0.1:{redis_proxy.port}/0")
        try:
            first = value(await scrape_text(c, 2.0), "up") or 0.0
            redis_proxy.set("pass")  # cuts the connection in flight, as a restart would
            again = value(await scrape_text(c, 2.0), "up") or 0.0
            redis_proxy.set("refuse")  # and a server that is really gone is still down
            down = value(await scrape_text(c, 2.0), "up") or 0.0
            return first, again, down
        finally:
            await c.close()

    first, again, down = asyncio.run(go())
    assert (first, again, down) == (1.0, 1.0, 0.0)
    assert redis_proxy.accepted == 2  # one fresh connection replaced the cut one


def test_a_refused_redis_costs_milliseconds_not_retries(redis_proxy: FaultProxy) -> None:
    redis_proxy.set("refuse")

    async def go() -> tuple[float, float]:
        c = collector(f"redis://127.0.0.1:{redis_proxy.port}/0")
        try:
            ctx = ScrapeContext.with_timeout(5.0)
            text = exposition(await c.collect(ctx))
            up = value(text, "up")
            return -1.0 if up is None else up, ctx.remaining()
        finally:
            await c.close()

    up, remaining = asyncio.run(go())
    assert up == 0.0
    # With retries on, redis-py would spend seconds of the 5 s here; none is spent.
    assert remaining > 4.0


def test_scrapes_against_a_flapping_target_leak_no_connection(
    redis_proxy: FaultProxy, unique: str
) -> None:
    shared = redis.Redis.from_url(SHARED_REDIS_URL)

    def ours() -> int:
        return sum(1 for c in shared.client_list() if c.get("name") == unique)

    async def go() -> tuple[set[float], float, int]:
        c = RedisTarget(Target("main", f"redis://127.0.0.1:{redis_proxy.port}/0"),
                        RedisConfig(client_name=unique))
        seen: set[float] = set()
        try:
            redis_proxy.flap(0.03)
            started = time.monotonic()
            for _ in range(250):  # 1,000 scrapes, 4 at a time
                texts = await asyncio.gather(*(scrape_text(c, 0.3) for _ in range(4)))
                seen.update(value(t, "up") or 0.0 for t in texts)
                if time.monotonic() - started > 60:
                    break
            redis_proxy.set("pass")
            final = value(await scrape_text(c, 3.0), "up") or 0.0
            return seen, final, await asyncio.to_thread(ours)
        finally:
            await c.close()

    seen, final, while_open = asyncio.run(go())
    assert seen == {0.0, 1.0}
    assert final == 1.0
    assert while_open == 1
    deadline = time.monotonic() + 5
    while ours() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ours() == 0
    shared.close()


def test_a_canary_password_never_appears_in_metrics_logs_or_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    canary = "Canary-Redis-Pw-7f3a"
    caplog.set_level(logging.DEBUG)
    server = OwnRedis("--requirepass", "the-right-one").start()

    async def go() -> list[str]:
        with FaultProxy("127.0.0.1", server.port) as proxy:
            c = collector(f"redis://:{canary}@127.0.0.1:{proxy.port}/0")
            out = [repr(c), repr(c._target)]
            try:
                out.append(await scrape_text(c, 1.0))  # WRONGPASS: must not echo it
                out.append((await c._batch(time.monotonic() + 1.0)).error)
                proxy.set("reset")
                out.append((await c._batch(time.monotonic() + 0.5)).error)
            finally:
                await c.close()
            return out

    try:
        outputs = asyncio.run(go())
    finally:
        server.stop()
    assert value(outputs[2], "up") == 0.0
    assert outputs[3] != "" and outputs[4] != ""
    everything = "\n".join(outputs) + "\n".join(
        f"{r.getMessage()} {r.__dict__}" for r in caplog.records
    )
    assert canary not in everything


def test_logical_databases_past_the_cap_are_counted_not_labelled(own_redis: OwnRedis) -> None:
    for db in range(4):
        with redis.Redis(host="127.0.0.1", port=own_redis.port, db=db) as client:
            client.set(f"cap:{db}", "v")

    async def go() -> str:
        c = RedisTarget(Target("main", own_redis.url), RedisConfig(databases_limit=2))
        try:
            return await scrape_text(c)
        finally:
            await c.close()

    try:
        text = asyncio.run(go())
    finally:
        for db in range(4):
            with redis.Redis(host="127.0.0.1", port=own_redis.port, db=db) as client:
                client.delete(f"cap:{db}")
    keyed = [line for line in text.splitlines() if line.startswith("promfleet_redis_db_keys{")]
    assert len(keyed) == 2
    assert value(text, "db_keys", db="db0") is not None
    assert value(text, "dropped_series", set="db") == 2.0


# --- memory against the host, OOM, maxclients, save period (on-call issue) -------------

RECORDED_INFO = (
    "# Server\r\nredis_version:6.2.14\r\nredis_mode:standalone\r\n"
    "# Clients\r\nconnected_clients:9500\r\n"  # 6.2: no maxclients in INFO
    "# Memory\r\nused_memory:1000\r\nmaxmemory:0\r\ntotal_system_memory:4000\r\n"
    "# Persistence\r\nrdb_last_save_time:1700000000\r\nrdb_changes_since_last_save:12\r\n"
    "rdb_last_bgsave_status:ok\r\n"
    "# Stats\r\ntotal_error_replies:9\r\n"
    "# Errorstats\r\nerrorstat_ERR:count=2\r\nerrorstat_OOM:count=7\r\n"
)


def families_text(info: str, **snap: str | None) -> str:
    snapshot = redis_exporter.Snapshot(info=parse_info(info), slowlog_length=0.0,
                                       **snap)  # type: ignore[arg-type]
    return exposition(redis_exporter.families("main", Outcome(True, snapshot), RedisConfig()))


def test_recorded_info_gives_host_memory_oom_errors_and_maxclients_from_config_get() -> None:
    text = families_text(RECORDED_INFO, save="3600 1 300 100 60 10000", maxclients="10000")
    assert value(text, "memory_max_bytes") == 0.0
    assert value(text, "memory_system_bytes") == 4000.0
    assert value(text, "oom_rejected_commands_total") == 7.0
    assert value(text, "max_clients") == 10000.0
    assert value(text, "rdb_save_period_seconds") == 3600.0


def test_refused_config_get_leaves_out_only_what_it_would_have_told() -> None:
    text = families_text(RECORDED_INFO, save=None, maxclients=None)
    assert value(text, "up") == 1.0
    assert value(text, "max_clients") is None
    assert value(text, "rdb_save_period_seconds") is None
    # Redis 7 tells maxclients in INFO itself; INFO wins over CONFIG GET.
    text = families_text(RECORDED_INFO + "maxclients:64\r\n", save="", maxclients="128")
    assert value(text, "max_clients") == 64.0
    assert value(text, "rdb_save_period_seconds") is None  # save "": persistence is off


def test_no_oom_line_counts_zero_where_errorstats_exist_and_nothing_where_they_do_not() -> None:
    assert value(families_text("total_error_replies:0\r\n"), "oom_rejected_commands_total") == 0
    assert value(families_text("redis_version:5.0.0\r\n"), "oom_rejected_commands_total") is None


@pytest.mark.parametrize(("save", "period"), [
    ("3600 1 300 100 60 10000", 3600.0), ("900 1", 900.0), ("", None), ("60", None),
    ("x 1", None),
])
def test_the_save_period_is_the_longest_save_point(save: str, period: float | None) -> None:
    assert redis_exporter.parse_save_period(save) == period


def test_writes_refused_for_memory_are_counted() -> None:
    server = OwnRedis("--maxmemory", "2mb", "--maxmemory-policy", "noeviction").start()
    try:
        client = server.client()
        refused = 0
        for i in range(2_000):  # 20 MB into 2 MB, no eviction
            try:
                client.set(f"fill:{i}", b"x" * 10_000)
            except redis.exceptions.OutOfMemoryError:
                refused += 1
        text = scrape_once(server.url)
    finally:
        server.stop()
    assert refused > 0
    assert value(text, "oom_rejected_commands_total") == float(refused)
    used, limit = value(text, "memory_used_bytes"), value(text, "memory_max_bytes")
    assert used is not None and limit == 2 * 1024 * 1024 and used / limit > 0.9


def test_the_save_period_is_published_only_where_saving_is_configured(
    own_redis: OwnRedis,
) -> None:
    saving = OwnRedis("--save", "60 1 30 100").start()
    try:
        with_saves = scrape_once(saving.url)
    finally:
        saving.stop()
    assert value(with_saves, "rdb_save_period_seconds") == 60.0
    without = scrape_once(own_redis.url)  # started with save ""
    assert value(without, "rdb_save_period_seconds") is None
    assert value(without, "max_clients") == 10000.0


def test_a_user_refused_config_get_still_gets_everything_else(own_redis: OwnRedis) -> None:
    client = own_redis.client()
    client.execute_command("ACL", "SETUSER", "pf_noconfig", "on", ">pf-secret", "~*",
                           "+@all", "-config")
    try:
        url = f"redis://pf_noconfig:pf-secret@127.0.0.1:{own_redis.port}/0"
        text = scrape_once(url)
    finally:
        client.execute_command("ACL", "DELUSER", "pf_noconfig")
    assert value(text, "up") == 1.0
    assert value(text, "max_clients") == 10000.0  # from INFO on Redis 7
    assert value(text, "rdb_save_period_seconds") is None
    assert value(text, "slowlog_length") is not None  # the pipeline stayed in step


@pytest.mark.parametrize(("slowlog", "config_get"), [(False, True), (True, False)])
def test_a_switched_off_command_leaves_the_pipeline_and_its_family_with_it(
    slowlog: bool, config_get: bool
) -> None:
    async def go() -> str:
        c = RedisTarget(Target("main", SHARED_REDIS_URL), RedisConfig(), slowlog, config_get)
        try:
            return await scrape_text(c)
        finally:
            await c.close()

    text = asyncio.run(go())
    assert value(text, "up") == 1.0
    assert (value(text, "slowlog_length") is not None) == slowlog
    assert value(text, "uptime_seconds") is not None  # INFO is always read
    if not config_get:
        assert "promfleet_redis_rdb_save_period_seconds" not in text


# --- the round trip's cost (issue: CPU per sample against redis_exporter) -------------

def test_maxclients_is_asked_once_per_connection_when_info_tells_it() -> None:
    # Redis 7's INFO carries maxclients: CONFIG GET maxclients is asked on the first
    # scrape of a connection only, CONFIG GET save on every one, and the value is served.
    server = OwnRedis("--maxclients", "77").start()

    def config_gets() -> int:
        stats = server.client().info("commandstats")
        return int(stats.get("cmdstat_config|get", {}).get("calls", 0))

    async def go() -> list[str]:
        c = collector(server.url)
        try:
            texts = [await scrape_text(c) for _ in range(3)]
            assert c._conn is not None
            await c.disconnect(c._conn)  # a new connection asks again
            texts.append(await scrape_text(c))
            return texts
        finally:
            await c.close()

    try:
        if "maxclients" not in server.client().info("clients"):
            pytest.skip("this redis-server's INFO does not tell maxclients (Redis < 7)")
        before = config_gets()
        texts = asyncio.run(go())
        asked = config_gets() - before
    finally:
        server.stop()
    assert all(value(text, "max_clients") == 77 for text in texts)
    assert all(value(text, "up") == 1 for text in texts)
    assert asked == 4 + 2  # save on each of 4 scrapes; maxclients on each connection's first


def test_replies_are_parsed_by_hiredis_as_the_dependencies_install_it() -> None:
    # The like-for-like CPU aim in bench/results.md is met with the C parser; a lost
    # dependency would silently put the pure-Python one back.
    from redis.utils import HIREDIS_AVAILABLE

    assert HIREDIS_AVAILABLE, "hiredis is a dependency (redis[hiredis] in pyproject.toml)"

    async def go() -> str:
        c = collector(SHARED_REDIS_URL)
        try:
            await scrape_text(c)
            assert c._conn is not None
            return type(c._conn._parser).__name__
        finally:
            await c.close()

    assert "Hiredis" in asyncio.run(go())
