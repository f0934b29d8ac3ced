"""A stand-in for the ``pynvml`` module: the calls the GPU collector makes, on fake devices."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_TEMPERATURE_GPU = 0
nvmlMemory_v2 = 0x02000028


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


@dataclass
class FakeGpu:
    name: str = "NVIDIA Fake 80GB"
    utilisation_percent: int = 50
    memory_used: int = 10 * 2**30
    memory_total: int = 80 * 2**30
    # The driver's own memory: v1 counts it as used, v2 (and nvidia-smi) as reserved.
    memory_reserved: int = 0
    temperature: int = 60
    power_milliwatts: int | None = 250_000  # None: the board cannot report power
    lost: bool = False


@dataclass
class FakeNvml:
    """Behaves like pynvml for the collector; ``init_error`` makes nvmlInit fail.

    ``nvmlMemory_v2`` None is a binding without memory info v2; ``memory_v2_error`` is
    the driver refusing it.
    """

    gpus: list[FakeGpu] = field(default_factory=list)
    init_error: int | None = None
    nvmlMemory_v2: int | None = nvmlMemory_v2
    memory_v2_error: int | None = None
    init_calls: int = 0
    shutdown_calls: int = 0
    NVMLError: type[NVMLError] = NVMLError
    NVML_ERROR_NO_PERMISSION: int = NVML_ERROR_NO_PERMISSION
    NVML_ERROR_NOT_SUPPORTED: int = NVML_ERROR_NOT_SUPPORTED
    NVML_ERROR_DRIVER_NOT_LOADED: int = NVML_ERROR_DRIVER_NOT_LOADED
    NVML_ERROR_LIBRARY_NOT_FOUND: int = NVML_ERROR_LIBRARY_NOT_FOUND
    NVML_ERROR_FUNCTION_NOT_FOUND: int = NVML_ERROR_FUNCTION_NOT_FOUND
    NVML_TEMPERATURE_GPU: int = NVML_TEMPERATURE_GPU

    def nvmlInit(self) -> None:
        self.init_calls += 1
        if self.init_error is not None:
            raise NVMLError(self.init_error)

    def nvmlShutdown(self) -> None:
        self.shutdown_calls += 1

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        return self.gpus[index]

    def _check(self, gpu: FakeGpu) -> None:
        if gpu.lost:
            raise NVMLError(NVML_ERROR_GPU_IS_LOST)

    def nvmlDeviceGetName(self, gpu: FakeGpu) -> bytes:
        self._check(gpu)
        return gpu.name.encode()

    def nvmlDeviceGetUtilizationRates(self, gpu: FakeGpu) -> Any:
        self._check(gpu)
        return SimpleNamespace(gpu=gpu.utilisation_percent, memory=0)

    def nvmlDeviceGetMemoryInfo(self, gpu: FakeGpu, version: int | None = None) -> Any:
        """v1 (no version): used is total - free, reserved included, as the real driver."""
        self._check(gpu)
        free = gpu.memory_total - gpu.memory_reserved - gpu.memory_used
        if not version:
            return SimpleNamespace(total=gpu.memory_total, free=free, used=gpu.memory_total - free)
        assert version == nvmlMemory_v2
        if self.memory_v2_error is not None:
            raise NVMLError(self.memory_v2_error)
        return SimpleNamespace(
            version=version,
            total=gpu.memory_total,
            reserved=gpu.memory_reserved,
            free=free,
            used=gpu.memory_used,
        )

    def nvmlDeviceGetTemperature(self, gpu: FakeGpu, sensor: int) -> int:
        self._check(gpu)
        assert sensor == NVML_TEMPERATURE_GPU
        return gpu.temperature

    def nvmlDeviceGetPowerUsage(self, gpu: FakeGpu) -> int:
        self._check(gpu)
        if gpu.power_milliwatts is None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return gpu.power_milliwatts
