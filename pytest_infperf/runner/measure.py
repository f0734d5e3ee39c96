"""One measurement: warm-up, then `repeats` full passes over the prompts in batches of exactly b.

Each repeat is a separate pass, so repeat-to-repeat spread includes batch-to-batch variation; throughput per
repeat is generated tokens / wall time of that pass. Medians are what the record reports; samples are kept.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from typing import Any, Callable, Sequence

from ..engines.base import Engine
from ..hardware.host import cpu_times, host_cpu_share
from ..latency import Histogram, summarize
from ..metrics import GATED_LATENCIES, GATED_STATS
from ..telemetry import GpuSampler
from ..workloads import Prompt


def make_batches(prompts: Sequence[Prompt], batch_size: int) -> list[list[Prompt]]:
    """Batches of exactly `batch_size`, cycling the prompts when they do not fill the last one."""
    total = max(1, math.ceil(len(prompts) / batch_size)) * batch_size
    cycled = [prompts[i % len(prompts)] for i in range(total)]
    return [cycled[i : i + batch_size] for i in range(0, total, batch_size)]


TEST_ONLY_SLOWDOWN = "INFPERF_TEST_ONLY_SLOWDOWN"


def test_only_slowdown() -> float:
    """A real slowdown of known size, for testing the gate on real engines and never for production runs: with
    INFPERF_TEST_ONLY_SLOWDOWN=0.10 the worker sleeps after each measured batch for the fraction of its time that
    makes the pass's throughput exactly 10% lower (delay = t * f / (1 - f)). Records name it when it is set."""
    text = os.environ.get(TEST_ONLY_SLOWDOWN)
    if not text:
        return 0.0
    value = float(text)
    if not 0 <= value < 1:
        raise ValueError(f"{TEST_ONLY_SLOWDOWN}={text}: expected a fraction in [0, 1)")
    return value


def _difference(after: dict[str, Histogram], before: dict[str, Histogram]) -> dict[str, Histogram]:
    return {key: after[key] - before[key] for key in after if key in before}


def _merge(histograms: dict[str, Histogram], more: dict[str, Histogram]) -> None:
    for key, hist in more.items():
        histograms[key] = histograms[key] + hist if key in histograms else hist


