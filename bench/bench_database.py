"""PostgreSQL and Redis exporters against Debian's Go exporters, side by side in one run.

Each pair scrapes the same local server (the shared PostgreSQL and Redis, or the
``PROMFLEET_TEST_PG_DSN`` / ``PROMFLEET_TEST_REDIS_URL`` ones), interleaved; the section
reports samples, CPU per scrape and per sample, p50/p99 latency and RSS, with ratios.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from bench import common

SCRAPES = int(os.environ.get("PROMFLEET_BENCH_SCRAPES", "300"))
REPO_ROOT = Path(__file__).resolve().parent.parent
PG_DSN = os.environ.get("PROMFLEET_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("PROMFLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

AIM_CPU_PER_SAMPLE_RATIO = 1.5
AIM_P99_S = 0.050


def _pg_url(dsn: str) -> str:
    """postgres_exporter wants a URL; ours takes either form."""
    if "://" in dsn:
        return dsn if "sslmode=" in dsn else dsn + ("&" if "?" in dsn else "?") + "sslmode=disable"
    params = dict(part.split("=", 1) for part in dsn.split())
    user = params.get("user", "postgres")
    return (f"postgresql://{user}@{params.get('host', '127.0.0.1')}:{params.get('port', '5432')}"
            f"/{params.get('dbname', 'postgres')}?sslmode=disable")


def _pair(name: str, ours_env: dict[str, str], ref_argv: list[str],
          ref_env: dict[str, str]) -> tuple[common.Measurement, common.Measurement]:
    ours_port = common.free_port()
    ours_argv = [sys.executable, "-m", "exporters", name,
                 f"--web.listen-address=127.0.0.1:{ours_port}"]
    env = {"PYTHONPATH": str(REPO_ROOT), **ours_env}
    ref_port = common.free_port()
    ref_argv = [*ref_argv, f"--web.listen-address=127.0.0.1:{ref_port}"]
    with (
        common.started(ours_argv, f"http://127.0.0.1:{ours_port}/metrics", env=env,
                       cwd=str(REPO_ROOT)) as ours,
        common.started(ref_argv, f"http://127.0.0.1:{ref_port}/metrics", env=ref_env) as ref,
    ):
        got = common.measure_side_by_side({"ours": ours, "ref": ref}, scrapes=SCRAPES)
    return got["ours"], got["ref"]


def _section(title: str, ref_name: str, o: common.Measurement, r: common.Measurement) -> str:
    rows = common.measurement_rows(o, r)
    aims = [
        common.Row("CPU per sample (aim)", o.cpu_per_sample_s, r.cpu_per_sample_s,
                   "{:.2f} µs", 1e6,
                   aim=lambda ours, ref: ref is not None and ours <= AIM_CPU_PER_SAMPLE_RATIO * ref,
                   aim_text=f"<= {AIM_CPU_PER_SAMPLE_RATIO}x {ref_name}"),
        common.Row("p99 scrape latency (aim)", o.p99_s, r.p99_s, "{:.2f} ms", 1e3,
                   aim=lambda ours, _ref: ours < AIM_P99_S,
                   aim_text=f"< {AIM_P99_S * 1e3:.0f} ms"),
    ]
    return f"### {title}\n\n" + common.table([*rows, *aims], "promfleet", ref_name)


def run() -> str:
    pg_ref = common.require_binary("prometheus-postgres-exporter")
    redis_ref = common.require_binary("prometheus-redis-exporter")
    pg_o, pg_r = _pair("postgres", {"PROMFLEET_POSTGRES_DSN": PG_DSN}, [pg_ref],
                       {"DATA_SOURCE_NAME": _pg_url(PG_DSN)})
    parts = urlsplit(REDIS_URL)
    addr = f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"
    rd_o, rd_r = _pair("redis", {"PROMFLEET_REDIS_URL": REDIS_URL},
                       [redis_ref, f"--redis.addr=redis://{addr}"], {})
    return (
        "## database: promfleet postgres and redis exporters vs the Go exporters\n\n"
        f"{pg_o.scrapes} scrapes each, interleaved, sequential, one kept-alive connection "
        "each, against the same idle local servers. CPU is user+system of each exporter "
        "process over the run divided by the scrapes (the database server's own work is "
        "not counted). The sample counts differ (the Go exporters add Go runtime metrics "
        "and, for PostgreSQL, every pg_settings row), so compare CPU per sample and per "
        "scrape together.\n\n"
        + _section("PostgreSQL", "postgres_exporter", pg_o, pg_r)
        + "\n" + _section("Redis", "redis_exporter", rd_o, rd_r)
    )
