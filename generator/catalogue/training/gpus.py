"""Training alerts on GPUs read through NVML: memory, idle while a job runs, temperature.

Panels beside them: GPU power, GPUs reported.
"""

from __future__ import annotations

from generator.catalogue.training._common import (
    ESCALATE,
    GPU,
    SEL,
)
from generator.model import (
    AlertTest,
    Category,
    Level,
    Panel,
    RecordingRule,
    Runbook,
    Severity,
    Team,
    TestSeries,
    Threshold,
)
from generator.testseries import gauge as _const

GPU_MEMORY = "instance_gpu:promfleet_training_gpu_memory:usage_ratio"

RECORDING_RULES = (
    RecordingRule(
        GPU_MEMORY,
        "promfleet_training_gpu_memory_used_bytes\n"
        "/ (promfleet_training_gpu_memory_total_bytes > 0)",
    ),
)


def _gpu_memory(used_gib: int) -> tuple[TestSeries, ...]:
    return (
        _const("promfleet_training_gpu_memory_total_bytes", GPU, 80 * 2**30),
        _const("promfleet_training_gpu_memory_used_bytes", GPU, used_gib * 2**30),
    )


GPU_MEMORY_HIGH = Threshold(
    name="TrainingGPUMemoryHigh",
    signal=GPU_MEMORY,
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            0.9,
            for_seconds=300,
            cooldown_seconds=3600,
            test=AlertTest(firing=_gpu_memory(76), quiet=_gpu_memory(40), labels=GPU, value=0.95),
        ),
    ),
    team=Team.ENGINEERING,
    summary="GPU {{ $labels.gpu }} on {{ $labels.instance }} is "
    "{{ $value | humanizePercentage }} full",
    description=(
        "GPU {{ $labels.gpu }} on {{ $labels.instance }} has used more than 90 % of its "
        "memory for 5 minutes (now {{ $value | humanizePercentage }}). The next larger "
        "batch or model fails with out of memory."
    ),
    runbook=Runbook(
        meaning="A GPU's memory is more than 90 % used.",
        impact="Allocations fail with CUDA out of memory: jobs crash, model loads fail.",
        diagnosis=(
            f"Which GPUs: `{GPU_MEMORY}`",
            "On the host, which processes hold it: ```sh\nnvidia-smi\n```",
        ),
        mitigation=(
            "Lower the batch size, or enable gradient checkpointing or mixed precision.",
            "Move a job or a model to another GPU.",
        ),
        escalation=ESCALATE,
    ),
    panel=Panel(
        title="GPU memory utilisation",
        expr=f"{GPU_MEMORY}{{{SEL}}}",
        unit="percentunit",
        description="Share of each GPU's memory in use.",
        legend="{{instance}} GPU {{gpu}}",
    ),
)

GPU_IDLE = Threshold(
    name="TrainingGPUIdleWhileJobRuns",
    signal="promfleet_training_gpu_utilisation_ratio",
    op="<",
    guard="and on (instance, job, gpu) (promfleet_training_gpu_jobs_running > 0)",
    levels=(
        Level(
            Severity.INFO,
            0.1,
            for_seconds=900,
            cooldown_seconds=86400,
            test=AlertTest(
                firing=(
                    _const("promfleet_training_gpu_utilisation_ratio", GPU, 0.02),
                    _const("promfleet_training_gpu_jobs_running", GPU, 1),
                ),
                quiet=(
                    _const("promfleet_training_gpu_utilisation_ratio", GPU, 0.02),
                    _const("promfleet_training_gpu_jobs_running", GPU, 0),
                ),
                labels=GPU,
                value=0.02,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="GPU {{ $labels.gpu }} on {{ $labels.instance }} idles while its job runs",
    description=(
        "GPU {{ $labels.gpu }} on {{ $labels.instance }} has been "
        "{{ $value | humanizePercentage }} busy for 15 minutes although a running job "
        "names it. The job is starved (input pipeline, network) or hung."
    ),
    runbook=Runbook(
        meaning="A GPU assigned to a running job is busy less than 10 % of the time.",
        impact="Expensive hardware is wasted and the job takes far longer than it should.",
        diagnosis=(
            "Utilisation per GPU: `promfleet_training_gpu_utilisation_ratio`",
            "Throughput of the jobs on it: `promfleet_training_job_samples_per_second`",
            "On the host: ```sh\nnvidia-smi dmon -c 5\n```",
        ),
        mitigation=(
            "Speed up the input pipeline (more loader workers, local data copies).",
            "Restart a job that hangs; release GPUs of a job that does not use them.",
        ),
        escalation="Raise it with the job's owner in working hours.",
    ),
    panel=Panel(
        title="GPU utilisation",
        expr=f"promfleet_training_gpu_utilisation_ratio{{{SEL}}}",
        unit="percentunit",
        description="Share of the last sample period each GPU was busy.",
        legend="{{instance}} GPU {{gpu}}",
    ),
)


def _temperature(celsius: int) -> tuple[TestSeries, ...]:
    return (_const("promfleet_training_gpu_temperature_celsius", GPU, celsius),)


GPU_HOT = Threshold(
    name="TrainingGPUTemperatureHigh",
    category=Category.SYSTEM_OUTAGE,
    signal="promfleet_training_gpu_temperature_celsius",
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            85,
            for_seconds=300,
            cooldown_seconds=3600,
            test=AlertTest(firing=_temperature(88), quiet=_temperature(70), labels=GPU, value=88),
        ),
        Level(
            Severity.CRITICAL,
            92,
            for_seconds=120,
            cooldown_seconds=1800,
            test=AlertTest(
                firing=_temperature(95),
                quiet=_temperature(88),
                labels=GPU,
                value=95,
                quiet_value=88,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="GPU {{ $labels.gpu }} on {{ $labels.instance }} is at {{ $value }} °C",
    description=(
        "GPU {{ $labels.gpu }} on {{ $labels.instance }} has run at {{ $value }} °C. Above "
        "about 85 °C GPUs slow their clocks; near 95 °C they shut down."
    ),
    runbook=Runbook(
        meaning="A GPU runs hot enough to throttle, or close to its shutdown temperature.",
        impact="Training slows down as clocks drop; at the limit the GPU stops and jobs fail.",
        diagnosis=(
            "Temperature and power: `promfleet_training_gpu_temperature_celsius`, "
            "`promfleet_training_gpu_power_watts`",
            "On the host: ```sh\nnvidia-smi -q -d TEMPERATURE,PERFORMANCE\n```",
        ),
        mitigation=(
            "Check the fans and the room's cooling; clear blocked air flow.",
            "Lower the power limit (nvidia-smi -pl) or move work off the hot GPU.",
        ),
        escalation=(
            "Call the data-centre or cloud provider when cooling fails; page the "
            "engineering on-call engineer at critical."
        ),
    ),
    panel=Panel(
        title="GPU temperature",
        expr=f"promfleet_training_gpu_temperature_celsius{{{SEL}}}",
        unit="celsius",
        description="Core temperature of each GPU.",
        legend="{{instance}} GPU {{gpu}}",
    ),
)

PANELS = (
    Panel(
        title="GPU power",
        expr=f"promfleet_training_gpu_power_watts{{{SEL}}}",
        unit="watt",
        description="Power draw of each GPU.",
        legend="{{instance}} GPU {{gpu}}",
        expect_data=False,
    ),
    Panel(
        title="GPUs reported",
        expr=f"promfleet_training_gpu_devices{{{SEL}}}",
        unit="short",
        description="GPUs NVML reports; 0 with gpu_unavailable_info saying why.",
    ),
)
