"""Generator speed: ``make rules`` end to end, and synthetic catalogues of 250/500/1,000
thresholds through validation and every renderer, to see that it grows linearly."""

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
MAKE_RULES_AIM_S = 2.0


def synthetic(size: int) -> Catalogue:
    """The real catalogue plus an area of ``size`` two-level thresholds (unique names)."""
    real = load()
    thresholds = tuple(
        dataclasses.replace(FDS_HIGH, name=f"SyntheticFileDescriptors{i:05d}") for i in range(size)
    )
    area = Area("synthetic", "Synthetic", "Benchmark load.", (), thresholds)
    return dataclasses.replace(real, areas=(*real.areas, area))


def _best(seconds: list[float]) -> float:
    return min(seconds)


def time_make_rules() -> list[float]:
    times = []
    with tempfile.TemporaryDirectory() as out:
        for _ in range(REPEATS):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "generator", "--out", out],
                cwd=ROOT,
                check=True,
                capture_output=True,
                timeout=120,
            )
            times.append(time.perf_counter() - start)
    return times


def time_catalogue(
    catalogue: Catalogue, known: frozenset[str], repeats: int = REPEATS
) -> tuple[float, int]:
    times, files = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        validate(catalogue, known)
        files = len(render_all(catalogue, Settings()))
        times.append(time.perf_counter() - start)
    return _best(times), files


def run() -> str:
    make_rules = time_make_rules()
    known = known_metrics_from_exporters()
    real_levels = sum(len(t.levels) for _, t in load().thresholds())
    real_s, real_files = time_catalogue(load(), known)
    rows = []
    per_threshold = {}
    for size in SIZES:
        seconds, files = time_catalogue(synthetic(size), known, repeats=2)
        extra = seconds - real_s
        per_threshold[size] = extra / size
        rows.append(f"| {size} | {files} | {seconds:.3f} | {extra / size * 1e6:.0f} |")
    growth = (per_threshold[SIZES[-1]] / per_threshold[SIZES[0]]) if per_threshold[SIZES[0]] else 0
    linear = 0.5 <= growth <= 1.5
    median = statistics.median(make_rules)
    lines = [
        "## Generator",
        "",
        f"`make rules` equivalent (`python -m generator`, fresh interpreter, {REPEATS} runs): "
        f"median {median:.2f} s, best {min(make_rules):.2f} s "
        f"(aim: well under {MAKE_RULES_AIM_S:.0f} s; "
        f"{'met' if median < MAKE_RULES_AIM_S else 'NOT met'}).",
        "",
        f"In process, the real catalogue ({real_levels} alert levels, {real_files} files): "
        f"{real_s:.3f} s to validate and render everything.",
        "",
        "Synthetic catalogues: the real one plus N two-level thresholds, validated and "
        "rendered by every renderer (best of 2):",
        "",
        "| thresholds added | files | seconds | µs per added threshold |",
        "|---:|---:|---:|---:|",
        *rows,
        "",
        f"Cost per threshold at {SIZES[-1]} vs at {SIZES[0]}: x{growth:.2f} "
        f"({'linear' if linear else 'NOT linear'}: within x0.5..x1.5 counts as linear). "
        "No reference tool renders this catalogue, so there is no side-by-side ratio here.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
