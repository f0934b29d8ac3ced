"""What the recipe tests share: temporary copies of the generator and of the exporters
package to add files to, and a small exporter module written as the README's "How to
add an exporter" says."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO_ROOT, child_env

# A complete exporter in one module, as "How to add an exporter" step 1 describes it: its
# collectors declared in COLLECTORS, METRICS their union, families built from FAMILIES.
UPTIME_EXPORTER = '''\
"""The uptime exporter: seconds since the machine booted, from /proc/uptime."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from prometheus_client.core import Metric

from exporters.families import Families
from exporters.spec import (
    BlockingCollector,
    Collector,
    CollectorDef,
    ExporterDef,
    MetricNamespace,
    MetricSpec,
    Option,
    ScrapeContext,
    Settings,
    metrics_of,
    option_value,
    parse_str,
)

NS = "promfleet_uptime"
_m = MetricNamespace(NS)

COLLECTORS: tuple[CollectorDef, ...] = (
    CollectorDef("uptime", "seconds since boot (/proc/uptime)", (
        _m("seconds", "gauge", "Seconds since the machine booted."),
    )),
)
METRICS: tuple[MetricSpec, ...] = metrics_of(*(c.metrics for c in COLLECTORS))
FAMILIES = Families(METRICS, f"{NS}_")

OPTIONS: tuple[Option, ...] = (
    Option("proc.path", "Where the proc filesystem is mounted.", "/proc", parse_str),
)


class UptimeCollector(BlockingCollector):
    """promfleet_uptime_seconds 12345.67"""

    name = "uptime"

    def __init__(self, proc: Path) -> None:
        self.proc = proc

    def collect_blocking(self, ctx: ScrapeContext) -> Iterable[Metric]:
        seconds = float((self.proc / "uptime").read_text().split()[0])
        return [FAMILIES["seconds"].one(seconds)]


def build(settings: Settings) -> Sequence[Collector]:
    proc = Path(option_value(OPTIONS, settings, "proc.path"))
    return (UptimeCollector(proc),)


EXPORTER = ExporterDef(
    name="uptime",
    namespace=NS,
    description="Seconds since the machine booted.",
    metrics=METRICS,
    options=OPTIONS,
    build=build,
    default_port=9109,
    collectors=COLLECTORS,
)
'''


def exporter_package(root: Path, module: str, source: str) -> str:
    """``source`` written as ``recipe_exporters/<module>.py`` under ``root``; its dotted name.

    The runtime serves a dotted module path as it serves a registered name, so the
    exporter runs without touching the repository's ``exporters/``.
    """
    package = root / "recipe_exporters"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text('"""Exporters written by the recipe tests."""\n')
    (package / f"{module}.py").write_text(source)
    return f"recipe_exporters.{module}"


def python_path(*first: Path) -> dict[str, str]:
    """An environment whose PYTHONPATH puts ``first`` ahead of the repository."""
    return {"PYTHONPATH": os.pathsep.join([*(str(p) for p in first), str(REPO_ROOT)])}


def generator_copy(root: Path) -> Path:
    """A copy of ``generator/`` under ``root``, to add a catalogue area or a renderer to."""
    shutil.copytree(
        REPO_ROOT / "generator",
        root / "generator",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return root / "generator"


def exporters_copy(root: Path) -> Path:
    """A copy of ``exporters/`` under ``root``, to add an exporter module to; with
    :func:`python_path` it is the ``exporters`` package a child process discovers."""
    shutil.copytree(
        REPO_ROOT / "exporters",
        root / "exporters",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return root / "exporters"


def run_generator(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m generator ARGS`` with the copy under ``root`` ahead of the repository."""
    return subprocess.run(
        [sys.executable, "-m", "generator", *args],
        cwd=root,
        env=child_env(python_path(root)),
        capture_output=True,
        text=True,
        timeout=300,
    )
