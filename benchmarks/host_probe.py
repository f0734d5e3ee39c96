"""A short probe of the host's launch speed, run before and after each measured session.

Launch-bound throughput (small models, small batches) follows how fast the host CPU issues kernels and runs
the engine's Python, not the GPU. Two fixed loops estimate that: the rate of tiny CUDA kernel launches
(synchronised at the end only, as an engine's decode step issues them) and the rate of a pure-Python dispatch
loop. Both are printed as one JSON line, so a session's probe can be set beside its throughput
(benchmarks/host_probe_fit.py).

    python benchmarks/host_probe.py [--cpus 0-3] [--launches 20000] [--loops 2000000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

from pytest_infperf.hardware.host import cpu_model


def python_dispatch_rate(loops: int) -> float:
    """Calls per second of a small method through a dict lookup: the shape of a scheduler's Python."""
    table = {"step": lambda x: x + 1}
    value = 0
    start = time.perf_counter()
    for _ in range(loops):
        value = table["step"](value)
    return loops / (time.perf_counter() - start)


def kernel_launch_rate(launches: int) -> float | None:
    """Tiny CUDA kernels launched per second, None without a GPU."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    x = torch.zeros(16, device="cuda")
    for _ in range(200):  # warm the allocator and the kernel cache
        x.add_(1)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(launches):
        x.add_(1)
    torch.cuda.synchronize()
    return launches / (time.perf_counter() - start)


def probe(launches: int, loops: int) -> dict:
    best_launch, best_python = None, 0.0
    for _ in range(3):  # best of three: the probe asks what the host can do, not what a stray interrupt did
        rate = kernel_launch_rate(launches)
        if rate is not None:
            best_launch = max(best_launch or 0.0, rate)
        best_python = max(best_python, python_dispatch_rate(loops))
    return {
        "time": time.time(),
        "host": platform.node(),
        "cpu_model": cpu_model(),
        "cpus": sorted(os.sched_getaffinity(0)),
        "kernel_launches_per_s": best_launch,
        "python_calls_per_s": best_python,
    }


def _cpu_list(text: str) -> set[int]:
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpus", help="pin the probe to these CPUs (e.g. 0-3), as the worker is pinned")
    parser.add_argument("--launches", type=int, default=20000)
    parser.add_argument("--loops", type=int, default=2_000_000)
    parser.add_argument(
        "--label", default="", help="a name stored with the probe (e.g. the session before it)"
    )
    args = parser.parse_args()
    if args.cpus:
        os.sched_setaffinity(0, _cpu_list(args.cpus))
    print(json.dumps({"label": args.label, **probe(args.launches, args.loops)}))


if __name__ == "__main__":
    main()
