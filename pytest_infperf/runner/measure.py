"""One measurement: warm-up, then `repeats` full passes over the prompts in batches of exactly b.

Each repeat is a separate pass, so repeat-to-repeat spread includes batch-to-batch variation; throughput per
repeat is generated tokens / wall time of that pass. Medians are what the record reports; samples are kept.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from dataclasses import dataclass, field
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
    INFPERF_TEST_ONLY_SLOWDOWN=0.10 the worker sleeps after each measured batch for the fraction of its time
    that makes the pass's throughput exactly 10% lower (delay = t * f / (1 - f)). Records name it when it is
    set."""
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


def warm_up(
    engine: Engine, batches: list[list[Prompt]], output_len: int, warmup: int | str, min_repeat_s: float
) -> int:
    """`warmup` batches, or ("pass") whole passes over the prompts until `min_repeat_s` has gone by (at least
    one): every input shape once. The batches run."""
    start, done = time.perf_counter(), 0
    if warmup == "pass":
        while done == 0 or time.perf_counter() - start < min_repeat_s:
            for batch in batches:
                engine.generate(batch, output_len)
            done += len(batches)
        return done
    for i in range(int(warmup)):
        engine.generate(batches[i % len(batches)], output_len)
    return int(warmup)


def timed_generate(
    engine: Engine, batch: list[Prompt], output_len: int, slowdown: float
) -> tuple[Any, float]:
    """One batch and its wall time. The test-only slowdown sleeps inside the clock, after the batch, for the
    share of its time that makes the pass exactly that fraction slower: it has to reach the measured
    figure."""
    start = time.perf_counter()
    result = engine.generate(batch, output_len)
    if slowdown:
        time.sleep((time.perf_counter() - start) * slowdown / (1 - slowdown))
    return result, time.perf_counter() - start


@dataclass
class Samples:
    """What the measured repeats gather: per repeat (throughput, wall, passes, median pass time, latency
    summaries), per batch (time to its last token), per request (exact TTFT, TPOT, E2E, queue and prefill) and
    per decode step (ITL); the engine's histograms over the repeats."""

    throughput: list[float] = field(default_factory=list)
    repeat_wall: list[float] = field(default_factory=list)
    passes: list[int] = field(default_factory=list)
    ttlt: list[float] = field(default_factory=list)
    ttlt_by_repeat: list[float] = field(default_factory=list)
    exact: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in GATED_LATENCIES})
    itl: list[float] = field(default_factory=list)
    phases: dict[str, list[float]] = field(default_factory=lambda: {"queue": [], "prefill": []})
    # per repeat, so the gate can judge latency like throughput: {"ttft_mean_s": [repeat 1, ...], ...}
    latency_by_repeat: dict[str, list[float | None]] = field(
        default_factory=lambda: {f"{name}_{stat}_s": [] for name in GATED_LATENCIES for stat in GATED_STATS}
    )
    histograms: dict[str, Histogram] = field(default_factory=dict)
    generate_s: float = 0.0
    total_tokens: int = 0
    # where the current repeat's per-batch and per-request samples begin (set by begin_repeat)
    _repeat_marks: dict[str, int] = field(default_factory=dict)

    def begin_repeat(self) -> None:
        self._repeat_marks = {"ttlt": len(self.ttlt), **{name: len(v) for name, v in self.exact.items()}}

    def add_batch(self, result: Any, elapsed: float) -> int:
        self.generate_s += elapsed
        self.ttlt.append(elapsed)
        for name, values in self.exact.items():
            values += getattr(result, f"{name}_s")
        self.itl += result.itl_s
        for name, values in self.phases.items():
            values += getattr(result, f"{name}_s")
        return result.output_tokens

    def add_repeat(self, tokens: int, wall: float, passes: int, histograms: dict[str, Histogram]) -> None:
        """Close the repeat begun by `begin_repeat`: its figures, from the samples it added."""
        marks = self._repeat_marks
        _merge(self.histograms, histograms)
        self.repeat_wall.append(wall)
        self.ttlt_by_repeat.append(statistics.median(self.ttlt[marks["ttlt"] :]))
        self.passes.append(passes)
        self.total_tokens += tokens
        self.throughput.append(tokens / wall)
        for name, values in self.exact.items():
            summary = summarize(
                name, values[marks[name] :], histograms.get("ttft") if name == "ttft" else None
            )
            for stat in GATED_STATS:
                self.latency_by_repeat[f"{name}_{stat}_s"].append(summary[f"{name}_{stat}_s"])


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
    """`warmup`: that many batches first, or "pass": whole passes over the prompts (every input shape once)
    until `min_repeat_s` has gone by. Each measured repeat runs whole passes until it has lasted
    `min_repeat_s`: a pass of a small model at a small batch takes well under a second on a GPU, and samples
    that short drift with the host (CPU clocks, scheduling) from one repeat and one session to the next
    (pytest-benchmark's min_time and asv's sample_time exist for the same reason)."""
    batches = make_batches(prompts, batch_size)
    wall_start = time.perf_counter()
    warmup_batches = warm_up(engine, batches, output_len, warmup, min_repeat_s)
    warmup_s = time.perf_counter() - wall_start
    engine.reset_memory_peak()
    slowdown = test_only_slowdown()
    samples = Samples()
    cpu_before = cpu_times()
    with GpuSampler(gpu_indices) as sampler:
        # the engine's histograms are read between repeats, outside their clocks: reading them is not generation
        snapshot = engine.histograms()
        for repeat in range(repeats):
            tokens, repeat_start, repeat_passes = 0, time.perf_counter(), 0
            samples.begin_repeat()
            while repeat_passes == 0 or time.perf_counter() - repeat_start < min_repeat_s:
                repeat_passes += 1
                for batch in batches:
                    tokens += samples.add_batch(*timed_generate(engine, batch, output_len, slowdown))
            wall = time.perf_counter() - repeat_start
            repeat_start_snapshot, snapshot = snapshot, engine.histograms()
            repeat_histograms = _difference(snapshot, repeat_start_snapshot)
            samples.add_repeat(tokens, wall, repeat_passes, repeat_histograms)
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
    record = _record(samples, batches, batch_size, output_len, min_repeat_s, warmup_batches, warmup_s)
    record |= host_cpu_share(cpu_before, cpu_times())
    record["trial_wall_s"] = time.perf_counter() - wall_start
    if slowdown:
        record["test_only_slowdown"] = slowdown
    record |= sampler.summary.as_record_fields()
    peak = engine.memory_peak_bytes()
    record["peak_gpu_mem_bytes"] = peak if peak is not None else record.get("gpu_mem_used_max_bytes")
    if record.get("energy_j"):
        record["tokens_per_joule"] = samples.total_tokens / record["energy_j"]
    return record


