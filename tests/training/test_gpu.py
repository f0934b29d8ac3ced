"""The NVML GPU collector against a fake NVML library: values, missing drivers, lost GPUs."""

from __future__ import annotations

import logging

import pytest

from exporters.training.gpu import GpuCollector
from tests.training.fake_nvml import (
    NVML_ERROR_DRIVER_NOT_LOADED,
    NVML_ERROR_FUNCTION_NOT_FOUND,
    NVML_ERROR_GPU_IS_LOST,
    NVML_ERROR_LIBRARY_NOT_FOUND,
    NVML_ERROR_NO_PERMISSION,
    NVML_ERROR_NOT_SUPPORTED,
    FakeGpu,
    FakeNvml,
    NVMLError,
)
from tests.training.families import collect, exposition, value

NS = "promfleet_training"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_gpu_reports_utilisation_memory_temperature_and_power_in_base_units() -> None:
    nvml = FakeNvml(gpus=[FakeGpu(utilisation_percent=87), FakeGpu(temperature=91, memory_used=1)])
    families = collect(GpuCollector(nvml))
    assert value(families, f"{NS}_gpu_devices") == 2
    assert value(families, f"{NS}_gpu_utilisation_ratio", {"gpu": "0"}) == pytest.approx(0.87)
    assert value(families, f"{NS}_gpu_memory_used_bytes", {"gpu": "0"}) == 10 * 2**30
    assert value(families, f"{NS}_gpu_memory_total_bytes", {"gpu": "1"}) == 80 * 2**30
    assert value(families, f"{NS}_gpu_memory_used_bytes", {"gpu": "1"}) == 1
    assert value(families, f"{NS}_gpu_temperature_celsius", {"gpu": "1"}) == 91
    assert value(families, f"{NS}_gpu_power_watts", {"gpu": "0"}) == 250
    assert value(families, f"{NS}_gpu_info", {"gpu": "0", "name": "NVIDIA Fake 80GB"}) == 1
    assert value(families, f"{NS}_gpu_up", {"gpu": "1"}) == 1
    assert "gpu_unavailable_info" not in exposition(families)


def test_a_board_that_cannot_report_power_still_reports_everything_else() -> None:
    nvml = FakeNvml(gpus=[FakeGpu(power_milliwatts=None)])
    families = collect(GpuCollector(nvml))
    assert value(families, f"{NS}_gpu_power_watts", {"gpu": "0"}) is None
    assert value(families, f"{NS}_gpu_temperature_celsius", {"gpu": "0"}) == 60


MIB = 2**20
# An H200 on driver 580.159.04 (bench/gpu_check.md): nvidia-smi says 0 MiB used of 143771
# idle and 17613 under load; NVML v1 says 615.1 MiB (644939776 B) more: the reserved memory.
H200_TOTAL = 143771 * MIB
H200_RESERVED = 644939776


@pytest.mark.parametrize("used", [0, 18468372480])
def test_memory_used_leaves_out_what_the_driver_reserves_as_nvidia_smi_does(used: int) -> None:
    gpu = FakeGpu(memory_used=used, memory_reserved=H200_RESERVED, memory_total=H200_TOTAL)
    families = collect(GpuCollector(FakeNvml(gpus=[gpu])))
    assert value(families, f"{NS}_gpu_memory_used_bytes", {"gpu": "0"}) == used
    assert value(families, f"{NS}_gpu_memory_total_bytes", {"gpu": "0"}) == H200_TOTAL


@pytest.mark.parametrize(
    "nvml",
    [
        FakeNvml(nvmlMemory_v2=None),  # a binding without memory info v2
        FakeNvml(memory_v2_error=NVML_ERROR_FUNCTION_NOT_FOUND),  # a driver without it
        FakeNvml(memory_v2_error=NVML_ERROR_NOT_SUPPORTED),
    ],
)
def test_without_memory_info_v2_memory_used_is_v1s_reserved_included(nvml: FakeNvml) -> None:
    nvml.gpus = [FakeGpu(memory_used=MIB, memory_reserved=H200_RESERVED, memory_total=H200_TOTAL)]
    families = collect(GpuCollector(nvml))
    assert value(families, f"{NS}_gpu_memory_used_bytes", {"gpu": "0"}) == MIB + H200_RESERVED
    assert value(families, f"{NS}_gpu_memory_total_bytes", {"gpu": "0"}) == H200_TOTAL
    assert value(families, f"{NS}_gpu_up", {"gpu": "0"}) == 1


