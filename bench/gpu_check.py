"""The GPU collector against a real GPU and nvidia-smi: ``python -m bench.gpu_check``.

Needs an NVIDIA GPU, its driver (``nvidia-smi``, libnvidia-ml), nvidia-ml-py and PyTorch
with CUDA. It reads :class:`exporters.training.gpu.GpuCollector` (real ``pynvml``) and
``nvidia-smi --query-gpu`` at the same moments, first with the GPU idle, then while a
subprocess keeps ``cuda:0`` busy with bf16 matrix products (and holds a ballast
allocation so the memory figure moves), and compares them:

* ``gpu_devices`` equals nvidia-smi's count, ``gpu_up`` is 1 for every GPU;
* utilisation is above 0 under load;
* memory used is within 5 % of nvidia-smi's (at least 1 MiB: nvidia-smi rounds to MiB),
  memory total is equal (to the MiB);
* temperature is within 3 C, power within 10 %.

It prints a Markdown table and the checks, writes them (``gpu_check_<label>.md``), the
raw readings (``gpu_check_<label>.json``, NVML's own v1/v2 memory figures and power
fields beside them) and the exposition of one loaded scrape (``exposition_<label>.txt``,
rendered by the project's writer and checked equal to prometheus-client's) to
``--out`` (default ``$OUT``, else the current directory). Exits 1 when a check fails.
Not a ``bench_*`` module: ``python -m bench`` does not run it.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector as RegistryCollector

from exporters.runtime.exposition import TextRenderer
from exporters.spec import ScrapeContext
from exporters.training.gpu import GpuCollector
from exporters.training.metrics import NS

MIB = 2**20
SMI_FIELDS = ("utilization.gpu", "memory.used", "memory.total", "temperature.gpu", "power.draw")

# The load: bf16 8192^3 matrix products on cuda:0 until the duration ends or stdin closes.
LOAD = r"""
import sys, time, torch
duration, ballast_gib = float(sys.argv[1]), int(sys.argv[2])
dev = torch.device("cuda:0")
x = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
y = torch.randn_like(x)
ballast = torch.ones(ballast_gib * 2**30, dtype=torch.uint8, device=dev)
for _ in range(3):
    z = x @ y
torch.cuda.synchronize()
print("ready", torch.cuda.get_device_name(0), torch.__version__, flush=True)
end = time.monotonic() + duration
products = 0
t0 = time.perf_counter()
while time.monotonic() < end:
    for _ in range(20):
        z = x @ y
    torch.cuda.synchronize()
    products += 20
