"""Records in the shapes other tools read: `vllm bench serve`'s result JSON and pytest-benchmark's saved run.

Dashboards that already read `vllm bench` results or pytest-benchmark's storage can then read the suite's
figures without a new parser. Only ok records are exported; what each field means is what it means in the tool
it imitates, and the suite's own identity fields ride along as extra keys (as `vllm bench --metadata` does).
"""

from __future__ import annotations

import datetime as dt
import platform
from typing import Any, Iterable

FORMATS = ("vllm-bench", "pytest-benchmark")
_VLLM_LATENCIES = {"ttft": "ttft", "tpot": "tpot", "itl": "itl", "e2e": "e2el"}  # ours -> vllm bench's
_IDENTITY = (
    "case_id",
    "engine",
    "engine_version",
    "model",
    "gpus",
    "batch_size",
    "workload",
    "hardware_fingerprint",
    "gpu_name",
    "git_commit",
    "timestamp",
)


def to_vllm_bench(record: dict[str, Any]) -> dict[str, Any]:
    """One record as `vllm bench serve --save-result` writes a run: throughputs per second, latencies in ms
    (mean, median, std, p90, p95, p99). Offline, all of a batch's requests are in flight at once, so the batch
    size is the run's max_concurrency and there is no request rate."""
    output_len = record["output_len_tokens"]
    requests_per_s = record["throughput_tok_s"] / output_len
    input_len = record.get("input_len_mean_tokens") or 0.0
    result: dict[str, Any] = {
        "date": record["timestamp"],
        "backend": record["engine"],
        "model_id": record["model"],
        "num_prompts": record["num_prompts"],
        "request_rate": "inf",
        "max_concurrency": record["batch_size"],
        "duration": record.get("measured_wall_s"),
        "completed": record["num_prompts"],
        "total_input_tokens": round(input_len * (record["num_prompts"] or 0)),
        "total_output_tokens": (record["num_prompts"] or 0) * output_len,
        "request_throughput": requests_per_s,
        "output_throughput": record["throughput_tok_s"],
        "total_token_throughput": requests_per_s * (input_len + output_len),
    }
    for ours, theirs in _VLLM_LATENCIES.items():
        for stat, key in (
            ("mean", "mean"),
            ("median", "p50"),
            ("std", "std"),
            ("p90", "p90"),
            ("p95", "p95"),
            ("p99", "p99"),
        ):
            value = record.get(f"{ours}_{key}_s")
            result[f"{stat}_{theirs}_ms"] = None if value is None else value * 1e3
    result["infperf_latency_source"] = record.get("latency_source")
    result["infperf_itl_source"] = record.get("itl_source")
    return result | {f"infperf_{k}": record.get(k) for k in _IDENTITY}


def pass_times(record: dict[str, Any]) -> list[float]:
    """Seconds per full pass over the prompts, one per measured repeat: what pytest-benchmark calls a round.
    Model load and warm-up are outside them (the trial's wall time is not)."""
    walls = record.get("repeat_wall_s_samples") or []
    passes = record.get("passes_per_repeat_samples") or [1] * len(walls)
    return [wall / count for wall, count in zip(walls, passes)]


def to_pytest_benchmark(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A saved pytest-benchmark run (what `--benchmark-save` writes and `--benchmark-compare` reads), with
    pytest-benchmark's own Stats over the per-pass times of the measured repeats."""
    try:
        from pytest_benchmark import __version__ as version
        from pytest_benchmark.stats import Stats
    except ImportError as err:
        raise RuntimeError(
            "exporting for pytest-benchmark needs it installed: pip install pytest-benchmark"
        ) from err
    records = list(records)
    benchmarks = []
    for record in records:
        rounds = pass_times(record)
        stats = Stats()
        for seconds in rounds:
            stats.update(seconds)
        test_id = record["test_id"]
        benchmarks.append(
            {
                "group": f"{record['engine']}-{record['model']}-{record['workload']}",
                "name": test_id.split("::")[-1],
                "fullname": test_id,
                "params": None,
                "param": record["case_id"],
                "extra_info": {k: v for k, v in record.items() if not isinstance(v, (list, dict))},
                "options": {
                    "disable_gc": False,
                    "timer": "perf_counter",
                    "min_rounds": len(rounds),
                    "max_time": None,
                    "min_time": record.get("min_repeat_s"),
                    "warmup": True,
                },
                "stats": stats.as_dict() | {"iterations": 1},
            }
        )
    first = records[0] if records else {}
    return {
        "machine_info": {
            "node": first.get("host") or platform.node(),
            "processor": first.get("host_cpu_model"),
            "machine": platform.machine(),
            "python_implementation": platform.python_implementation(),
            "python_version": first.get("python_version") or platform.python_version(),
            "python_compiler": "",
            "release": first.get("host_kernel") or platform.release(),
            "system": platform.system(),
            "cpu": {"brand_raw": first.get("host_cpu_model")},
            "gpu": first.get("gpu_name"),
            "hardware_fingerprint": first.get("hardware_fingerprint"),
        },
        "commit_info": {
            "id": first.get("git_commit"),
            "branch": first.get("git_branch"),
            "dirty": bool(first.get("git_dirty")),
            "project": "pytest-infperf",
            "time": first.get("timestamp"),
        },
        "benchmarks": benchmarks,
        "datetime": first.get("timestamp") or dt.datetime.now(dt.timezone.utc).isoformat(),
        "version": version,
    }