def _record(
    samples: Samples,
    batches: list[list[Prompt]],
    batch_size: int,
    output_len: int,
    min_repeat_s: float,
    warmup_batches: int,
    warmup_s: float,
) -> dict[str, Any]:
    """The measured figures of a record, from what the repeats gathered."""
    s = samples
    median_ttlt = statistics.median(s.ttlt)
    record: dict[str, Any] = {
        "throughput_tok_s": statistics.median(s.throughput),
        "throughput_tok_s_samples": s.throughput,
        **{
            f"{key}_samples": values if None not in values else None
            for key, values in s.latency_by_repeat.items()
        },
        "repeat_wall_s_samples": s.repeat_wall,
        "ttlt_s": median_ttlt,
        "ttlt_s_samples": s.ttlt_by_repeat,  # the median pass of each repeat, so the gate can judge it
        "normalised_latency_s_per_tok": median_ttlt / (batch_size * output_len),
        "generation_throughput_tok_s": batch_size * output_len / median_ttlt,
        "output_tokens_per_repeat": batch_size
        * output_len
        * len(batches),  # of one pass; see passes_per_repeat
        "batches_per_repeat": len(batches),
        "passes_per_repeat_samples": s.passes,
        "min_repeat_s": min_repeat_s,
        "warmup_batches": warmup_batches,
        "warmup_s": warmup_s,
        "input_len_mean_tokens": statistics.fmean(len(p.token_ids) for b in batches for p in b),
        "generate_s": s.generate_s,
        "measured_wall_s": sum(s.repeat_wall),
        "latency_source": "exact" if s.exact["ttft"] else ("engine-histogram" if s.histograms else None),
        "itl_source": "exact" if s.itl else ("engine-histogram" if "itl" in s.histograms else None),
    }
    for name, values in s.exact.items():
        record |= summarize(name, values, s.histograms.get(name))
    record |= summarize("itl", s.itl, s.histograms.get("itl"))
    for name, values in s.phases.items():
        if values:
            record |= summarize(name, values, None)
    return record