def test_a_gpu_lost_while_its_memory_is_read_is_down() -> None:
    nvml = FakeNvml(gpus=[FakeGpu()], memory_v2_error=NVML_ERROR_GPU_IS_LOST)
    families = collect(GpuCollector(nvml))
    assert value(families, f"{NS}_gpu_up", {"gpu": "0"}) == 0
    assert value(families, f"{NS}_gpu_memory_used_bytes", {"gpu": "0"}) is None


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (NVML_ERROR_LIBRARY_NOT_FOUND, "library_not_found"),
        (NVML_ERROR_DRIVER_NOT_LOADED, "driver_not_loaded"),
        (NVML_ERROR_NO_PERMISSION, "no_permission"),
        (999, "nvml_error"),
    ],
)
def test_a_host_without_a_working_driver_says_why_and_is_not_an_error(
    error: int, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    collector = GpuCollector(FakeNvml(init_error=error))
    with caplog.at_level(logging.INFO, logger="promfleet.exporters.training"):
        families = collect(collector)  # does not raise: the collector succeeds
        collect(collector)
    assert value(families, f"{NS}_gpu_devices") == 0
    assert value(families, f"{NS}_gpu_unavailable_info", {"reason": reason}) == 1
    lines = [r for r in caplog.records if r.getMessage() == "no GPU metrics"]
    assert len(lines) == 1, "the reason is logged once, not on every scrape"
    assert lines[0].fields["reason"] == reason  # type: ignore[attr-defined]


def test_nvml_that_sees_no_gpu_reports_no_devices() -> None:
    families = collect(GpuCollector(FakeNvml(gpus=[])))
    assert value(families, f"{NS}_gpu_devices") == 0
    assert value(families, f"{NS}_gpu_unavailable_info", {"reason": "no_devices"}) == 1


def test_a_failed_initialisation_is_retried_only_after_the_retry_interval() -> None:
    clock = Clock()
    nvml = FakeNvml(init_error=NVML_ERROR_DRIVER_NOT_LOADED, gpus=[FakeGpu()])
    collector = GpuCollector(nvml, retry_s=60, clock=clock)
    collect(collector)
    collect(collector)
    assert nvml.init_calls == 1
    nvml.init_error = None  # the driver got loaded
    clock.now += 61
    families = collect(collector)
    assert nvml.init_calls == 2
    assert value(families, f"{NS}_gpu_devices") == 1
    assert "gpu_unavailable_info" not in exposition(families)


def test_a_lost_gpu_is_reported_down_and_the_others_are_still_published(
    caplog: pytest.LogCaptureFixture,
) -> None:
    nvml = FakeNvml(gpus=[FakeGpu(temperature=70), FakeGpu(lost=True), FakeGpu(temperature=75)])
    collector = GpuCollector(nvml)
    with caplog.at_level(logging.INFO, logger="promfleet.exporters.training"):
        families = collect(collector)
        collect(collector)
        nvml.gpus[1].lost = False  # back on the bus (a reset)
        recovered = collect(collector)
    assert value(families, f"{NS}_gpu_devices") == 3
    assert [value(families, f"{NS}_gpu_up", {"gpu": g}) for g in "012"] == [1, 0, 1]
    assert value(families, f"{NS}_gpu_temperature_celsius", {"gpu": "2"}) == 75
    text = exposition(families)
    assert 'gpu="1"' in text
    assert [line for line in text.splitlines() if 'gpu="1"' in line] == [
        f'{NS}_gpu_up{{gpu="1"}} 0.0'
    ], "a failing GPU has no half-read series"
    failed = [r for r in caplog.records if r.getMessage() == "GPU query failed"]
    assert len(failed) == 1 and failed[0].fields["gpu"] == 1  # type: ignore[attr-defined]
    assert len([r for r in caplog.records if r.getMessage() == "GPU answers again"]) == 1
    assert value(recovered, f"{NS}_gpu_up", {"gpu": "1"}) == 1
    assert value(recovered, f"{NS}_gpu_temperature_celsius", {"gpu": "1"}) == 60


def test_a_gpu_that_fails_after_its_first_answers_leaves_no_partial_series() -> None:
    nvml = FakeNvml(gpus=[FakeGpu()])
    calls = []

    def failing_memory(gpu: FakeGpu, version: int | None = None) -> object:  # after name, util
        calls.append(gpu)
        raise NVMLError(NVML_ERROR_GPU_IS_LOST)

    nvml.nvmlDeviceGetMemoryInfo = failing_memory  # type: ignore[method-assign]
    families = collect(GpuCollector(nvml))
    assert len(calls) == 1
    assert value(families, f"{NS}_gpu_up", {"gpu": "0"}) == 0
    assert value(families, f"{NS}_gpu_utilisation_ratio", {"gpu": "0"}) is None
    assert value(families, f"{NS}_gpu_info", {"gpu": "0", "name": "NVIDIA Fake 80GB"}) is None


def test_close_shuts_nvml_down_once() -> None:
    nvml = FakeNvml(gpus=[FakeGpu()])
    collector = GpuCollector(nvml)
    collect(collector)
    collector.close()
    collector.close()
    assert nvml.shutdown_calls == 1


def test_the_real_nvml_binding_either_reports_gpus_or_says_why_there_are_none() -> None:
    collector = GpuCollector()  # the installed nvidia-ml-py, against this host's driver
    families = collect(collector)
    devices = value(families, f"{NS}_gpu_devices")
    assert devices is not None
    if devices == 0:
        text = exposition(families)
        assert f"{NS}_gpu_unavailable_info{{reason=" in text
    else:
        for index in range(int(devices)):
            total = value(families, f"{NS}_gpu_memory_total_bytes", {"gpu": str(index)})
            assert total is not None and total > 0
    collector.close()
