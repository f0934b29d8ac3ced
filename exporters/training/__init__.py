"""The training exporter (``promfleet-exporter training``): model training and serving state.

Reads status records (jobs, model loading, drift monitors, federated-learning
coordinators) from a status directory and/or Redis hashes, and GPUs through NVML. This
module owns the options and wires the collectors; ``metrics.py`` declares the
collectors with their families and ``METRICS``, their union; ``status.py`` is the
writer helper for trainers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from exporters.spec import (
    Collector,
    ExporterDef,
    Option,
    OptionError,
    Settings,
    option_value,
    parse_bool,
    parse_duration,
    parse_positive_int,
    parse_str,
    switch_with_alias,
)
from exporters.training.collector import RecordsCollector, RecordsConfig
from exporters.training.gpu import GpuCollector
from exporters.training.metrics import COLLECTORS, GPU, METRICS, NS
from exporters.training.sources import RedisSource

log = logging.getLogger("promfleet.training")

__all__ = ["EXPORTER", "METRICS", "build"]

_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def parse_prefix(value: Any) -> str:
    text = parse_str(value)
    if not _PREFIX.match(text):
        raise ValueError("expected letters, digits, '_', '.', ':', '-' (no glob characters)")
    return text


OPTIONS: tuple[Option, ...] = (
    Option(
        "directory",
        "Status directory the writers put their JSON records in (empty: not read).",
        "",
        parse_str,
    ),
    Option(
        "directory.max-file-bytes",
        "Largest record file read; bigger ones are rejected as too_large.",
        65_536,
        parse_positive_int,
    ),
    Option(
        "redis.url",
        "Redis URL whose hashes hold status records (empty: not read); may carry a password.",
        "",
        parse_str,
        secret=True,
    ),
    Option(
        "redis.key-prefix",
        "Records are the hashes under <prefix>:<kind>:<id>.",
        "promfleet:training",
        parse_prefix,
    ),
    Option(
        "records.max-age",
        "A record not rewritten for this long counts as outdated "
        "(finished jobs excepted: they live for the retention window).",
        3600.0,
        parse_duration,
    ),
    Option(
        "records.max",
        "Most records read from one source per scrape; the rest are counted as dropped.",
        10_000,
        parse_positive_int,
    ),
    Option(
        "jobs.retention",
        "How long a finished job's series stay after it ends.",
        3600.0,
        parse_duration,
    ),
    Option(
        "jobs.max",
        "Most jobs with per-job series (running first, then the most recently ended).",
        200,
        parse_positive_int,
    ),
    Option(
        "models.max",
        "Most models with series; records of the others are dropped and counted.",
        100,
        parse_positive_int,
    ),
    Option(
        "gpu.enabled",
        "Deprecated: use --collector.gpu / --no-collector.gpu, which win when given. "
        "false still leaves the GPU collector out.",
        True,
        parse_bool,
    ),
    Option(
        "gpu.retry-interval",
        "How often to try NVML again after it failed to start.",
        60.0,
        parse_duration,
    ),
)


def _get(settings: Settings, name: str) -> Any:
    return option_value(OPTIONS, settings, name)


def build(settings: Settings) -> Sequence[Collector]:
    """The records collector (when a source is configured) and the GPU collector."""
    cfg = RecordsConfig(
        max_age_s=_get(settings, "records.max-age"),
        retention_s=_get(settings, "jobs.retention"),
        models_max=_get(settings, "models.max"),
        jobs_max=_get(settings, "jobs.max"),
        max_records=_get(settings, "records.max"),
        max_file_bytes=_get(settings, "directory.max-file-bytes"),
    )
    collectors: list[Collector] = []
    directory = str(_get(settings, "directory"))
    url = str(_get(settings, "redis.url") or "")
    redis: RedisSource | None = None
    if url:
        try:
            redis = RedisSource(url, _get(settings, "redis.key-prefix"), cfg.max_records)
        except ValueError as err:  # never echo the URL: it may hold a password
            raise OptionError("--redis.url: not a redis://, rediss:// or unix:// URL") from err
    if directory or redis is not None:
        collectors.append(RecordsCollector(cfg, directory=directory, redis=redis))
    if switch_with_alias(settings, GPU, "gpu.enabled", log):
        collectors.append(GpuCollector(retry_s=_get(settings, "gpu.retry-interval")))
    return collectors


async def close(collectors: Sequence[Collector]) -> None:
    """Shut NVML down and close the Redis pool (the runtime awaits this, bounded)."""
    for collector in collectors:
        if isinstance(collector, GpuCollector):
            collector.close()
        elif isinstance(collector, RecordsCollector):
            await collector.close()


EXPORTER = ExporterDef(
    name="training",
    namespace=NS,
    description="Model training and serving: jobs, model loading, accuracy, drift, "
    "federated learning (status directory or Redis), and GPUs through NVML.",
    metrics=METRICS,
    collectors=COLLECTORS,
    options=OPTIONS,
    build=build,
    close=close,
    default_port=9108,
)
