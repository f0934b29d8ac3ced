"""Generator speed: ``make rules`` end to end, and synthetic catalogues of 250/500/1,000
thresholds through validation and every renderer, to see that it grows linearly.

``make rules`` is timed as a user sees it: a fresh interpreter (start-up and imports
included) running ``python -m generator`` into a scratch directory, median of several
runs after one warm-up. Beside it, the share of that time spent importing every exporter
module for its ``METRICS`` (what validation checks rules against).

The synthetic catalogues are timed in process as CPU time (``time.process_time``, best
of three): the machine is shared, and CPU time of one thread is far less disturbed by
other processes than wall time. The figure of interest is the cost per added threshold
and how it changes from 250 to 1,000: linear growth keeps it flat.
"""

from __future__ import annotations

import dataclasses
import statistics
import subprocess
import sys
import tempfile
import time

from generator.__main__ import ROOT, render_all
from generator.catalogue import load
from generator.catalogue.system import FDS_HIGH
from generator.model import Area, Catalogue, Settings
from generator.validate import known_metrics_from_exporters, validate

SIZES = (250, 500, 1000)
REPEATS = 3
MAKE_RULES_RUNS = 5
MAKE_RULES_AIM_S = 2.0
LINEAR_BAND = (0.8, 1.25)  # cost per threshold at 1,000 over that at 250


def synthetic(size: int) -> Catalogue:
    """The real catalogue plus an area of ``size`` two-level thresholds (unique names)."""
    real = load()
    thresholds = tuple(
        dataclasses.replace(FDS_HIGH, name=f"SyntheticFileDescriptors{i:05d}") for i in range(size)
    )
    area = Area("synthetic", "Synthetic", "Benchmark load.", (), thresholds)
    return dataclasses.replace(real, areas=(*real.areas, area))


def _fresh(args: list[str], runs: int) -> list[float]:
    """Wall seconds of ``python ARGS`` in a fresh interpreter, ``runs`` times after a warm-up."""
    times = []
    for attempt in range(runs + 1):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, *args], cwd=ROOT, check=True, capture_output=True, timeout=120
        )
        if attempt:  # the first run warms the page cache and writes the scratch output
            times.append(time.perf_counter() - start)
    return times


def time_make_rules(runs: int = MAKE_RULES_RUNS) -> list[float]:
    with tempfile.TemporaryDirectory() as out:
        return _fresh(["-m", "generator", "--out", out], runs)


def time_exporter_imports(runs: int = MAKE_RULES_RUNS) -> list[float]:
    """The same fresh interpreter doing nothing but importing the exporters' METRICS."""
    code = "from generator.validate import known_metrics_from_exporters as k; k()"
    return _fresh(["-c", code], runs)


def time_validator_import(runs: int = MAKE_RULES_RUNS) -> list[float]:
    """The baseline for :func:`time_exporter_imports`: start-up and the validator's imports."""
    return _fresh(["-c", "import generator.validate"], runs)


def time_catalogue(
    catalogue: Catalogue, known: frozenset[str], repeats: int = REPEATS
) -> tuple[float, int]:
    """Best CPU seconds to validate and render ``catalogue``, and how many files it makes."""
    times, files = [], 0
    for _ in range(repeats):
        start = time.process_time()
        validate(catalogue, known)
        files = len(render_all(catalogue, Settings()))
        times.append(time.process_time() - start)
    return min(times), files


def run() -> str:
    make_rules = time_make_rules()
    imports = time_exporter_imports()
    baseline = time_validator_import()
    known = known_metrics_from_exporters()
    real = load()
    real_levels = sum(len(t.levels) for _, t in real.thresholds())
    time_catalogue(real, known, repeats=1)  # warm: templates compiled, modules imported
    real_s, real_files = time_catalogue(real, known)
    rows = []
    per_threshold: dict[int, float] = {}
    for size in SIZES:
        seconds, files = time_catalogue(synthetic(size), known)
        per_threshold[size] = (seconds - real_s) / size
        ratio = per_threshold[size] / per_threshold[SIZES[0]] if per_threshold[SIZES[0]] else 0
        rows.append(
            f"| {size} | {files} | {seconds:.3f} | {per_threshold[size] * 1e6:.0f} | x{ratio:.2f} |"
        )
    growth = per_threshold[SIZES[-1]] / per_threshold[SIZES[0]] if per_threshold[SIZES[0]] else 0
    linear = LINEAR_BAND[0] <= growth <= LINEAR_BAND[1]
    median = statistics.median(make_rules)
    import_median = statistics.median(imports) - statistics.median(baseline)
    lines = [
        "## Generator",
        "",
        f"`make rules` equivalent (`python -m generator`, fresh interpreter, start-up "
        f"included, {MAKE_RULES_RUNS} runs after a warm-up): median {median:.2f} s, best "
        f"{min(make_rules):.2f} s, worst {max(make_rules):.2f} s (aim: under "
        f"{MAKE_RULES_AIM_S:.0f} s; {'met' if median < MAKE_RULES_AIM_S else 'NOT met'}). "
        f"Of the median, {import_median:.2f} s ({import_median / median:.0%}) is importing "
        "every exporter module for its `METRICS`, with the exporters' own dependencies "
        "(aiohttp, redis, psycopg, prometheus-client); start-up with the validator's imports "
        f"is {statistics.median(baseline):.2f} s.",
        "",
        f"In process, the real catalogue ({real_levels} alert levels, {real_files} files): "
        f"{real_s:.3f} CPU s to validate and render everything.",
        "",
        "Synthetic catalogues: the real one plus N two-level thresholds, validated and "
        f"rendered by every renderer and parsed back (CPU seconds, best of {REPEATS}):",
        "",
        "| thresholds added | files | CPU s | µs per added threshold | vs 250 |",
        "|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"Cost per threshold at {SIZES[-1]} vs at {SIZES[0]}: x{growth:.2f} "
        f"({'linear' if linear else 'NOT linear'}: within x{LINEAR_BAND[0]}..x{LINEAR_BAND[1]} "
        "counts as linear). No reference tool renders this catalogue, so there is no "
        "side-by-side ratio here.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
