"""The training exporter's collectors, each with its families, and ``METRICS``, their union.

The namespace is ``promfleet_training``. Labels are bounded: ``model`` (capped by
``--models.max``), ``job_id`` (only for jobs that run or ended within the retention
window, capped by ``--jobs.max``), ``state`` and ``type`` (closed sets), ``gpu`` (the
device index), ``source`` and ``reason`` (closed sets). What a cap leaves out is
counted in ``promfleet_training_dropped_series{set}``.
"""

from __future__ import annotations

from exporters.families import Families
from exporters.spec import CollectorDef, MetricNamespace, MetricSpec, metrics_of

NS = "promfleet_training"

JOB_STATES = ("pending", "running", "completed", "failed")
MODEL_STATES = ("loading", "loaded", "failed", "unloaded")
DRIFT_TYPES = ("concept", "data", "prediction")
SOURCES = ("directory", "redis")
REJECT_REASONS = (
    "malformed",  # not JSON, or not an object / hash
    "invalid",  # a field missing, of the wrong type, or out of range
    "unsupported_version",  # schema_version this exporter does not read
    "outdated",  # updated_at older than --records.max-age
    "too_large",  # a file over --directory.max-file-bytes
    "unreadable",  # an I/O error other than the file vanishing
)
GPU_UNAVAILABLE_REASONS = (
    "library_not_found",  # no libnvidia-ml: no driver installed
    "driver_not_loaded",
    "no_permission",
    "no_devices",  # NVML works, but sees no GPU
    "nvml_error",  # any other NVML failure at initialisation
)

_m = MetricNamespace(NS)

_JOB = ("model", "job_id")
_PER_JOB = " (per job while it runs and for the retention window after it ends)"

RECORDS = CollectorDef(
    "records",
    "training jobs, models and drift from the status records",
    (
        # Jobs ---------------------------------------------------------------------------------
        _m(
            "jobs",
            "gauge",
            "Training jobs per model and state; completed and failed count jobs that ended "
            "within the retention window",
            "model",
            "state",
        ),
        _m("pending_jobs", "gauge", "Jobs waiting to start, over all models (the queue)"),
        _m("job_running", "gauge", "1 while the job runs, 0 once it ended" + _PER_JOB, *_JOB),
        _m("job_progress_ratio", "gauge", "Share of the job done, 0 to 1" + _PER_JOB, *_JOB),
        _m("job_epoch", "gauge", "Current epoch" + _PER_JOB, *_JOB),
        _m("job_step", "gauge", "Current optimisation step" + _PER_JOB, *_JOB),
        _m("job_loss", "gauge", "Latest training loss" + _PER_JOB, *_JOB),
        _m(
            "job_eval_metric",
            "gauge",
            "Latest value of the job's evaluation metric (named in its record)" + _PER_JOB,
            *_JOB,
        ),
        _m("job_samples_per_second", "gauge", "Training throughput" + _PER_JOB, *_JOB),
        _m(
            "job_last_update_timestamp_seconds",
            "gauge",
            "Unix time the trainer last wrote the job's record (a stall stops it)" + _PER_JOB,
            *_JOB,
        ),
        _m("job_start_timestamp_seconds", "gauge", "Unix time the job started" + _PER_JOB, *_JOB),
        _m(
            "job_failed_timestamp_seconds",
            "gauge",
            "Unix time the job ended in state failed; only failed jobs have it, for the "
            "retention window after they end",
            *_JOB,
        ),
        # Models being served ------------------------------------------------------------------
        _m(
            "model_state",
            "gauge",
            "1 for the model's current loading state, 0 for the others",
            "model",
            "state",
        ),
        _m("model_load_progress_ratio", "gauge", "Share of the model loaded, 0 to 1", "model"),
        _m("model_memory_bytes", "gauge", "Memory the loaded model occupies", "model"),
        _m(
            "model_load_duration_seconds",
            "gauge",
            "How long the last load took (or has taken so far, while loading)",
            "model",
        ),
        _m(
            "model_accuracy_ratio",
            "gauge",
            "The served model's latest measured accuracy, 0 to 1",
            "model",
        ),
        _m(
            "model_accuracy_floor_ratio",
            "gauge",
            "The lowest accuracy the model's owners accept, 0 to 1",
            "model",
        ),
        # Drift monitors -----------------------------------------------------------------------
        _m(
            "drift_detections_total",
            "counter",
            "Drift detections the monitor reported since it started",
            "model",
            "type",
        ),
        _m(
            "drift_last_detection_timestamp_seconds",
            "gauge",
            "Unix time of the monitor's last drift detection",
            "model",
            "type",
        ),
        # Federated learning coordinators ------------------------------------------------------
        _m("federated_participants", "gauge", "Participants connected to the coordinator", "model"),
        _m(
            "federated_participants_expected",
            "gauge",
            "Participants the coordinator expects",
            "model",
        ),
        _m("federated_rounds_total", "counter", "Aggregation rounds completed", "model"),
        _m(
            "federated_last_aggregation_timestamp_seconds",
            "gauge",
            "Unix time of the last completed aggregation",
            "model",
        ),
        # The sources themselves ---------------------------------------------------------------
        _m("source_up", "gauge", "1 when the source was read in this scrape", "source"),
        _m("records", "gauge", "Records accepted from the source in this scrape", "source", "kind"),
        _m(
            "records_rejected",
            "gauge",
            "Records the source holds that this scrape could not use, by reason",
            "source",
            "reason",
        ),
        _m(
            "dropped_series",
            "gauge",
            "Items left out of this scrape because a capped label set was full",
            "set",
        ),
    ),
)

GPU = CollectorDef(
    "gpu",
    "GPU devices through NVML",
    (
        _m("gpu_devices", "gauge", "GPUs NVML reports (0 when NVML is absent or sees none)"),
        _m(
            "gpu_unavailable_info",
            "info",
            "Present when no GPU is reported; reason says why (library_not_found, "
            "driver_not_loaded, no_permission, no_devices, nvml_error)",
            "reason",
        ),
        _m("gpu_info", "info", "The GPU's product name", "gpu", "name"),
        _m(
            "gpu_up",
            "gauge",
            "1 when NVML answered every query for the GPU in this scrape; 0 when it failed "
            "(a GPU fallen off the bus): its other series are then absent",
            "gpu",
        ),
        _m(
            "gpu_utilisation_ratio",
            "gauge",
            "Share of the last sample period the GPU was busy, 0 to 1",
            "gpu",
        ),
        _m("gpu_memory_used_bytes", "gauge", "GPU memory in use", "gpu"),
        _m("gpu_memory_total_bytes", "gauge", "GPU memory installed", "gpu"),
        _m("gpu_temperature_celsius", "gauge", "GPU core temperature", "gpu"),
        _m("gpu_power_watts", "gauge", "GPU power draw", "gpu"),
        _m(
            "gpu_jobs_running",
            "gauge",
            "Running jobs whose record names this GPU (to tell an idle GPU from a starved one)",
            "gpu",
        ),
    ),
)

COLLECTORS: tuple[CollectorDef, ...] = (RECORDS, GPU)
# metrics_of refuses a family declared twice, differently.
METRICS: tuple[MetricSpec, ...] = metrics_of(*(c.metrics for c in COLLECTORS))
FAMILIES = Families(METRICS, NS + "_")
