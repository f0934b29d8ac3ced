"""The GPU collector: utilisation, memory, temperature and power of each GPU through NVML.

The NVML binding (``pynvml`` from nvidia-ml-py) is injected, so tests pass a fake one. A
host without the NVIDIA driver, or whose driver sees no GPU, is not an error: the
collector publishes ``gpu_devices 0`` and ``gpu_unavailable_info{reason}``, logs the
reason once, and tries NVML again at most once per ``retry_s``. A GPU whose queries fail
(lost from the bus) gets ``gpu_up{gpu} 0`` and no other series; the others are still read.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client.core import Metric

from exporters.spec import BlockingCollector, ScrapeContext
from exporters.training.metrics import FAMILIES

log = logging.getLogger("promfleet.exporters.training")


def load_nvml() -> Any:
    """The ``pynvml`` module, or None when nvidia-ml-py is not installed."""
    try:
        return importlib.import_module("pynvml")
    except ImportError:
        return None


def unavailable_reason(nvml: Any, err: BaseException) -> str:
    """The closed-set reason for an NVML initialisation error."""
    value = getattr(err, "value", None)
    reasons = {
        getattr(nvml, "NVML_ERROR_LIBRARY_NOT_FOUND", 12): "library_not_found",
        getattr(nvml, "NVML_ERROR_DRIVER_NOT_LOADED", 9): "driver_not_loaded",
        getattr(nvml, "NVML_ERROR_NO_PERMISSION", 4): "no_permission",
    }
    return reasons.get(value, "nvml_error")


class GpuCollector(BlockingCollector):
    """Per-GPU gauges from NVML; says why when there is nothing to report.

    promfleet_training_gpu_devices 1
    promfleet_training_gpu_up{gpu="0"} 1
    promfleet_training_gpu_utilisation_ratio{gpu="0"} 0.87
    promfleet_training_gpu_memory_used_bytes{gpu="0"} 6.4e10
    promfleet_training_gpu_power_watts{gpu="0"} 312.5

    and without a driver::

    promfleet_training_gpu_devices 0
    promfleet_training_gpu_unavailable_info{reason="library_not_found"} 1
    """

    name = "gpu"

    def __init__(
        self,
        nvml: Any = None,
        *,
        retry_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._nvml = nvml
        self.retry_s = retry_s
        self.clock = clock
        self._lock = threading.Lock()
        self._initialised = False
        self._reason = ""  # why there are no GPUs ("" while NVML works)
        self._next_try = 0.0
        self._logged_reason: str | None = None
        self._failing: dict[int, str] = {}  # GPU index -> its last NVML error, logged once

    def _init(self) -> None:
        """Initialise NVML once; on failure remember why, and when to try again."""
        if self._initialised or self.clock() < self._next_try:
            return
        nvml = self._nvml if self._nvml is not None else load_nvml()
        if nvml is None:
            self._reason, detail = "library_not_found", "the pynvml module is not installed"
        else:
            self._nvml = nvml
            try:
                nvml.nvmlInit()
            except nvml.NVMLError as err:
                self._reason, detail = unavailable_reason(nvml, err), str(err)
            else:
                self._initialised = True
                self._reason, detail = "", ""
        if not self._initialised:
            self._next_try = self.clock() + self.retry_s
        self._log(detail)

    def _log(self, detail: str) -> None:
        if self._reason == self._logged_reason:
            return
        self._logged_reason = self._reason
        if self._reason:
            log.info(
                "no GPU metrics",
                extra={
                    "fields": {"collector": self.name, "reason": self._reason, "detail": detail}
                },
            )
        else:
            log.info("NVML initialised", extra={"fields": {"collector": self.name}})

    def collect_blocking(self, ctx: ScrapeContext) -> Iterable[Metric]:
        with self._lock:  # NVML init/shutdown and the retry clock are per process
            self._init()
            count = 0
            families: list[Metric] = []
            if self._initialised:
                count = int(self._nvml.nvmlDeviceGetCount())
                families = self._devices(count)
                if count == 0:
                    self._reason = "no_devices"
                    self._log("NVML reports no GPU")
                elif self._reason:
                    self._reason = ""
                    self._log("")
        families.append(FAMILIES["gpu_devices"].one(float(count)))
        if self._reason:
            families.append(FAMILIES.family("gpu_unavailable_info", {(self._reason,): 1.0}))
        return families

    def _query(self, fn: Callable[..., Any], *args: Any) -> Any:
        """One NVML query; None when this GPU does not support it (power on some boards)."""
        nvml = self._nvml
        try:
            return fn(*args)
        except nvml.NVMLError as err:
            if getattr(err, "value", None) == getattr(nvml, "NVML_ERROR_NOT_SUPPORTED", 3):
                return None
            raise

    def _devices(self, count: int) -> list[Metric]:
        nvml = self._nvml
        fams = {
            name: FAMILIES[name].start()
            for name in (
                "gpu_info",
                "gpu_up",
                "gpu_utilisation_ratio",
                "gpu_memory_used_bytes",
                "gpu_memory_total_bytes",
                "gpu_temperature_celsius",
                "gpu_power_watts",
            )
        }
        for index in range(count):
            gpu = str(index)
            # One GPU's samples are gathered first, so a failure halfway leaves none of them.
            samples: list[tuple[str, tuple[str, ...], float]] = []
            try:
                self._device(nvml, index, samples)
            except nvml.NVMLError as err:
                fams["gpu_up"].add((gpu,), 0.0)
                self._log_device(index, f"{type(err).__name__}: {err}")
                continue
            fams["gpu_up"].add((gpu,), 1.0)
            self._log_device(index, "")
            for name, labels, sample in samples:
                fams[name].add(labels, sample)
        return [b.family for b in fams.values() if b.family.samples]

    def _device(
        self, nvml: Any, index: int, out: list[tuple[str, tuple[str, ...], float]]
    ) -> None:
        """Every query of one GPU, appended to ``out``; raises NVMLError when one fails."""
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        gpu = str(index)
        name = self._query(nvml.nvmlDeviceGetName, handle)
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        out.append(("gpu_info", (gpu, str(name or "")), 1.0))
        rates = self._query(nvml.nvmlDeviceGetUtilizationRates, handle)
        if rates is not None:
            out.append(("gpu_utilisation_ratio", (gpu,), float(rates.gpu) / 100.0))
        memory = self._memory(nvml, handle)
        if memory is not None:
            out.append(("gpu_memory_used_bytes", (gpu,), float(memory.used)))
            out.append(("gpu_memory_total_bytes", (gpu,), float(memory.total)))
        temperature = self._query(
            nvml.nvmlDeviceGetTemperature, handle, getattr(nvml, "NVML_TEMPERATURE_GPU", 0)
        )
        if temperature is not None:
            out.append(("gpu_temperature_celsius", (gpu,), float(temperature)))
        milliwatts = self._query(nvml.nvmlDeviceGetPowerUsage, handle)
        if milliwatts is not None:
            out.append(("gpu_power_watts", (gpu,), float(milliwatts) / 1000.0))

    def _memory(self, nvml: Any, handle: Any) -> Any:
        """Memory as nvidia-smi counts it, or None when the GPU cannot report it.

        NVML's v1 ``used`` is total minus free, so it counts the memory the driver
        reserves for itself (615 MiB on an H200 with driver 580.159, with nothing
        running); v2 reports that as ``reserved`` and leaves it out of ``used``, as
        nvidia-smi does. v1 is the fallback where the binding has no ``nvmlMemory_v2``
        (an old nvidia-ml-py) or the driver refuses v2.
        """
        version = getattr(nvml, "nvmlMemory_v2", None)
        if version is not None:
            try:
                return nvml.nvmlDeviceGetMemoryInfo(handle, version=version)
            except nvml.NVMLError as err:
                if getattr(err, "value", None) not in (
                    getattr(nvml, "NVML_ERROR_NOT_SUPPORTED", 3),
                    getattr(nvml, "NVML_ERROR_FUNCTION_NOT_FOUND", 13),
                    getattr(nvml, "NVML_ERROR_ARGUMENT_VERSION_MISMATCH", 25),
                ):
                    raise
        return self._query(nvml.nvmlDeviceGetMemoryInfo, handle)

    def _log_device(self, index: int, error: str) -> None:
        """A warning when a GPU starts failing (or fails anew), an info line when it recovers."""
        before = self._failing.get(index, "")
        if error == before:
            return
        fields: dict[str, Any] = {"collector": self.name, "gpu": index}
        if error:
            self._failing[index] = error
            log.warning("GPU query failed", extra={"fields": {**fields, "error": error}})
        else:
            del self._failing[index]
            log.info("GPU answers again", extra={"fields": fields})

    def close(self) -> None:
        with self._lock:
            if self._initialised:
                self._nvml.nvmlShutdown()
                self._initialised = False
