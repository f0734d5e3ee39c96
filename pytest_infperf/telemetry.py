"""GPU telemetry during a measurement: a thread samples NVML (utilisation, memory, power) on the trial's GPUs;
energy comes from the driver's energy counter where the GPU has one (Volta and later), else from power x
time."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class TelemetrySummary:
    gpu_util_mean_pct: float | None = None
    gpu_util_max_pct: float | None = None
    gpu_mem_used_max_bytes: int | None = None
    gpu_power_mean_w: float | None = None
    energy_j: float | None = None
    samples: int = 0

    def as_record_fields(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "samples"} | {
            "telemetry_samples": self.samples
        }


@dataclass
class _Series:
    util: list[float] = field(default_factory=list)
    mem: list[int] = field(default_factory=list)
    power_w: list[float] = field(default_factory=list)


class GpuSampler:
    """Context manager: `with GpuSampler(indices) as s: ...; s.summary`. No GPUs or no NVML: an empty
    summary."""

    def __init__(self, nvml_indices: list[int], interval_s: float = 0.05) -> None:
        self.indices, self.interval = nvml_indices, interval_s
        self.summary = TelemetrySummary()
        self._stop = threading.Event()
        self._series = _Series()
        self._nvml: Any = None
        self._handles: list[Any] = []
        self._energy_start: list[int] | None = None
        self._thread: threading.Thread | None = None
        self._t0 = 0.0

    def __enter__(self) -> "GpuSampler":
        if not self.indices:
            return self
        try:
            import pynvml

            pynvml.nvmlInit()
        except Exception:  # no driver here: telemetry is optional, the measurement is not
            return self
        self._nvml = pynvml
        self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in self.indices]
        self._energy_start = self._energy()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name="infperf-nvml", daemon=True)
        self._thread.start()
        return self

    def restart(self) -> None:
        """Count from now on: drop the samples so far and restart the energy counter and the clock. For
        regions whose first part is not the measurement (the serving client's start-up and warm-up run)."""
        if self._nvml is None:
            return
        self._series = _Series()  # the sampler thread appends to whichever series is current
        self._energy_start = self._energy()
        self._t0 = time.perf_counter()

    def _energy(self) -> list[int] | None:
        try:
            return [self._nvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in self._handles]  # mJ
        except Exception:
            return None

    def _sample(self) -> None:
        nvml, series = self._nvml, self._series
        util = [nvml.nvmlDeviceGetUtilizationRates(h).gpu for h in self._handles]
        series.util.append(float(np.mean(util)))
        series.mem.append(max(int(nvml.nvmlDeviceGetMemoryInfo(h).used) for h in self._handles))
        try:
            series.power_w.append(sum(nvml.nvmlDeviceGetPowerUsage(h) for h in self._handles) / 1000.0)
        except Exception:
            pass

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._sample()
            except Exception:
                return
            self._stop.wait(self.interval)

    def __exit__(self, *exc: object) -> None:
        if self._nvml is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        elapsed = time.perf_counter() - self._t0
        self._sample()  # at least one sample, even for a very short region
        series, end = self._series, self._energy()
        energy = None
        if self._energy_start is not None and end is not None:
            energy = sum(e - s for s, e in zip(self._energy_start, end)) / 1000.0
        elif series.power_w:
            energy = float(np.mean(series.power_w)) * elapsed
        self.summary = TelemetrySummary(
            gpu_util_mean_pct=float(np.mean(series.util)),
            gpu_util_max_pct=float(np.max(series.util)),
            gpu_mem_used_max_bytes=max(series.mem),
            energy_j=energy,
            samples=len(series.util),
            gpu_power_mean_w=float(np.mean(series.power_w)) if series.power_w else None,
        )
        self._nvml.nvmlShutdown()
