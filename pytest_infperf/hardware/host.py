"""The host around the GPUs: its CPU, memory, container limits and boot id (every record carries them), its
load, and the CPU time it spent busy or stolen over a measurement."""

from __future__ import annotations

import functools
import os
import platform
from typing import Any


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def host_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def read_text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _cgroup_cpu_limit() -> float | None:
    """CPUs the container may use (cgroup v2 cpu.max, v1 cfs quota); None when unlimited or unknown."""
    text = read_text("/sys/fs/cgroup/cpu.max")
    if text:
        quota, _, period = text.partition(" ")
        return None if quota == "max" else int(quota) / int(period or 100000)
    quota, period = (
        read_text("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
        read_text("/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
    )
    if quota and period and int(quota) > 0:
        return int(quota) / int(period)
    return None


def _cgroup_memory_limit() -> int | None:
    """Bytes the container may use (cgroup v2 memory.max, v1 limit_in_bytes); None when unlimited or
    unknown."""
    text = read_text("/sys/fs/cgroup/memory.max") or read_text("/sys/fs/cgroup/memory/memory.limit_in_bytes")
    if not text or text == "max" or not text.isdigit() or int(text) >= 2**60:
        return None
    return int(text)


@functools.lru_cache(maxsize=1)
def host_info() -> dict[str, Any]:
    """What the host adds to a measurement: the CPU that launches every kernel, how much of it this process
    may use (affinity, container quota), memory, the kernel, and the boot id, which tells two VMs apart when
    their hostname and CPU name are generic (cloud GPU VMs often say "vm" and "Intel(R) Xeon(R) Processor").
    Small models and small batches are launch-bound, so their throughput follows these as much as the GPU;
    every record and baseline session carries them."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    return {
        "host_cpu_model": cpu_model(),
        "host_cpu_count": os.cpu_count() or 1,
        "host_cpus_usable": usable,
        "host_cpu_quota": _cgroup_cpu_limit(),
        "host_memory_bytes": host_memory(),
        "host_memory_limit_bytes": _cgroup_memory_limit(),
        "host_kernel": platform.release(),
        "host_boot_id": read_text("/proc/sys/kernel/random/boot_id"),
    }


def host_load() -> float | None:
    """The 1-minute load average when a measurement ends: anything else running on the host shows here."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def cpu_times() -> tuple[int, int, int] | None:
    """(total, busy, steal) jiffies of all CPUs since boot, from /proc/stat; None where there is none."""
    text = read_text("/proc/stat")
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
