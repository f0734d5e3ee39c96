"""The one small interface every engine adapter implements, and what one batch call returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ..latency import Histogram
from ..workloads import Prompt


@dataclass
class LoadRequest:
    """What a worker needs to load one (engine, model, GPU count) trial."""

    model_dir: str
    dummy: bool
    gpus: int
    dtype: str
    seed: int
    knobs: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchResult:
    """One generate call over one batch, with exact per-request latencies where the engine can time them:
    `ttft_s`, `tpot_s` (decode time / (output tokens - 1), vllm bench's TPOT) and `e2e_s` hold one value per
    request, `itl_s` one per decode step. What an engine can only report as a histogram (vLLM's inter-token
    latency offline) comes from `Engine.histograms`, not from here. `queue_s` and `prefill_s` split each
    request's first token on the engine's own clock (vLLM: scheduled minus queued, first token minus
    scheduled, its request_queue_time and request_prefill_time): where a TTFT goes, and, summed, the first
    token as the engine made it, before a front end saw it."""

    output_tokens: int
    ttft_s: list[float] = field(default_factory=list)
    tpot_s: list[float] = field(default_factory=list)
    e2e_s: list[float] = field(default_factory=list)
    itl_s: list[float] = field(default_factory=list)
    queue_s: list[float] = field(default_factory=list)
    prefill_s: list[float] = field(default_factory=list)


class Engine(Protocol):
    name: str

    def load(self, request: LoadRequest) -> dict[str, Any]:
        """Load the model; return facts for the record (dtype used, versions, device map)."""

    def generate(self, prompts: list[Prompt], output_len: int) -> BatchResult:
        """Generate exactly `output_len` tokens for each prompt, as one batch."""

    def histograms(self) -> dict[str, Histogram]:
        """The engine's cumulative latency histograms so far (ttft / itl / e2e -> Histogram), for what it
        cannot time per request (vLLM offline: inter-token latency); {} where it times everything. The
        measurement takes them before and after each repeat, outside the timed batches: reading vLLM's
        Prometheus registry costs milliseconds, which inside every call would make a small batch look slower
        than it is."""

    def close(self) -> None:
        """Free the model and its devices."""

    def memory_peak_bytes(self) -> int | None:
        """Peak device memory the engine itself allocated since the last reset, where it can tell."""

    def reset_memory_peak(self) -> None:
        """Start a new peak-memory window."""


class EngineNotAvailable(RuntimeError):
    """The engine's package is missing or cannot start here: a per-trial error, not a session crash."""
