"""The GPUs: an NVML probe with a CPU fallback, the fingerprint that keys baselines, the generation marker
(h100, a100, cpu, ...) that selects tests, and each xdist worker's share of the GPUs."""

from __future__ import annotations

import os
import platform
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from .host import cpu_model, host_memory

# Order matters: the first pattern found in the NVML name wins ("GH200" before "H200").
_GENERATION_PATTERNS: tuple[tuple[str, str], ...] = (
    ("gh200", r"GH200"),
    ("b200", r"B200"),
    ("b100", r"B100"),
    ("h200", r"H200"),
    ("h100", r"H100"),
    ("h20", r"\bH20\b"),
    ("a100", r"A100"),
    ("a800", r"A800"),
    ("a10g", r"A10G"),
    ("a10", r"\bA10\b"),
    ("l40s", r"L40S"),
    ("l40", r"L40\b"),
    ("l4", r"\bL4\b"),
    ("v100", r"V100"),
    ("t4", r"\bT4\b"),
    ("rtx4090", r"4090"),
    ("rtx3090", r"3090"),
)


GENERATIONS: tuple[str, ...] = tuple(g for g, _ in _GENERATION_PATTERNS) + ("gpu", "cpu")


def generation_of(gpu_name: str) -> str:
    """Marker name for an NVML device name; 'gpu' for one not in the table."""
    for generation, pattern in _GENERATION_PATTERNS:
        if re.search(pattern, gpu_name, re.IGNORECASE):
            return generation
    return "gpu"


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    memory_bytes: int


@dataclass(frozen=True)
class Hardware:
    generation: str
    gpus: tuple[Gpu, ...] = ()
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    cpu_model: str = ""
    cpu_count: int = 1
    host_memory_bytes: int = 0
    probe_error: str | None = field(default=None, compare=False)

    @property
    def gpu_count(self) -> int:
        return len(self.gpus)

    @property
    def gpu_name(self) -> str | None:
        return self.gpus[0].name if self.gpus else None

    @property
    def fingerprint(self) -> str:
        """Stable, readable key for baselines: what decides throughput, nothing that changes run to run.

        GPU generation, memory per GPU and count must match; driver, CUDA and engine versions are recorded in
        every record but do not split baselines (comparing across them is the point of a regression gate).
        """
        if self.gpus:
            return self.fingerprint_with(self.gpu_count)
        arch = platform.machine() or "cpu"
        return f"cpu-{arch}-{self.cpu_count}c"

    def fingerprint_with(self, gpu_count: int) -> str:
        """The fingerprint of a machine with `gpu_count` of these GPUs: where a test that uses only that many
        of this machine's GPUs finds a baseline when this machine has none of its own."""
        gib = round(self.gpus[0].memory_bytes / 2**30)
        return f"{self.generation}-{gib}gb-x{gpu_count}"

    def describe(self) -> str:
        if self.gpus:
            names = sorted({g.name for g in self.gpus})
            return (
                f"{self.gpu_count} x {', '.join(names)} ({self.gpus[0].memory_bytes / 2**30:.0f} GiB), "
                f"driver {self.driver_version}, CUDA {self.cuda_driver_version}"
            )
        text = f"no GPU: {self.cpu_model or platform.machine()}, {self.cpu_count} cores"
        return f"{text} ({self.probe_error})" if self.probe_error else text

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["fingerprint"] = self.fingerprint
        data["gpu_count"] = self.gpu_count
        return data


def _visible_indices(count: int) -> list[int]:
    """NVML sees every GPU; honour CUDA_VISIBLE_DEVICES when it lists indices."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return list(range(count))
    indices = []
    for part in visible.split(","):
        part = part.strip()
        if not part.isdigit():
            return list(range(count)) if part else indices
        if int(part) < count:
            indices.append(int(part))
    return indices


def nvml_text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def probe() -> Hardware:
    """Detect GPUs with NVML; fall back to the CPU when NVML or a GPU is missing."""
    cpu = dict(cpu_model=cpu_model(), cpu_count=os.cpu_count() or 1, host_memory_bytes=host_memory())
    try:
        import pynvml
    except ImportError:
        return Hardware("cpu", probe_error="nvidia-ml-py is not installed", **cpu)
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as err:
        return Hardware("cpu", probe_error=f"NVML: {err}", **cpu)
    try:
        gpus = []
        for index in _visible_indices(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            gpus.append(
                Gpu(
                    index,
                    nvml_text(pynvml.nvmlDeviceGetName(handle)),
                    int(pynvml.nvmlDeviceGetMemoryInfo(handle).total),
                )
            )
        driver = nvml_text(pynvml.nvmlSystemGetDriverVersion())
        cuda = pynvml.nvmlSystemGetCudaDriverVersion()
        cuda_text = f"{cuda // 1000}.{cuda % 1000 // 10}"
    finally:
        pynvml.nvmlShutdown()
    if not gpus:
        return Hardware(
            "cpu",
            driver_version=driver,
            cuda_driver_version=cuda_text,
            probe_error="NVML found no visible GPU",
            **cpu,
        )
    return Hardware(generation_of(gpus[0].name), tuple(gpus), driver, cuda_text, **cpu)


def simulated(generation: str, count: int, memory_gib: int = 80, name: str | None = None) -> Hardware:
    """A Hardware value for tests and dry runs of multi-GPU code paths (named as simulated)."""
    gpu_name = name or f"Simulated {generation.upper()}"
    gpus = tuple(Gpu(i, gpu_name, memory_gib * 2**30) for i in range(count))
    return Hardware(
        generation, gpus, "simulated", "simulated", cpu_model="simulated", cpu_count=os.cpu_count() or 1
    )


def xdist_share(gpus: tuple[Gpu, ...]) -> tuple[Gpu, ...]:
    """The GPUs of this pytest-xdist worker: the visible ones split evenly among the workers (`-n 4` on 4
    GPUs: one each), so parallel workers never measure on the same GPU. All of them outside xdist or without
    GPUs."""
    worker, count = (
        os.environ.get("PYTEST_XDIST_WORKER"),
        int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1),
    )
    if not worker or not gpus or count <= 1:
        return gpus
    share = len(gpus) // count
    if share == 0:
        raise ValueError(
            f"{count} xdist workers on {len(gpus)} GPUs: each worker needs GPUs of its own, so run "
            f"-n {len(gpus)} or fewer"
        )
    index = int(worker.removeprefix("gw"))
    return gpus[index * share : (index + 1) * share]


def detect() -> Hardware:
    """The hardware of this run: the NVML probe, or a simulated machine named in INFPERF_SIMULATED_HARDWARE
    (e.g. ``h200x8``) so multi-GPU selection and skipping can be tested on machines without those GPUs."""
    spec = os.environ.get("INFPERF_SIMULATED_HARDWARE")
    if not spec:
        return probe()
    match = re.fullmatch(r"([a-z0-9]+)x(\d+)", spec.strip())
    if not match or match.group(1) not in GENERATIONS or match.group(1) == "cpu":
        raise ValueError(f"INFPERF_SIMULATED_HARDWARE={spec!r}: expected <generation>x<count>, e.g. h200x8")
    return simulated(match.group(1), int(match.group(2)))
