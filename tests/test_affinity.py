"""CPU pinning of trial workers (--infperf-cpu-affinity): CPU lists, one CPU per core, the GPU's NUMA node."""

from __future__ import annotations

import os

import pytest

from pytest_infperf.hardware import affinity
from pytest_infperf.hardware.affinity import one_per_core, parse_cpu_list, worker_cpus


def test_cpu_lists_parse_like_the_kernel_writes_them() -> None:
    assert parse_cpu_list("0-3,8,10-11") == [0, 1, 2, 3, 8, 10, 11]
    assert parse_cpu_list("5") == [5]
    with pytest.raises(ValueError, match="not a CPU list"):
        parse_cpu_list("0-x")


def test_one_cpu_per_core_drops_hyperthread_siblings(monkeypatch: pytest.MonkeyPatch) -> None:
    # 4 cores x 2 threads, numbered like Linux does on most x86 servers: cpu N and N+4 share a core.
    siblings = {
        f"/sys/devices/system/cpu/cpu{c}/topology/thread_siblings_list": f"{c % 4},{c % 4 + 4}"
        for c in range(8)
    }
    monkeypatch.setattr(affinity, "read_text", siblings.get)
    assert one_per_core(list(range(8))) == [0, 1, 2, 3]
    assert one_per_core([5, 6, 1]) == [5, 6]  # 1 shares a core with 5


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="needs Linux CPU affinity")
def test_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    allowed = sorted(os.sched_getaffinity(0))
    assert worker_cpus("none", [0]) is None
    assert worker_cpus(str(allowed[0]), []) == [allowed[0]]
    monkeypatch.setattr(affinity, "gpu_local_cpus", lambda indices: None)  # no NVML here: all cores
    assert worker_cpus("gpu-local", [0]) == worker_cpus("cores", []) == one_per_core(allowed)
    monkeypatch.setattr(affinity, "gpu_local_cpus", lambda indices: allowed[:1])
    assert worker_cpus("gpu-local", [0]) == allowed[:1]


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="needs Linux CPU affinity")
def test_shared_takes_the_first_cores_of_the_gpus_node(monkeypatch: pytest.MonkeyPatch) -> None:
    # 8 cores x 2 threads (cpu N and N+8 share a core); the GPU's node holds cores 4-7 and their siblings.
    siblings = {
        f"/sys/devices/system/cpu/cpu{c}/topology/thread_siblings_list": f"{c % 8},{c % 8 + 8}"
        for c in range(16)
    }
    monkeypatch.setattr(affinity, "read_text", siblings.get)
    monkeypatch.setattr(affinity.os, "sched_getaffinity", lambda pid: set(range(16)))
    monkeypatch.setattr(affinity, "gpu_local_cpus", lambda indices: [4, 5, 6, 7, 12, 13, 14, 15])
    assert worker_cpus("shared", [0]) == [4, 5, 6, 7]  # one GPU: 4 CPUs, one per core
    monkeypatch.setattr(affinity, "gpu_local_cpus", lambda indices: None)  # node unknown: all cores
    assert worker_cpus("shared", [0, 1]) == [0, 1, 2, 3, 4, 5]  # two GPUs: 2 more
    assert worker_cpus("auto", [0]) is None


def test_auto_pins_both_arms_of_an_ab_run_only(tmp_path) -> None:
    from pytest_infperf.settings import Settings

    assert Settings().pinning == "none"
    assert Settings(ab_reference=tmp_path).pinning == "shared"
    assert Settings(ab_reference=tmp_path, cpu_affinity="none").pinning == "none"  # an explicit choice stays
    assert Settings(cpu_affinity="0-1").pinning == "0-1"
