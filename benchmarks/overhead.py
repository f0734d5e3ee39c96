"""The suite's own overhead per trial, as a fraction of the measured generation time.

Runs one real trial through the product path (TrialPool -> worker process -> engine) and splits its wall time:
  model load and warm-up (both reported separately, as in every record), generation (sum of the engine's
  generate calls), and everything else: worker process start and imports, IPC, batching, timing, NVML
  telemetry, bookkeeping.

    python benchmarks/overhead.py [--engine hf] [--model tiny-llama] [--batch-size 8] [--num-prompts 256]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pytest_infperf.cases import Case
from pytest_infperf.hardware.gpu import detect
from pytest_infperf.runner.pool import TrialPool
from pytest_infperf.settings import Settings, VllmKnobs
from pytest_infperf.workloads import parse_workload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="hf")
    parser.add_argument("--model", default="tiny-llama")
    parser.add_argument("--gpus", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-prompts", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    hardware = detect()
    settings = Settings(repeats=args.repeats, vllm=VllmKnobs(enforce_eager=args.gpus == 0))
    case = Case(
        hardware.generation,
        args.engine,
        args.model,
        args.gpus,
        args.batch_size,
        parse_workload("humaneval", 5),
        args.num_prompts,
    )
    with tempfile.TemporaryDirectory() as tmp:
        pool = TrialPool(settings, hardware.gpus, Path(tmp))
        start = time.perf_counter()
        outcome = pool.run(case)
        total = time.perf_counter() - start
        pool.close()
    if outcome.status != "ok":
        raise SystemExit(f"trial failed: {outcome.reason}")
    load, result = outcome.load["load_time_s"], outcome.result
    generate, warmup = result["generate_s"], result["warmup_s"]
    overhead = total - load - warmup - generate
    print(
        f"{hardware.describe()}; {args.engine} {outcome.load['engine_version']}, {args.model}, "
        f"batch {args.batch_size}, "
        f"{args.num_prompts} prompts x {args.repeats} repeats after {result['warmup_batches']} warm-up batches"
    )
    print(
        f"trial wall {total:.2f} s = model load {load:.2f} s + warm-up {warmup:.2f} s + generation {generate:.2f} s "
        f"+ suite overhead {overhead:.2f} s"
    )
    print(
        f"suite overhead / generation time: {overhead / generate:.2%}"
        f"   (in-measurement bookkeeping and telemetry alone: "
        f"{(result['measured_wall_s'] - generate) / generate:.3%})"
    )


if __name__ == "__main__":
    main()
