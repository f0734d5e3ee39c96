"""The worker process: loads one (engine, model, GPU count) once and answers measurement requests.

Protocol: one JSON request per line on stdin, one JSON response per line on the protocol pipe. Everything the
libraries print goes to stderr (a log file the pool reads back on failure), so stdout noise cannot corrupt the
protocol. Started as `python -m pytest_infperf.runner.worker`, with CUDA_VISIBLE_DEVICES set by the pool.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
from typing import Any, Callable, TextIO

from ..procs import follow_parent

OOM_MARKERS = (
    "out of memory",
    "can't allocate memory",
    "cannot allocate memory",
    "outofmemory",
    "no available memory for the cache blocks",
    "insufficient memory",
)


def classify(error: BaseException) -> str:
    """'oom' for any out-of-memory condition (CUDA, host allocator, vLLM's KV-cache check), else 'error'."""
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return "oom"
    text = f"{type(error).__name__}: {error}".lower()
    return "oom" if any(marker in text for marker in OOM_MARKERS) else "error"


def _failure(error: BaseException) -> dict[str, Any]:
    return {
        "ok": False,
        "status": classify(error),
        "reason": f"{type(error).__name__}: {error}"[:2000],
        "traceback": traceback.format_exc()[-4000:],
    }


def _release_memory() -> None:
    import gc

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


class Worker:
    def __init__(self, emit: Callable[[dict[str, Any]], None] | None = None) -> None:
        """`emit` sends a progress line to the pool while a request runs."""
        self.engine: Any = None
        self.tokenizer: Any = None
        self.model_dir = ""
        self.prompt_cache: dict[tuple[Any, ...], Any] = {}
        self.emit = emit

    def load(self, request: dict[str, Any]) -> dict[str, Any]:
        from ..engines import make_engine
        from ..engines.base import LoadRequest

        load = LoadRequest(**request["load"])
        self.model_dir = load.model_dir
        start = time.perf_counter()
        self.engine = make_engine(request["engine"])
        info = self.engine.load(load)
        return {"ok": True, "info": info, "load_time_s": time.perf_counter() - start}

    def prompts(self, workload: dict[str, Any], count: int | None, seed: int) -> Any:
        from ..workloads import WorkloadSpec, build_prompts

        key = (tuple(sorted(workload.items())), count, seed)
        if key not in self.prompt_cache:
            if self.tokenizer is None:
                from transformers import AutoTokenizer

                self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
            self.prompt_cache[key] = build_prompts(WorkloadSpec(**workload), self.tokenizer, count, seed)
        return self.prompt_cache[key]

    def measure(self, request: dict[str, Any]) -> dict[str, Any]:
        from .measure import measure

        if self.engine is None:
            raise RuntimeError("measure before load")
        prompts = self.prompts(request["workload"], request.get("num_prompts"), request.get("seed", 0))
        indices = [int(i) for i in os.environ.get("INFPERF_NVML_INDICES", "").split(",") if i.strip()]
        result = measure(
            self.engine,
            prompts,
            request["batch_size"],
            request["workload"]["output_len"],
            request["repeats"],
            request["warmup"],
            indices,
            request.get("min_repeat_s", 0.0),
            self.emit,
        )
        return {"ok": True, "result": result | cpus_in_use()}

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "load":
            return self.load(request)
        if op == "measure":
            try:
                return self.measure(request)
            except BaseException as error:  # noqa: BLE001 - every failure becomes an outcome
                response = _failure(error)
                _release_memory()
                return response
        if op == "ping":
            return {"ok": True, "pid": os.getpid()}
        raise ValueError(f"unknown op {op!r}")


def _protocol_stream() -> TextIO:
    """Keep the real stdout for responses and point fd 1 at stderr, for C libraries too."""
    stream = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return stream


def _cap_memory() -> None:
    limit = os.environ.get("INFPERF_WORKER_MEMORY_BYTES")
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))


def _pin_cpus() -> None:
    """Run on the CPUs the pool chose (--infperf-cpu-affinity); vLLM's engine processes inherit them."""
    cpus = os.environ.get("INFPERF_WORKER_CPUS")
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, [int(c) for c in cpus.split(",")])


def cpus_in_use() -> dict[str, Any]:
    """The worker's CPU set as the record keeps it: how many, and which."""
    if not hasattr(os, "sched_getaffinity"):
        return {"worker_cpus": None, "worker_cpu_count": None}
    cpus = sorted(os.sched_getaffinity(0))
    return {"worker_cpus": ",".join(map(str, cpus)), "worker_cpu_count": len(cpus)}


def main() -> None:
    follow_parent()  # never outlive pytest, however it ends
    out = _protocol_stream()
    _cap_memory()
    _pin_cpus()
    worker = Worker(lambda progress: out.write(json.dumps({"progress": progress}) + "\n"))
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if request.get("op") == "close":
            break
        try:
            response = worker.handle(request)
        except BaseException as error:  # noqa: BLE001
            response = _failure(error)
        out.write(json.dumps(response, default=str) + "\n")
        out.flush()
        if request.get("op") == "load" and not response["ok"]:
            break  # nothing more can run on a failed load
    if worker.engine is not None:
        worker.engine.close()
    out.close()
    # vLLM leaves non-daemon threads and child processes behind; exit without waiting on them.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
