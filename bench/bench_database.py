"""PostgreSQL and Redis exporters against Debian's Go exporters, side by side in one run.

Each pair scrapes the same local server (the shared PostgreSQL and Redis, or the
``PROMFLEET_TEST_PG_DSN`` / ``PROMFLEET_TEST_REDIS_URL`` ones), interleaved; the section
reports samples, CPU per scrape and per sample, p50/p99 latency and RSS, with ratios.

Each pair is also measured on a trivial endpoint (ours ``/healthz``, postgres_exporter's
landing page, redis_exporter's ``/health``): the fixed CPU of one HTTP request, which a
scrape of few samples cannot spread. CPU above that floor, per sample, is reported too.

The Go exporters publish about 8x the samples of one of our targets (Go runtime
metrics, every pg_settings row), so a per-sample ratio at one target divides our fixed
per-request cost over 8x fewer samples. The aim is judged like for like: ours is run
again with the same server listed as k targets, k chosen so its samples per scrape
reach the Go exporter's (each target a real connection, query and families), and
scraped interleaved with the Go exporter once more. Where the time of one scrape goes
is measured in this process by :mod:`bench.scrape_profile`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from bench import common, scrape_profile

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


@contextlib.contextmanager
def _both(name: str, ours_env: dict[str, str], ref_argv: list[str],
          ref_env: dict[str, str]) -> Iterator[tuple[common.Started, common.Started]]:
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
        yield ours, ref


def _pair(name: str, ours_env: dict[str, str], ref_argv: list[str],
          ref_env: dict[str, str], ref_floor_path: str) -> tuple[Side, Side]:
    with _both(name, ours_env, ref_argv, ref_env) as (ours, ref):
        ours_port = urlsplit(ours.url).port
        ref_port = urlsplit(ref.url).port
        got = common.measure_side_by_side({"ours": ours, "ref": ref}, scrapes=SCRAPES)
        floor = common.measure_side_by_side(
            {
                "ours": dataclasses.replace(ours, url=f"http://127.0.0.1:{ours_port}/healthz"),
                "ref": dataclasses.replace(ref, url=f"http://127.0.0.1:{ref_port}{ref_floor_path}"),
            },
            scrapes=3 * SCRAPES,  # cheap requests: more of them, so CPU ticks resolve them
        )
    return Side(got["ours"], floor["ours"]), Side(got["ref"], floor["ref"])


@dataclasses.dataclass(frozen=True)
class LikeForLike:
    """Ours with ``targets`` copies of the one target, beside the Go exporter again."""

    targets: int
    ours: common.Measurement
    ref: common.Measurement


def _like_for_like(name: str, key: str, locator: str, one_target_samples: int,
                   ref_samples: int, ref_argv: list[str],
                   ref_env: dict[str, str]) -> LikeForLike:
    k = max(1, math.ceil(ref_samples / one_target_samples))
    targets = [{"name": f"t{i}", key: locator} for i in range(1, k + 1)]
    env = {f"PROMFLEET_{name.upper()}_TARGETS": json.dumps(targets)}  # JSON is YAML
    with _both(name, env, ref_argv, ref_env) as (ours, ref):
        got = common.measure_side_by_side({"ours": ours, "ref": ref}, scrapes=SCRAPES)
    return LikeForLike(k, got["ours"], got["ref"])


def _section(title: str, ref_name: str, ours: Side, ref: Side, like: LikeForLike,
             profile: list[tuple[str, scrape_profile.Cpu]]) -> str:
    o, r = ours.scrape, ref.scrape
    rows = common.measurement_rows(o, r)
    rows += [
        common.Row("CPU per trivial HTTP request (floor)", ours.floor.cpu_per_scrape_s,
                   ref.floor.cpu_per_scrape_s, "{:.0f} µs", 1e6),
        common.Row("CPU per sample above the floor", ours.above_floor_per_sample_s,
                   ref.above_floor_per_sample_s, "{:.2f} µs", 1e6),
        common.Row(f"like for like: samples per scrape ({like.targets} targets)",
                   like.ours.samples, like.ref.samples, "{:.0f}"),
        common.Row("like for like: CPU per scrape", like.ours.cpu_per_scrape_s,
                   like.ref.cpu_per_scrape_s, "{:.2f} ms", 1e3),
        common.Row("like for like: RSS at end", like.ours.rss_bytes, like.ref.rss_bytes,
                   "{:.1f} MB", 1e-6),
    ]
    aims = [
        common.Row("like for like: CPU per sample (aim)", like.ours.cpu_per_sample_s,
                   like.ref.cpu_per_sample_s, "{:.2f} µs", 1e6,
                   aim=lambda ours, ref: ref is not None and ours <= AIM_CPU_PER_SAMPLE_RATIO * ref,
                   aim_text=f"<= {AIM_CPU_PER_SAMPLE_RATIO}x {ref_name}"),
        common.Row("CPU per scrape, one target (aim)", o.cpu_per_scrape_s, r.cpu_per_scrape_s,
                   "{:.2f} ms", 1e3,
                   aim=lambda ours, ref: ref is not None and ours < ref,
                   aim_text=f"< {ref_name}"),
        common.Row("p99 scrape latency (aim)", o.p99_s, r.p99_s, "{:.2f} ms", 1e3,
                   aim=lambda ours, _ref: ours < AIM_P99_S,
                   aim_text=f"< {AIM_P99_S * 1e3:.0f} ms"),
    ]
    return (f"### {title}\n\n" + common.table([*rows, *aims], "promfleet", ref_name)
            + "\nWhere one scrape's CPU goes (one target; each piece timed in this process "
            f"over at least {PROFILE_SCRAPES} runs and {scrape_profile.MIN_CPU_S} CPU s, "
            "user+system, by `python -m bench.scrape_profile`; the HTTP piece is aiohttp "
            "parsing a request and writing a response on an in-memory transport, so the "
            "socket side of the floor above lands in the rest):\n\n"
            + scrape_profile.table(title.lower(), profile, o.cpu_per_scrape_s,
                                  ours.floor.cpu_per_scrape_s)
            + "\n" + _why(ref_name, ours, ref, like))


def _why(ref_name: str, ours: Side, ref: Side, like: LikeForLike) -> str:
    """Why a one-target scrape cannot be judged per sample: the figures that say so."""
    o, r = ours.scrape, ref.scrape
    floor = ours.floor.cpu_per_scrape_s
    budget = AIM_CPU_PER_SAMPLE_RATIO * r.cpu_per_sample_s * o.samples
    return (
        f"At one target, {AIM_CPU_PER_SAMPLE_RATIO}x {ref_name}'s CPU per sample "
        f"({r.cpu_per_sample_s * 1e6:.2f} µs) over our {o.samples} samples is "
        f"{budget * 1e6:.0f} µs for a whole scrape. Answering any request at all costs "
        f"{floor * 1e6:.0f} µs here (the floor row: aiohttp and the kernel's socket work; "
        f"{ref_name}'s net/http {ref.floor.cpu_per_scrape_s * 1e6:.0f} µs), which leaves "
        f"{(budget - floor) * 1e6:.0f} µs for the round trip, the families and the "
        f"rendering, against {(o.cpu_per_scrape_s - floor) * 1e6:.0f} µs measured. Like "
        f"for like the request is paid once for {like.ours.samples} samples, as "
        f"{ref_name} pays it once for its {like.ref.samples}.\n"
    )


PROFILE_SCRAPES = 1000


def _profile(name: str) -> list[tuple[str, scrape_profile.Cpu]]:
    return asyncio.run(scrape_profile.profile(name, PROFILE_SCRAPES))


def run() -> str:
    pg_ref = common.require_binary("prometheus-postgres-exporter")
    redis_ref = common.require_binary("prometheus-redis-exporter")
    pg_env = {"DATA_SOURCE_NAME": _pg_url(PG_DSN)}
    pg_o, pg_r = _pair("postgres", {"PROMFLEET_POSTGRES_DSN": PG_DSN}, [pg_ref], pg_env, "/")
    pg_like = _like_for_like("postgres", "dsn", PG_DSN, pg_o.scrape.samples,
                             pg_r.scrape.samples, [pg_ref], pg_env)
    parts = urlsplit(REDIS_URL)
    addr = f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"
    rd_argv = [redis_ref, f"--redis.addr=redis://{addr}"]
    rd_o, rd_r = _pair("redis", {"PROMFLEET_REDIS_URL": REDIS_URL}, rd_argv, {}, "/health")
    rd_like = _like_for_like("redis", "url", REDIS_URL, rd_o.scrape.samples,
                             rd_r.scrape.samples, rd_argv, {})
    return (
        "## database: promfleet postgres and redis exporters vs the Go exporters\n\n"
        f"{pg_o.scrape.scrapes} scrapes each, interleaved, sequential, one kept-alive connection "
        "each, against the same idle local servers. CPU is user+system of each exporter "
        "process over the run divided by the scrapes (the database server's own work is "
        "not counted). The sample counts differ (the Go exporters add Go runtime metrics "
        "and, for PostgreSQL, every pg_settings row), so compare CPU per sample and per "
        "scrape together. The floor rows say what a scrape of few samples cannot go "
        "below: the CPU of answering one HTTP request at all.\n\n"
        "**Which comparison the aim is judged on.** CPU per sample is judged like for "
        "like: ours is run again with the same server listed as k targets, k the "
        "smallest that brings its samples per scrape to the Go exporter's, and scraped "
        "interleaved with the Go exporter once more (each target is a real connection, "
        "query batch and set of families; the HTTP request and the process metrics are "
        "paid once, as the Go exporter pays them once for its 8x samples). CPU per scrape "
        "is judged at one target, against the Go exporter's one scrape. The one-target "
        "CPU per sample is reported, not judged: it divides the fixed cost of answering "
        "a request over 8x fewer samples.\n\n"
        + _section("PostgreSQL", "postgres_exporter", pg_o, pg_r, pg_like,
                   _profile("postgres"))
        + "\n" + _section("Redis", "redis_exporter", rd_o, rd_r, rd_like, _profile("redis"))
    )