seconds = time.perf_counter() - t0
print("done", products, round(2 * 8192**3 * products / seconds / 1e12, 1), "TFLOP/s", flush=True)
"""


class _Static(RegistryCollector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


def registry_of(families: Iterable[Metric]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Static(families))
    return registry


@dataclass
class Sample:
    """One moment: the collector's values and nvidia-smi's, per GPU."""

    phase: str  # idle, load
    at: float  # seconds since the start of the check
    devices: float | None
    smi_count: int
    promfleet: dict[str, dict[str, float | None]] = field(default_factory=dict)  # gpu -> values
    smi: dict[str, dict[str, float | None]] = field(default_factory=dict)
    nvml_raw: dict[str, dict[str, Any]] = field(default_factory=dict)
    collect_s: float = 0.0


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def smi_number(text: str) -> float | None:
    """A value of ``--format=csv,noheader,nounits`` (``[N/A]``, ``[Not Supported]``: None)."""
    try:
        return float(text.strip())
    except ValueError:
        return None


def smi_query() -> dict[str, dict[str, float | None]]:
    out = subprocess.run(
        [
            "nvidia-smi",
            f"--query-gpu=index,{','.join(SMI_FIELDS)}",
            "--format=csv,noheader,nounits",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    rows: dict[str, dict[str, float | None]] = {}
    for line in out.strip().splitlines():
        index, *values = (part.strip() for part in line.split(","))
        rows[index] = {name: smi_number(v) for name, v in zip(SMI_FIELDS, values, strict=True)}
    return rows


def smi_text(*query: str) -> str:
    try:
        return subprocess.run(
            ["nvidia-smi", *query], capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as err:
        return f"error: {err}"


def promfleet_values(families: list[Metric], gpus: Iterable[str]) -> dict[str, Any]:
    registry = registry_of(families)

    def get(name: str, gpu: str) -> float | None:
        return registry.get_sample_value(f"{NS}_{name}", {"gpu": gpu})

    values: dict[str, Any] = {"devices": registry.get_sample_value(f"{NS}_gpu_devices")}
    for gpu in gpus:
        values[gpu] = {
            "up": get("gpu_up", gpu),
            "utilisation_ratio": get("gpu_utilisation_ratio", gpu),
            "memory_used_bytes": get("gpu_memory_used_bytes", gpu),
            "memory_total_bytes": get("gpu_memory_total_bytes", gpu),
            "temperature_celsius": get("gpu_temperature_celsius", gpu),
            "power_watts": get("gpu_power_watts", gpu),
        }
    return values


def nvml_raw(nvml: Any, index: int) -> dict[str, Any]:
    """NVML's own figures beside the collector's: v1 and v2 memory, power fields."""
    raw: dict[str, Any] = {}
    handle = nvml.nvmlDeviceGetHandleByIndex(index)

    def attempt(key: str, fn: Callable[[], Any]) -> None:
        try:
            raw[key] = fn()
        except Exception as err:  # a diagnostic: record whatever fails, and go on
            raw[key] = f"error: {type(err).__name__}: {err}"

    def memory_v1() -> dict[str, int]:
        m = nvml.nvmlDeviceGetMemoryInfo(handle)
        return {"total": int(m.total), "free": int(m.free), "used": int(m.used)}

    def memory_v2() -> dict[str, int]:
        m = nvml.nvmlDeviceGetMemoryInfo(handle, version=nvml.nvmlMemory_v2)
        return {
            "total": int(m.total),
            "reserved": int(m.reserved),
            "free": int(m.free),
            "used": int(m.used),
        }

    def power_fields() -> dict[str, Any]:
        ids = [nvml.NVML_FI_DEV_POWER_AVERAGE, nvml.NVML_FI_DEV_POWER_INSTANT]
        values = nvml.nvmlDeviceGetFieldValues(handle, ids)
        out: dict[str, Any] = {}
        for name, v in zip(("average_mw", "instant_mw"), values, strict=True):
            out[name] = int(v.value.uiVal) if v.nvmlReturn == 0 else f"nvml error {v.nvmlReturn}"
        return out

    attempt("memory_v1", memory_v1)
    attempt("memory_v2", memory_v2)
    attempt("power_usage_mw", lambda: int(nvml.nvmlDeviceGetPowerUsage(handle)))
    attempt("power_fields", power_fields)
    return raw


def take(
    collector: GpuCollector, nvml: Any, phase: str, start: float
) -> tuple[Sample, list[Metric]]:
    t0 = time.monotonic()
    families = list(collector.collect_blocking(ScrapeContext.with_timeout(10.0)))
    collect_s = time.monotonic() - t0
    smi = smi_query()
    values = promfleet_values(families, smi)
    sample = Sample(
        phase=phase,
        at=round(t0 - start, 2),
        devices=values.pop("devices"),
        smi_count=len(smi),
        promfleet=values,
        smi=smi,
        nvml_raw={gpu: nvml_raw(nvml, int(gpu)) for gpu in smi},
        collect_s=round(collect_s, 4),
    )
    return sample, families


def within(a: float | None, b: float | None, tolerance: float) -> bool:
    return a is not None and b is not None and abs(a - b) <= tolerance


def checks(samples: Sequence[Sample]) -> list[Check]:
    """The pass/fail list over every sample (utilisation: loaded samples of GPU 0 only)."""
    found: dict[str, list[str]] = {
        "gpu_devices == nvidia-smi count": [],
        "gpu_up == 1": [],
        "utilisation > 0 under load (gpu 0)": [],
        "memory used within 5 % (min 1 MiB)": [],
        "memory total equal (to the MiB)": [],
        "temperature within 3 C": [],
        "power within 10 %": [],
    }
    names = list(found)
    for s in samples:
        where = f"{s.phase}@{s.at}s"
        if s.devices != s.smi_count:
            found[names[0]].append(f"{where}: {s.devices} vs {s.smi_count}")
        for gpu, smi in s.smi.items():
            pf = s.promfleet[gpu]
            w = f"{where} gpu {gpu}"
            if pf["up"] != 1:
                found[names[1]].append(f"{w}: {pf['up']}")
            if s.phase == "load" and gpu == "0" and not (pf["utilisation_ratio"] or 0) > 0:
                found[names[2]].append(f"{w}: {pf['utilisation_ratio']}")
            used, smi_used = pf["memory_used_bytes"], smi["memory.used"]
            smi_used_b = None if smi_used is None else smi_used * MIB
            if not within(used, smi_used_b, max(0.05 * (smi_used_b or 0), MIB)):
                found[names[3]].append(f"{w}: {used} B vs {smi_used} MiB")
            total, smi_total = pf["memory_total_bytes"], smi["memory.total"]
            if total is None or smi_total is None or abs(total / MIB - smi_total) >= 1:
                found[names[4]].append(f"{w}: {total} B vs {smi_total} MiB")
            if not within(pf["temperature_celsius"], smi["temperature.gpu"], 3):
                found[names[5]].append(
                    f"{w}: {pf['temperature_celsius']} vs {smi['temperature.gpu']}"
                )
            power, smi_power = pf["power_watts"], smi["power.draw"]
            if not within(power, smi_power, 0.10 * (smi_power or 0)):
                found[names[6]].append(f"{w}: {power} vs {smi_power}")
    return [
        Check(name, not bad, "; ".join(bad) if bad else f"all {len(samples)} samples")
        for name, bad in found.items()
    ]


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(samples: Sequence[Sample]) -> str:
    head = (
        "| phase | t (s) | gpu | devices pf/smi | up | util % pf/smi | mem used MiB pf/smi "
        "| mem total MiB pf/smi | temp C pf/smi | power W pf/smi |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    )
    rows = []
    for s in samples:
        for gpu, smi in s.smi.items():
            pf = s.promfleet[gpu]
            util = pf["utilisation_ratio"]
            util_pct = None if util is None else util * 100
            used, total = pf["memory_used_bytes"], pf["memory_total_bytes"]
            rows.append(
                f"| {s.phase} | {s.at} | {gpu} | {fmt(s.devices, 0)}/{s.smi_count} "
                f"| {fmt(pf['up'], 0)} "
                f"| {fmt(util_pct, 0)}/{fmt(smi['utilization.gpu'], 0)} "
                f"| {fmt(None if used is None else used / MIB)}/{fmt(smi['memory.used'], 0)} "
                f"| {fmt(None if total is None else total / MIB)}/{fmt(smi['memory.total'], 0)} "
                f"| {fmt(pf['temperature_celsius'], 0)}/{fmt(smi['temperature.gpu'], 0)} "
                f"| {fmt(pf['power_watts'], 2)}/{fmt(smi['power.draw'], 2)} |"
            )
    return head + "\n".join(rows) + "\n"


def raw_table(samples: Sequence[Sample]) -> str:
    """NVML's v1 and v2 memory figures and power fields (MiB, W) at each moment."""
    head = (
        "| phase | t (s) | gpu | v1 used | v1 total | v2 used | v2 reserved | v2 total "
        "| power avg W | power instant W |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    )
    rows = []
    for s in samples:
        for gpu, raw in s.nvml_raw.items():
            v1, v2, pw = raw.get("memory_v1"), raw.get("memory_v2"), raw.get("power_fields")

            def mib(d: Any, key: str) -> str:
                return f"{d[key] / MIB:.1f}" if isinstance(d, dict) else "err"

            def watts(d: Any, key: str) -> str:
                v = d.get(key) if isinstance(d, dict) else None
                return f"{v / 1000:.2f}" if isinstance(v, int) else "err"

            rows.append(
                f"| {s.phase} | {s.at} | {gpu} | {mib(v1, 'used')} | {mib(v1, 'total')} "
                f"| {mib(v2, 'used')} | {mib(v2, 'reserved')} | {mib(v2, 'total')} "
                f"| {watts(pw, 'average_mw')} | {watts(pw, 'instant_mw')} |"
            )
    return head + "\n".join(rows) + "\n"


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", default=os.environ.get("OUT", "."), help="output folder")
    parser.add_argument("--label", default="run", help="suffix of the output files")
    parser.add_argument("--idle-samples", type=int, default=3)
    parser.add_argument("--load-samples", type=int, default=6)
    parser.add_argument("--interval", type=float, default=1.5, help="seconds between samples")
    parser.add_argument("--ballast-gib", type=int, default=16, help="GPU memory the load holds")
    parser.add_argument("--python", default=sys.executable, help="interpreter with torch")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    nvml: Any = importlib.import_module("pynvml")
    collector = GpuCollector(nvml)
    start = time.monotonic()
    env = {
        "date_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "gpus": smi_text("--query-gpu=index,name,driver_version,pci.bus_id", "--format=csv"),
        "nvidia_smi_version": smi_text("--version"),
        "python": platform.python_version(),
        "host": platform.platform(),
        "nvidia-ml-py": version("nvidia-ml-py"),
        "prometheus-client": version("prometheus-client"),
        "torch": version("torch"),
        "collector": sys.modules[GpuCollector.__module__].__file__,
    }
    samples: list[Sample] = []
    loaded: list[Metric] = []
    try:
        for i in range(args.idle_samples):
            if i:
                time.sleep(args.interval)
            samples.append(take(collector, nvml, "idle", start)[0])
        # Long enough for every loaded sample; the load is stopped once they are taken.
        duration = 30 + args.load_samples * (args.interval + 1)
        load = subprocess.Popen(
            [args.python, "-c", LOAD, str(duration), str(args.ballast_gib)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert load.stdout is not None
            ready = load.stdout.readline().strip()
            if not ready.startswith("ready"):
                raise RuntimeError(f"the load did not start: {ready!r}, rc {load.poll()}")
            env["load"] = ready
            time.sleep(1.0)  # NVML's utilisation is averaged over its last sampling period
            for i in range(args.load_samples):
                if i:
                    time.sleep(args.interval)
                sample, loaded = take(collector, nvml, "load", start)
                samples.append(sample)
        finally:
            load.terminate()
            load.wait(timeout=30)
    finally:
        collector.close()

    results = checks(samples)
    ours = TextRenderer().render(loaded)
    theirs = generate_latest(registry_of(loaded))
    results.append(
        Check(
            "exposition: project writer == generate_latest",
            ours == theirs,
            f"{len(ours)} bytes",
        )
    )
    (out / f"exposition_{args.label}.txt").write_bytes(ours)
    report = "\n".join(
        [
            f"# GPU collector vs nvidia-smi ({args.label})",
            "",
            *(f"- {key}: {str(value).replace(chr(10), ' / ')}" for key, value in env.items()),
            "",
            "pf: promfleet (GpuCollector); smi: nvidia-smi, read right after it.",
            "",
            table(samples),
            "NVML read directly at the same moments (MiB, W):",
            "",
            raw_table(samples),
            "| check | result | detail |",
            "| --- | --- | --- |",
            *(f"| {c.name} | {'PASS' if c.ok else 'FAIL'} | {c.detail} |" for c in results),
            "",
        ]
    )
    print(report)
    (out / f"gpu_check_{args.label}.md").write_text(report)
    (out / f"gpu_check_{args.label}.json").write_text(
        json.dumps(
            {
                "env": env,
                "samples": [asdict(s) for s in samples],
                "checks": [asdict(c) for c in results],
            },
            indent=1,
        )
    )
    return 0 if all(c.ok for c in results) else 1


if __name__ == "__main__":
    sys.exit(main())
