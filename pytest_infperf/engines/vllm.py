"""vLLM engine: LLM(...) with tensor parallelism over the trial's GPUs, b token-id prompts per generate call.

Architecture-only models load with load_format="dummy"; prompts go in as token ids (skip_tokenizer_init), so
no tokenizer is needed at run time. Latencies are exact and per request, from the timestamps vLLM keeps for
each request (`RequestOutput.metrics`, filled when stats are on): TTFT is vLLM's own first-token latency,
decode time is last minus first token time, E2E = TTFT + decode, TPOT = decode / (tokens - 1) as `vllm bench`
defines it; queue and prefill time are the engine core's own split of the first token (scheduled - queued,
first token - scheduled, on its monotonic clock). Offline vLLM keeps no per-token times, so inter-token
latency alone comes from its Prometheus histogram (the difference of snapshots around each repeat, taken
outside the timed calls; percentiles interpolated, labelled so in the record)."""

from __future__ import annotations

from typing import Any

from ..latency import Histogram
from ..workloads import Prompt
from .base import BatchResult, EngineNotAvailable, LoadRequest

_METRICS = {
    "ttft": "vllm:time_to_first_token_seconds",
    "itl": "vllm:inter_token_latency_seconds",
    "e2e": "vllm:e2e_request_latency_seconds",
}
_METRIC_FALLBACKS = {"vllm:inter_token_latency_seconds": "vllm:time_per_output_token_seconds"}


def request_latencies(outputs: list[Any]) -> dict[str, list[float]] | None:
    """Exact TTFT, TPOT, E2E, queue and prefill time per request from vLLM's per-request stats; None where a
    version keeps none."""
    ttft, tpot, e2e, queue, prefill = [], [], [], [], []
    for output in outputs:
        stats = getattr(output, "metrics", None)
        if stats is None or not getattr(stats, "first_token_latency", 0.0):
            return None
        decode = max(stats.last_token_ts - stats.first_token_ts, 0.0)
        tokens = len(output.outputs[0].token_ids)
        ttft.append(stats.first_token_latency)
        e2e.append(stats.first_token_latency + decode)
        if tokens > 1:
            tpot.append(decode / (tokens - 1))
        scheduled, queued = getattr(stats, "scheduled_ts", 0.0), getattr(stats, "queued_ts", 0.0)
        if scheduled and queued:
            queue.append(max(scheduled - queued, 0.0))
            prefill.append(max(stats.first_token_ts - scheduled, 0.0))
    return {"ttft_s": ttft, "tpot_s": tpot, "e2e_s": e2e, "queue_s": queue, "prefill_s": prefill}


def _histograms(llm: Any) -> dict[str, Histogram]:
    """vLLM's cumulative Prometheus buckets as per-bucket counts, keyed ttft/itl/e2e."""
    found: dict[str, Histogram] = {}
    by_name = {m.name: m for m in llm.get_metrics() if hasattr(m, "buckets")}
    for key, name in _METRICS.items():
        metric = by_name.get(name) or by_name.get(_METRIC_FALLBACKS.get(name, ""))
        if metric is None:
            continue
        bounds = sorted(float(b) for b in metric.buckets)
        cumulative = [metric.buckets[k] for k in sorted(metric.buckets, key=float)]
        counts = [c - p for c, p in zip(cumulative, [0, *cumulative[:-1]])]
        found[key] = Histogram(bounds, counts, float(metric.sum))
    return found


class VllmEngine:
    name = "vllm"

    def __init__(self) -> None:
        self.llm: Any = None

    def load(self, request: LoadRequest) -> dict[str, Any]:
        try:
            import vllm
            from vllm import LLM
        except ImportError as err:
            raise EngineNotAvailable(
                f"vllm is not installed ({err}); pip install 'pytest-infperf[vllm]'"
            ) from err
        knobs = request.knobs
        kwargs: dict[str, Any] = dict(
            model=request.model_dir,
            dtype=request.dtype,
            seed=request.seed,
            skip_tokenizer_init=True,
            disable_log_stats=False,
            tensor_parallel_size=max(request.gpus, 1),
            pipeline_parallel_size=knobs.get("pipeline_parallel_size", 1),
            enforce_eager=knobs.get("enforce_eager", False),
            enable_prefix_caching=knobs.get("prefix_caching", False),
        )
        if request.dummy:
            kwargs["load_format"] = "dummy"
        if request.gpus > 0:
            kwargs["gpu_memory_utilization"] = knobs.get("gpu_memory_utilization", 0.9)
        for key in ("max_num_seqs", "max_num_batched_tokens", "max_model_len"):
            if knobs.get(key):
                kwargs[key] = knobs[key]
        if knobs.get("distributed_executor_backend", "auto") != "auto":
            kwargs["distributed_executor_backend"] = knobs["distributed_executor_backend"]
        self.llm = LLM(**kwargs)
        config = self.llm.llm_engine.model_config
        return {
            "dtype": str(config.dtype).removeprefix("torch."),
            "engine_version": vllm.__version__,
            "torch_version": __import__("torch").__version__,
            "max_model_len": config.max_model_len,
            "engine_args": {k: v for k, v in kwargs.items() if k != "model"},
        }

    def generate(self, prompts: list[Prompt], output_len: int) -> BatchResult:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(
            max_tokens=output_len, min_tokens=output_len, ignore_eos=True, temperature=0.0, detokenize=False
        )
        outputs = self.llm.generate(
            [TokensPrompt(prompt_token_ids=list(p.token_ids)) for p in prompts], params, use_tqdm=False
        )
        counts = [len(o.outputs[0].token_ids) for o in outputs]
        if any(c != output_len for c in counts):
            raise RuntimeError(
                f"vLLM generated {min(counts)}..{max(counts)} tokens per prompt, expected {output_len}"
            )
        exact = request_latencies(outputs)  # None where the version keeps no per-request stats
        return BatchResult(output_tokens=sum(counts), **(exact or {}))

    def histograms(self) -> dict[str, Histogram]:
        """vLLM's TTFT, inter-token and E2E histograms (the measurement prefers exact samples where it has
        them)."""
        return _histograms(self.llm)

    def close(self) -> None:
        if self.llm is not None:
            del self.llm
            self.llm = None
            import gc

            gc.collect()

    def memory_peak_bytes(self) -> int | None:
        return None  # vLLM reserves gpu_memory_utilization up front; NVML telemetry reports what it holds

    def reset_memory_peak(self) -> None:
        pass