def measure(
    engine: Engine,
    prompts: Sequence[Prompt],
    batch_size: int,
    output_len: int,
    repeats: int,
    warmup: int | str,
    gpu_indices: list[int],
    min_repeat_s: float = 0.0,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """`warmup`: that many batches first, or "pass": whole passes over the prompts (every input shape once) until
    `min_repeat_s` has gone by. Each measured repeat runs whole passes until it has lasted `min_repeat_s`: a pass
    of a small model at a small batch takes well under a second on a GPU, and samples that short drift with the
    host (CPU clocks, scheduling) from one repeat and one session to the next (pytest-benchmark's min_time and
    asv's sample_time exist for the same reason)."""
    batches = make_batches(prompts, batch_size)
    wall_start = time.perf_counter()
    warmup_batches = 0
    if warmup == "pass":
        while warmup_batches == 0 or time.perf_counter() - wall_start < min_repeat_s:
            for batch in batches:
                engine.generate(batch, output_len)
            warmup_batches += len(batches)
    else:
        warmup_batches = int(warmup)
        for i in range(warmup_batches):
            engine.generate(batches[i % len(batches)], output_len)
    warmup_s = time.perf_counter() - wall_start
    engine.reset_memory_peak()
    slowdown = test_only_slowdown()
    throughput, repeat_wall, passes, ttlt, ttlt_by_repeat = [], [], [], [], []
    exact: dict[str, list[float]] = {name: [] for name in GATED_LATENCIES}  # one per request: ttft, tpot, e2e
    itl: list[float] = []  # one per decode step
    phases: dict[str, list[float]] = {"queue": [], "prefill": []}  # the engine's own split of the first token
    # per repeat, so the gate can judge latency like throughput: {"ttft_mean_s": [repeat 1, ...], ...}
    latency_by_repeat: dict[str, list[float | None]] = {
        f"{name}_{stat}_s": [] for name in GATED_LATENCIES for stat in GATED_STATS
    }
    histograms: dict[str, Histogram] = {}
    generate_s = 0.0
    total_tokens = 0
    cpu_before = cpu_times()
    with GpuSampler(gpu_indices) as sampler:
        snapshot = (
            engine.histograms()
        )  # read between repeats, outside their clocks: reading it is not generation
        for repeat in range(repeats):
            tokens, repeat_start, repeat_passes = 0, time.perf_counter(), 0
            starts = {name: len(values) for name, values in exact.items()}
            while repeat_passes == 0 or time.perf_counter() - repeat_start < min_repeat_s:
                repeat_passes += 1
                for batch in batches:
                    start = time.perf_counter()
                    result = engine.generate(batch, output_len)
                    elapsed = time.perf_counter() - start
                    if slowdown:
                        time.sleep(elapsed * slowdown / (1 - slowdown))
                        elapsed = time.perf_counter() - start
                    generate_s += elapsed
                    ttlt.append(elapsed)
                    tokens += result.output_tokens
                    for name, values in exact.items():
                        values += getattr(result, f"{name}_s")
                    itl += result.itl_s
                    for name, values in phases.items():
                        values += getattr(result, f"{name}_s")
            wall = time.perf_counter() - repeat_start
            repeat_start_snapshot, snapshot = snapshot, engine.histograms()
            repeat_histograms = _difference(snapshot, repeat_start_snapshot)
            _merge(histograms, repeat_histograms)
            repeat_wall.append(wall)
            ttlt_by_repeat.append(statistics.median(ttlt[len(ttlt) - repeat_passes * len(batches) :]))
            passes.append(repeat_passes)
            total_tokens += tokens
            throughput.append(tokens / wall)
            if progress is not None:  # the heartbeat: repeats done and the pace so far
                progress(
                    {
                        "batch_size": batch_size,
                        "repeat": repeat + 1,
                        "repeats": repeats,
                        "tok_s": tokens / wall,
                        "elapsed_s": time.perf_counter() - wall_start,
                    }
                )
            for name, values in exact.items():
                summary = summarize(
                    name, values[starts[name] :], repeat_histograms.get("ttft") if name == "ttft" else None
                )
                for stat in GATED_STATS:
                    latency_by_repeat[f"{name}_{stat}_s"].append(summary[f"{name}_{stat}_s"])
    measured_wall = sum(repeat_wall)
    host_cpu = host_cpu_share(cpu_before, cpu_times())
    median_ttlt = statistics.median(ttlt)
    record: dict[str, Any] = {
        "throughput_tok_s": statistics.median(throughput),
        "throughput_tok_s_samples": throughput,
        **{
            f"{key}_samples": values if None not in values else None
            for key, values in latency_by_repeat.items()
        },
        "repeat_wall_s_samples": repeat_wall,
        "ttlt_s": median_ttlt,
        "ttlt_s_samples": ttlt_by_repeat,  # the median pass of each repeat, so the gate can judge it
        "normalised_latency_s_per_tok": median_ttlt / (batch_size * output_len),
        "generation_throughput_tok_s": batch_size * output_len / median_ttlt,
        "output_tokens_per_repeat": batch_size
        * output_len
        * len(batches),  # of one pass; see passes_per_repeat
        "batches_per_repeat": len(batches),
        "passes_per_repeat_samples": passes,
        "min_repeat_s": min_repeat_s,
        "warmup_batches": warmup_batches,
        "warmup_s": warmup_s,
        "input_len_mean_tokens": statistics.fmean(len(p.token_ids) for b in batches for p in b),
        "generate_s": generate_s,
        "measured_wall_s": measured_wall,
        "trial_wall_s": time.perf_counter() - wall_start,
        "latency_source": "exact" if exact["ttft"] else ("engine-histogram" if histograms else None),
        "itl_source": "exact" if itl else ("engine-histogram" if "itl" in histograms else None),
    }
    record |= host_cpu
    if slowdown:
        record["test_only_slowdown"] = slowdown
    for name, values in exact.items():
        record |= summarize(name, values, histograms.get(name))
    record |= summarize("itl", itl, histograms.get("itl"))
    for name, values in phases.items():
        if values:
            record |= summarize(name, values, None)
    record |= sampler.summary.as_record_fields()
    peak = engine.memory_peak_bytes()
    record["peak_gpu_mem_bytes"] = peak if peak is not None else record.get("gpu_mem_used_max_bytes")
    if record.get("energy_j"):
        record["tokens_per_joule"] = total_tokens / record["energy_j"]
    return record
