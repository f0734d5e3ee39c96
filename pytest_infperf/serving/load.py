"""Load on a server from vLLM's own generator, `vllm bench serve` (run by bench.py), and its JSON as record
fields.

Each measured repeat is one whole benchmark run of the case's requests (Poisson arrivals at the request rate,
at most max_concurrency in flight, output lengths forced with ignore_eos); a shorter warm-up run goes first
and is discarded. Latencies are per request, timed by the client from the streamed tokens: TTFT, TPOT (decode
time / (tokens - 1)), ITL and E2E, with the statistics `vllm bench serve` reports."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

from .cases import Dataset, ServingCase, rate_text

# The load generator's command, before its arguments (tests substitute a named double).
LOAD_ENTRY: list[str] = [sys.executable, "-m", "pytest_infperf.serving.bench"]
# vllm bench serve's latency names -> the record's (the offline records say e2e).
LATENCIES = {"ttft": "ttft", "tpot": "tpot", "itl": "itl", "e2el": "e2e"}
# vllm bench serve's statistic prefixes -> the record's (p50 is its median).
STATS = {"mean": "mean", "median": "p50", "std": "std", "p90": "p90", "p99": "p99"}
# Throughputs: vllm bench serve's field -> the record's. Output token throughput is the gated
# throughput_tok_s.
THROUGHPUTS = {
    "output_throughput": "throughput_tok_s",
    "request_throughput": "request_throughput_req_s",
    "total_token_throughput": "total_token_throughput_tok_s",
    "request_goodput": "goodput_req_s",
}


def humaneval_jsonl(folder: Path) -> Path:
    """The HumanEval single-line prefixes as a `custom` dataset file (one {"prompt": ...} per line), written
    once."""
    from ..workloads import humaneval_prefixes

    path = folder / "humaneval-prefixes.jsonl"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in humaneval_prefixes()))
        tmp.replace(path)
    return path


def dataset_args(dataset: Dataset, cache_dir: Path) -> list[str]:
    if dataset.name == "synthetic":
        return [
            "--dataset-name",
            "random",
            "--random-input-len",
            str(dataset.input_len),
            "--random-output-len",
            str(dataset.output_len),
            "--random-range-ratio",
            "0",
        ]
    path = humaneval_jsonl(cache_dir) if dataset.name == "humaneval" else Path(str(dataset.path))
    return [
        "--dataset-name",
        "custom",
        "--dataset-path",
        str(path),
        "--custom-output-len",
        str(dataset.output_len),
        "--skip-chat-template",
    ]


def bench_args(
    case: ServingCase, base_url: str, model: str, tokenizer: str, cache_dir: Path, seed: int, num_prompts: int
) -> list[str]:
    """`vllm bench serve` arguments for one run of `case` (without the result file options)."""
    args = [
        "--backend",
        "vllm",
        "--base-url",
        base_url,
        "--model",
        model,
        "--tokenizer",
        tokenizer,
        *dataset_args(case.dataset, cache_dir),
        "--num-prompts",
        str(num_prompts),
        "--request-rate",
        rate_text(case.request_rate),
        "--ignore-eos",
        "--seed",
        str(seed),
        "--disable-tqdm",
        "--percentile-metrics",
        ",".join(LATENCIES),
        "--metric-percentiles",
        "50,90,99",
    ]
    if case.max_concurrency:
        args += ["--max-concurrency", str(case.max_concurrency)]
    if case.goodput:
        args += ["--goodput", *(f"{name}:{ms:g}" for name, ms in case.goodput)]
    return args


def read_runs(folder: Path, runs: int) -> list[dict[str, Any]]:
    """The runs' JSON results, in order; ValueError naming what is missing or unreadable."""
    found = []
    for run in range(runs):
        path = folder / f"run{run}.json"
        try:
            found.append(json.loads(path.read_text()))
        except FileNotFoundError:
            raise ValueError(
                f"vllm bench serve wrote no result for run {run + 1} of {runs} ({path})"
            ) from None
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err.msg})") from None
    return found


def record_fields(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The measured runs as record fields: each figure as the median over runs plus `<name>_samples` per run,
    latencies in seconds; requests completed and failed summed over runs."""
    fields: dict[str, Any] = {}

    def put(name: str, values: list[float | None]) -> None:
        if values and None not in values:
            fields[name] = statistics.median(values)  # type: ignore[type-var]
            fields[f"{name}_samples"] = values

    for theirs, ours in THROUGHPUTS.items():
        put(ours, [r.get(theirs) for r in results])
    for latency, ours in LATENCIES.items():
        for stat, our_stat in STATS.items():
            values = [r.get(f"{stat}_{latency}_ms") for r in results]
            put(f"{ours}_{our_stat}_s", [v / 1e3 if v is not None else None for v in values])
    put("duration_s", [r.get("duration") for r in results])
    completed = sum(int(r.get("completed", 0)) for r in results)
    fields |= {
        "completed_requests": completed,
        "failed_requests": sum(int(r.get("failed", 0)) for r in results),
        "input_len_mean_tokens": sum(r.get("total_input_tokens", 0) for r in results) / max(completed, 1),
        "output_tokens_per_repeat": results[0].get("total_output_tokens"),
        "max_concurrent_requests": max((r.get("max_concurrent_requests") or 0) for r in results) or None,
        "latency_source": "exact: per request, timed by vllm bench serve from the streamed tokens",
        "itl_source": "exact",
    }
    return fields
