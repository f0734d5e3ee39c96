"""What the plugin adds to every pytest start: `pytest --help` with it against `pytest -p no:infperf --help`.

    python benchmarks/startup.py [--runs 9]

Median wall time of each over `runs` alternating runs (a fresh interpreter each), and their difference.
Hypothesis' plugin is the model: nothing heavy until a hook needs it (scipy.stats alone took about 0.6 s to
import here)."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def wall(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", *args], capture_output=True, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    runs = parser.parse_args().runs
    times: dict[str, list[float]] = {"with the plugin": [], "without (-p no:infperf)": []}
    for _ in range(runs):  # alternating, so a slow spell of the host touches both
        times["with the plugin"].append(wall(["--help"]))
        times["without (-p no:infperf)"].append(wall(["-p", "no:infperf", "--help"]))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        print(f"pytest --help {name:26s} median {median:.3f} s over {runs} runs")
    print(f"the plugin adds {medians['with the plugin'] - medians['without (-p no:infperf)']:.3f} s")


if __name__ == "__main__":
    main()
