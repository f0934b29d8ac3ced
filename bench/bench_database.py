"""PostgreSQL and Redis exporters against Debian's Go exporters, side by side in one run.

Each pair scrapes the same local server (the shared PostgreSQL and Redis, or the
``PROMFLEET_TEST_PG_DSN`` / ``PROMFLEET_TEST_REDIS_URL`` ones), interleaved; the section
reports samples, CPU per scrape and per sample, p50/p99 latency and RSS, with ratios.

Each pair is also measured on a trivial endpoint (ours ``/healthz``, postgres_exporter's
landing page, redis_exporter's ``/health``): the fixed CPU of one HTTP request, which a
scrape of few samples cannot spread. CPU above that floor, per sample, is reported too.
"""

from __future__ import annotations

import dataclasses
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


@dataclasses.dataclass(frozen=True)
class Side:
    """One exporter's scrapes and its trivial-endpoint requests, from the same process."""

    scrape: common.Measurement
    floor: common.Measurement  # the trivial endpoint

    @property
    def above_floor_per_sample_s(self) -> float:
        extra = self.scrape.cpu_per_scrape_s - self.floor.cpu_per_scrape_s
        return extra / self.scrape.samples if self.scrape.samples else float("nan")


def _pair(name: str, ours_env: dict[str, str], ref_argv: list[str],
          ref_env: dict[str, str], ref_floor_path: str) -> tuple[Side, Side]:
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
        floor = common.measure_side_by_side(
            {
                "ours": dataclasses.replace(ours, url=f"http://127.0.0.1:{ours_port}/healthz"),
                "ref": dataclasses.replace(ref, url=f"http://127.0.0.1:{ref_port}{ref_floor_path}"),
            },
            scrapes=3 * SCRAPES,  # cheap requests: more of them, so CPU ticks resolve them
        )
    return Side(got["ours"], floor["ours"]), Side(got["ref"], floor["ref"])


def _section(title: str, ref_name: str, ours: Side, ref: Side) -> str:
    o, r = ours.scrape, ref.scrape
    rows = common.measurement_rows(o, r)
    rows += [
        common.Row("CPU per trivial HTTP request (floor)", ours.floor.cpu_per_scrape_s,
                   ref.floor.cpu_per_scrape_s, "{:.0f} µs", 1e6),
        common.Row("CPU per sample above the floor", ours.above_floor_per_sample_s,
                   ref.above_floor_per_sample_s, "{:.2f} µs", 1e6),
    ]
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
                       {"DATA_SOURCE_NAME": _pg_url(PG_DSN)}, "/")
    parts = urlsplit(REDIS_URL)
    addr = f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"
    rd_o, rd_r = _pair("redis", {"PROMFLEET_REDIS_URL": REDIS_URL},
                       [redis_ref, f"--redis.addr=redis://{addr}"], {}, "/health")
    return (
        "## database: promfleet postgres and redis exporters vs the Go exporters\n\n"
        f"{pg_o.scrape.scrapes} scrapes each, interleaved, sequential, one kept-alive connection "
        "each, against the same idle local servers. CPU is user+system of each exporter "
        "process over the run divided by the scrapes (the database server's own work is "
        "not counted). The sample counts differ (the Go exporters add Go runtime metrics "
        "and, for PostgreSQL, every pg_settings row), so compare CPU per sample and per "
        "scrape together. The floor rows say what a scrape of few samples cannot go "
        "below: the CPU of answering one HTTP request at all.\n\n"
        + _section("PostgreSQL", "postgres_exporter", pg_o, pg_r)
        + "\n" + _section("Redis", "redis_exporter", rd_o, rd_r)
    )
