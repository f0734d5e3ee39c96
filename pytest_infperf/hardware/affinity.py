"""The CPUs a trial's worker is pinned to: none, one per core, the GPU's NUMA node, a shared few for both A/B
arms, or a list."""

from __future__ import annotations

import os

from .gpu import nvml_text
from .host import read_text


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
        siblings = read_text(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
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
            nvml_text(pynvml.nvmlDeviceGetPciInfo(pynvml.nvmlDeviceGetHandleByIndex(i)).busId).lower()
            for i in nvml_indices
        ]
    except Exception:
        return None
    cpus: set[int] = set()
    for bus_id in bus_ids:  # NVML says 00000000:18:00.0, sysfs 0000:18:00.0
        text = read_text(f"/sys/bus/pci/devices/{bus_id[-12:]}/local_cpulist")
        if not text:
            return None
        cpus.update(parse_cpu_list(text))
    return sorted(cpus)


def shared_cpu_count(gpus: int) -> int:
    """How many CPUs the `shared` policy gives a trial: 4 for one GPU (the setting measured on one GPU, where
    both A/B arms on the same four CPUs moved together), 2 more per further GPU for its tensor-parallel
    worker."""
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
