"""What hardware this is: an NVML probe with a CPU fallback, a fingerprint that keys baselines, and the
generation marker (h100, a100, cpu, ...) that selects tests."""

from __future__ import annotations

import functools
import os
import platform
import re
from dataclasses import asdict, dataclass, field
from typing import Any

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
        """The fingerprint of a machine with `gpu_count` of these GPUs: where a test that uses only that many of
        this machine's GPUs finds a baseline when this machine has none of its own."""
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


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _host_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


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


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def probe() -> Hardware:
    """Detect GPUs with NVML; fall back to the CPU when NVML or a GPU is missing."""
    cpu = dict(cpu_model=_cpu_model(), cpu_count=os.cpu_count() or 1, host_memory_bytes=_host_memory())
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
                    _text(pynvml.nvmlDeviceGetName(handle)),
                    int(pynvml.nvmlDeviceGetMemoryInfo(handle).total),
                )
            )
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
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
    """The GPUs of this pytest-xdist worker: the visible ones split evenly among the workers (`-n 4` on 4 GPUs: one
    each), so parallel workers never measure on the same GPU. All of them outside xdist or without GPUs."""
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


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _cgroup_cpu_limit() -> float | None:
    """CPUs the container may use (cgroup v2 cpu.max, v1 cfs quota); None when unlimited or unknown."""
    text = _read("/sys/fs/cgroup/cpu.max")
    if text:
        quota, _, period = text.partition(" ")
        return None if quota == "max" else int(quota) / int(period or 100000)
    quota, period = (
        _read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
        _read("/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
    )
    if quota and period and int(quota) > 0:
        return int(quota) / int(period)
    return None


def _cgroup_memory_limit() -> int | None:
    """Bytes the container may use (cgroup v2 memory.max, v1 limit_in_bytes); None when unlimited or unknown."""
    text = _read("/sys/fs/cgroup/memory.max") or _read("/sys/fs/cgroup/memory/memory.limit_in_bytes")
    if not text or text == "max" or not text.isdigit() or int(text) >= 2**60:
        return None
    return int(text)


@functools.lru_cache(maxsize=1)
def host_info() -> dict[str, Any]:
    """What the host adds to a measurement: the CPU that launches every kernel, how much of it this process may
    use (affinity, container quota), memory, the kernel, and the boot id, which tells two VMs apart when their
    hostname and CPU name are generic (cloud GPU VMs often say "vm" and "Intel(R) Xeon(R) Processor"). Small
    models and small batches are launch-bound, so
    their throughput follows these as much as the GPU; every record and baseline session carries them."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    return {
        "host_cpu_model": _cpu_model(),
        "host_cpu_count": os.cpu_count() or 1,
        "host_cpus_usable": usable,
        "host_cpu_quota": _cgroup_cpu_limit(),
        "host_memory_bytes": _host_memory(),
        "host_memory_limit_bytes": _cgroup_memory_limit(),
        "host_kernel": platform.release(),
        "host_boot_id": _read("/proc/sys/kernel/random/boot_id"),
    }


def host_load() -> float | None:
    """The 1-minute load average when a measurement ends: anything else running on the host shows here."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def cpu_times() -> tuple[int, int, int] | None:
    """(total, busy, steal) jiffies of all CPUs since boot, from /proc/stat; None where there is none."""
    text = _read("/proc/stat")
    if not text or not text.startswith("cpu "):
        return None
    fields = [
        int(v) for v in text.split("\n", 1)[0].split()[1:9]
    ]  # user nice system idle iowait irq softirq steal
    fields += [0] * (8 - len(fields))
    total = sum(fields)
    return total, total - fields[3] - fields[4], fields[7]


def host_cpu_share(before: tuple[int, int, int] | None, after: tuple[int, int, int] | None) -> dict[str, Any]:
    """How busy the host's CPUs were over a measurement, and how much time the hypervisor gave to other guests
    (steal). Launch-bound throughput follows the CPU: a high steal or a busy host explains a slow session."""
    if before is None or after is None or after[0] <= before[0]:
        return {"host_cpu_busy_pct": None, "host_cpu_steal_pct": None}
    total = after[0] - before[0]
    return {
        "host_cpu_busy_pct": round(100.0 * (after[1] - before[1]) / total, 2),
        "host_cpu_steal_pct": round(100.0 * (after[2] - before[2]) / total, 3),
    }


def parse_cpu_list(text: str) -> list[int]:
    """'0-3,8,10-11' (the kernel's cpulist format) -> [0, 1, 2, 3, 8, 10, 11]."""
    cpus: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise ValueError(f"{text!r} is not a CPU list such as 0-7,16-23")
        cpus.extend(range(int(low), int(high or low) + 1))
    return sorted(set(cpus))


def unavailable_cpus(wanted: list[int]) -> tuple[list[int], list[int]]:
    """(CPUs of `wanted` this process may not run on, those it may), for a clear error before pinning."""
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(wanted)
    return sorted(set(wanted) - set(allowed)), allowed


def one_per_core(cpus: list[int]) -> list[int]:
    """The first logical CPU of each physical core among `cpus`: no two pinned threads share a core's
    hyperthreads. Where the topology is not readable, `cpus` unchanged."""
    kept, seen = [], set()
    for cpu in cpus:
        siblings = _read(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        core = tuple(parse_cpu_list(siblings)) if siblings else (cpu,)
        if core not in seen:
            seen.add(core)
            kept.append(cpu)
    return kept


def gpu_local_cpus(nvml_indices: list[int]) -> list[int] | None:
    """The CPUs on the NUMA node(s) the GPUs hang off (the PCI device's local_cpulist), as `numactl
    --cpunodebind` would give an MLPerf-style harness; None where NVML or sysfs cannot tell."""
    try:
        import pynvml

        pynvml.nvmlInit()
        bus_ids = [
            _text(pynvml.nvmlDeviceGetPciInfo(pynvml.nvmlDeviceGetHandleByIndex(i)).busId).lower()
            for i in nvml_indices
        ]
    except Exception:
        return None
    cpus: set[int] = set()
    for bus_id in bus_ids:  # NVML says 00000000:18:00.0, sysfs 0000:18:00.0
        text = _read(f"/sys/bus/pci/devices/{bus_id[-12:]}/local_cpulist")
        if not text:
            return None
        cpus.update(parse_cpu_list(text))
    return sorted(cpus)


def shared_cpu_count(gpus: int) -> int:
    """How many CPUs the `shared` policy gives a trial: 4 for one GPU (the setting measured on one GPU, where both
    A/B arms on the same four CPUs moved together), 2 more per further GPU for its tensor-parallel worker."""
    return 4 + 2 * max(gpus - 1, 0)


def worker_cpus(policy: str, nvml_indices: list[int]) -> list[int] | None:
    """The CPUs a trial's worker (and the engine processes it starts, which inherit them) may run on.
    none (and auto, which Settings.pinning resolves first): no pinning. cores: one
    logical CPU per physical core. gpu-local: those of the GPUs' NUMA node(s), one per core (cores where the
    GPUs' node is unknown). shared: the first shared_cpu_count of gpu-local's CPUs, the same ones for every
    trial on these GPUs, so two arms of an A/B pair share them. Otherwise an explicit CPU list such as 0-7."""
    if policy in ("none", "auto") or not hasattr(os, "sched_getaffinity"):
        return None
    if policy in ("cores", "gpu-local", "shared"):
        allowed = sorted(os.sched_getaffinity(0))
        local = gpu_local_cpus(nvml_indices) if policy != "cores" and nvml_indices else None
        pool = one_per_core([c for c in allowed if local is None or c in local] or allowed)
        return pool[: shared_cpu_count(len(nvml_indices))] if policy == "shared" else pool
    wanted = parse_cpu_list(policy)
    outside, allowed = unavailable_cpus(wanted)
    if outside:
        raise ValueError(f"CPUs {outside} are not available to this process (allowed: {allowed})")
    return wanted
