"""System exporter against Debian's prometheus-node-exporter, side by side in one run.

Both start on free loopback ports (node_exporter with its default collectors) and are
scraped alternately; the section reports samples, CPU per scrape and per exposed
sample, p50/p99 latency and RSS, each with the ratio to node_exporter, and the aims.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench import common

SCRAPES = int(os.environ.get("PROMFLEET_BENCH_SCRAPES", "300"))
REPO_ROOT = Path(__file__).resolve().parent.parent

AIM_CPU_PER_SAMPLE_RATIO = 1.5
AIM_P99_S = 0.015
AIM_RSS_BYTES = 45e6


# What every promfleet exporter's RSS starts from: the interpreter with the runtime's
# dependencies imported, before any exporter code runs.
_FLOOR_SCRIPT = (
    "import asyncio, aiohttp.web, prometheus_client\n"
    "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))"
)


def import_floor_rss_bytes() -> float:
    """Peak RSS of a bare interpreter that imports asyncio, aiohttp.web and prometheus-client."""
    try:
        out = subprocess.run(
            [sys.executable, "-c", _FLOOR_SCRIPT],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as err:
        raise common.BenchError(f"could not measure the import floor: {err}") from err
    return int(out.stdout.strip()) * 1024.0


def run() -> str:
    node = common.require_binary("prometheus-node-exporter")
    ours_port, node_port = common.free_port(), common.free_port()
    ours_argv = [
        sys.executable,
        "-m",
        "exporters",
        "system",
        f"--web.listen-address=127.0.0.1:{ours_port}",
    ]
    node_argv = [node, f"--web.listen-address=127.0.0.1:{node_port}"]
    env = {"PYTHONPATH": str(REPO_ROOT)}
    with (
        common.started(
            ours_argv, f"http://127.0.0.1:{ours_port}/metrics", env=env, cwd=str(REPO_ROOT)
        ) as ours,
        common.started(node_argv, f"http://127.0.0.1:{node_port}/metrics") as ref,
    ):
        got = common.measure_side_by_side({"ours": ours, "node": ref}, scrapes=SCRAPES)
    o, n = got["ours"], got["node"]
    rows = common.measurement_rows(o, n)
    rows.append(
        common.Row(
            "peak RSS of the imports alone (asyncio, aiohttp, prometheus-client)",
            import_floor_rss_bytes(),
            None,
            "{:.1f} MB",
            1e-6,
        )
    )
    aims = [
        common.Row(
            "CPU per sample (aim)",
            o.cpu_per_sample_s,
            n.cpu_per_sample_s,
            "{:.2f} µs",
            1e6,
            aim=lambda ours, ref: ref is not None and ours <= AIM_CPU_PER_SAMPLE_RATIO * ref,
            aim_text=f"<= {AIM_CPU_PER_SAMPLE_RATIO}x node",
        ),
        common.Row(
            "p99 scrape latency (aim)",
            o.p99_s,
            n.p99_s,
            "{:.2f} ms",
            1e3,
            aim=lambda ours, _ref: ours < AIM_P99_S,
            aim_text=f"< {AIM_P99_S * 1e3:.0f} ms",
        ),
        common.Row(
            "peak RSS (aim)",
            o.peak_rss_bytes,
            n.peak_rss_bytes,
            "{:.1f} MB",
            1e-6,
            aim=lambda ours, _ref: ours < AIM_RSS_BYTES,
            aim_text=f"< {AIM_RSS_BYTES / 1e6:.0f} MB",
        ),
    ]
    return (
        "## system: promfleet system exporter vs prometheus-node-exporter\n\n"
        f"{o.scrapes} scrapes each, interleaved, sequential, one kept-alive connection each; "
        "node_exporter with its default collectors. CPU is user+system of each process "
        "over the whole run divided by the scrapes. Samples differ (node_exporter "
        "exposes more collectors and its Go runtime metrics), so compare CPU per sample.\n\n"
        + common.table([*rows, *aims], "promfleet", "node_exporter")
    )
