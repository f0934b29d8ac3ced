"""What the recipe tests share: a temporary copy of the generator to add files to, and a
small exporter module written as the README's "How to add an exporter" says."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO_ROOT, child_env

# A complete exporter in one module, as "How to add an exporter" step 1 describes it.
UPTIME_EXPORTER = '''\
"""The uptime exporter: seconds since the machine booted, from /proc/uptime."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from prometheus_client.core import Metric

from exporters.spec import (
    BlockingCollector,
    Collector,
    ExporterDef,
    MetricSpec,
    Option,
    ScrapeContext,
    Settings,
    parse_str,
)

NS = "promfleet_uptime"

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(f"{NS}_seconds", "gauge", "Seconds since the machine booted."),
)
SPECS = {spec.name: spec for spec in METRICS}

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
        family = SPECS[f"{NS}_seconds"].family()
        family.add_metric([], seconds)
        return [family]


def build(settings: Settings) -> Sequence[Collector]:
    proc = Path(settings["proc.path"])
    return (UptimeCollector(proc),)


EXPORTER = ExporterDef(
    name="uptime",
    namespace=NS,
    description="Seconds since the machine booted.",
    metrics=METRICS,
    options=OPTIONS,
    build=build,
    default_port=9109,
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
