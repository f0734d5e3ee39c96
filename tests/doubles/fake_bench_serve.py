"""A named test double of pytest_infperf.serving.bench (`vllm bench serve`, RUNS times): checks the server's
/health at its --base-url, sleeps FAKE_BENCH_SLEEP s per run, and writes run<i>.json with the fields vllm
bench serve writes, at a speed that FAKE_BENCH_SLOWDOWN (a fraction) lowers; each run's figures differ by a
small seeded noise. With --goodput, request_goodput falls off either side of a server started with
--max-num-seqs 16 (a landscape for the tuner to find). Appends its pid to FAKE_BENCH_PIDS when set."""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
import urllib.request


def main(argv: list[str]) -> None:
    runs, folder, rest = int(argv[0]), argv[1], argv[2:]
    if os.environ.get("FAKE_BENCH_PIDS"):
        with open(os.environ["FAKE_BENCH_PIDS"], "a") as f:
            f.write(f"{os.getpid()}\n")
    url = rest[rest.index("--base-url") + 1]
    prompts = int(rest[rest.index("--num-prompts") + 1])
    slow = 1 + float(os.environ.get("FAKE_BENCH_SLOWDOWN", "0"))
    noise = random.Random(os.environ.get("FAKE_BENCH_SEED", "0") + folder)
    for run in range(runs):
        urllib.request.urlopen(url + "/health", timeout=5).read()
        time.sleep(float(os.environ.get("FAKE_BENCH_SLEEP", "0.2")))
        jitter = 1 + noise.gauss(0, 0.01)
        duration = 2.0 * slow * jitter
        result = {
            "completed": prompts,
            "failed": 0,
            "duration": duration,
            "total_input_tokens": 8 * prompts,
            "total_output_tokens": 4 * prompts,
            "request_throughput": prompts / duration,
            "output_throughput": 4 * prompts / duration,
            "total_token_throughput": 12 * prompts / duration,
            "max_concurrent_requests": prompts,
        }
        if "--goodput" in rest:  # goodput peaks at a server started with --max-num-seqs 16
            seqs = json.load(urllib.request.urlopen(url + "/version", timeout=5))["fake_max_num_seqs"]
            result["request_goodput"] = result["request_throughput"] * max(
                0.1, 1 - 0.2 * abs(math.log2(seqs / 16))
            )
        for name, ms in (("ttft", 50.0), ("tpot", 10.0), ("itl", 10.0), ("e2el", 80.0)):
            for stat, factor in (("mean", 1.0), ("median", 0.95), ("std", 0.1), ("p90", 1.3), ("p99", 1.6)):
                result[f"{stat}_{name}_ms"] = ms * factor * slow * jitter
        with open(os.path.join(folder, f"run{run}.json"), "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1:])
